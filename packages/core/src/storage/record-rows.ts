import { formatHlc, parseHlc } from '../clock/hlc.js';
import type { FieldType, RecordData, RegisteredModel } from '../models/model-definition.js';
import type { RecordDeletion, SyncRecord } from '../ports/record-store.js';
import type { KeysetColumns } from './queries.js';
import { quoteIdentifier, type SqlValueKinds } from './sql-values.js';

/**
 * Sync columns every model table carries besides its own fields: owner device, HLC text of the
 * last write, and that write's signature by its owner (`SyncRecord.sig`; NULL when unsigned).
 */
export const OWNER_COLUMN = 'hw_owner';
export const HLC_COLUMN = 'hw_hlc';
export const SIG_COLUMN = 'hw_sig';

type ToColumn = (value: unknown) => unknown;
type FromColumn = (stored: unknown) => unknown;

const identity: ToColumn = (v) => v;
const asStored: FromColumn = (v) => v ?? null;
const booleanToInteger: ToColumn = (v) => (v ? 1 : 0);
const booleanFromInteger: FromColumn = (v) => (v === null ? null : v === 1);
const jsonToText: ToColumn = (v) => JSON.stringify(v);
const jsonFromText: FromColumn = (v) => (v === null ? null : JSON.parse(v as string));
const realKeepingSign: ToColumn = (v) => (Object.is(v, -0) ? '-0' : v);

function toColumnOf(type: FieldType, kinds: SqlValueKinds): ToColumn {
  if (type === 'boolean') return kinds.booleans === 'integer' ? booleanToInteger : identity;
  if (type === 'json') return jsonToText;
  if (type === 'real') return kinds.negativeZero === 'text' ? realKeepingSign : identity;
  return identity;
}

function fromColumnOf(type: FieldType, kinds: SqlValueKinds): FromColumn {
  if (type === 'boolean') return kinds.booleans === 'integer' ? booleanFromInteger : asStored;
  if (type === 'json') return kinds.json === 'text' ? jsonFromText : asStored;
  return asStored;
}

/**
 * How one model's records map to positional rows — key, fields in declaration order, owner,
 * HLC text, signature — and back, for one driver's value kinds. Needs no database: both
 * adapters' record tables build their statements over it, and the SQLite worker store lays out
 * rows with it on the calling thread. Conversions are chosen per column once, when the layout
 * is built.
 */
export class RowLayout {
  /** Values per row: key, fields, owner, HLC, signature. */
  readonly columnCount: number;
  /** The row's columns quoted for SQL, in row order: key, fields…, hw_owner, hw_hlc, hw_sig. */
  readonly columns: readonly string[];
  /** Owner, HLC and quoted key columns: what a keyset page of this table filters and orders by. */
  readonly keysetColumns: KeysetColumns;
  private readonly fieldNames: readonly string[];
  private readonly toColumn: readonly ToColumn[];
  private readonly fromColumn: readonly FromColumn[];

  constructor(
    readonly model: RegisteredModel,
    kinds: SqlValueKinds,
  ) {
    this.fieldNames = Object.keys(model.fields);
    const types = this.fieldNames.map((f) => model.fields[f]!.type);
    this.toColumn = types.map((t) => toColumnOf(t, kinds));
    this.fromColumn = types.map((t) => fromColumnOf(t, kinds));
    this.columnCount = this.fieldNames.length + 4;
    this.columns = [quoteIdentifier(model.key), ...this.fieldNames.map(quoteIdentifier), OWNER_COLUMN, HLC_COLUMN, SIG_COLUMN];
    this.keysetColumns = { owner: OWNER_COLUMN, hlc: HLC_COLUMN, id: this.columns[0]! };
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
      params[offset + 1 + i] = value === undefined || value === null ? null : this.toColumn[i]!(value);
    }
    params[offset + n + 1] = record.ownerDeviceId;
    params[offset + n + 2] = formatHlc(record.hlc);
    params[offset + n + 3] = record.sig ?? null;
  }

  /** `records`' values one row after another (`columnCount` values a row). */
  flatRows(records: readonly SyncRecord[]): unknown[] {
    // Filled first, so writeRow always meets the same array kind: the bench's `store write` stage guards it.
    const flat = new Array<unknown>(records.length * this.columnCount).fill(null);
    for (let i = 0; i < records.length; i++) this.writeRow(records[i]!, flat, i * this.columnCount);
    return flat;
  }

  /** `records`' values as one array per column (`columnCount` arrays of `records.length`), for `unnest`. */
  columnArrays(records: readonly SyncRecord[]): unknown[][] {
    const n = this.fieldNames.length;
    const columns: unknown[][] = Array.from({ length: n + 4 }, () => new Array<unknown>(records.length));
    for (let r = 0; r < records.length; r++) {
      const record = records[r]!;
      columns[0]![r] = record.id;
      for (let i = 0; i < n; i++) {
        const value = record.data[this.fieldNames[i]!];
        columns[i + 1]![r] = value === undefined || value === null ? null : this.toColumn[i]!(value);
      }
      columns[n + 1]![r] = record.ownerDeviceId;
      columns[n + 2]![r] = formatHlc(record.hlc);
      columns[n + 3]![r] = record.sig ?? null;
    }
    return columns;
  }

  /**
   * The record a positional row holds (key, fields…, owner, HLC text, signature), as the driver
   * returned it. A row without a signature (NULL) gives a record without the `sig` property.
   */
  fromRow(row: readonly unknown[]): SyncRecord {
    const data: RecordData = {};
    const n = this.fieldNames.length;
    for (let i = 0; i < n; i++) data[this.fieldNames[i]!] = this.fromColumn[i]!(row[i + 1]);
    const id = row[0] as string;
    const ownerDeviceId = row[n + 1] as string;
    const hlc = parseHlc(row[n + 2] as string);
    const sig = row[n + 3];
    return sig === null || sig === undefined ? { id, ownerDeviceId, hlc, data } : { id, ownerDeviceId, hlc, data, sig: sig as string };
  }
}

/** A delete as a row: key, owner, HLC text. */
export type DeletionRow = readonly [id: string, owner: string, hlc: string];

export function deletionRow(d: RecordDeletion): DeletionRow {
  return [d.id, d.ownerDeviceId, formatHlc(d.hlc)];
}

/** Deletes as one array per column (keys, owners, HLC texts), for `unnest`. */
export function deletionColumns(deletions: readonly RecordDeletion[]): [string[], string[], string[]] {
  return [deletions.map((d) => d.id), deletions.map((d) => d.ownerDeviceId), deletions.map((d) => formatHlc(d.hlc))];
}
