import { expect, it } from '@jest/globals';
import type { Hlc } from '../clock/hlc.js';
import type { SyncStore } from '../ports/sync-store.js';
import { runAckStoreConformance } from './ack-store-conformance.js';
import { runBatchProofStoreConformance } from './batch-proof-store-conformance.js';
import { runCheckpointStoreConformance } from './checkpoint-store-conformance.js';
import { describeStoreConformance, type StoreHarness } from './harness.js';
import { runMetricsSnapshotStoreConformance } from './metrics-snapshot-store-conformance.js';
import { runParkedChangeStoreConformance } from './parked-change-store-conformance.js';
import { runSharedLogStoreConformance } from './shared-log-store-conformance.js';
import { runSyncStateStoreConformance } from './sync-state-store-conformance.js';
import { runTombstoneStoreConformance } from './tombstone-store-conformance.js';
import { runWatermarkStoreConformance } from './watermark-store-conformance.js';

/**
 * The behaviour every SyncStore adapter must show: the suite of each small port it provides,
 * each case on a fresh harness. An adapter's test file calls this with a factory of fresh
 * harnesses; durability cases close the store and open it again.
 */
export function runSyncStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<SyncStore>>): void {
  runWatermarkStoreConformance(adapterName, newHarness);
  runCheckpointStoreConformance(adapterName, newHarness);
  runSyncStateStoreConformance(adapterName, newHarness);
  runSharedLogStoreConformance(adapterName, newHarness);
  runAckStoreConformance(adapterName, newHarness);
  runTombstoneStoreConformance(adapterName, newHarness);
  runParkedChangeStoreConformance(adapterName, newHarness);
  runMetricsSnapshotStoreConformance(adapterName, newHarness);
  runBatchProofStoreConformance(adapterName, newHarness);
  describeStoreConformance('SyncStore', adapterName, newHarness, (current) => {
    it('compact() changes nothing a read returns, before any prune and after prunes', async () => {
      const { store } = current;
      await store.compact();
      const hlc = (time: number): Hlc => ({ time: 1_700_000_000_000 + time, counter: 0, deviceId: 'device-a' });
      await store.putTombstones([1, 2, 3].map((t) => ({ model: 'entry', recordId: `e${t}`, ownerDeviceId: 'device-a', hlc: hlc(t) })));
      await store.advanceWatermark('device-a', 'entry', hlc(3));
      expect(await store.pruneTombstones('entry', 'device-a', hlc(2))).toBe(2);
      await store.compact();
      expect((await store.tombstonesAfter('entry', { limit: 10 })).map((t) => t.recordId)).toEqual(['e3']);
      expect((await store.listWatermarks()).map((w) => w.ownerDeviceId)).toEqual(['device-a']);
      await current.reopen();
      expect((await current.store.tombstonesAfter('entry', { limit: 10 })).map((t) => t.recordId)).toEqual(['e3']);
    });
  });
}
