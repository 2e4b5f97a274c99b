import { formatHlc, parseHlc, type FieldType, type RecordData, type RegisteredModel, type SyncRecord } from '@highwater/core';
import type { Statement } from 'better-sqlite3';
import { quoteIdentifier, type SqliteDatabase } from './sqlite-database.js';

/** Sync columns every model table carries besides its own fields. */
export const OWNER_COLUMN = 'hw_owner';
export const HLC_COLUMN = 'hw_hlc';

// Rows per multi-row upsert: 100 measured as fast as 250 for a page of 1000; parameters stay
// within 999, the lowest limit a SQLite build may set (SQLITE_MAX_VARIABLE_NUMBER before 3.32).
const MAX_CHUNK_ROWS = 100;
const MAX_PARAMETERS = 999;

const COLUMN_TYPE: Record<FieldType, string> = { text: 'TEXT', integer: 'INTEGER', real: 'REAL', boolean: 'INTEGER', json: 'TEXT' };

type ToColumn = (value: unknown) => unknown;
type FromColumn = (value: unknown) => unknown;

const identity = (v: unknown): unknown => v;
const TO_COLUMN: Record<FieldType, ToColumn> = {
  text: identity,
  integer: identity,
  real: identity,
  boolean: (v) => (v === null || v === undefined ? null : v ? 1 : 0),
  json: (v) => (v === null || v === undefined ? null : JSON.stringify(v)),
};
const FROM_COLUMN: Record<FieldType, FromColumn> = {
  text: identity,
  integer: identity,
  real: identity,
  boolean: (v) => (v === null ? null : v === 1),
  json: (v) => (v === null ? null : JSON.parse(v as string)),
};

/**
 * How one model's records map to positional SQLite rows — key, fields, owner, HLC — and back.
 * Needs no database: a WorkerRecordStore lays out rows on the calling thread and hands the
 * worker flat arrays of values, which cross threads far cheaper than record objects.
 */
export class RowLayout {
  /** Values per row: key, fields, owner, HLC. */
  readonly columnCount: number;
  private readonly fieldNames: readonly string[];
  private readonly toColumn: readonly ToColumn[];
  private readonly fromColumn: readonly FromColumn[];

  constructor(readonly model: RegisteredModel) {
    this.fieldNames = Object.keys(model.fields);
    const types = this.fieldNames.map((f) => model.fields[f]!.type);
    this.toColumn = types.map((t) => TO_COLUMN[t]);
    this.fromColumn = types.map((t) => FROM_COLUMN[t]);
    this.columnCount = this.fieldNames.length + 3;
  }

  /** The model's fields in column order (after the key). */
  get fields(): readonly string[] {
    return this.fieldNames;
  }

  /** Writes `record`'s values into `params` from `offset` (one row of a flat batch). */
  writeRow(record: SyncRecord, params: unknown[], offset: number): void {
    params[offset] = record.id;
    const n = this.fieldNames.length;
    for (let i = 0; i < n; i++) {
      const value = record.data[this.fieldNames[i]!];
      params[offset + 1 + i] = value === undefined ? null : this.toColumn[i]!(value);
    }
    params[offset + n + 1] = record.ownerDeviceId;
    params[offset + n + 2] = formatHlc(record.hlc);
  }

  /** `records`' values one row after another: what `SqliteRecordStore.applyRows` takes. */
  flatRows(records: readonly SyncRecord[]): unknown[] {
    // Filled first: the array then has its final elements kind, and writeRow's optimised code
    // does not meet a fresh array of a kind it has not seen (which deoptimised it once a process).
    const flat = new Array<unknown>(records.length * this.columnCount).fill(null);
    for (let i = 0; i < records.length; i++) this.writeRow(records[i]!, flat, i * this.columnCount);
    return flat;
  }

  fromRow(row: unknown[]): SyncRecord {
    const data: RecordData = {};
    const n = this.fieldNames.length;
    for (let i = 0; i < n; i++) data[this.fieldNames[i]!] = this.fromColumn[i]!(row[i + 1]);
    return { id: row[0] as string, ownerDeviceId: row[n + 1] as string, hlc: parseHlc(row[n + 2] as string), data };
  }
}

/**
 * One model's table in database.db: DDL and prepared statements, built once per model so the
 * hot paths (bulk apply, keyset paging) run prepared statements over positional rows only.
 */
