import { formatHlc, type Hlc, type RecordCursor } from '@highwater/core';
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite-database.js';

/**
 * The lower bound of a keyset page: after a resume token `(hlc, id)`, after a watermark
 * (`hlc` alone, skipping every id at that HLC), or from the start. Row-value comparison
 * lets SQLite seek the (…, hlc, id) index directly.
 */
export function keysetBound(
  hlcColumn: string,
  idColumn: string,
  query: { readonly after?: RecordCursor | null; readonly afterHlc?: Hlc | null },
): { sql: string; params: string[] } {
  if (query.after) return { sql: `(${hlcColumn}, ${idColumn}) > (?, ?)`, params: [formatHlc(query.after.hlc), query.after.id] };
  if (query.afterHlc) return { sql: `${hlcColumn} > ?`, params: [formatHlc(query.afterHlc)] };
  return { sql: `${hlcColumn} > ''`, params: [] };
}

/** Prepares each distinct SQL text once; the set of shapes is small and fixed by the callers. */
export class StatementCache {
  private readonly cache = new Map<string, Statement<unknown[], unknown>>();
  constructor(private readonly db: SqliteDatabase) {}

  get<R>(sql: string): Statement<unknown[], R> {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement as Statement<unknown[], R>;
  }

  /** Like `get`, returning rows as arrays (`.raw()`), which is faster for wide pages. */
  getRaw(sql: string): Statement<unknown[], unknown[]> {
    const key = `raw:${sql}`;
    let statement = this.cache.get(key);
    if (!statement) {
      statement = this.db.prepare(sql).raw();
      this.cache.set(key, statement);
    }
    return statement as Statement<unknown[], unknown[]>;
  }
}
