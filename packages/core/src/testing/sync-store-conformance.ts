import type { SyncStore } from '../ports/sync-store.js';
import { runAckStoreConformance } from './ack-store-conformance.js';
import { runCheckpointStoreConformance } from './checkpoint-store-conformance.js';
import type { StoreHarness } from './harness.js';
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
}
