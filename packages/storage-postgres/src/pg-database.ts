import pg from 'pg';
import { HighwaterError, quoteIdentifier, StorageError, type SqlValueKinds, type StorageFailure } from '@highwater/core';
import { assertSchemaName, statementName } from './identifiers.js';
import { HIGHWATER_TYPES } from './type-parsers.js';

export interface PostgresConnectionOptions {
  /** An existing pool. The store borrows it: `close()` never ends it. */
  readonly pool?: pg.Pool;
  /**
   * Where to connect when no `pool` is given (`postgres://user@host:5432/db`). Without
   * either, pg reads the usual `PGHOST`, `PGUSER`, … environment variables.
   */
  readonly connectionString?: string;
  /** Maximum connections of a pool the store creates itself (default 10). */
  readonly poolSize?: number;
  /**
   * How long a pool the store creates waits for a new connection before failing it (ms,
   * default 10 000), so a server that accepts and never answers fails the call instead of
   * hanging it.
   */
  readonly connectTimeoutMs?: number;
  /**
   * The library's schema (1-63 characters of [a-z0-9_]); created if missing. One schema per
   * library, so one database can host many libraries.
   */
  readonly schema: string;
  /**
   * Use named (server-side prepared) statements, default true. Turn off behind a pooler in
   * transaction mode (PgBouncer), which cannot keep statements on a server connection.
   */
  readonly preparedStatements?: boolean;
}

/**
 * How pg binds and returns values (with Highwater's type parsers): booleans and parsed JSON as
 * they are, and -0 as the text '-0', since pg sends numbers with `toString()`, which drops the sign.
 */
export const PG_VALUES: SqlValueKinds = { booleans: 'boolean', json: 'parsed', negativeZero: 'text' };

/** One SQL statement; `name` is added automatically when prepared statements are on. */
export interface Statement {
  readonly text: string;
  readonly values?: readonly unknown[];
  /** Rows as arrays (positional), cheaper than objects for wide pages. */
  readonly rowMode?: 'array';
  /**
   * False for one-off statements (DDL, catalog reads): they are sent unnamed, and without
   * `values` as a simple query, which may hold several statements (a migration).
   */
  readonly prepare?: boolean;
}

/** Something statements run on: the pool (autocommit) or a transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(statement: Statement): Promise<pg.QueryResult<R>>;
}

// deadlock_detected, serialization_failure: the transaction was rolled back by the server
// and can be run again as a whole (every Highwater write is idempotent).
const RETRYABLE_CODES = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;
const DEFAULT_POOL_SIZE = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A pool (created or borrowed) plus the library schema: runs statements with Highwater's type
 * parsers, runs transactions (retrying deadlocks), and turns pg failures into StorageError.
 */
export class PgDatabase implements Queryable {
  readonly schema: string;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    schema: string,
    private readonly prepared: boolean,
  ) {
    this.schema = schema;
  }

  /** Validates the options and creates (or borrows) the pool; does not connect yet. */
  static fromOptions(options: PostgresConnectionOptions): PgDatabase {
    assertSchemaName(options.schema);
    if (options.pool && options.connectionString !== undefined) {
      throw new StorageError('Give either `pool` or `connectionString` for PostgreSQL storage, not both');
    }
    const prepared = options.preparedStatements ?? true;
    if (options.pool) return new PgDatabase(options.pool, false, options.schema, prepared);
    return new PgDatabase(createPool(options), true, options.schema, prepared);
  }

  /** `"schema"."name"`: every statement names its tables fully, so no search_path is needed. */
  qualified(name: string): string {
    return `${quoteIdentifier(this.schema)}.${quoteIdentifier(name)}`;
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(statement: Statement): Promise<pg.QueryResult<R>> {
    this.assertOpen();
    try {
      return await this.pool.query<R>(this.config(statement) as pg.QueryConfig);
    } catch (cause) {
      throw this.wrap(cause);
    }
  }

  /**
   * Runs `work` in one transaction on one connection: all or nothing. A deadlock or
   * serialization failure rolls back and runs `work` again (up to 5 times).
   */
  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (cause) {
        throw this.wrap(cause);
      }
      const tx: Queryable = { query: (statement) => client.query(this.config(statement) as pg.QueryConfig) };
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (cause) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is unusable: have the pool discard it instead of reusing it.
          broken = rollbackError as Error;
        }
        if (attempt < MAX_ATTEMPTS && RETRYABLE_CODES.has(pgCode(cause) ?? '')) continue;
        throw this.wrap(cause);
      } finally {
        client.release(broken);
      }
    }
  }

  /** Ends the pool if this object created it; later calls fail with StorageError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  private config(statement: Statement): object {
    return {
      text: statement.text,
      values: statement.values,
      types: HIGHWATER_TYPES,
      ...(statement.rowMode ? { rowMode: statement.rowMode } : {}),
      ...(this.prepared && statement.prepare !== false ? { name: statementName(statement.text) } : {}),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError(`PostgreSQL storage of schema "${this.schema}" is closed`);
  }

  private wrap(cause: unknown): Error {
    // Our own typed errors (e.g. a newer schema) pass through unchanged.
    if (cause instanceof HighwaterError) return cause;
    return new StorageError(`PostgreSQL (schema "${this.schema}"): ${describeError(cause)}`, { cause, reason: pgFailure(cause) });
  }
}

/**
 * What a server error says of the store, by SQLSTATE: disk full, a read-only transaction or
 * missing write privilege, data or an index found corrupted, a lock not granted.
 */
export function pgFailure(cause: unknown): StorageFailure {
  if (cause instanceof StorageError) return cause.reason;
  switch (pgCode(cause)) {
    case '53100':
      return 'full';
    case '25006':
    case '42501':
      return 'read-only';
    case 'XX001':
    case 'XX002':
      return 'corrupt';
    case '55P03':
      return 'locked';
    default:
      return 'failed';
  }
}

/** Message plus code; Node reports a refused dual-stack connect as an AggregateError with no message. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = error instanceof AggregateError && !error.message ? error.errors.map((e: unknown) => describeError(e)) : [error.message];
  const code = (error as { code?: unknown }).code;
  return `${parts.join('; ')}${typeof code === 'string' && !error.message.includes(code) ? ` [${code}]` : ''}`;
}

/** A pool configured for Highwater from `connectionString` / `poolSize` (or pg's PG* environment variables). */
export function createPool(options: Pick<PostgresConnectionOptions, 'connectionString' | 'poolSize' | 'connectTimeoutMs'>): pg.Pool {
  const pool = new pg.Pool({
    ...(options.connectionString !== undefined ? { connectionString: options.connectionString } : {}),
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    // Also passed with every query; this covers anything else run on a pool we created.
    types: HIGHWATER_TYPES,
  });
  // An idle connection dropped by the server (restart, idle timeout) is reported here; pg
  // already removed it from the pool and the next query opens a new one. Without a
  // listener the 'error' event would crash the process.
  pool.on('error', () => {});
  return pool;
}

/** The SQLSTATE of a server error (pg's DatabaseError.code), if any. */
export function pgCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
