import { describe, expect, it } from '@jest/globals';
import type { TombstoneStore, Tombstone } from '../ports/tombstone-store.js';
import { DEVICE_A, DEVICE_B, hlc } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every TombstoneStore adapter must show: highest HLC per record, lookups by id,
 * keyset paging through ties with owner and watermark bounds, pruning per (owner, model)
 * stream, durability. An adapter's test file calls this with a factory of fresh harnesses (or
 * `runSyncStoreConformance`, which runs it); durability cases close the store and open it again.
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

      it('prunes one (owner, model) stream up to and including an HLC, leaving other owners and models', async () => {
        const tag = (id: string, time: number, owner = DEVICE_A): Tombstone => ({ ...tomb(id, time, 0, owner), model: 'tag' });
        await current.store.putTombstones([
          tomb('e1', 1),
          tomb('e2', 2),
          tomb('e3', 3),
          // Another owner's stream of the same model, older than the bound.
          tomb('b1', 1, 0, DEVICE_B),
          tomb('b2', 2, 0, DEVICE_B),
          // The same owner's stream of another model, with the same record ids.
          tag('e1', 1),
          tag('e2', 2),
        ]);
        expect(await current.store.pruneTombstones('entry', DEVICE_A, hlc(2, 0, DEVICE_A))).toBe(2);
        const ids = ['e1', 'e2', 'e3', 'b1', 'b2'];
        expect([...(await current.store.getTombstones('entry', ids)).keys()].sort()).toEqual(['b1', 'b2', 'e3']);
        expect([...(await current.store.getTombstones('tag', ids)).keys()].sort()).toEqual(['e1', 'e2']);
        // Nothing left to prune there; a stream that never had tombstones prunes nothing.
        expect(await current.store.pruneTombstones('entry', DEVICE_A, hlc(2, 0, DEVICE_A))).toBe(0);
        expect(await current.store.pruneTombstones('location', DEVICE_A, hlc(100))).toBe(0);
        expect(await current.store.pruneTombstones('entry', DEVICE_B, hlc(1, 0, DEVICE_B))).toBe(1);
        await reopen();
        expect((await current.store.tombstonesAfter('entry', { limit: 100 })).map((t) => t.recordId)).toEqual(['b2', 'e3']);
        expect((await current.store.tombstonesAfter('tag', { limit: 100 })).map((t) => t.recordId)).toEqual(['e1', 'e2']);
      });
    });
  });
}
