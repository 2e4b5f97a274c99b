import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite-database.js';

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

  /** Like `get`, returning rows as arrays (`.raw()`), as `RowLayout.fromRow` reads them. */
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

/** A placeholder renderer (core's `Placeholder`) for SQLite: `?`, its value appended to `params`. */
export function positionalParams(params: unknown[]): (value: unknown) => string {
  return (value) => {
    params.push(value);
    return '?';
  };
}
