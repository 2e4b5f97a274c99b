import { deletionColumns, HLC_COLUMN, OWNER_COLUMN, RowLayout, type FieldType, type RecordDeletion, type RegisteredModel, type SyncRecord } from '@highwater/core';
import { PG_VALUES, type Statement } from './pg-database.js';

/**
 * Column types. JSON, not JSONB: JSONB normalises (reorders keys, drops duplicates and
 * whitespace), and a record must read back exactly as written — as it does from SQLite.
 */
export const COLUMN_TYPE: Record<FieldType, string> = {
  text: 'TEXT',
  integer: 'BIGINT',
  real: 'DOUBLE PRECISION',
  boolean: 'BOOLEAN',
  json: 'JSON',
};
const ARRAY_TYPE: Record<FieldType, string> = { text: 'text[]', integer: 'bigint[]', real: 'float8[]', boolean: 'boolean[]', json: 'json[]' };

/**
 * One model's table: the SQL of its hot paths over core's `RowLayout`. pg already parses
 * booleans, float8, json and (with our int8 parser) bigint, so reading a row is positional
 * copying only.
 */
export class RecordTable extends RowLayout {
  /** The schema-qualified table name. */
  readonly table: string;
  /** `SELECT <key>, <fields…>, hw_owner, hw_hlc, hw_sig FROM <table>`, the row shape `fromRow` reads. */
  readonly selectColumns: string;
  private readonly upsertText: string;
  private readonly deleteText: string;
  private readonly resolvedUpsertText: string;
  private readonly resolvedDeleteText: string;
  private readonly getManyText: string;
  private readonly countAllText: string;
  private readonly countOfOwnerText: string;

  constructor(model: RegisteredModel, qualified: (name: string) => string) {
    super(model, PG_VALUES);
    this.table = qualified(model.table);
    const columns = this.columns;
    const key = columns[0]!;
    this.selectColumns = `SELECT ${columns.join(', ')} FROM ${this.table}`;
    // Key, fields, hw_owner, hw_hlc, hw_sig: the order of `columns`.
    const arrays = ['text[]', ...this.fields.map((f) => ARRAY_TYPE[model.fields[f]!.type]), 'text[]', 'text[]', 'text[]'];

    // One array parameter per column (unnest), not one parameter per value: the statement
    // text is the same for every batch size (so it is prepared once per connection) and there
    // is no 65 535-parameter limit (bench: packages/storage-postgres/bench/bulk-upsert-strategies.mjs).
    // Last writer wins by HLC; a device-owned record also keeps its owner forever, so a peer
    // cannot take over another device's record by naming itself owner with a later clock.
    const deviceOwned = model.ownership === 'device';
    const sameOwner = deviceOwned ? ` AND excluded.${OWNER_COLUMN} = t.${OWNER_COLUMN}` : '';
    const upsertOf = (lww: boolean): string =>
      `INSERT INTO ${this.table} AS t (${columns.join(', ')}) ` +
      `SELECT * FROM unnest(${arrays.map((a, i) => `$${i + 1}::${a}`).join(', ')}) ` +
      `ON CONFLICT (${key}) DO UPDATE SET ${columns.slice(1).map((c) => `${c} = excluded.${c}`).join(', ')}` +
      (lww ? ` WHERE excluded.${HLC_COLUMN} > t.${HLC_COLUMN}${sameOwner}` : '');
    // A delete removes a row only if the stored write is older, and (device-owned) only when
    // it names the record's owner.
    const deleteOf = (lww: boolean): string =>
      `DELETE FROM ${this.table} AS t USING unnest($1::text[], $2::text[], $3::text[]) AS d(id, owner, hlc) ` +
      `WHERE t.${key} = d.id` +
      (lww ? ` AND t.${HLC_COLUMN} < d.hlc${deviceOwned ? ` AND t.${OWNER_COLUMN} = d.owner` : ''}` : '');
    this.upsertText = upsertOf(true);
    this.deleteText = deleteOf(true);
    // Versions a ConflictResolver chose (ApplyOptions.resolved) replace or remove whatever is stored.
    this.resolvedUpsertText = upsertOf(false);
    this.resolvedDeleteText = deleteOf(false);
    this.getManyText = `${this.selectColumns} WHERE ${key} = ANY($1::text[])`;
    this.countAllText = `SELECT count(*) AS n FROM ${this.table}`;
    this.countOfOwnerText = `SELECT count(*) AS n FROM ${this.table} WHERE ${OWNER_COLUMN} = $1`;
  }

  /** Upserts `records` (no key twice: Postgres refuses to update one row twice per statement). */
  upsert(records: readonly SyncRecord[], resolved = false): Statement {
    return { text: resolved ? this.resolvedUpsertText : this.upsertText, values: this.columnArrays(records) };
  }

  remove(deletions: readonly RecordDeletion[], resolved = false): Statement {
    return { text: resolved ? this.resolvedDeleteText : this.deleteText, values: deletionColumns(deletions) };
  }

  getMany(ids: readonly string[]): Statement {
    return { text: this.getManyText, values: [ids], rowMode: 'array' };
  }

  count(owner?: string, afterHlcText?: string): Statement {
    if (afterHlcText !== undefined) {
      return owner === undefined
        ? { text: `${this.countAllText} WHERE ${HLC_COLUMN} > $1`, values: [afterHlcText] }
        : { text: `${this.countOfOwnerText} AND ${HLC_COLUMN} > $2`, values: [owner, afterHlcText] };
    }
    return owner === undefined ? { text: this.countAllText } : { text: this.countOfOwnerText, values: [owner] };
  }
}
