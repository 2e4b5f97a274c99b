import { randomBytes } from 'node:crypto';
import { afterAll, expect } from '@jest/globals';
import pg from 'pg';
import { ModelRegistry, type ModelDefinition, type RecordStore, type SyncStore } from '@highwater/core';
import type { StoreHarness } from '@highwater/core/testing';
import { PostgresRecordStore, PostgresSyncStore } from '@highwater/storage-postgres';

/** The test server; override with PG_URL. */
export const PG_URL = process.env['PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Every schema a test file creates starts with this, so its afterAll can find leftovers. */
export const RUN_PREFIX = `hw_test_${randomBytes(4).toString('hex')}_`;
let schemaCounter = 0;

/** A fresh, unused schema name of this run. */
export function uniqueSchema(): string {
  schemaCounter += 1;
  return `${RUN_PREFIX}${schemaCounter}`;
}

const reachable = new Map<string, Promise<void>>();

/**
 * Fails (never skips) when the server is down, with the command that starts it: a skipped
 * suite would look green while proving nothing.
 */
export function requirePostgres(url = PG_URL): Promise<void> {
  let check = reachable.get(url);
  if (!check) {
    check = (async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
      } catch (cause) {
        throw new Error(
          `PostgreSQL is not reachable at ${url}: start it with \`pg_ctlcluster --skip-systemctl-redirect 15 main start\` ` +
            `(or set PG_URL). Cause: ${(cause as Error).message || String(cause)}`,
          { cause },
        );
      } finally {
        await client.end().catch(() => {});
      }
    })();
    reachable.set(url, check);
  }
  return check;
}

/** Runs one-off SQL on a short-lived connection of its own (not the store's pool). */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  await requirePostgres();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Schemas of this run that still exist. */
export async function leftoverSchemas(): Promise<string[]> {
  const rows = await adminQuery<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname', [
    RUN_PREFIX,
  ]);
  return rows.map((r) => r.nspname);
}

/** Registers an afterAll that fails the file if one of its schemas was left behind. */
export function expectNoLeftoverSchemas(): void {
  afterAll(async () => {
    expect(await leftoverSchemas()).toEqual([]);
  });
}

/** A harness whose `open()` makes a new store with a new pool on the same schema. */
export function syncStoreHarness(schema = uniqueSchema()): Promise<StoreHarness<SyncStore>> {
  return harness(schema, () => PostgresSyncStore.open({ connectionString: PG_URL, schema, poolSize: 4 }));
}

export function recordStoreHarness(models: readonly ModelDefinition[], schema = uniqueSchema()): Promise<StoreHarness<RecordStore>> {
  const registry = new ModelRegistry(models);
  return harness(schema, () => PostgresRecordStore.open({ connectionString: PG_URL, schema, registry, poolSize: 4 }));
}

async function harness<S>(schema: string, open: () => Promise<S>): Promise<StoreHarness<S>> {
  await requirePostgres();
  return { open, destroy: () => dropSchema(schema) };
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failing case reproduces. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic integers in [0, n). */
export function randomInts(seed: number): (n: number) => number {
  const random = seededRandom(seed);
  return (n) => Math.floor(random() * n);
}

/** A deterministic shuffle of `items`. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
