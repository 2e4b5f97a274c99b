import { deletionRow, keysetBound, keysetCondition, keysetPageClauses, ModelTables, OWNER_COLUMN, whereClause } from '@highwater/core';
import type { ApplyOptions, ApplyResult, DeletionRow, Hlc, KeysetBound, ModelRegistry, PageQuery, RecordBatch, RecordStore, SyncRecord } from '@highwater/core';
import { RecordTable } from './record-table.js';
import { limitDatabaseSize, migrate, openSqliteDatabase, sqliteStorageError, type SqliteDatabase, type SqliteOpenOptions } from './sqlite-database.js';
import { positionalParams, StatementCache } from './statement-cache.js';

export interface SqliteRecordStoreOptions extends SqliteOpenOptions {
  /** Path of the library database (database.db). */
  readonly path: string;
  /** The registered models; one table each, created or extended on open. */
  readonly registry: ModelRegistry;
  /** Rows a count walks before it lets the event loop run (see `count`). Default 50 000. */
  readonly countSliceRows?: number;
  /** A size limit for the file: writes past it fail as on a full disk (see `setMaxDatabaseBytes`). */
  readonly maxDatabaseBytes?: number;
}

const DEFAULT_COUNT_SLICE_ROWS = 50_000;

// Model tables follow the registry rather than a fixed schema: RecordTable creates each on open,
// or brings an existing one to the current version. The steps here only mark the file, so that
// an older Highwater refuses it rather than writing rows it would get wrong.
// Version 1: model tables carry hw_owner and hw_hlc with keyset indexes.
// Version 2: and hw_sig (the owner's signature of the last write, NULL when unsigned), which
// RecordTable adds to a table that lacks it. An older Highwater would replace a row's fields
// and leave the previous version's signature beside them.
export const RECORD_DB_MIGRATIONS = [
  { version: 1, sql: 'SELECT 1' },
  { version: 2, sql: 'SELECT 1' },
];

/** RecordStore on better-sqlite3: one transaction per batch, prepared statements per model. */
export class SqliteRecordStore implements RecordStore {
  private readonly db: SqliteDatabase;
  private readonly tables: ModelTables<RecordTable>;
  // Page queries differ by filter (owner, cursor or watermark); each shape is prepared once.
  private readonly statements: StatementCache;
  private readonly countSliceRows: number;

  constructor(options: SqliteRecordStoreOptions) {
    this.db = openSqliteDatabase(options.path, options);
    this.countSliceRows = Math.max(1, options.countSliceRows ?? DEFAULT_COUNT_SLICE_ROWS);
    this.statements = new StatementCache(this.db);
    migrate(this.db, RECORD_DB_MIGRATIONS, `library database at ${options.path}`);
    try {
      this.tables = this.db.transaction(() => new ModelTables(options.registry, (model) => new RecordTable(this.db, model)))();
    } catch (cause) {
      throw sqliteStorageError(`Preparing the model tables of ${options.path} failed`, cause);
    }
    if (options.maxDatabaseBytes !== undefined) limitDatabaseSize(this.db, options.maxDatabaseBytes);
  }

  /**
   * Caps the library database at about `bytes` (null: no cap), now: writes past it fail with
   * StorageError reason `full`, as on a full disk, and succeed again once the cap is raised.
   */
  setMaxDatabaseBytes(bytes: number | null): void {
    limitDatabaseSize(this.db, bytes);
  }

  async applyBatch(model: string, batch: RecordBatch, options: ApplyOptions = {}): Promise<ApplyResult> {
    const table = this.tables.get(model);
    return this.applyRows(model, table.flatRows(batch.upserts ?? []), (batch.deletes ?? []).map(deletionRow), options.resolved === true);
  }

