import Database from 'better-sqlite3';
import { StorageError, type SqlValueKinds } from '@highwater/core';

export type SqliteDatabase = Database.Database;

export interface SqliteOpenOptions {
  /**
   * `full` (default) syncs the WAL on every commit, so a page applied and then checkpointed
   * survives power loss in that order (watermark and checkpoint writes themselves skip the
   * sync: losing the last of them only re-fetches a page). `normal` survives process crashes
   * only, with fewer fsyncs: enough when the OS and disk are trusted.
   */
  readonly synchronous?: 'full' | 'normal';
}

/** One schema step; `version` is what `PRAGMA user_version` becomes after it. */
export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** Opens a SQLite file in WAL mode with the pragmas every Highwater database uses. */
export function openSqliteDatabase(path: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    db = new Database(path);
  } catch (cause) {
    throw new StorageError(`Cannot open SQLite database at ${path}: ${(cause as Error).message}`, { cause });
  }
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  // Another process (a CLI, a second node) may hold the write lock briefly; wait instead of failing.
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Brings a database to the newest schema version, each step in its own transaction. A file
 * written by a newer Highwater is refused rather than silently misread.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[], what: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new StorageError(`${what} has schema version ${current}, newer than this Highwater supports (${newest}); upgrade Highwater`);
  }
  for (const step of migrations) {
    if (step.version <= current) continue;
    db.transaction(() => {
      db.exec(step.sql);
      db.pragma(`user_version = ${step.version}`);
    })();
  }
}

/**
 * How better-sqlite3 binds and returns values: booleans as 1 / 0 (it binds no booleans), JSON
 * as text, numbers as they are.
 */
export const SQLITE_VALUES: SqlValueKinds = { booleans: 'integer', json: 'text', negativeZero: 'number' };
