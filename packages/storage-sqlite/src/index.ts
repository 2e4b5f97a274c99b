/**
 * @highwater/storage-sqlite — Highwater's embedded default storage on better-sqlite3.
 *
 * ```ts
 * import { createSqliteStorage } from '@highwater/storage-sqlite';
 * const { syncStore, recordStore } = createSqliteStorage({ directory: './my-library', registry });
 * ```
 * `sync.db` holds sync metadata (watermarks, checkpoints, shared log, acks, tombstones,
 * metrics); `database.db` holds the library's records, one table per registered model.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { ModelRegistry, WallClock } from '@highwater/core';
import type { SqliteOpenOptions } from './sqlite-database.js';
import { SqliteRecordStore } from './sqlite-record-store.js';
import { SqliteSyncStore } from './sqlite-sync-store.js';
import { WorkerRecordStore } from './worker-record-store.js';

export { SqliteSyncStore, type SqliteSyncStoreOptions } from './sqlite-sync-store.js';
export { SqliteRecordStore, type SqliteRecordStoreOptions } from './sqlite-record-store.js';
export { WorkerRecordStore } from './worker-record-store.js';
export type { SqliteOpenOptions } from './sqlite-database.js';
export { OWNER_COLUMN, HLC_COLUMN, SIG_COLUMN } from '@highwater/core';

export interface SqliteStorageOptions extends SqliteOpenOptions {
  /** Folder of the library; created if missing. Holds sync.db and database.db. */
  readonly directory: string;
  readonly registry: ModelRegistry;
  readonly wallClock?: WallClock;
  /**
   * Where the record store's SQLite work runs. `'worker'` moves it to a worker thread
   * (`WorkerRecordStore`), so the calling thread keeps receiving and decoding while a page is
   * written; it needs cores to spare, and every call crosses threads. `'main'` (default) keeps
   * everything on the calling thread.
   */
  readonly recordStoreThread?: 'main' | 'worker';
  /**
   * A size limit for database.db (the records): a write past it fails with StorageError reason
   * `full`, as on a full disk, and the node goes on once the limit is raised
   * (`recordStore.setMaxDatabaseBytes`). Default: none but the disk's.
   */
  readonly maxDatabaseBytes?: number;
}

export interface SqliteStorage {
  readonly syncStore: SqliteSyncStore;
  readonly recordStore: SqliteRecordStore | WorkerRecordStore;
  /** Closes both databases. */
  close(): Promise<void>;
}

/** Opens (creating if needed) a library's two SQLite databases. */
export function createSqliteStorage(options: SqliteStorageOptions): SqliteStorage {
  mkdirSync(options.directory, { recursive: true });
  const open = {
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
    ...(options.integrityCheck ? { integrityCheck: options.integrityCheck } : {}),
  };
  const syncStore = new SqliteSyncStore({
    path: join(options.directory, 'sync.db'),
    ...open,
    ...(options.wallClock ? { wallClock: options.wallClock } : {}),
  });
  const recordOptions = {
    path: join(options.directory, 'database.db'),
    registry: options.registry,
    ...open,
    ...(options.maxDatabaseBytes !== undefined ? { maxDatabaseBytes: options.maxDatabaseBytes } : {}),
  };
  const recordStore = options.recordStoreThread === 'worker' ? new WorkerRecordStore(recordOptions) : new SqliteRecordStore(recordOptions);
  return {
    syncStore,
    recordStore,
    close: async () => {
      await Promise.all([syncStore.close(), recordStore.close()]);
    },
  };
}
