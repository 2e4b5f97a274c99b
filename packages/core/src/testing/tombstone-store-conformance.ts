import { describe, expect, it } from '@jest/globals';
import type { TombstoneStore, Tombstone } from '../ports/tombstone-store.js';
import { DEVICE_A, DEVICE_B, hlc } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every TombstoneStore adapter must show: highest HLC per record, lookups by id,
 * keyset paging through ties with owner and watermark bounds, pruning, durability. An adapter's
 * test file calls this with a factory of fresh harnesses (or `runSyncStoreConformance`, which
 * runs it); durability cases close the store and open it again.
 */
export function runTombstoneStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<TombstoneStore>>>): void {
  describeStoreConformance('TombstoneStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

    describe('tombstones', () => {
      const tomb = (id: string, time: number, counter = 0, owner = DEVICE_A): Tombstone => ({
        model: 'entry',
        recordId: id,
        ownerDeviceId: owner,
        hlc: hlc(time, counter, owner),
      });

      it('keeps the highest HLC per record', async () => {
        await current.store.putTombstones([tomb('e1', 10), tomb('e2', 20)]);
        await current.store.putTombstones([tomb('e1', 5), tomb('e2', 25)]);
        const found = await current.store.getTombstones('entry', ['e1', 'e2', 'missing']);
        expect([...found.keys()].sort()).toEqual(['e1', 'e2']);
        expect(found.get('e1')!.hlc).toEqual(hlc(10));
        expect(found.get('e2')!.hlc).toEqual(hlc(25));
        expect((await current.store.getTombstones('tag', ['e1'])).size).toBe(0);
      });

      it('pages by (HLC, id) with ties, filtered by owner, and survives reopening', async () => {
        const all = Array.from({ length: 17 }, (_, i) => tomb(`e${String(i).padStart(2, '0')}`, Math.floor(i / 5), 0, i === 16 ? DEVICE_B : DEVICE_A));
        await current.store.putTombstones([...all].reverse());
        await reopen();
        const seen: string[] = [];
        let after = null;
        for (;;) {
          const page: Tombstone[] = await current.store.tombstonesAfter('entry', { owner: DEVICE_A, after, limit: 4 });
          if (page.length === 0) break;
          seen.push(...page.map((t) => t.recordId));
          const last = page[page.length - 1]!;
          after = { hlc: last.hlc, id: last.recordId };
        }
        expect(seen).toEqual(all.slice(0, 16).map((t) => t.recordId));
        expect((await current.store.tombstonesAfter('entry', { limit: 100 })).length).toBe(17);
        // A watermark bound skips the whole tie group at that HLC.
        const afterWatermark = await current.store.tombstonesAfter('entry', { owner: DEVICE_A, afterHlc: hlc(1), limit: 100 });
        expect(afterWatermark.map((t) => t.recordId)).toEqual(all.slice(10, 16).map((t) => t.recordId));
      });

      it('prunes up to an HLC', async () => {
        await current.store.putTombstones([tomb('e1', 1), tomb('e2', 2), tomb('e3', 3)]);
        expect(await current.store.pruneTombstones(hlc(2))).toBe(2);
        expect([...(await current.store.getTombstones('entry', ['e1', 'e2', 'e3'])).keys()]).toEqual(['e3']);
      });
    });
  });
}
