import { describe, expect, it } from '@jest/globals';
import { compareHlc } from '../clock/hlc.js';
import type { ParkedChange, SharedChange, SyncStore, Tombstone } from '../ports/sync-store.js';
import { DEVICE_A, DEVICE_B, DEVICE_C, hlc } from './fixtures.js';
import { useStoreHarness, type StoreHarness } from './harness.js';

/**
 * The behaviour every SyncStore adapter must show. An adapter's test file calls this with a
 * factory of fresh harnesses; durability cases close the store and open it again.
 */
export function runSyncStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<SyncStore>>): void {
  describe(`SyncStore conformance: ${adapterName}`, () => {
    const current = useStoreHarness(newHarness);
    const reopen = (): Promise<void> => current.reopen();

    describe('per-resource watermarks', () => {
      it('starts empty', async () => {
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toBeNull();
        expect(await current.store.listWatermarks()).toEqual([]);
      });

      it('only moves forward', async () => {
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 1))).toBe(true);
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 0))).toBe(false);
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(50, 9))).toBe(false);
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 1))).toBe(false);
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(100, 1));
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 2))).toBe(true);
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(100, 2));
      });

      it('keeps every (owner, resource) independent: advancing entries never skips locations', async () => {
        // The seeds' bug: one global watermark advanced by entries hid older locations.
        await current.store.advanceWatermark(DEVICE_A, 'location', hlc(10));
        await current.store.advanceWatermark(DEVICE_A, 'volume', hlc(50));
        await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(15_000));
        await current.store.advanceWatermark(DEVICE_B, 'entry', hlc(20, 0, DEVICE_B));
        expect(await current.store.getWatermark(DEVICE_A, 'location')).toEqual(hlc(10));
        expect(await current.store.getWatermark(DEVICE_A, 'volume')).toEqual(hlc(50));
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(15_000));
        expect(await current.store.getWatermark(DEVICE_B, 'entry')).toEqual(hlc(20, 0, DEVICE_B));
        expect(await current.store.getWatermark(DEVICE_B, 'location')).toBeNull();
        const all = await current.store.listWatermarks();
        expect(all.map((w) => [w.ownerDeviceId, w.resourceType])).toEqual([
          [DEVICE_A, 'entry'],
          [DEVICE_A, 'location'],
          [DEVICE_A, 'volume'],
          [DEVICE_B, 'entry'],
        ]);
        expect(all.every((w) => w.updatedAt > 0)).toBe(true);
      });

      it('stays forward-only under concurrent advances', async () => {
        const values = Array.from({ length: 50 }, (_, i) => hlc(1000 + ((i * 37) % 50), i % 3));
        await Promise.all(values.map((v) => current.store.advanceWatermark(DEVICE_C, 'entry', v)));
        const max = values.reduce((a, b) => (compareHlc(a, b) >= 0 ? a : b));
        expect(await current.store.getWatermark(DEVICE_C, 'entry')).toEqual(max);
      });

      it('survives reopening', async () => {
        await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(77, 3));
        await reopen();
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(77, 3));
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(76))).toBe(false);
      });
    });

    describe('backfill checkpoints', () => {
      const base = { ownerDeviceId: DEVICE_A, resourceType: 'entry', completed: false, recordsTotal: 15_000 };

      it('saves, overwrites and loads', async () => {
        expect(await current.store.loadCheckpoint(DEVICE_A, 'entry')).toBeNull();
        await current.store.saveCheckpoint({ ...base, cursor: null, recordsApplied: 0 });
        expect(await current.store.loadCheckpoint(DEVICE_A, 'entry')).toMatchObject({ ...base, cursor: null, recordsApplied: 0 });
        const cursor = { hlc: hlc(500, 2), id: 'entry-000500' };
        await current.store.saveCheckpoint({ ...base, cursor, recordsApplied: 1000 });
        const loaded = await current.store.loadCheckpoint(DEVICE_A, 'entry');
        expect(loaded).toMatchObject({ ...base, cursor, recordsApplied: 1000 });
        expect(loaded!.updatedAt).toBeGreaterThan(0);
        await current.store.saveCheckpoint({ ...base, cursor, recordsApplied: 15_000, completed: true, recordsTotal: null });
        expect(await current.store.loadCheckpoint(DEVICE_A, 'entry')).toMatchObject({ completed: true, recordsTotal: null });
      });

      it('lists and clears one or all', async () => {
        await current.store.saveCheckpoint({ ...base, cursor: null, recordsApplied: 0 });
        await current.store.saveCheckpoint({ ...base, resourceType: 'location', cursor: null, recordsApplied: 0 });
        await current.store.saveCheckpoint({ ...base, ownerDeviceId: DEVICE_B, cursor: null, recordsApplied: 0 });
        expect((await current.store.listCheckpoints()).map((c) => `${c.ownerDeviceId}/${c.resourceType}`)).toEqual([
          `${DEVICE_A}/entry`,
          `${DEVICE_A}/location`,
          `${DEVICE_B}/entry`,
        ]);
        await current.store.clearCheckpoints(DEVICE_A, 'location');
        expect(await current.store.loadCheckpoint(DEVICE_A, 'location')).toBeNull();
        expect(await current.store.listCheckpoints()).toHaveLength(2);
        await current.store.clearCheckpoints();
        expect(await current.store.listCheckpoints()).toEqual([]);
      });

      it('survives reopening, and a cleared checkpoint stays cleared', async () => {
        const cursor = { hlc: hlc(4999, 0), id: 'entry-004999' };
        await current.store.saveCheckpoint({ ...base, cursor, recordsApplied: 5000 });
        await current.store.saveCheckpoint({ ...base, resourceType: 'volume', cursor: null, recordsApplied: 0 });
        await current.store.clearCheckpoints(DEVICE_A, 'volume');
        await reopen();
        expect(await current.store.loadCheckpoint(DEVICE_A, 'entry')).toMatchObject({ cursor, recordsApplied: 5000, completed: false });
        expect(await current.store.loadCheckpoint(DEVICE_A, 'volume')).toBeNull();
      });
    });

    describe('sync state', () => {
      it('sets, overwrites and survives reopening', async () => {
        expect(await current.store.getSyncState('backfill')).toBeNull();
        await current.store.setSyncState('backfill', 'running');
        await current.store.setSyncState('backfill', 'done');
        await current.store.setSyncState('other', 'x');
        await reopen();
        expect(await current.store.getSyncState('backfill')).toBe('done');
        expect(await current.store.getSyncState('other')).toBe('x');
      });
    });

    describe('shared-change log', () => {
      const change = (time: number, counter: number, device: string, recordId: string, op: 'upsert' | 'delete' = 'upsert'): SharedChange => ({
        hlc: hlc(time, counter, device),
        model: 'tag',
        recordId,
        op,
        data: op === 'delete' ? null : { name: `tag ${recordId}`, color: null, extra: { n: time } },
      });

      it('appends idempotently on HLC and returns changes in HLC order', async () => {
        const changes = [change(30, 0, DEVICE_B, 't3'), change(10, 0, DEVICE_A, 't1'), change(10, 0, DEVICE_B, 't2'), change(10, 1, DEVICE_A, 't1', 'delete')];
        expect(await current.store.appendSharedChanges(changes)).toBe(4);
        expect(await current.store.appendSharedChanges([changes[0]!, change(40, 0, DEVICE_A, 't4')])).toBe(1);
        expect(await current.store.countSharedChanges()).toBe(5);
        const all = await current.store.sharedChangesSince({ after: null, limit: 100 });
        expect(all.map((c) => [c.hlc.time - hlc(0).time, c.hlc.counter, c.hlc.deviceId])).toEqual([
          [10, 0, DEVICE_A],
          [10, 0, DEVICE_B],
          [10, 1, DEVICE_A],
          [30, 0, DEVICE_B],
          [40, 0, DEVICE_A],
        ]);
        expect(all[0]).toEqual(changes[1]);
        expect(all[2]).toEqual({ ...changes[3], data: null });
      });

      it('pages by HLC without gaps or repeats, and filters by origin', async () => {
        const changes = Array.from({ length: 23 }, (_, i) => change(Math.floor(i / 4), i % 4, i % 2 ? DEVICE_A : DEVICE_B, `t${i}`));
        await current.store.appendSharedChanges(changes);
        const seen: string[] = [];
        let after = null;
        for (;;) {
          const page: SharedChange[] = await current.store.sharedChangesSince({ after, limit: 5 });
          if (page.length === 0) break;
          seen.push(...page.map((c) => c.recordId));
          after = page[page.length - 1]!.hlc;
        }
        const expected = [...changes].sort((a, b) => compareHlc(a.hlc, b.hlc)).map((c) => c.recordId);
        expect(seen).toEqual(expected);
        const fromA = await current.store.sharedChangesSince({ after: hlc(2, 0), limit: 100, originDeviceId: DEVICE_A });
        expect(fromA.every((c) => c.hlc.deviceId === DEVICE_A && compareHlc(c.hlc, hlc(2, 0)) > 0)).toBe(true);
        expect(fromA.map((c) => c.recordId)).toEqual(expected.filter((id) => Number(id.slice(1)) % 2 === 1 && Number(id.slice(1)) >= 9));
      });

      it('filters by model together with origin', async () => {
        await current.store.appendSharedChanges([change(1, 0, DEVICE_A, 'a'), { ...change(2, 0, DEVICE_A, 'b'), model: 'label' }, change(3, 0, DEVICE_B, 'c')]);
        const tagsOfA = await current.store.sharedChangesSince({ after: null, limit: 10, originDeviceId: DEVICE_A, model: 'tag' });
        expect(tagsOfA.map((c) => c.recordId)).toEqual(['a']);
        const labels = await current.store.sharedChangesSince({ after: null, limit: 10, model: 'label' });
        expect(labels.map((c) => c.recordId)).toEqual(['b']);
      });

      it('prunes up to and including an HLC', async () => {
        await current.store.appendSharedChanges([change(1, 0, DEVICE_A, 'a'), change(2, 0, DEVICE_A, 'b'), change(3, 0, DEVICE_A, 'c')]);
        expect(await current.store.pruneSharedChanges(hlc(2, 0, DEVICE_A))).toBe(2);
        expect((await current.store.sharedChangesSince({ after: null, limit: 10 })).map((c) => c.recordId)).toEqual(['c']);
        await reopen();
        expect(await current.store.countSharedChanges()).toBe(1);
      });
    });

    describe('peer acks', () => {
      it('records forward-only acks per peer and survives reopening', async () => {
        expect(await current.store.recordAck(DEVICE_B, hlc(10))).toBe(true);
        expect(await current.store.recordAck(DEVICE_B, hlc(5))).toBe(false);
        expect(await current.store.recordAck(DEVICE_C, hlc(3))).toBe(true);
        expect(await current.store.recordAck(DEVICE_B, hlc(11))).toBe(true);
        await reopen();
        const acks = await current.store.listAcks();
        expect(acks.map((a) => [a.peerDeviceId, a.hlc])).toEqual([
          [DEVICE_B, hlc(11)],
          [DEVICE_C, hlc(3)],
        ]);
      });
    });

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

    describe('parked changes', () => {
      const parked = (id: string, time: number, owner = DEVICE_A): ParkedChange => ({
        model: 'entry',
        recordId: id,
        ownerDeviceId: owner,
        hlc: hlc(time, 0, owner),
        data: { name: `${id}@${time}`, parentId: 'p1', size: 7, nested: { list: [1, 'two', null] } },
      });

      it('keeps one per (model, record id, HLC), lists them in (HLC, id) order, and survives reopening', async () => {
        await current.store.parkChanges([parked('e2', 20), parked('e1', 10), parked('e1', 30, DEVICE_B)]);
        await current.store.parkChanges([parked('e1', 10), { ...parked('e1', 10), model: 'tag' }]);
        await reopen();
        const listed = await current.store.listParkedChanges();
        expect(listed.map((p) => [p.model, p.recordId, p.hlc.time - hlc(0).time])).toEqual([
          ['entry', 'e1', 10],
          ['tag', 'e1', 10],
          ['entry', 'e2', 20],
          ['entry', 'e1', 30],
        ]);
        expect(listed[0]).toEqual(parked('e1', 10));
        expect(listed[3]!.ownerDeviceId).toBe(DEVICE_B);
      });

      it('unparks exactly the keys given', async () => {
        await current.store.parkChanges([parked('e1', 10), parked('e1', 11), parked('e2', 12)]);
        await current.store.unparkChanges([
          { model: 'entry', recordId: 'e1', hlc: hlc(10, 0, DEVICE_A) },
          { model: 'entry', recordId: 'e2', hlc: hlc(99, 0, DEVICE_A) },
          { model: 'tag', recordId: 'e2', hlc: hlc(12, 0, DEVICE_A) },
        ]);
        expect((await current.store.listParkedChanges()).map((p) => `${p.recordId}@${p.hlc.time - hlc(0).time}`)).toEqual(['e1@11', 'e2@12']);
        await current.store.unparkChanges([]);
        await current.store.parkChanges([]);
        expect(await current.store.listParkedChanges()).toHaveLength(2);
      });
    });

    describe('metrics snapshots', () => {
      it('lists newest first, prunes to the newest N, and survives reopening', async () => {
        for (let i = 1; i <= 4; i++) {
          await current.store.saveMetricsSnapshot({ takenAt: 1_000 * i, libraryId: 'lib-1', metrics: { applied: i * 10, perModel: { entry: i } } });
        }
        await reopen();
        const listed = await current.store.listMetricsSnapshots(3);
        expect(listed.map((s) => s.takenAt)).toEqual([4000, 3000, 2000]);
        expect(listed[0]).toEqual({ takenAt: 4000, libraryId: 'lib-1', metrics: { applied: 40, perModel: { entry: 4 } } });
        expect(await current.store.pruneMetricsSnapshots(2)).toBe(2);
        expect((await current.store.listMetricsSnapshots(10)).map((s) => s.takenAt)).toEqual([4000, 3000]);
      });
    });
  });
}
