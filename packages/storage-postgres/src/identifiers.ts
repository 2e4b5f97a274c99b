import { createHash } from 'node:crypto';
import { StorageError } from '@highwater/core';

/** Postgres truncates longer identifiers (NAMEDATALEN - 1), which could make two names collide. */
export const MAX_IDENTIFIER_LENGTH = 63;

/**
 * Lower case only, so the schema name means the same quoted or unquoted (psql users type it
 * unquoted); `pg_` is reserved by Postgres for system schemas.
 */
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws `StorageError` unless `schema` is a usable library schema name. */
export function assertSchemaName(schema: unknown): asserts schema is string {
  if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema) || schema.startsWith('pg_') || schema === 'information_schema') {
    throw new StorageError(
      `Invalid PostgreSQL schema name ${JSON.stringify(typeof schema === 'string' ? schema.slice(0, 80) : schema)}: ` +
        'use 1-63 characters of [a-z0-9_], not starting with a digit or "pg_"',
    );
  }
}

/**
 * `<base><suffix>` when it fits in 63 characters; otherwise the base is shortened and a hash
 * of the full name keeps distinct long names distinct (Postgres would silently truncate them).
 */
export function derivedIdentifier(base: string, suffix: string): string {
  const full = `${base}${suffix}`;
  if (full.length <= MAX_IDENTIFIER_LENGTH) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${base.slice(0, MAX_IDENTIFIER_LENGTH - suffix.length - hash.length - 1)}_${hash}${suffix}`;
}

/** A short, stable prepared-statement name for a SQL text (same text, same name, on any store). */
export function statementName(text: string): string {
  return `hw_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
}
