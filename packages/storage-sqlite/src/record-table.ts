import { HLC_COLUMN, OWNER_COLUMN, quoteIdentifier, RowLayout, SIG_COLUMN, type FieldType, type RegisteredModel } from '@highwater/core';
import type { Statement } from 'better-sqlite3';
import { SQLITE_VALUES, type SqliteDatabase } from './sqlite-database.js';

// Rows per multi-row upsert (bench stage "store write"); parameters stay within 999, the lowest
// limit a SQLite build may set (SQLITE_MAX_VARIABLE_NUMBER before 3.32).
const MAX_CHUNK_ROWS = 100;
const MAX_PARAMETERS = 999;

const COLUMN_TYPE: Record<FieldType, string> = { text: 'TEXT', integer: 'INTEGER', real: 'REAL', boolean: 'INTEGER', json: 'TEXT' };

/**
 * One model's table in database.db: DDL and prepared statements over core's `RowLayout`, built
 * once per model so the hot paths (bulk apply, keyset paging) run prepared statements over
 * positional rows only.
 */
export class RecordTable extends RowLayout {
  readonly upsert: Statement<unknown[]>;
  /**
   * The same upsert over `chunkRows` rows at once (parameters: `chunkRows` rows of
   * `columnCount`, laid out by `writeRow`). SQLite applies the ON CONFLICT clause row by row,
   * in order, so a key named twice in one chunk ends as it would after two single-row
   * statements (conformance: "applies a record named several times in one batch …").
   */
  readonly upsertChunk: Statement<unknown[]>;
  readonly chunkRows: number;
  /** Parameters: key, HLC text, owner. */
  readonly remove: Statement<[string, string, string]>;
  /** Rows whose key is in a JSON array of ids: one statement for a whole page of lookups. */
  readonly getByIds: Statement<[string], unknown[]>;
  readonly countAll: Statement<[], { n: number }>;
  /** The least and the greatest owner of any row (one step each along the owner index). */
  readonly firstOwner: Statement<[], string>;
  readonly lastOwner: Statement<[], string>;
  /** `SELECT <key>, <fields…>, hw_owner, hw_hlc, hw_sig FROM <table>`, the row shape `fromRow` reads. */
  readonly selectColumns: string;
  /** The quoted table name. */
  readonly table: string;
  /** The writes of a resolved batch (`ApplyOptions.resolved`): `upsert`, `upsertChunk` and `remove` without the HLC condition. */
  readonly resolvedWrites: () => Pick<RecordTable, 'upsert' | 'upsertChunk' | 'remove'>;
  private resolvedStatements: Pick<RecordTable, 'upsert' | 'upsertChunk' | 'remove'> | undefined;

  constructor(db: SqliteDatabase, model: RegisteredModel) {
    super(model, SQLITE_VALUES);
    ensureTable(db, model, this.fields);

    const table = quoteIdentifier(model.table);
    const key = quoteIdentifier(model.key);
    this.table = table;
    const columns = this.columns;
    // Last writer wins by HLC; a device-owned record also keeps its owner forever, so a peer
    // cannot take over another device's record by naming itself owner with a later clock.
    const deviceOwned = model.ownership === 'device';
    const sameOwner = deviceOwned ? ` AND excluded.${OWNER_COLUMN} = ${table}.${OWNER_COLUMN}` : '';
    const rowParams = `(${columns.map(() => '?').join(', ')})`;
    const upsertOf = (rows: number, lww: boolean): string =>
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => rowParams).join(', ')}
       ON CONFLICT (${key}) DO UPDATE SET ${columns.slice(1).map((c) => `${c} = excluded.${c}`).join(', ')}
       ${lww ? `WHERE excluded.${HLC_COLUMN} > ${table}.${HLC_COLUMN}${sameOwner}` : ''}`;
    this.chunkRows = Math.max(1, Math.min(MAX_CHUNK_ROWS, Math.floor(MAX_PARAMETERS / columns.length)));
    this.upsert = db.prepare(upsertOf(1, true));
    this.upsertChunk = db.prepare(upsertOf(this.chunkRows, true));
    this.remove = db.prepare<[string, string, string]>(
      `DELETE FROM ${table} WHERE ${key} = ? AND ${HLC_COLUMN} < ?${deviceOwned ? ` AND ${OWNER_COLUMN} = ?` : ' AND ? IS NOT NULL'}`,
    );
    // Versions a ConflictResolver chose replace or remove whatever is stored; prepared when first used.
    this.resolvedWrites = () =>
      (this.resolvedStatements ??= {
        upsert: db.prepare(upsertOf(1, false)),
        upsertChunk: db.prepare(upsertOf(this.chunkRows, false)),
        remove: db.prepare<[string, string, string]>(`DELETE FROM ${table} WHERE ${key} = ? AND ? IS NOT NULL AND ? IS NOT NULL`),
      });
    this.selectColumns = `SELECT ${columns.join(', ')} FROM ${table}`;
    this.getByIds = db.prepare<[string], unknown[]>(`${this.selectColumns} WHERE ${key} IN (SELECT value FROM json_each(?))`).raw();
    this.countAll = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`);
    this.firstOwner = db.prepare<[], string>(`SELECT ${OWNER_COLUMN} FROM ${table} ORDER BY ${OWNER_COLUMN} LIMIT 1`).pluck();
    this.lastOwner = db.prepare<[], string>(`SELECT ${OWNER_COLUMN} FROM ${table} ORDER BY ${OWNER_COLUMN} DESC LIMIT 1`).pluck();
  }
}

/**
 * Creates the table and its keyset indexes, or adds the columns of fields declared since it
 * was created (nullable, since existing rows have no value for them), and `hw_sig` to a table
 * created before records carried signatures (database.db schema v1; its rows read back
 * unsigned). ADD COLUMN changes only the table's definition: no row is rewritten.
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
      `${SIG_COLUMN} TEXT`,
    ];
    db.exec(`CREATE TABLE ${table} (${columns.join(', ')})`);
  } else {
    const have = new Set(existing.map((c) => c.name));
    if (!have.has(SIG_COLUMN)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${SIG_COLUMN} TEXT`);
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
