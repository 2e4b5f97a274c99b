import { describe, expect, it } from '@jest/globals';
import type { MetricsSnapshotStore } from '../ports/metrics-snapshot-store.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every MetricsSnapshotStore adapter must show: newest first, pruning to the newest
 * N, durability. An adapter's test file calls this with a factory of fresh harnesses (or
 * `runSyncStoreConformance`, which runs it); durability cases close the store and open it again.
 */
export function runMetricsSnapshotStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<MetricsSnapshotStore>>>): void {
  describeStoreConformance('MetricsSnapshotStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

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
