import {
  formatHlc,
  StorageError,
  type ApplyResult,
  type Hlc,
  type ModelRegistry,
  type PageQuery,
  type RecordBatch,
  type RecordDeletion,
  type RecordStore,
  type SyncRecord,
} from '@highwater/core';
import { keysetBound, StatementCache } from './keyset.js';
import { HLC_COLUMN, OWNER_COLUMN, RecordTable } from './record-table.js';
import { migrate, openSqliteDatabase, quoteIdentifier, type SqliteDatabase, type SqliteOpenOptions } from './sqlite-database.js';

export interface SqliteRecordStoreOptions extends SqliteOpenOptions {
  /** Path of the library database (database.db). */
  readonly path: string;
  /** The registered models; one table each, created or extended on open. */
  readonly registry: ModelRegistry;
  /** Rows a count walks before it lets the event loop run (see `count`). Default 50 000. */
  readonly countSliceRows?: number;
}

const DEFAULT_COUNT_SLICE_ROWS = 50_000;

/** A delete as `applyRows` takes it: key, HLC in text form, owner. */
export type DeletionRow = readonly [id: string, hlc: string, owner: string];

export function deletionRow(d: RecordDeletion): DeletionRow {
  return [d.id, formatHlc(d.hlc), d.ownerDeviceId];
}

// Version 1: model tables carry hw_owner and hw_hlc with keyset indexes (created per model by
// RecordTable, since tables follow the registry rather than a fixed schema).
const RECORD_DB_MIGRATIONS = [{ version: 1, sql: 'SELECT 1' }];

/** RecordStore on better-sqlite3: one transaction per batch, prepared statements per model. */
export class SqliteRecordStore implements RecordStore {
  private readonly db: SqliteDatabase;
  private readonly tables = new Map<string, RecordTable>();
  private readonly registry: ModelRegistry;
  // Page queries differ by filter (owner, cursor or watermark); each shape is prepared once.
  private readonly statements: StatementCache;
  private readonly countSliceRows: number;

  constructor(options: SqliteRecordStoreOptions) {
    this.db = openSqliteDatabase(options.path, options);
    this.registry = options.registry;
    this.countSliceRows = Math.max(1, options.countSliceRows ?? DEFAULT_COUNT_SLICE_ROWS);
    this.statements = new StatementCache(this.db);
    migrate(this.db, RECORD_DB_MIGRATIONS, `library database at ${options.path}`);
    this.db.transaction(() => {
      for (const model of options.registry.all()) this.tables.set(model.name, new RecordTable(this.db, model));
    })();
  }

  async applyBatch(model: string, batch: RecordBatch): Promise<ApplyResult> {
    const table = this.table(model);
    return this.applyRows(model, table.flatRows(batch.upserts ?? []), (batch.deletes ?? []).map(deletionRow));
  }

  /**
   * `applyBatch` over rows already laid out by the model's `RowLayout`: `rows` holds each
   * upsert's values one after another (`flatRows`), `deletes` each delete as [key, HLC text,
   * owner]. What a WorkerRecordStore sends its worker.
   */
  applyRows(model: string, rows: readonly unknown[], deletes: readonly DeletionRow[]): ApplyResult {
    const table = this.table(model);
    const { chunkRows, columnCount } = table;
    const upserts = rows.length / columnCount;
    try {
      return this.db.transaction(() => {
        let upserted = 0;
        let deleted = 0;
        let next = 0;
        for (; next + chunkRows <= upserts; next += chunkRows) {
          upserted += table.upsertChunk.run(rows.slice(next * columnCount, (next + chunkRows) * columnCount)).changes;
        }
        for (; next < upserts; next++) upserted += table.upsert.run(rows.slice(next * columnCount, (next + 1) * columnCount)).changes;
        for (const [id, hlc, owner] of deletes) deleted += table.remove.run(id, hlc, owner).changes;
        return { upserted, deleted, unchanged: upserts + deletes.length - upserted - deleted };
      })();
    } catch (cause) {
      throw new StorageError(`Applying a batch of ${model} failed and was rolled back: ${(cause as Error).message}`, { cause });
    }
  }

