/**
 * @highwater/core/testing — conformance suites every adapter runs, and their fixtures.
 *
 * ```ts
 * import { runSyncStoreConformance } from '@highwater/core/testing';
 * runSyncStoreConformance('sqlite', async () => myHarness());
 * ```
 * Imports `@jest/globals`, so only load this from jest test files.
 */
export type { StoreHarness } from './harness.js';
export { runSyncStoreConformance } from './sync-store-conformance.js';
export { runRecordStoreConformance } from './record-store-conformance.js';
export { runTransportConformance, type TransportHarness, type TransportConformanceOptions } from './transport-conformance.js';
export * from './fixtures.js';
export { runWatermarkStoreConformance } from './watermark-store-conformance.js';
export { runCheckpointStoreConformance } from './checkpoint-store-conformance.js';
export { runSyncStateStoreConformance } from './sync-state-store-conformance.js';
export { runSharedLogStoreConformance } from './shared-log-store-conformance.js';
export { runAckStoreConformance } from './ack-store-conformance.js';
export { runTombstoneStoreConformance } from './tombstone-store-conformance.js';
export { runParkedChangeStoreConformance } from './parked-change-store-conformance.js';
export { runMetricsSnapshotStoreConformance } from './metrics-snapshot-store-conformance.js';
export { runBatchProofStoreConformance } from './batch-proof-store-conformance.js';
export type { WithClose } from './harness.js';
export { expectSameWithSigs, sigOf, NO_SIG } from './signatures.js';
export { answerOrHang, disconnectedFrom, recordPeerEvents, within } from './transport-helpers.js';
