import { formatHlc } from '../clock/hlc.js';
import type { PageQuery } from '../ports/record-store.js';
import type { SharedChangeQuery } from '../ports/shared-log-store.js';
import { keysetBound, keysetCondition, type Placeholder } from './keyset.js';

/**
 * The clauses of the queries whose filters vary, in SQL both adapters speak: the adapter
 * writes `SELECT … FROM <table>` and passes a `Placeholder` in its own dialect. Placeholders
 * are rendered in the order they appear in the text, so positional ones (`?`) line up.
 */

/** `WHERE a AND b …` of the conditions given, or an empty string when there are none. */
export function whereClause(conditions: readonly (string | null)[]): string {
  const present = conditions.filter((c): c is string => c !== null);
  return present.length === 0 ? '' : `WHERE ${present.join(' AND ')}`;
}

/** The columns a keyset page filters and orders by. */
export interface KeysetColumns {
  readonly owner: string;
  readonly hlc: string;
  readonly id: string;
}

/**
 * `WHERE … ORDER BY hlc, id LIMIT n` of a keyset page (records, tombstones): within `scope`
 * if given (e.g. `model = …` of the tombstones table), of one owner if the query names one,
 * after its bound.
 */
export function keysetPageClauses(query: PageQuery, columns: KeysetColumns, param: Placeholder, scope: string | null = null): string {
  const where = whereClause([
    scope,
    query.owner !== undefined ? `${columns.owner} = ${param(query.owner)}` : null,
    keysetCondition(keysetBound(query), columns.hlc, columns.id, param),
  ]);
  return `${where} ORDER BY ${columns.hlc}, ${columns.id} LIMIT ${param(query.limit)}`;
}

/** `WHERE … ORDER BY hlc LIMIT n` of a read of the `shared_changes` table. */
export function sharedChangesClauses(query: SharedChangeQuery, param: Placeholder): string {
  const where = whereClause([
    query.after ? `hlc > ${param(formatHlc(query.after))}` : null,
    query.originDeviceId !== undefined ? `origin_device_id = ${param(query.originDeviceId)}` : null,
    query.model !== undefined ? `model = ${param(query.model)}` : null,
  ]);
  return `${where} ORDER BY hlc LIMIT ${param(query.limit)}`;
}
