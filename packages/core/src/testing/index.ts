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
