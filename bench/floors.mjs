// Floors: what the same rows cost without Highwater, measured in the same run.
// SQLite: a plain better-sqlite3 script reads the source's pages (keyset on (hw_hlc, key),
// as a backfill does) and writes them into the same schema with the same page size and
// commit pattern (one transaction per page, WAL, synchronous=FULL).
// Postgres: the same pages as multi-row INSERTs, one transaction per page.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ModelRegistry } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { benchModels } from './bench-models.mjs';

const COLUMNS = ['uuid', 'parent', 'name', 'size', 'mtime', 'kind', 'hw_owner', 'hw_hlc'];

/** The source's pages as a backfill reads them: keyset on (hw_hlc, key), raw rows. */
export function* pages(sourcePath, pageSize) {
  const source = new Database(sourcePath, { readonly: true });
  const page = source
    .prepare(`SELECT ${COLUMNS.join(', ')} FROM entry WHERE (hw_hlc, uuid) > (?, ?) ORDER BY hw_hlc, uuid LIMIT ?`)
    .raw();
  let after = ['', ''];
  try {
    for (;;) {
      const rows = page.all(after[0], after[1], pageSize);
      if (rows.length === 0) return;
      yield rows;
      const last = rows.at(-1);
      after = [last[7], last[0]];
    }
  } finally {
    source.close();
  }
}

/**
 * A fresh database of the very schema Highwater's SQLite adapter creates (same table, indexes,
 * pragmas), written the plain way: `commit(rows)` is one transaction of INSERT OR REPLACE.
 */
export async function floorWriter() {
  const dir = mkdtempSync(join(tmpdir(), 'hw-floor-'));
  const schema = createSqliteStorage({ directory: dir, registry: new ModelRegistry(benchModels), synchronous: 'full' });
  await schema.close();
  const db = new Database(join(dir, 'database.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(`INSERT OR REPLACE INTO entry (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
  const commit = db.transaction((rows) => {
    for (const row of rows) insert.run(row);
  });
  return {
    commit,
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads every page of `sourcePath` and writes it into a fresh database of the same schema. */
export async function sqliteFloor(sourcePath, pageSize) {
  const { commit, close } = await floorWriter();
  let count = 0;
  let readMs = 0;
  const started = performance.now();
  let t = performance.now();
  for (const rows of pages(sourcePath, pageSize)) {
    readMs += performance.now() - t;
    commit(rows);
    count += rows.length;
    t = performance.now();
  }
  const seconds = (performance.now() - started) / 1000;
  close();
  return { count, seconds, rate: count / seconds, readRate: count / (readMs / 1000) };
}

/** The same pages into Postgres with multi-row INSERTs, one transaction per page. */
export async function postgresFloor(sourcePath, pageSize, pgUrl) {
  const schema = `hw_bench_floor_${process.pid}`;
  const storage = await createPostgresStorage({ connectionString: pgUrl, schema, registry: new ModelRegistry(benchModels) });
  await storage.close();
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  let count = 0;
  const started = performance.now();
  for (const rows of pages(sourcePath, pageSize)) {
    const params = [];
    const values = rows.map((row, r) => `(${row.map((v, c) => (params.push(v), `$${r * COLUMNS.length + c + 1}`)).join(', ')})`);
    await client.query('BEGIN');
    await client.query(`INSERT INTO "${schema}".entry (${COLUMNS.join(', ')}) VALUES ${values.join(', ')} ON CONFLICT (uuid) DO NOTHING`, params);
    await client.query('COMMIT');
    count += rows.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await client.query(`DROP SCHEMA "${schema}" CASCADE`);
  await client.end();
  return { count, seconds, rate: count / seconds };
}