  async page(model: string, query: PageQuery): Promise<SyncRecord[]> {
    const table = this.table(model);
    return this.pageRows(model, query).map((row) => table.fromRow(row));
  }

  /** `page` as positional rows (`RowLayout.fromRow` reads them). */
  pageRows(model: string, query: PageQuery): unknown[][] {
    const table = this.table(model);
    const key = quoteIdentifier(table.model.key);
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.owner !== undefined) {
      where.push(`${OWNER_COLUMN} = ?`);
      params.push(query.owner);
    }
    const bound = keysetBound(HLC_COLUMN, key, query);
    where.push(bound.sql);
    params.push(...bound.params);
    const sql = `${table.selectColumns} WHERE ${where.join(' AND ')} ORDER BY ${HLC_COLUMN}, ${key} LIMIT ?`;
    return this.statements.getRaw(sql).all(...params, query.limit);
  }

  async getMany(model: string, ids: readonly string[]): Promise<SyncRecord[]> {
    const table = this.table(model);
    return this.getManyRows(model, ids).map((row) => table.fromRow(row));
  }

  /** `getMany` as positional rows. */
  getManyRows(model: string, ids: readonly string[]): unknown[][] {
    const table = this.table(model);
    if (ids.length === 0) return [];
    return table.getByIds.all(JSON.stringify(ids));
  }

  /**
   * Counting one owner's records, or those after an HLC, walks an index entry by entry (~90 ms
   * for a million here), and this store is synchronous: a peer's first exchange with a large
   * library would stall every other peer for that long. So such a count goes in slices of
   * `countSliceRows` along the (hlc, key) order, letting the event loop run between them
   * (stepping to a slice's edge costs more than counting: ~1.5x in all, for a longest stall of
   * 8 ms instead of 90 at a million). (A count taken while writes land may include some of them, as any
   * count of a library in use may.) A whole-table count uses SQLite's own b-tree count (~0.05 ms
   * for 100k rows), and so does one owner's whole count when that owner holds every row — the
   * common first backfill from the only device that wrote: a peer's first exchange then
   * waits for two index steps, not ~10 ms of counting per 100k.
   */
  async count(model: string, owner?: string, afterHlc?: Hlc | null): Promise<number> {
    const table = this.table(model);
    if (owner === undefined && !afterHlc) return table.countAll.get()!.n;
    if (!afterHlc && this.ownsEveryRow(table, owner!)) return table.countAll.get()!.n;
    const key = quoteIdentifier(table.model.key);
    const from = `FROM ${quoteIdentifier(table.model.table)} WHERE ${owner === undefined ? '' : `${OWNER_COLUMN} = ? AND `}`;
    const ownerParams = owner === undefined ? [] : [owner];
    let bound = keysetBound(HLC_COLUMN, key, { afterHlc: afterHlc ?? null });
    let counted = 0;
    for (;;) {
      const params = [...ownerParams, ...bound.params];
      // The slice's last row, if the slice is full: the next slice starts after it.
      const edge = this.statements
        .getRaw(`SELECT ${HLC_COLUMN}, ${key} ${from}${bound.sql} ORDER BY ${HLC_COLUMN}, ${key} LIMIT 1 OFFSET ?`)
        .get(...params, this.countSliceRows - 1) as [string, string] | undefined;
      if (edge === undefined) return counted + this.statements.get<{ n: number }>(`SELECT count(*) AS n ${from}${bound.sql}`).get(...params)!.n;
      counted += this.countSliceRows;
      bound = { sql: `(${HLC_COLUMN}, ${key}) > (?, ?)`, params: [edge[0], edge[1]] };
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

  private table(model: string): RecordTable {
    const table = this.tables.get(model);
    if (!table) this.registry.get(model); // throws UnknownModelError
    return table!;
  }
}
