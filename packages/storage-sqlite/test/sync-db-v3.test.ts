import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { formatHlc, type Tombstone } from '@highwater/core';
import { DEVICE_A, DEVICE_B, hlc } from '@highwater/core/testing';
import { SqliteSyncStore } from '@highwater/storage-sqlite';
import { migrate, openSqliteDatabase } from '../src/sqlite-database.js';
import { AUTO_VACUUM_INCREMENTAL, SYNC_DB_MIGRATIONS } from '../src/sync-db-schema.js';

// sync.db schema v3: acks per (peer, owner, resource) stream, prunes per stream by an index
// range, and incremental auto_vacuum so that pruning gives the space back. (Files end at the
// newest version; v4, signatures, has tests of its own in signatures-migration.test.ts.)
const NEWEST = SYNC_DB_MIGRATIONS.at(-1)!.version;

describe('sync.db schema v3', () => {
  const dirs: string[] = [];
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function syncDbPath(): string {
    const dir = mkdtempSync(join(tmpdir(), 'hw-sqlite-v3-'));
    dirs.push(dir);
    return join(dir, 'sync.db');
  }
  function openStore(path: string): SqliteSyncStore {
    const store = new SqliteSyncStore({ path });
    closers.push(() => store.close());
    return store;
  }
  /** A second connection on the file, to look at it as another process would. */
  function inspect(path: string): Database.Database {
    const db = new Database(path);
    closers.push(() => db.close());
    return db;
  }
  const pragma = (db: Database.Database, name: string): number => db.pragma(name, { simple: true }) as number;
  const tableColumns = (db: Database.Database, table: string) =>
    db.prepare<[string], { name: string; pk: number }>('SELECT name, pk FROM pragma_table_info(?) ORDER BY cid').all(table);
  const indexes = (db: Database.Database, table: string): string[] =>
    db
      .prepare<[string], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name")
      .all(table)
      .map((r) => r.name);
  const tombstones = (count: number, model: string, owner: string): Tombstone[] =>
    Array.from({ length: count }, (_, i) => ({ model, recordId: `${owner}-${String(i).padStart(6, '0')}`, ownerDeviceId: owner, hlc: hlc(i, 0, owner) }));

  it('creates a new sync.db at the newest version with incremental auto_vacuum and per-stream peer_acks', async () => {
    const path = syncDbPath();
    openStore(path);
    const db = inspect(path);
    expect(pragma(db, 'user_version')).toBe(NEWEST);
    expect(pragma(db, 'auto_vacuum')).toBe(AUTO_VACUUM_INCREMENTAL);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(tableColumns(db, 'peer_acks')).toEqual([
      { name: 'peer_device_id', pk: 1 },
      { name: 'owner_device_id', pk: 2 },
      { name: 'resource_type', pk: 3 },
      { name: 'last_acked_hlc', pk: 0 },
      { name: 'updated_at', pk: 0 },
    ]);
    expect(indexes(db, 'shared_changes')).toEqual(['idx_shared_changes_stream']);
    expect(indexes(db, 'tombstones')).toEqual(['idx_tombstones_owner_page', 'idx_tombstones_page']);
  });

  it('upgrades a v2 sync.db: per-stream acks (old ones dropped), other data kept, converted to incremental auto_vacuum', async () => {
    const path = syncDbPath();
    // A v2 file as the previous release wrote it (auto_vacuum none), with some data.
    const old = openSqliteDatabase(path);
    migrate(old, SYNC_DB_MIGRATIONS.filter((m) => m.version <= 2), 'v2 sync.db');
    old.prepare('INSERT INTO peer_acks (peer_device_id, last_acked_hlc, updated_at) VALUES (?, ?, ?)').run(DEVICE_B, formatHlc(hlc(5)), 1);
    old.prepare('INSERT INTO tombstones (model, record_id, owner_device_id, hlc) VALUES (?, ?, ?, ?)').run('entry', 'e1', DEVICE_A, formatHlc(hlc(3)));
    old.prepare('INSERT INTO shared_changes (hlc, origin_device_id, model, record_id, op, data) VALUES (?, ?, ?, ?, ?, ?)').run(
      formatHlc(hlc(4)),
      DEVICE_A,
      'tag',
      't1',
      'delete',
      null,
    );
    old.prepare('INSERT INTO parked_changes (model, record_id, hlc, owner_device_id, data) VALUES (?, ?, ?, ?, ?)').run(
      'entry',
      'e2',
      formatHlc(hlc(6)),
      DEVICE_A,
      '{}',
    );
    expect(pragma(old, 'auto_vacuum')).toBe(0);
    old.close();

    const store = openStore(path);
    const db = inspect(path);
    expect(pragma(db, 'user_version')).toBe(NEWEST);
    expect(pragma(db, 'auto_vacuum')).toBe(AUTO_VACUUM_INCREMENTAL);
    expect(tableColumns(db, 'peer_acks').map((c) => c.name)).toEqual(['peer_device_id', 'owner_device_id', 'resource_type', 'last_acked_hlc', 'updated_at']);
    expect(indexes(db, 'shared_changes')).toEqual(['idx_shared_changes_stream']);
    expect(indexes(db, 'tombstones')).toEqual(['idx_tombstones_owner_page', 'idx_tombstones_page']);
    expect(await store.listAcks()).toEqual([]);
    expect([...(await store.getTombstones('entry', ['e1'])).keys()]).toEqual(['e1']);
    expect(await store.countSharedChanges()).toBe(1);
    expect((await store.listParkedChanges()).map((c) => c.recordId)).toEqual(['e2']);
    expect(await store.recordAcks(DEVICE_B, [{ owner: DEVICE_A, resource: 'tag', hlc: hlc(4) }], 7)).toBe(1);
    expect(await store.pruneSharedChanges(DEVICE_A, 'tag', hlc(4))).toBe(1);

    // Opening again neither migrates nor vacuums anything more.
    await store.close();
    const again = openStore(path);
    expect(await again.listAcks()).toEqual([{ peerDeviceId: DEVICE_B, owner: DEVICE_A, resource: 'tag', hlc: hlc(4), updatedAt: 7 }]);
    expect(pragma(db, 'user_version')).toBe(NEWEST);
  });

  it('prunes one stream as an index range', () => {
    const path = syncDbPath();
    openStore(path);
    const db = inspect(path);
    const plan = (sql: string): string =>
      db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
        .all('a', 'b', 'c')
        .map((r) => r.detail)
        .join('; ');
    expect(plan('DELETE FROM tombstones WHERE model = ? AND owner_device_id = ? AND hlc <= ?')).toMatch(
      /SEARCH tombstones USING (COVERING )?INDEX idx_tombstones_owner_page \(model=\? AND owner_device_id=\? AND hlc<\?\)/,
    );
    expect(plan('DELETE FROM shared_changes WHERE origin_device_id = ? AND model = ? AND hlc <= ?')).toMatch(
      /SEARCH shared_changes USING (COVERING )?INDEX idx_shared_changes_stream \(origin_device_id=\? AND model=\? AND hlc<\?\)/,
    );
  });

  it('gives the space of pruned tombstones back: the file shrinks after a prune', async () => {
    const path = syncDbPath();
    const store = openStore(path);
    await store.putTombstones(tombstones(20_000, 'entry', DEVICE_A));
    await store.putTombstones(tombstones(10, 'entry', DEVICE_B));
    const db = inspect(path);
    // Everything in the WAL written back and the WAL emptied, so the files show the database's size.
    const settle = (): { pages: number; file: number; wal: number } => {
      const [checkpoint] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      expect(checkpoint!.busy).toBe(0);
      return { pages: pragma(db, 'page_count') * pragma(db, 'page_size'), file: statSync(path).size, wal: statSync(`${path}-wal`).size };
    };
    const full = settle();
    expect(full.file).toBeGreaterThan(2_000_000);

    expect(await store.pruneTombstones('entry', DEVICE_A, hlc(20_000, 0, DEVICE_A))).toBe(20_000);
    const pruned = settle();
    expect(pragma(db, 'auto_vacuum')).toBe(AUTO_VACUUM_INCREMENTAL);
    expect(pragma(db, 'freelist_count')).toBe(0);
    // A few pages per table and index remain: under 200 kB, from over 2 MB.
    expect(pruned.pages).toBeLessThan(200_000);
    expect(pruned.file).toBe(pruned.pages);
    expect(pruned.wal).toBe(0);
    // The other owner's stream is untouched.
    expect((await store.tombstonesAfter('entry', { limit: 100 })).map((t) => t.ownerDeviceId)).toEqual(Array(10).fill(DEVICE_B));
  });

  it('compact() leaves sync.db on disk as small as its pages after a prune: the WAL written back and emptied', async () => {
    const path = syncDbPath();
    const store = openStore(path);
    await store.putTombstones(tombstones(20_000, 'entry', DEVICE_A));
    expect(statSync(path).size + statSync(`${path}-wal`).size).toBeGreaterThan(2_000_000);
    expect(await store.pruneTombstones('entry', DEVICE_A, hlc(20_000, 0, DEVICE_A))).toBe(20_000);
    await store.compact();
    expect(statSync(`${path}-wal`).size).toBe(0);
    expect(statSync(path).size).toBeLessThan(200_000);
  });

  it('gives the space of pruned shared changes back', async () => {
    const path = syncDbPath();
    const store = openStore(path);
    const changes = Array.from({ length: 10_000 }, (_, i) => ({
      hlc: hlc(i, 0, DEVICE_A),
      model: 'tag',
      recordId: `tag-${i}`,
      op: 'upsert' as const,
      data: { name: `tag number ${i}`, color: 'a colour long enough to take some room' },
    }));
    await store.appendSharedChanges(changes);
    const db = inspect(path);
    const size = (): number => {
      db.pragma('wal_checkpoint(TRUNCATE)');
      return statSync(path).size;
    };
    expect(size()).toBeGreaterThan(1_000_000);
    expect(await store.pruneSharedChanges(DEVICE_A, 'tag', hlc(10_000, 0, DEVICE_A))).toBe(10_000);
    expect(size()).toBeLessThan(200_000);
    expect(pragma(db, 'freelist_count')).toBe(0);
  });
});
