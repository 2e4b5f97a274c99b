import { formatHlc, parseHlc, type FieldType, type RecordData, type RecordDeletion, type RegisteredModel, type SyncRecord } from '@highwater/core';
import { quoteIdentifier } from './identifiers.js';
import type { Statement } from './pg-database.js';

/** Sync columns every model table carries besides its own fields (same names as SQLite). */
export const OWNER_COLUMN = 'hw_owner';
export const HLC_COLUMN = 'hw_hlc';

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

type ToColumn = (value: unknown) => unknown;
const identity: ToColumn = (v) => v;
const TO_COLUMN: Record<FieldType, ToColumn> = {
  text: identity,
  integer: identity,
  // pg sends numbers with toString(), which turns -0 into "0"; keep the sign.
  real: (v) => (Object.is(v, -0) ? '-0' : v),
  boolean: identity,
  json: (v) => (v === null ? null : JSON.stringify(v)),
};

/**
 * One model's table: the SQL of its hot paths and the conversion between records and
 * columns. pg already parses booleans, float8, json and (with our int8 parser) bigint, so
 * reading a row is positional copying only.
 */
export class RecordTable {
  readonly table: string;
  readonly key: string;
  /** `SELECT <key>, <fields…>, hw_owner, hw_hlc FROM <table>`, the row shape `fromRow` reads. */
  readonly selectColumns: string;
  private readonly fieldNames: readonly string[];
  private readonly toColumn: readonly ToColumn[];
  private readonly upsertText: string;
  private readonly deleteText: string;
  private readonly getManyText: string;
  private readonly countAllText: string;
  private readonly countOfOwnerText: string;

  constructor(
    readonly model: RegisteredModel,
    qualified: (name: string) => string,
  ) {
    this.fieldNames = Object.keys(model.fields);
    const types = this.fieldNames.map((f) => model.fields[f]!.type);
    this.toColumn = types.map((t) => TO_COLUMN[t]);
    this.table = qualified(model.table);
    this.key = quoteIdentifier(model.key);
    const fields = this.fieldNames.map(quoteIdentifier);
    const columns = [this.key, ...fields, OWNER_COLUMN, HLC_COLUMN];
    this.selectColumns = `SELECT ${columns.join(', ')} FROM ${this.table}`;
    const arrays = ['text[]', ...types.map((t) => ARRAY_TYPE[t]), 'text[]', 'text[]'];

    // One array parameter per column (unnest), not one parameter per value: the statement
    // text is the same for every batch size (so it is prepared once per connection), there
    // is no 65 535-parameter limit, and it measured faster (see README).
    // Last writer wins by HLC; a device-owned record also keeps its owner forever, so a peer
    // cannot take over another device's record by naming itself owner with a later clock.
    const deviceOwned = model.ownership === 'device';
    const sameOwner = deviceOwned ? ` AND excluded.${OWNER_COLUMN} = t.${OWNER_COLUMN}` : '';
    this.upsertText =
      `INSERT INTO ${this.table} AS t (${columns.join(', ')}) ` +
      `SELECT * FROM unnest(${arrays.map((a, i) => `$${i + 1}::${a}`).join(', ')}) ` +
      `ON CONFLICT (${this.key}) DO UPDATE SET ${[...fields, OWNER_COLUMN, HLC_COLUMN].map((c) => `${c} = excluded.${c}`).join(', ')} ` +
      `WHERE excluded.${HLC_COLUMN} > t.${HLC_COLUMN}${sameOwner}`;
    // A delete removes a row only if the stored write is older, and (device-owned) only when
    // it names the record's owner.
    this.deleteText =
      `DELETE FROM ${this.table} AS t USING unnest($1::text[], $2::text[], $3::text[]) AS d(id, owner, hlc) ` +
      `WHERE t.${this.key} = d.id AND t.${HLC_COLUMN} < d.hlc${deviceOwned ? ` AND t.${OWNER_COLUMN} = d.owner` : ''}`;
    this.getManyText = `${this.selectColumns} WHERE ${this.key} = ANY($1::text[])`;
    this.countAllText = `SELECT count(*) AS n FROM ${this.table}`;
    this.countOfOwnerText = `SELECT count(*) AS n FROM ${this.table} WHERE ${OWNER_COLUMN} = $1`;
  }

  /** Upserts `records` (no key twice: Postgres refuses to update one row twice per statement). */
  upsert(records: readonly SyncRecord[]): Statement {
    const n = this.fieldNames.length;
    const columns: unknown[][] = Array.from({ length: n + 3 }, () => new Array<unknown>(records.length));
    for (let r = 0; r < records.length; r++) {
      const record = records[r]!;
      columns[0]![r] = record.id;
      for (let i = 0; i < n; i++) {
        const value = record.data[this.fieldNames[i]!];
        columns[i + 1]![r] = value === undefined || value === null ? null : this.toColumn[i]!(value);
      }
      columns[n + 1]![r] = record.ownerDeviceId;
      columns[n + 2]![r] = formatHlc(record.hlc);
    }
    return { text: this.upsertText, values: columns };
  }

  remove(deletions: readonly RecordDeletion[]): Statement {
    return {
      text: this.deleteText,
      values: [deletions.map((d) => d.id), deletions.map((d) => d.ownerDeviceId), deletions.map((d) => formatHlc(d.hlc))],
    };
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

  fromRow(row: readonly unknown[]): SyncRecord {
    const data: RecordData = {};
    const n = this.fieldNames.length;
    for (let i = 0; i < n; i++) data[this.fieldNames[i]!] = row[i + 1] ?? null;
    return { id: row[0] as string, ownerDeviceId: row[n + 1] as string, hlc: parseHlc(row[n + 2] as string), data };
  }
}
