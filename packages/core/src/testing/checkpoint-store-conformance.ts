import { describe, expect, it } from '@jest/globals';
import type { CheckpointStore } from '../ports/checkpoint-store.js';
import { DEVICE_A, DEVICE_B, hlc } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every CheckpointStore adapter must show: save, overwrite, load, list in order,
 * clear one or all, durability. An adapter's test file calls this with a factory of fresh
 * harnesses (or `runSyncStoreConformance`, which runs it); durability cases close the store and
 * open it again.
 */
export function runCheckpointStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<CheckpointStore>>>): void {
  describeStoreConformance('CheckpointStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

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
  });
}
