import { describe, expect, it } from '@jest/globals';
import { compareHlc } from '../clock/hlc.js';
import type { TombstoneStore, Tombstone } from '../ports/tombstone-store.js';
import { DEVICE_A, DEVICE_B, hlc, testSig } from './fixtures.js';
import { expectSameWithSigs } from './signatures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every TombstoneStore adapter must show: highest HLC per record, lookups by id,
 * keyset paging through ties with owner and watermark bounds, pruning per (owner, model)
 * stream, signatures kept with each tombstone (and replaced with it), durability. An adapter's
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

      // Compared by expectSameWithSigs: an unsigned tombstone must come back without a `sig`
      // property at all (not undefined, not null).
      const signed = (t: Tombstone, seed: string): Tombstone => ({ ...t, sig: testSig(seed) });
      const byHlcThenId = (a: Tombstone, b: Tombstone): number => compareHlc(a.hlc, b.hlc) || (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0);

      it('returns each tombstone with the signature it was stored with, from lookups and pages; an unsigned one without any', async () => {
        const all = [
          signed(tomb('e1', 1), 'e1'),
          tomb('e2', 1),
          signed(tomb('e3', 2, 0, DEVICE_B), 'e3'),
          tomb('e4', 3, 0, DEVICE_B),
          signed(tomb('e5', 3), 'e5'),
          tomb('e6', 4),
        ];
        await current.store.putTombstones([...all].reverse());
        const readsBack = async (): Promise<void> => {
          const found = await current.store.getTombstones('entry', [...all.map((t) => t.recordId), 'missing']);
          expectSameWithSigs(all.map((t) => found.get(t.recordId)), all);
          expect(found.size).toBe(all.length);
          expectSameWithSigs(await current.store.tombstonesAfter('entry', { limit: 100 }), [...all].sort(byHlcThenId));
          const mine = all.filter((t) => t.ownerDeviceId === DEVICE_A);
          expectSameWithSigs(await current.store.tombstonesAfter('entry', { owner: DEVICE_A, limit: 100 }), mine);
          expectSameWithSigs(await current.store.tombstonesAfter('entry', { owner: DEVICE_A, after: { hlc: hlc(1), id: 'e1' }, limit: 2 }), mine.slice(1, 3));
          const afterWatermark = all.filter((t) => compareHlc(t.hlc, hlc(2, 0, DEVICE_B)) > 0).sort(byHlcThenId);
          expectSameWithSigs(await current.store.tombstonesAfter('entry', { afterHlc: hlc(2, 0, DEVICE_B), limit: 100 }), afterWatermark);
        };
        await readsBack();
        await reopen();
        await readsBack();
      });

      it("replaces a tombstone's signature with a newer tombstone's, also with none; older and equal ones keep it", async () => {
        const stored = async (id = 'e1'): Promise<Tombstone | undefined> => (await current.store.getTombstones('entry', [id])).get(id);
        await current.store.putTombstones([signed(tomb('e1', 10), 'v1')]);
        expectSameWithSigs(await stored(), signed(tomb('e1', 10), 'v1'));
        await current.store.putTombstones([signed(tomb('e1', 20), 'v2')]);
        expectSameWithSigs(await stored(), signed(tomb('e1', 20), 'v2'));
        // A newer unsigned tombstone leaves no signature behind.
        await current.store.putTombstones([tomb('e1', 30)]);
        expectSameWithSigs(await stored(), tomb('e1', 30));
        // Older and equal ones, signed, change nothing.
        await current.store.putTombstones([signed(tomb('e1', 25), 'older')]);
        await current.store.putTombstones([signed(tomb('e1', 30), 'equal')]);
        expectSameWithSigs(await stored(), tomb('e1', 30));
        await current.store.putTombstones([signed(tomb('e1', 40), 'v4')]);
        expectSameWithSigs(await stored(), signed(tomb('e1', 40), 'v4'));
        // A record named twice in one call ends with the signature of the highest HLC.
        await current.store.putTombstones([signed(tomb('e2', 10), 'e2 old'), tomb('e2', 20), tomb('e3', 10), signed(tomb('e3', 20), 'e3 new')]);
        await current.store.putTombstones([signed(tomb('e4', 20), 'e4 new'), tomb('e4', 10)]);
        const expected = [signed(tomb('e1', 40), 'v4'), tomb('e2', 20), signed(tomb('e3', 20), 'e3 new'), signed(tomb('e4', 20), 'e4 new')];
        await reopen();
        const found = await current.store.getTombstones('entry', ['e1', 'e2', 'e3', 'e4']);
        expectSameWithSigs(expected.map((t) => found.get(t.recordId)), expected);
        expectSameWithSigs(await current.store.tombstonesAfter('entry', { limit: 100 }), [...expected].sort(byHlcThenId));
      });
    });
  });
}
