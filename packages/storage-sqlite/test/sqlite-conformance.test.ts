import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistry } from '@highwater/core';
import { runRecordStoreConformance, runSyncStoreConformance } from '@highwater/core/testing';
import { SqliteRecordStore, SqliteSyncStore, WorkerRecordStore } from '@highwater/storage-sqlite';

// Real files in a fresh temp folder per test; reopening them proves durability.
function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hw-sqlite-'));
}

runSyncStoreConformance('sqlite', async () => {
  const dir = tempDir();
  return {
    open: async () => new SqliteSyncStore({ path: join(dir, 'sync.db') }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

runRecordStoreConformance('sqlite', async (models) => {
  const dir = tempDir();
  const registry = new ModelRegistry(models);
  return {
    open: async () => new SqliteRecordStore({ path: join(dir, 'database.db'), registry }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

// The same record store on a worker thread (createSqliteStorage({ recordStoreThread: 'worker' })).
runRecordStoreConformance('sqlite on a worker thread', async (models) => {
  const dir = tempDir();
  const registry = new ModelRegistry(models);
  return {
    open: async () => new WorkerRecordStore({ path: join(dir, 'database.db'), registry }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