  /**
   * `applyBatch` over rows already laid out by the model's `RowLayout`: `rows` holds each
   * upsert's values one after another (`flatRows`), `deletes` each delete as a `DeletionRow`.
   * What a WorkerRecordStore sends its worker.
   */
  applyRows(model: string, rows: readonly unknown[], deletes: readonly DeletionRow[], resolved = false): ApplyResult {
    const table = this.tables.get(model);
    const { chunkRows, columnCount } = table;
    const writes = resolved ? table.resolvedWrites() : table;
    const upserts = rows.length / columnCount;
    try {
      return this.db.transaction(() => {
        let upserted = 0;
        let deleted = 0;
        let next = 0;
        for (; next + chunkRows <= upserts; next += chunkRows) {
          upserted += writes.upsertChunk.run(rows.slice(next * columnCount, (next + chunkRows) * columnCount)).changes;
        }
        for (; next < upserts; next++) upserted += writes.upsert.run(rows.slice(next * columnCount, (next + 1) * columnCount)).changes;
        for (const [id, owner, hlc] of deletes) deleted += writes.remove.run(id, hlc, owner).changes;
        return { upserted, deleted, unchanged: upserts + deletes.length - upserted - deleted };
      })();
    } catch (cause) {
      throw sqliteStorageError(`Applying a batch of ${model} failed and was rolled back`, cause);
    }
  }

  async page(model: string, query: PageQuery): Promise<SyncRecord[]> {
    const table = this.tables.get(model);
    return this.pageRows(model, query).map((row) => table.fromRow(row));
  }

  /** `page` as positional rows (`RowLayout.fromRow` reads them). */
  pageRows(model: string, query: PageQuery): unknown[][] {
    const table = this.tables.get(model);
    const params: unknown[] = [];
    const sql = `${table.selectColumns} ${keysetPageClauses(query, table.keysetColumns, positionalParams(params))}`;
    return this.statements.getRaw(sql).all(...params);
  }

  async getMany(model: string, ids: readonly string[]): Promise<SyncRecord[]> {
    const table = this.tables.get(model);
    return this.getManyRows(model, ids).map((row) => table.fromRow(row));
  }

  /** `getMany` as positional rows. */
  getManyRows(model: string, ids: readonly string[]): unknown[][] {
    const table = this.tables.get(model);
    if (ids.length === 0) return [];
    return table.getByIds.all(JSON.stringify(ids));
  }

  /**
   * Counting one owner's records, or those after an HLC, walks an index entry by entry, and
   * this store is synchronous: a large count would stall every other peer meanwhile. So such a
   * count goes in slices of `countSliceRows` along the (hlc, key) order, letting the event loop
   * run between them (test: sliced-count.test.ts). A count taken while writes land may include
   * some of them, as any count of a library in use may. A whole-table count uses SQLite's own
   * b-tree count, and so does one owner's whole count when two index steps show that owner
   * holds every row: the common first backfill from the only device that wrote.
   */
  async count(model: string, owner?: string, afterHlc?: Hlc | null): Promise<number> {
    const table = this.tables.get(model);
    if (owner === undefined && !afterHlc) return table.countAll.get()!.n;
    if (!afterHlc && this.ownsEveryRow(table, owner!)) return table.countAll.get()!.n;
    const { hlc, id } = table.keysetColumns;
    let bound: KeysetBound = keysetBound({ afterHlc: afterHlc ?? null });
    let counted = 0;
    for (;;) {
      const params: unknown[] = [];
      const param = positionalParams(params);
      const where = whereClause([owner === undefined ? null : `${OWNER_COLUMN} = ${param(owner)}`, keysetCondition(bound, hlc, id, param)]);
      // The slice's last row, if the slice is full: the next slice starts after it.
      const edge = this.statements
        .getRaw(`SELECT ${hlc}, ${id} FROM ${table.table} ${where} ORDER BY ${hlc}, ${id} LIMIT 1 OFFSET ?`)
        .get(...params, this.countSliceRows - 1) as [string, string] | undefined;
      if (edge === undefined) return counted + this.statements.get<{ n: number }>(`SELECT count(*) AS n FROM ${table.table} ${where}`).get(...params)!.n;
      counted += this.countSliceRows;
      bound = { kind: 'cursor', hlc: edge[0], id: edge[1] };
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Whether every row of `table` is `owner`'s (false when it holds none). */
  private ownsEveryRow(table: RecordTable, owner: string): boolean {
    return table.firstOwner.get() === owner && table.lastOwner.get() === owner;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