export class RecordTable extends RowLayout {
  readonly upsert: Statement<unknown[]>;
  /**
   * The same upsert over `chunkRows` rows at once (parameters: `chunkRows` rows of
   * `columnCount`, laid out by `writeRow`). A statement's fixed cost (binding, stepping,
   * resetting, the result object) is most of the difference between one row and a hundred:
   * applying a page of 1000 this way took ~20% less time. SQLite applies the ON CONFLICT
   * clause row by row, in order, so a key named twice in one chunk ends as it would after
   * two single-row statements.
   */
  readonly upsertChunk: Statement<unknown[]>;
  readonly chunkRows: number;
  readonly remove: Statement<[string, string, string]>;
  /** Rows whose key is in a JSON array of ids: one statement for a whole page of lookups. */
  readonly getByIds: Statement<[string], unknown[]>;
  readonly countAll: Statement<[], { n: number }>;
  /** The least and the greatest owner of any row (one step each along the owner index). */
  readonly firstOwner: Statement<[], string>;
  readonly lastOwner: Statement<[], string>;
  /** `SELECT <key>, <fields…>, hw_owner, hw_hlc FROM <table>`, the row shape `fromRow` reads. */
  readonly selectColumns: string;

  constructor(db: SqliteDatabase, model: RegisteredModel) {
    super(model);
    ensureTable(db, model, this.fields);

    const table = quoteIdentifier(model.table);
    const key = quoteIdentifier(model.key);
    const fields = this.fields.map(quoteIdentifier);
    const columns = [key, ...fields, OWNER_COLUMN, HLC_COLUMN];
    const select = `SELECT ${columns.join(', ')} FROM ${table}`;
    // Last writer wins by HLC; a device-owned record also keeps its owner forever, so a peer
    // cannot take over another device's record by naming itself owner with a later clock.
    const deviceOwned = model.ownership === 'device';
    const sameOwner = deviceOwned ? ` AND excluded.${OWNER_COLUMN} = ${table}.${OWNER_COLUMN}` : '';
    const rowParams = `(${columns.map(() => '?').join(', ')})`;
    const upsertOf = (rows: number): string =>
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => rowParams).join(', ')}
       ON CONFLICT (${key}) DO UPDATE SET ${[...fields, OWNER_COLUMN, HLC_COLUMN].map((c) => `${c} = excluded.${c}`).join(', ')}
       WHERE excluded.${HLC_COLUMN} > ${table}.${HLC_COLUMN}${sameOwner}`;
    this.chunkRows = Math.max(1, Math.min(MAX_CHUNK_ROWS, Math.floor(MAX_PARAMETERS / columns.length)));
    this.upsert = db.prepare(upsertOf(1));
    this.upsertChunk = db.prepare(upsertOf(this.chunkRows));
    this.remove = db.prepare<[string, string, string]>(
      `DELETE FROM ${table} WHERE ${key} = ? AND ${HLC_COLUMN} < ?${deviceOwned ? ` AND ${OWNER_COLUMN} = ?` : ' AND ? IS NOT NULL'}`,
    );
    this.selectColumns = select;
    this.getByIds = db.prepare<[string], unknown[]>(`${select} WHERE ${key} IN (SELECT value FROM json_each(?))`).raw();
    this.countAll = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`);
    this.firstOwner = db.prepare<[], string>(`SELECT ${OWNER_COLUMN} FROM ${table} ORDER BY ${OWNER_COLUMN} LIMIT 1`).pluck();
    this.lastOwner = db.prepare<[], string>(`SELECT ${OWNER_COLUMN} FROM ${table} ORDER BY ${OWNER_COLUMN} DESC LIMIT 1`).pluck();
  }
}

/**
 * Creates the table and its keyset indexes, or adds the columns of fields declared since it
 * was created (nullable, since existing rows have no value for them).
 */
function ensureTable(db: SqliteDatabase, model: RegisteredModel, fieldNames: readonly string[]): void {
  const table = quoteIdentifier(model.table);
  const existing = db.prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)').all(model.table);
  if (existing.length === 0) {
    const columns = [
      `${quoteIdentifier(model.key)} TEXT PRIMARY KEY NOT NULL`,
      ...fieldNames.map((f) => {
        const def = model.fields[f]!;
        return `${quoteIdentifier(f)} ${COLUMN_TYPE[def.type]}${def.nullable ? '' : ' NOT NULL'}`;
      }),
      `${OWNER_COLUMN} TEXT NOT NULL`,
      `${HLC_COLUMN} TEXT NOT NULL`,
    ];
    db.exec(`CREATE TABLE ${table} (${columns.join(', ')})`);
  } else {
    const have = new Set(existing.map((c) => c.name));
    for (const f of fieldNames) {
      if (!have.has(f)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${quoteIdentifier(f)} ${COLUMN_TYPE[model.fields[f]!.type]}`);
    }
  }
  // (hlc, key) serves paging across owners (shared models); (owner, hlc, key) serves per-owner
  // backfill and catch-up of device-owned models.
  db.exec(
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(`${model.table}_hw_hlc`)} ON ${table} (${HLC_COLUMN}, ${quoteIdentifier(model.key)});
     CREATE INDEX IF NOT EXISTS ${quoteIdentifier(`${model.table}_hw_owner_hlc`)} ON ${table} (${OWNER_COLUMN}, ${HLC_COLUMN}, ${quoteIdentifier(model.key)});`,
  );
}
