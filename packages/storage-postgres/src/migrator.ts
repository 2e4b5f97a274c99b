import { createHash } from 'node:crypto';
import { quoteIdentifier, StorageError } from '@highwater/core';
import type { PgDatabase, Queryable } from './pg-database.js';
import { MIGRATIONS_TABLE, SCHEMA_MIGRATIONS, type Migration } from './schema-migrations.js';

/**
 * Key of the transaction-level advisory lock that serialises schema changes of one library
 * schema across processes. Derived in JS (not with hashtext(), whose output is not a
 * documented, stable API) from the schema name, so every process computes the same key and
 * different libraries do not block each other.
 */
export function schemaLockKey(schema: string): string {
  return createHash('sha256').update(`highwater-schema:${schema}`).digest().readBigInt64BE(0).toString();
}

/**
 * Takes the schema's advisory lock for the rest of the transaction. Every DDL on a library
 * schema (migrations, record tables) runs under it, so two processes opening the same new
 * schema at once do not race on CREATE … IF NOT EXISTS (which is not safe concurrently).
 */
export async function lockSchema(tx: Queryable, schema: string): Promise<void> {
  await tx.query({ prepare: false, text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [schemaLockKey(schema)] });
}

/**
 * Brings the library schema to the newest version: creates the schema and the
 * `hw_schema_migrations` table if missing, then applies each pending migration in its own
 * transaction. A schema written by a newer Highwater is refused rather than misread.
 */
export async function migrateSchema(db: PgDatabase, migrations: readonly Migration[] = SCHEMA_MIGRATIONS): Promise<number> {
  const newest = migrations.at(-1)?.version ?? 0;
  let current = await db.transaction(async (tx) => {
    await lockSchema(tx, db.schema);
    await tx.query({ prepare: false, text: `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(db.schema)}` });
    await tx.query({
      prepare: false,
      text: `CREATE TABLE IF NOT EXISTS ${db.qualified(MIGRATIONS_TABLE)} (
               version    INTEGER PRIMARY KEY,
               applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    });
    return checkedVersion(tx, db, newest);
  });
  for (const step of migrations) {
    if (step.version <= current) continue;
    current = await db.transaction(async (tx) => {
      await lockSchema(tx, db.schema);
      // Another process may have applied it while we waited for the lock.
      const now = await checkedVersion(tx, db, newest);
      if (now >= step.version) return now;
      await tx.query({ prepare: false, text: step.sql((name) => db.qualified(name)) });
      await tx.query({ prepare: false, text: `INSERT INTO ${db.qualified(MIGRATIONS_TABLE)} (version) VALUES ($1)`, values: [step.version] });
      return step.version;
    });
  }
  return current;
}

async function checkedVersion(tx: Queryable, db: PgDatabase, newest: number): Promise<number> {
  const result = await tx.query<{ version: number | null }>({ prepare: false, text: `SELECT max(version) AS version FROM ${db.qualified(MIGRATIONS_TABLE)}` });
  const version = result.rows[0]?.version ?? 0;
  if (version > newest) {
    throw new StorageError(
      `PostgreSQL schema "${db.schema}" has version ${version}, newer than this Highwater supports (${newest}); upgrade Highwater`,
    );
  }
  return version;
}
