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
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { StorageError, type ModelRegistry, type WallClock } from '@highwater/core';
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
  /**
   * What to do when sync.db is damaged (see `integrityCheck`). `'rebuild'` (default): it is never
   * trusted; it is moved aside (`sync.db.damaged-<time>`, its -wal and -shm beside it) and a new
   * one is made, so the node backfills every stream again from its peers and takes up its own
   * records from database.db (its own watermarks and clock included). Lost with it: this device's
   * deletes that no peer had yet (those records come back from peers) and the batch proofs of its
   * own changes (peers that got them from it cannot relay them on; from any other copy they can).
   * `'refuse'`: opening fails with StorageError reason `corrupt`.
   */
  readonly damagedSyncDb?: 'rebuild' | 'refuse';
}

export interface SqliteStorage {
  readonly syncStore: SqliteSyncStore;
  readonly recordStore: SqliteRecordStore | WorkerRecordStore;
  /** Where a damaged sync.db was moved when this open rebuilt it (see `damagedSyncDb`); null otherwise. */
  readonly rebuiltSyncDb: string | null;
  /** Closes both databases. */
  close(): Promise<void>;
}

/** Moves a damaged database and its WAL files aside; returns where the database went. */
function moveAside(path: string): string {
  const to = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, to + suffix);
  return to;
}

/** Opens (creating if needed) a library's two SQLite databases. */
export function createSqliteStorage(options: SqliteStorageOptions): SqliteStorage {
  mkdirSync(options.directory, { recursive: true });
  const open = {
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
    ...(options.integrityCheck ? { integrityCheck: options.integrityCheck } : {}),
  };
  const syncOptions = {
    path: join(options.directory, 'sync.db'),
    ...open,
    ...(options.wallClock ? { wallClock: options.wallClock } : {}),
  };
  let syncStore: SqliteSyncStore;
  let rebuiltSyncDb: string | null = null;
  try {
    syncStore = new SqliteSyncStore(syncOptions);
  } catch (error) {
    if (!(error instanceof StorageError && error.reason === 'corrupt') || options.damagedSyncDb === 'refuse') throw error;
    rebuiltSyncDb = moveAside(syncOptions.path);
    syncStore = new SqliteSyncStore(syncOptions);
  }
  const recordOptions = {
    path: join(options.directory, 'database.db'),
    registry: options.registry,
    ...open,
    ...(options.maxDatabaseBytes !== undefined ? { maxDatabaseBytes: options.maxDatabaseBytes } : {}),
  };
  let recordStore: SqliteRecordStore | WorkerRecordStore;
  try {
    recordStore = options.recordStoreThread === 'worker' ? new WorkerRecordStore(recordOptions) : new SqliteRecordStore(recordOptions);
  } catch (error) {
    void syncStore.close();
    throw error;
  }
  return {
    syncStore,
    recordStore,
    rebuiltSyncDb,
    close: async () => {
      await Promise.all([syncStore.close(), recordStore.close()]);
    },
  };
}
