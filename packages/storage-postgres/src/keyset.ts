import { formatHlc, type Hlc, type RecordCursor } from '@highwater/core';

/** Collects positional parameters while a statement's text is built: `$1`, `$2`, … */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * The lower bound of a keyset page: after a resume token `(hlc, id)`, after a watermark
 * (`hlc` alone, skipping every id at that HLC), or none. The row-value comparison
 * `(hlc, id) > ($1, $2)` is what lets Postgres seek the (…, hlc, id) index instead of
 * filtering; both columns are COLLATE "C", so the bound means the same position as on SQLite.
 */
export function keysetBound(
  hlcColumn: string,
  idColumn: string,
  query: { readonly after?: RecordCursor | null; readonly afterHlc?: Hlc | null },
  params: Params,
): string | null {
  if (query.after) return `(${hlcColumn}, ${idColumn}) > (${params.add(formatHlc(query.after.hlc))}, ${params.add(query.after.id)})`;
  if (query.afterHlc) return `${hlcColumn} > ${params.add(formatHlc(query.afterHlc))}`;
  return null;
}

/** `WHERE a AND b …`, or nothing when there are no conditions. */
export function whereClause(conditions: readonly (string | null)[]): string {
  const present = conditions.filter((c): c is string => c !== null);
  return present.length === 0 ? '' : `WHERE ${present.join(' AND ')}`;
}

/** Splits `items` into slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A fixed total order on keys: batches write (and so lock) rows in this order, so two
 * concurrent batches over overlapping keys never wait on each other in a cycle.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
