import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { formatHlc, ModelRegistry, type SyncRecord } from '@highwater/core';
import { DEVICE_A, DEVICE_B, expectSameWithSigs, hlc, testModels, testSig } from '@highwater/core/testing';
import { SqliteRecordStore, SqliteSyncStore, WorkerRecordStore } from '@highwater/storage-sqlite';
import { migrate, openSqliteDatabase } from '../src/sqlite-database.js';
import { RECORD_DB_MIGRATIONS } from '../src/sqlite-record-store.js';
import { AUTO_VACUUM_INCREMENTAL, SYNC_DB_MIGRATIONS } from '../src/sync-db-schema.js';

// Signatures (issue #19): sync.db v4 adds `sig` to tombstones, shared_changes and
// parked_changes; database.db v2 adds `hw_sig` to every model table. A file the previous
// release wrote opens, gains the columns without a rewrite, keeps its rows, and those rows read
// back unsigned (no `sig` property).
describe('signatures: upgrading files of the previous release', () => {
  const dirs: string[] = [];
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tempPath(name: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'hw-sqlite-sig-'));
    dirs.push(dir);
    return join(dir, name);
  }
  function track<T extends { close(): unknown }>(store: T): T {
    closers.push(() => store.close());
    return store;
  }
  /** A second connection on the file, to look at it as another process would. */
  function inspect(path: string): Database.Database {
    return track(new Database(path));
  }
  const pragma = (db: Database.Database, name: string): number => db.pragma(name, { simple: true }) as number;
  const columnsOf = (db: Database.Database, table: string) =>
    db.prepare<[string], { name: string; type: string; notnull: number }>('SELECT name, type, "notnull" FROM pragma_table_info(?) ORDER BY cid').all(table);
  /** Every table's and index's first page: a rebuilt (rewritten) table or index would move. */
  const rootPages = (db: Database.Database): Record<string, number> =>
    Object.fromEntries(
      db
        .prepare<[], { name: string; rootpage: number }>("SELECT name, rootpage FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name")
        .all()
        .map((r) => [r.name, r.rootpage]),
    );

  it('upgrades a v3 sync.db to v4: sig columns added in place, rows kept and read back unsigned, new ones signed', async () => {
    const path = tempPath('sync.db');
    // A v3 file as the previous release wrote it: incremental auto_vacuum set before the first
    // table (migrateSyncDb on a new file), migrations 1-3.
    const old = openSqliteDatabase(path);
    old.pragma('auto_vacuum = INCREMENTAL');
    old.exec('VACUUM');
    migrate(old, SYNC_DB_MIGRATIONS.filter((m) => m.version <= 3), 'v3 sync.db');
    const putTombstone = old.prepare('INSERT INTO tombstones (model, record_id, owner_device_id, hlc) VALUES (?, ?, ?, ?)');
    for (let i = 0; i < 50; i++) putTombstone.run('entry', `e${String(i).padStart(2, '0')}`, i < 40 ? DEVICE_A : DEVICE_B, formatHlc(hlc(i, 0, i < 40 ? DEVICE_A : DEVICE_B)));
    const append = old.prepare('INSERT INTO shared_changes (hlc, origin_device_id, model, record_id, op, data) VALUES (?, ?, ?, ?, ?, ?)');
    append.run(formatHlc(hlc(1)), DEVICE_A, 'tag', 't1', 'upsert', '{"name":"one","color":null}');
    append.run(formatHlc(hlc(2)), DEVICE_A, 'tag', 't1', 'delete', null);
    old.prepare('INSERT INTO parked_changes (model, record_id, hlc, owner_device_id, data) VALUES (?, ?, ?, ?, ?)').run('entry', 'e99', formatHlc(hlc(3)), DEVICE_A, '{"parentId":"p"}');
    old.prepare('INSERT INTO device_resource_watermarks (owner_device_id, resource_type, last_watermark, updated_at) VALUES (?, ?, ?, ?)').run(DEVICE_A, 'entry', formatHlc(hlc(49)), 1);
    expect(pragma(old, 'user_version')).toBe(3);
    old.close();
    const before = inspect(path);
    const pagesBefore = rootPages(before);
    const tombstoneRowsBefore = before.prepare('SELECT * FROM tombstones ORDER BY model, record_id').all();
    before.close();

    const store = track(new SqliteSyncStore({ path }));
    const db = inspect(path);
    expect(pragma(db, 'user_version')).toBe(SYNC_DB_MIGRATIONS.at(-1)!.version);
    expect(pragma(db, 'auto_vacuum')).toBe(AUTO_VACUUM_INCREMENTAL);
    for (const table of ['tombstones', 'shared_changes', 'parked_changes']) {
      expect(columnsOf(db, table).at(-1)).toEqual({ name: 'sig', type: 'TEXT', notnull: 0 });
    }
    // Nothing moved: ADD COLUMN changed the tables' definitions only (later migrations add tables).
    expect(rootPages(db)).toMatchObject(pagesBefore);
    expect(db.prepare('SELECT * FROM tombstones ORDER BY model, record_id').all()).toEqual(tombstoneRowsBefore.map((r) => ({ ...(r as object), sig: null })));

    // The old rows, through the store: unsigned, everything else as stored.
    const oldTombstone = { model: 'entry', recordId: 'e07', ownerDeviceId: DEVICE_A, hlc: hlc(7) };
    expectSameWithSigs((await store.getTombstones('entry', ['e07'])).get('e07'), oldTombstone);
    expect(await store.tombstonesAfter('entry', { limit: 100 })).toHaveLength(50);
    expectSameWithSigs(await store.sharedChangesSince({ after: null, limit: 10 }), [
      { hlc: hlc(1), model: 'tag', recordId: 't1', op: 'upsert', data: { name: 'one', color: null } },
      { hlc: hlc(2), model: 'tag', recordId: 't1', op: 'delete', data: null },
    ]);
    expectSameWithSigs(await store.listParkedChanges(), [{ model: 'entry', recordId: 'e99', ownerDeviceId: DEVICE_A, hlc: hlc(3), data: { parentId: 'p' } }]);
    expect(await store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(49));

    // New writes carry signatures; a newer signed tombstone replaces an old unsigned one.
    const resigned = { ...oldTombstone, hlc: hlc(60), sig: testSig('e07 again') };
    await store.putTombstones([resigned]);
    const signedChange = { hlc: hlc(5, 0, DEVICE_B), model: 'tag', recordId: 't2', op: 'upsert' as const, data: { name: 'two' }, sig: testSig('t2') };
    expect(await store.appendSharedChanges([signedChange])).toBe(1);
    const signedParked = { model: 'entry', recordId: 'e98', ownerDeviceId: DEVICE_B, hlc: hlc(4, 0, DEVICE_B), data: {}, sig: testSig('e98') };
    await store.parkChanges([signedParked]);
    await store.close();

    // Opening again migrates nothing more and finds everything.
    const again = track(new SqliteSyncStore({ path }));
    expect(pragma(db, 'user_version')).toBe(SYNC_DB_MIGRATIONS.at(-1)!.version);
    expectSameWithSigs((await again.getTombstones('entry', ['e07', 'e08'])).get('e07'), resigned);
    expectSameWithSigs(await again.tombstonesAfter('entry', { afterHlc: hlc(49, 0, DEVICE_B), limit: 10 }), [resigned]);
    expectSameWithSigs(await again.sharedChangesSince({ after: hlc(2), limit: 10 }), [signedChange]);
    expectSameWithSigs(await again.listParkedChanges(), [
      { model: 'entry', recordId: 'e99', ownerDeviceId: DEVICE_A, hlc: hlc(3), data: { parentId: 'p' } },
      signedParked,
    ]);
  });

  /**
   * database.db as the previous release (record db v1) left it: model tables with `hw_owner`
   * and `hw_hlc` but no `hw_sig`, with their keyset indexes, and some rows.
   */
  function v1LibraryDatabase(path: string): void {
    const db = openSqliteDatabase(path);
    migrate(db, RECORD_DB_MIGRATIONS.filter((m) => m.version <= 1), 'v1 database.db');
    db.exec(`
      CREATE TABLE "location" ("uuid" TEXT PRIMARY KEY NOT NULL, "name" TEXT NOT NULL, "path" TEXT, hw_owner TEXT NOT NULL, hw_hlc TEXT NOT NULL);
      CREATE INDEX "location_hw_hlc" ON "location" (hw_hlc, "uuid");
      CREATE INDEX "location_hw_owner_hlc" ON "location" (hw_owner, hw_hlc, "uuid");
      CREATE TABLE "tag" ("id" TEXT PRIMARY KEY NOT NULL, "name" TEXT NOT NULL, "color" TEXT, hw_owner TEXT NOT NULL, hw_hlc TEXT NOT NULL);
      CREATE INDEX "tag_hw_hlc" ON "tag" (hw_hlc, "id");
      CREATE INDEX "tag_hw_owner_hlc" ON "tag" (hw_owner, hw_hlc, "id");
      CREATE TABLE "volume" ("uuid" TEXT PRIMARY KEY NOT NULL, "name" TEXT NOT NULL, "capacity" INTEGER NOT NULL, hw_owner TEXT NOT NULL, hw_hlc TEXT NOT NULL);
      CREATE INDEX "volume_hw_hlc" ON "volume" (hw_hlc, "uuid");
      CREATE INDEX "volume_hw_owner_hlc" ON "volume" (hw_owner, hw_hlc, "uuid");
    `);
    const location = db.prepare('INSERT INTO "location" ("uuid", "name", "path", hw_owner, hw_hlc) VALUES (?, ?, ?, ?, ?)');
    for (let i = 0; i < 300; i++) location.run(`loc-${String(i).padStart(3, '0')}`, `location ${i}`, i % 2 ? `/data/${i}` : null, DEVICE_A, formatHlc(hlc(i)));
    db.prepare('INSERT INTO "tag" ("id", "name", "color", hw_owner, hw_hlc) VALUES (?, ?, ?, ?, ?)').run('t1', 'one', 'red', DEVICE_B, formatHlc(hlc(1, 0, DEVICE_B)));
    db.prepare('INSERT INTO "volume" ("uuid", "name", "capacity", hw_owner, hw_hlc) VALUES (?, ?, ?, ?, ?)').run('vol-1', 'disk', 1000, DEVICE_A, formatHlc(hlc(2)));
    expect(pragma(db, 'user_version')).toBe(1);
    db.close();
  }
  const location = (i: number, at = hlc(i)): SyncRecord => ({
    id: `loc-${String(i).padStart(3, '0')}`,
    ownerDeviceId: DEVICE_A,
    hlc: at,
    data: { name: `location ${i}`, path: i % 2 ? `/data/${i}` : null },
  });

  it('upgrades a v1 database.db to v2: hw_sig added in place to each registered model table, rows kept and read back unsigned', async () => {
    const path = tempPath('database.db');
    v1LibraryDatabase(path);
    const before = inspect(path);
    const pagesBefore = rootPages(before);
    before.close();

    // `volume` is not registered on this open: its table is left as it is.
    const registry = new ModelRegistry(testModels.filter((m) => m.name === 'location' || m.name === 'tag'));
    const store = track(new SqliteRecordStore({ path, registry }));
    const db = inspect(path);
    expect(pragma(db, 'user_version')).toBe(2);
    expect(columnsOf(db, 'location').map((c) => c.name)).toEqual(['uuid', 'name', 'path', 'hw_owner', 'hw_hlc', 'hw_sig']);
    expect(columnsOf(db, 'tag').at(-1)).toEqual({ name: 'hw_sig', type: 'TEXT', notnull: 0 });
    expect(columnsOf(db, 'volume').map((c) => c.name)).toEqual(['uuid', 'name', 'capacity', 'hw_owner', 'hw_hlc']);
    expect(rootPages(db)).toEqual(pagesBefore);

    const old = Array.from({ length: 300 }, (_, i) => location(i));
    expect(await store.count('location')).toBe(300);
    expectSameWithSigs(await store.page('location', { limit: 1000 }), old);
    expectSameWithSigs(await store.getMany('location', ['loc-007', 'loc-008']), [old[7], old[8]]);
    expectSameWithSigs(await store.getMany('tag', ['t1']), [{ id: 't1', ownerDeviceId: DEVICE_B, hlc: hlc(1, 0, DEVICE_B), data: { name: 'one', color: 'red' } }]);

    // A newer signed version replaces an old row, signature and all; new rows are signed too.
    const resigned = { ...location(7, hlc(500)), sig: testSig('loc-7') };
    const fresh = { ...location(300, hlc(301)), sig: testSig('loc-300') };
    expect(await store.applyBatch('location', { upserts: [resigned, fresh] })).toEqual({ upserted: 2, deleted: 0, unchanged: 0 });
    await store.close();

    // On a worker thread, with every model registered: `volume` gains hw_sig now, and the
    // signatures cross the thread both ways.
    const worker = track(new WorkerRecordStore({ path, registry: new ModelRegistry(testModels) }));
    expectSameWithSigs(await worker.getMany('location', ['loc-007', 'loc-008', 'loc-300']), [resigned, old[8], fresh]);
    expectSameWithSigs(await worker.page('location', { afterHlc: hlc(299), limit: 10 }), [fresh, resigned]);
    expectSameWithSigs(await worker.getMany('volume', ['vol-1']), [{ id: 'vol-1', ownerDeviceId: DEVICE_A, hlc: hlc(2), data: { name: 'disk', capacity: 1000 } }]);
    const signedVolume = { id: 'vol-1', ownerDeviceId: DEVICE_A, hlc: hlc(3), data: { name: 'disk', capacity: 2000 }, sig: testSig('vol-1') };
    await worker.applyBatch('volume', { upserts: [signedVolume] });
    expectSameWithSigs(await worker.page('volume', { limit: 10 }), [signedVolume]);
    expect(columnsOf(db, 'volume').map((c) => c.name)).toEqual(['uuid', 'name', 'capacity', 'hw_owner', 'hw_hlc', 'hw_sig']);
    expect(pragma(db, 'user_version')).toBe(2);
  });

  it('creates a new database.db at v2 with hw_sig beside hw_owner and hw_hlc', () => {
    const path = tempPath('database.db');
    track(new SqliteRecordStore({ path, registry: new ModelRegistry(testModels) }));
    const db = inspect(path);
    expect(pragma(db, 'user_version')).toBe(RECORD_DB_MIGRATIONS.at(-1)!.version);
    expect(columnsOf(db, 'tag')).toEqual([
      { name: 'id', type: 'TEXT', notnull: 1 },
      { name: 'name', type: 'TEXT', notnull: 1 },
      { name: 'color', type: 'TEXT', notnull: 0 },
      { name: 'hw_owner', type: 'TEXT', notnull: 1 },
      { name: 'hw_hlc', type: 'TEXT', notnull: 1 },
      { name: 'hw_sig', type: 'TEXT', notnull: 0 },
    ]);
  });

  it('is refused by a Highwater that predates signatures, which would keep a stale signature beside new data', () => {
    const path = tempPath('database.db');
    track(new SqliteRecordStore({ path, registry: new ModelRegistry(testModels) })).close();
    const db = openSqliteDatabase(path);
    closers.push(() => db.close());
    expect(() => migrate(db, RECORD_DB_MIGRATIONS.filter((m) => m.version <= 1), 'database.db')).toThrow(/schema version 2, newer than this Highwater supports \(1\)/);
    const syncPath = tempPath('sync.db');
    track(new SqliteSyncStore({ path: syncPath })).close();
    const syncDb = openSqliteDatabase(syncPath);
    closers.push(() => syncDb.close());
    expect(() => migrate(syncDb, SYNC_DB_MIGRATIONS.filter((m) => m.version <= 3), 'sync.db')).toThrow(new RegExp(`schema version ${SYNC_DB_MIGRATIONS.at(-1)!.version}, newer than this Highwater supports \\(3\\)`));
  });
});
