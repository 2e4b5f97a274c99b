import { describe, expect, it } from '@jest/globals';
import type { SyncStateStore } from '../ports/sync-state-store.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every SyncStateStore adapter must show: set, overwrite, durability. An adapter's
 * test file calls this with a factory of fresh harnesses (or `runSyncStoreConformance`, which
 * runs it); durability cases close the store and open it again.
 */
export function runSyncStateStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<SyncStateStore>>>): void {
  describeStoreConformance('SyncStateStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

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
  });
}
