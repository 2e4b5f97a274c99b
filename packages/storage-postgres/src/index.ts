/**
 * @highwater/storage-postgres — Highwater's SyncStore and RecordStore on PostgreSQL (pg), for
 * always-on and server peers. Each library lives in its own schema, so one database can host
 * many libraries.
 *
 * ```ts
 * import { ModelRegistry } from '@highwater/core';
 * import { createPostgresStorage } from '@highwater/storage-postgres';
 *
 * const registry = new ModelRegistry([/* your models *\/]);
 * const storage = await createPostgresStorage({
 *   connectionString: 'postgres://postgres@127.0.0.1:5432/highwater',
 *   schema: 'library_photos',
 *   registry,
 * });
 * // storage.syncStore: SyncStore (watermarks, checkpoints, shared log, acks, tombstones, metrics)
 * // storage.recordStore: RecordStore (one table per model, hw_owner / hw_hlc / hw_sig columns)
 * await storage.close();
 * ```
 * Opening creates the schema if needed, applies pending migrations (serialised across
 * processes by an advisory lock) and creates or extends the model tables.
 */
import type pg from 'pg';
import { quoteIdentifier, StorageError, type ModelRegistry, type WallClock } from '@highwater/core';
import { createPool, type PostgresConnectionOptions } from './pg-database.js';
import { PostgresRecordStore } from './postgres-record-store.js';
import { PostgresSyncStore } from './postgres-sync-store.js';
import { assertSchemaName } from './identifiers.js';

export { PostgresSyncStore, type PostgresSyncStoreOptions } from './postgres-sync-store.js';
export { PostgresRecordStore, type PostgresRecordStoreOptions } from './postgres-record-store.js';
export type { PostgresConnectionOptions } from './pg-database.js';
export { OWNER_COLUMN, HLC_COLUMN, SIG_COLUMN } from '@highwater/core';
export { SCHEMA_MIGRATIONS, MIGRATIONS_TABLE, SYNC_TABLES } from './schema-migrations.js';

export interface PostgresStorageOptions extends PostgresConnectionOptions {
  readonly registry: ModelRegistry;
  /** Source of `updated_at` times in the sync store. */
  readonly wallClock?: WallClock;
}

export interface PostgresStorage {
  readonly syncStore: PostgresSyncStore;
  readonly recordStore: PostgresRecordStore;
  /** The library's schema. */
  readonly schema: string;
  /** Closes both stores, and ends the pool if this storage created it (never a pool you passed in). Idempotent. */
  close(): Promise<void>;
  /** Deletes the library: drops its schema with every table in it (irreversible), then closes. */
  dropSchema(): Promise<void>;
}

/** Opens (creating and migrating if needed) a library's storage in one PostgreSQL schema. */
export async function createPostgresStorage(options: PostgresStorageOptions): Promise<PostgresStorage> {
  assertSchemaName(options.schema);
  if (options.pool && options.connectionString !== undefined) {
    throw new StorageError('Give either `pool` or `connectionString` for PostgreSQL storage, not both');
  }
  const ownPool = options.pool ? undefined : createPool(options);
  // Both stores borrow one pool; only the storage ends it.
  const pool: pg.Pool = options.pool ?? ownPool!;
  const shared = {
    pool,
    schema: options.schema,
    registry: options.registry,
    ...(options.preparedStatements !== undefined ? { preparedStatements: options.preparedStatements } : {}),
    ...(options.wallClock ? { wallClock: options.wallClock } : {}),
  };
  let syncStore: PostgresSyncStore | undefined;
  try {
    syncStore = await PostgresSyncStore.open(shared);
    const recordStore = await PostgresRecordStore.open(shared);
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await Promise.all([syncStore!.close(), recordStore.close()]);
      await ownPool?.end();
    };
    return {
      syncStore,
      recordStore,
      schema: options.schema,
      close,
      dropSchema: async () => {
        if (closed) throw new StorageError(`PostgreSQL storage of schema "${options.schema}" is closed`);
        try {
          await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(options.schema)} CASCADE`);
        } catch (cause) {
          throw new StorageError(`Dropping PostgreSQL schema "${options.schema}" failed: ${(cause as Error).message}`, { cause });
        } finally {
          await close();
        }
      },
    };
  } catch (error) {
    await syncStore?.close();
    await ownPool?.end();
    throw error;
  }
}
