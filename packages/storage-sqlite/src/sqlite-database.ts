import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StorageError, type SqlValueKinds, type StorageFailure } from '@highwater/core';

export type SqliteDatabase = Database.Database;

export interface SqliteOpenOptions {
  /**
   * `full` (default) syncs the WAL on every commit, so a page applied and then checkpointed
   * survives power loss in that order (watermark and checkpoint writes themselves skip the
   * sync: losing the last of them only re-fetches a page). `normal` survives process crashes
   * only, with fewer fsyncs: enough when the OS and disk are trusted.
   */
  readonly synchronous?: 'full' | 'normal';
  /**
   * `quick` (default): SQLite's `quick_check` of the whole file when it is opened (~20 ms per
   * 100 000 records, ~160 ms per million), so a damaged file is refused at start (StorageError,
   * reason `corrupt`) rather than served to peers as if it were right. `off` skips it.
   */
  readonly integrityCheck?: 'quick' | 'off';
}

/** One schema step; `version` is what `PRAGMA user_version` becomes after it. */
export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** What a SQLite error says of the file: its (extended) result code, as better-sqlite3 names it. */
export function sqliteFailure(cause: unknown): StorageFailure {
  const code = String((cause as { code?: unknown })?.code ?? '');
  if (code.startsWith('SQLITE_FULL')) return 'full';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'locked';
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM')) return 'read-only';
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) return 'corrupt';
  return 'failed';
}

const FAILURE_ADVICE: Record<StorageFailure, string> = {
  full: 'the disk is full or the database reached its size limit; free space and the node goes on',
  locked: 'another process holds the file; stop it, or give each node its own directory',
  'read-only': 'the file or its folder cannot be written; check its permissions and the filesystem',
  corrupt: 'the file is damaged or is not a SQLite database; restore it, or move it away to sync it again from peers',
  failed: 'SQLite failed',
};

/** A StorageError for a SQLite failure of `what`: the reason typed, the cause's words, and what to do. */
export function sqliteStorageError(what: string, cause: unknown): StorageError {
  if (cause instanceof StorageError) return cause;
  const reason = sqliteFailure(cause);
  return new StorageError(`${what}: ${(cause as Error)?.message ?? String(cause)} (${FAILURE_ADVICE[reason]})`, { cause, reason });
}

/** Opens a SQLite file in WAL mode with the pragmas every Highwater database uses. */
export function openSqliteDatabase(path: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  let db: SqliteDatabase | undefined;
  try {
    assertWritable(path);
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    // Another process (a CLI, a second node) may hold the write lock briefly; wait instead of failing.
    db.pragma('busy_timeout = 5000');
    if (options.integrityCheck !== 'off') checkIntegrity(db, path);
    // Take the write lock once: a file another process holds, or one that cannot be written,
    // is refused now, at start, rather than at the first write.
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return db;
  } catch (cause) {
    db?.close();
    throw sqliteStorageError(`Cannot open SQLite database at ${path}`, cause);
  }
}

/**
 * An existing file this process cannot open for writing is refused (reason `read-only`): in WAL
 * mode SQLite would open it, take the write lock and commit to the WAL beside it, and fail only
 * when a checkpoint writes the file itself (test/storage-faults: files marked immutable).
 */
function assertWritable(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new StorageError(`Cannot open SQLite database at ${path}: ${code} (${FAILURE_ADVICE['read-only']})`, { cause: error, reason: 'read-only' });
    }
    throw error;
  }
  closeSync(fd);
}

/** `quick_check`: the file's b-trees and pages are whole (not what the rows say). */
function checkIntegrity(db: SqliteDatabase, path: string): void {
  const findings = (db.pragma('quick_check(5)') as { quick_check: string }[]).map((row) => row.quick_check);
  if (findings.length === 1 && findings[0] === 'ok') return;
  throw new StorageError(`SQLite database at ${path} is damaged: ${findings.join('; ')} (${FAILURE_ADVICE.corrupt})`, { reason: 'corrupt' });
}

/**
 * Caps the database at about `bytes` (`PRAGMA max_page_count`; null: no cap but SQLite's own).
 * Writes past it fail as on a full disk (StorageError, reason `full`); a file already larger
 * keeps its size.
 */
export function limitDatabaseSize(db: SqliteDatabase, bytes: number | null): void {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.pragma(`max_page_count = ${bytes === null ? SQLITE_MAX_PAGE_COUNT : Math.max(1, Math.floor(bytes / pageSize))}`);
}

/** The id of a record-store worker's reply that it could not open its database (every call then fails with that error). */
export const WORKER_OPEN_FAILED = 0;

/** SQLite's largest max_page_count. */
const SQLITE_MAX_PAGE_COUNT = 4294967294;

/**
 * Brings a database to the newest schema version, each step in its own transaction. A file
 * written by a newer Highwater is refused rather than silently misread.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[], what: string): void {
  let current: number;
  try {
    current = db.pragma('user_version', { simple: true }) as number;
  } catch (cause) {
    throw sqliteStorageError(`Cannot read ${what}`, cause);
  }
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new StorageError(`${what} has schema version ${current}, newer than this Highwater supports (${newest}); upgrade Highwater`);
  }
  for (const step of migrations) {
    if (step.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(step.sql);
        db.pragma(`user_version = ${step.version}`);
      })();
    } catch (cause) {
      throw sqliteStorageError(`Bringing ${what} to schema version ${step.version} failed`, cause);
    }
  }
}

/**
 * How better-sqlite3 binds and returns values: booleans as 1 / 0 (it binds no booleans), JSON
 * as text, numbers as they are.
 */
export const SQLITE_VALUES: SqlValueKinds = { booleans: 'integer', json: 'text', negativeZero: 'number' };
