import { runRecordStoreConformance, runSyncStoreConformance } from '@highwater/core/testing';
import { expectNoLeftoverSchemas, recordStoreHarness, syncStoreHarness } from './pg-test-helper.js';

// A fresh schema per test on the real server; open() builds a new store with a new pool on
// that schema, so the suites' reopen cases prove the data is in the database, not in memory.
runSyncStoreConformance('postgres', () => syncStoreHarness());
runRecordStoreConformance('postgres', (models) => recordStoreHarness(models));

expectNoLeftoverSchemas();
