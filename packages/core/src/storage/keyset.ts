import { formatHlc } from '../clock/hlc.js';
import type { PageQuery } from '../ports/record-store.js';

/**
 * Where a keyset page starts, in (HLC, id) order: after a resume token `(hlc, id)`, after a
 * watermark (`hlc` alone, skipping every id at that HLC), or at the start. HLCs are in their
 * text form, whose byte order is the clock order, so SQL compares them as text.
 */
export type KeysetBound =
  | { readonly kind: 'cursor'; readonly hlc: string; readonly id: string }
  | { readonly kind: 'hlc'; readonly hlc: string }
  | { readonly kind: 'start' };

/** What a keyset query (`PageQuery`, `TombstoneQuery`) says about its lower bound; `after` wins over `afterHlc`. */
export type KeysetQuery = Pick<PageQuery, 'after' | 'afterHlc'>;

const START: KeysetBound = { kind: 'start' };

/** The lower bound a keyset query asks for. */
export function keysetBound(query: KeysetQuery): KeysetBound {
  if (query.after) return { kind: 'cursor', hlc: formatHlc(query.after.hlc), id: query.after.id };
  if (query.afterHlc) return { kind: 'hlc', hlc: formatHlc(query.afterHlc) };
  return START;
}

/** Renders `value` as a placeholder of the statement being built (`?`, `$3`, …) and records it. */
export type Placeholder = (value: unknown) => string;

/**
 * The bound as a SQL condition on `hlc` and `id` columns, or null at the start. A resume token
 * is the row-value comparison `(hlc, id) > (…, …)` (SQLite and PostgreSQL alike), which lets
 * the database seek its (…, hlc, id) index rather than filter.
 */
export function keysetCondition(bound: KeysetBound, hlcColumn: string, idColumn: string, param: Placeholder): string | null {
  switch (bound.kind) {
    case 'cursor':
      return `(${hlcColumn}, ${idColumn}) > (${param(bound.hlc)}, ${param(bound.id)})`;
    case 'hlc':
      return `${hlcColumn} > ${param(bound.hlc)}`;
    case 'start':
      return null;
  }
}
