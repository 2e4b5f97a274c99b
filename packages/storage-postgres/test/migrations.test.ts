import { afterEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { formatHlc, ModelRegistry, StorageError, type ModelDefinition, type SyncRecord } from '@highwater/core';
import { DEVICE_A, DEVICE_B, entryRecord, expectSameWithSigs, hlc, testModels, testSig } from '@highwater/core/testing';
import {
  createPostgresStorage,
  MIGRATIONS_TABLE,
  PostgresRecordStore,
  PostgresSyncStore,
  SCHEMA_MIGRATIONS,
  SYNC_TABLES,
  type PostgresStorage,
} from '@highwater/storage-postgres';
import { migrateSchema } from '../src/migrator.js';
import { PgDatabase } from '../src/pg-database.js';
import { adminQuery, dropSchema, expectNoLeftoverSchemas, PG_URL, requirePostgres, uniqueSchema } from './pg-test-helper.js';

const registry = new ModelRegistry(testModels);
const NEWEST = SCHEMA_MIGRATIONS.at(-1)!.version;

// Everything a test opened or created, closed and dropped afterwards even when it failed.
const opened: { close(): Promise<void> }[] = [];
const schemas: string[] = [];
function newSchema(): string {
  const schema = uniqueSchema();
  schemas.push(schema);
  return schema;
}
async function track<T extends { close(): Promise<void> }>(store: Promise<T>): Promise<T> {
  const s = await store;
  opened.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

async function tablesOf(schema: string): Promise<string[]> {
  const rows = await adminQuery<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [schema]);
  return rows.map((r) => r.tablename);
}

describe('opening a schema', () => {
  it('lets several processes open the same new schema at once: all succeed, one set of tables', async () => {
    await requirePostgres();
    const schema = newSchema();
    // Four storages with four pools; without the advisory lock their CREATE … IF NOT EXISTS
    // statements race and one fails with a duplicate-key error on the catalog.
    // allSettled, not all: every open must have finished before afterEach drops the schema.
    const settled = await Promise.allSettled(
      Array.from({ length: 4 }, () => track(createPostgresStorage({ connectionString: PG_URL, schema, registry, poolSize: 2 }))),
    );
    expect(settled.map((s) => (s.status === 'rejected' ? String(s.reason) : s.status))).toEqual(Array(4).fill('fulfilled'));
    const storages = settled.map((s) => (s as PromiseFulfilledResult<PostgresStorage>).value);
    expect(await tablesOf(schema)).toEqual([...SYNC_TABLES, MIGRATIONS_TABLE, ...testModels.map((m) => m.name)].sort());
    const versions = await adminQuery<{ version: number }>(`SELECT version FROM "${schema}".${MIGRATIONS_TABLE} ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual(SCHEMA_MIGRATIONS.map((m) => m.version));
    // Every one of them works against the shared tables.
    await storages[0]!.syncStore.advanceWatermark(DEVICE_A, 'entry', hlc(5));
    await storages[1]!.recordStore.applyBatch('entry', { upserts: [entryRecord(1, hlc(5))] });
    expect(await storages[2]!.syncStore.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(5));
    expect(await storages[3]!.recordStore.count('entry')).toBe(1);
  });

  it('keeps two libraries in one database independent', async () => {
    await requirePostgres();
    const [photos, music] = await Promise.all([
      track(createPostgresStorage({ connectionString: PG_URL, schema: newSchema(), registry })),
      track(createPostgresStorage({ connectionString: PG_URL, schema: newSchema(), registry })),
    ]);
    await photos.syncStore.advanceWatermark(DEVICE_A, 'entry', hlc(10));
    await photos.recordStore.applyBatch('entry', { upserts: [entryRecord(1, hlc(10))] });
    await music.syncStore.advanceWatermark(DEVICE_A, 'entry', hlc(3));
    await music.syncStore.setSyncState('backfill', 'done');
    expect(await photos.syncStore.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(10));
    expect(await music.syncStore.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(3));
    expect(await music.recordStore.count('entry')).toBe(0);
    expect(await photos.syncStore.getSyncState('backfill')).toBeNull();
    // Deleting one library leaves the other intact.
    await music.dropSchema();
    expect(await tablesOf(music.schema)).toEqual([]);
    expect(await photos.recordStore.count('entry')).toBe(1);
    expect(await photos.syncStore.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(10));
  });

  it('refuses a schema whose version is newer than this code, with StorageError', async () => {
    await requirePostgres();
    const schema = newSchema();
    const first = await PostgresSyncStore.open({ connectionString: PG_URL, schema });
    await first.close();
    await adminQuery(`INSERT INTO "${schema}".${MIGRATIONS_TABLE} (version) VALUES ($1)`, [NEWEST + 1]);
    const sync = PostgresSyncStore.open({ connectionString: PG_URL, schema });
    await expect(sync).rejects.toBeInstanceOf(StorageError);
    await expect(sync).rejects.toThrow(`version ${NEWEST + 1}, newer than this Highwater supports (${NEWEST})`);
    await expect(PostgresRecordStore.open({ connectionString: PG_URL, schema, registry })).rejects.toMatchObject({ code: 'HW_STORAGE' });
    await expect(createPostgresStorage({ connectionString: PG_URL, schema, registry })).rejects.toBeInstanceOf(StorageError);
  });

  it('adds a nullable column when a model gains a field, keeping every row', async () => {
    await requirePostgres();
    const schema = newSchema();
    const v1: ModelDefinition = { name: 'note', ownership: 'device', key: 'id', fields: { title: { type: 'text' } } };
    const v2: ModelDefinition = {
      ...v1,
      fields: { ...v1.fields, pinned: { type: 'boolean' }, words: { type: 'integer', nullable: true }, extra: { type: 'json', nullable: true } },
    };
    const before = await PostgresRecordStore.open({ connectionString: PG_URL, schema, registry: new ModelRegistry([v1]) });
    const notes = Array.from({ length: 20 }, (_, i) => ({ id: `n${i}`, ownerDeviceId: DEVICE_A, hlc: hlc(i), data: { title: `note ${i}` } }));
    await before.applyBatch('note', { upserts: notes });
    await before.close();

    const after = await track(PostgresRecordStore.open({ connectionString: PG_URL, schema, registry: new ModelRegistry([v2]) }));
    expect(await after.count('note')).toBe(20);
    const old = await after.page('note', { limit: 100 });
    expect(old).toEqual(notes.map((n) => ({ ...n, data: { title: n.data.title, pinned: null, words: null, extra: null } })));
    const columns = await adminQuery<{ column_name: string; is_nullable: string }>(
      `SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'note' ORDER BY ordinal_position`,
      [schema],
    );
    expect(columns.map((c) => [c.column_name, c.is_nullable])).toEqual([
      ['id', 'NO'],
      ['title', 'NO'],
      ['hw_owner', 'NO'],
      ['hw_hlc', 'NO'],
      ['hw_sig', 'YES'],
      ['pinned', 'YES'],
      ['words', 'YES'],
      ['extra', 'YES'],
    ]);
    const fresh = { id: 'n99', ownerDeviceId: DEVICE_A, hlc: hlc(99), data: { title: 'new', pinned: true, words: 3, extra: { b: 1, a: 2 } } };
    await after.applyBatch('note', { upserts: [fresh] });
    expect(await after.getMany('note', ['n99'])).toEqual([fresh]);
  });
});

describe('schema v3: acks and pruning per (owner, resource) stream', () => {
  async function columnsOf(schema: string, table: string): Promise<string[]> {
    const rows = await adminQuery<{ column_name: string }>(
      'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
      [schema, table],
    );
    return rows.map((r) => r.column_name);
  }
  async function indexesOf(schema: string, table: string): Promise<string[]> {
    const rows = await adminQuery<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname', [
      schema,
      table,
    ]);
    return rows.map((r) => r.indexdef.replace(/ ON .* USING btree/, ''));
  }

  it('upgrades a v2 schema: per-stream peer_acks (old acks dropped), stream indexes, other data kept', async () => {
    await requirePostgres();
    const schema = newSchema();
    // A v2 schema as the previous release left it, with some data.
    const db = PgDatabase.fromOptions({ connectionString: PG_URL, schema });
    try {
      expect(await migrateSchema(db, SCHEMA_MIGRATIONS.filter((m) => m.version <= 2))).toBe(2);
    } finally {
      await db.close();
    }
    await adminQuery(`INSERT INTO "${schema}".peer_acks (peer_device_id, last_acked_hlc, updated_at) VALUES ($1, $2, 1)`, [DEVICE_B, formatHlc(hlc(5))]);
    await adminQuery(`INSERT INTO "${schema}".tombstones (model, record_id, owner_device_id, hlc) VALUES ('entry', 'e1', $1, $2)`, [DEVICE_A, formatHlc(hlc(3))]);
    await adminQuery(`INSERT INTO "${schema}".shared_changes (hlc, origin_device_id, model, record_id, op) VALUES ($1, $2, 'tag', 't1', 'delete')`, [
      formatHlc(hlc(4)),
      DEVICE_A,
    ]);

    const sync = await track(PostgresSyncStore.open({ connectionString: PG_URL, schema }));
    const versions = await adminQuery<{ version: number }>(`SELECT version FROM "${schema}".${MIGRATIONS_TABLE} ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual(SCHEMA_MIGRATIONS.map((m) => m.version));
    expect(await columnsOf(schema, 'peer_acks')).toEqual(['peer_device_id', 'owner_device_id', 'resource_type', 'last_acked_hlc', 'updated_at']);
    expect(await indexesOf(schema, 'peer_acks')).toEqual([
      'CREATE UNIQUE INDEX peer_acks_pkey (peer_device_id, owner_device_id, resource_type)',
    ]);
    expect(await indexesOf(schema, 'shared_changes')).toEqual([
      'CREATE INDEX idx_shared_changes_stream (origin_device_id, model, hlc)',
      'CREATE UNIQUE INDEX shared_changes_pkey (hlc)',
    ]);
    expect(await indexesOf(schema, 'tombstones')).toEqual([
      'CREATE INDEX idx_tombstones_owner_page (model, owner_device_id, hlc, record_id)',
      'CREATE INDEX idx_tombstones_page (model, hlc, record_id)',
      'CREATE UNIQUE INDEX tombstones_pkey (model, record_id)',
    ]);
    expect(await sync.listAcks()).toEqual([]);
    expect([...(await sync.getTombstones('entry', ['e1'])).keys()]).toEqual(['e1']);
    expect(await sync.countSharedChanges()).toBe(1);
    expect(await sync.recordAcks(DEVICE_B, [{ owner: DEVICE_A, resource: 'tag', hlc: hlc(4) }], 7)).toBe(1);
    expect(await sync.listAcks()).toEqual([{ peerDeviceId: DEVICE_B, owner: DEVICE_A, resource: 'tag', hlc: hlc(4), updatedAt: 7 }]);
    expect(await sync.pruneSharedChanges(DEVICE_A, 'tag', hlc(4))).toBe(1);
    expect(await sync.pruneTombstones('entry', DEVICE_A, hlc(3))).toBe(1);
  });

  it('prunes one stream as an index range', async () => {
    await requirePostgres();
    const schema = newSchema();
    await track(PostgresSyncStore.open({ connectionString: PG_URL, schema }));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      // Other streams fill the HLC range being pruned: only the stream's own index reads just its rows.
      await client.query(`INSERT INTO "${schema}".tombstones (model, record_id, owner_device_id, hlc)
        SELECT 'entry', 'r' || i, 'x' || (i % 10), lpad(i::text, 8, '0') FROM generate_series(1, 5000) AS i`);
      await client.query(`INSERT INTO "${schema}".shared_changes (hlc, origin_device_id, model, record_id, op)
        SELECT lpad(i::text, 8, '0'), 'a', 'm' || (i % 10), 'r' || i, 'delete' FROM generate_series(1, 5000) AS i`);
      await client.query(`ANALYZE "${schema}".tombstones, "${schema}".shared_changes`);
      const plan = async (sql: string): Promise<string> =>
        (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      const tombstones = await plan(`DELETE FROM "${schema}".tombstones WHERE model = 'entry' AND owner_device_id = 'a' AND hlc <= 'b'`);
      expect(tombstones).toMatch(/Index (Only )?Scan using idx_tombstones_owner_page/);
      expect(tombstones).toMatch(/Index Cond: \(\(model = 'entry'::text\) AND \(owner_device_id = 'a'::text\) AND \(hlc <= 'b'::text\)\)/);
      const shared = await plan(`DELETE FROM "${schema}".shared_changes WHERE origin_device_id = 'a' AND model = 'tag' AND hlc <= 'b'`);
      expect(shared).toMatch(/Index (Only )?Scan using idx_shared_changes_stream/);
      expect(shared).toMatch(/Index Cond: \(\(origin_device_id = 'a'::text\) AND \(model = 'tag'::text\) AND \(hlc <= 'b'::text\)\)/);
    } finally {
      await client.end();
    }
  });
});

// Signatures (issue #19): migration 4 adds `sig` to tombstones, shared_changes and
// parked_changes; opening the record store adds `hw_sig` to each registered model table.
describe('schema v4: signatures', () => {
  async function columnsOf(schema: string, table: string): Promise<string[]> {
    const rows = await adminQuery<{ column_name: string; data_type: string; is_nullable: string }>(
      'SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
      [schema, table],
    );
    return rows.map((r) => `${r.column_name} ${r.data_type}${r.is_nullable === 'NO' ? ' not null' : ''}`);
  }
  /** Each table's and index's file: a rewrite (ALTER … TYPE, a column with a volatile default, VACUUM FULL) gives it a new one. */
  async function relfilenodes(schema: string): Promise<Record<string, number>> {
    const rows = await adminQuery<{ relname: string; relfilenode: number }>(
      `SELECT c.relname, c.relfilenode::int AS relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY c.relname`,
      [schema],
    );
    return Object.fromEntries(rows.map((r) => [r.relname, r.relfilenode]));
  }
  const location = (i: number, at = hlc(i)): SyncRecord => ({
    id: `loc-${String(i).padStart(3, '0')}`,
    ownerDeviceId: DEVICE_A,
    hlc: at,
    data: { name: `location ${i}`, path: i % 2 ? `/data/${i}` : null },
  });

  it('upgrades a v3 schema: sig columns added without a rewrite, rows kept and read back unsigned, new ones signed', async () => {
    await requirePostgres();
    const schema = newSchema();
    // A v3 schema as the previous release left it: migrations 1-3, and model tables as its
    // record store created them (no hw_sig), with some data.
    const db = PgDatabase.fromOptions({ connectionString: PG_URL, schema });
    try {
      expect(await migrateSchema(db, SCHEMA_MIGRATIONS.filter((m) => m.version <= 3))).toBe(3);
    } finally {
      await db.close();
    }
    const q = (name: string): string => `"${schema}"."${name}"`;
    await adminQuery(`
      CREATE TABLE ${q('location')} ("uuid" TEXT COLLATE "C" PRIMARY KEY, "name" TEXT NOT NULL, "path" TEXT, hw_owner TEXT COLLATE "C" NOT NULL, hw_hlc TEXT COLLATE "C" NOT NULL);
      CREATE INDEX "location_hw_hlc" ON ${q('location')} (hw_hlc, "uuid");
      CREATE INDEX "location_hw_owner_hlc" ON ${q('location')} (hw_owner, hw_hlc, "uuid");
      CREATE TABLE ${q('tag')} ("id" TEXT COLLATE "C" PRIMARY KEY, "name" TEXT NOT NULL, "color" TEXT, hw_owner TEXT COLLATE "C" NOT NULL, hw_hlc TEXT COLLATE "C" NOT NULL);
      CREATE INDEX "tag_hw_hlc" ON ${q('tag')} (hw_hlc, "id");
      CREATE INDEX "tag_hw_owner_hlc" ON ${q('tag')} (hw_owner, hw_hlc, "id");
      CREATE TABLE ${q('volume')} ("uuid" TEXT COLLATE "C" PRIMARY KEY, "name" TEXT NOT NULL, "capacity" BIGINT NOT NULL, hw_owner TEXT COLLATE "C" NOT NULL, hw_hlc TEXT COLLATE "C" NOT NULL);
      CREATE INDEX "volume_hw_hlc" ON ${q('volume')} (hw_hlc, "uuid");
      CREATE INDEX "volume_hw_owner_hlc" ON ${q('volume')} (hw_owner, hw_hlc, "uuid");
    `);
    const old = Array.from({ length: 300 }, (_, i) => location(i));
    await adminQuery(`INSERT INTO ${q('location')} ("uuid", "name", "path", hw_owner, hw_hlc) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`, [
      old.map((r) => r.id),
      old.map((r) => r.data['name']),
      old.map((r) => r.data['path']),
      old.map((r) => r.ownerDeviceId),
      old.map((r) => formatHlc(r.hlc)),
    ]);
    await adminQuery(`INSERT INTO ${q('tag')} VALUES ('t1', 'one', 'red', $1, $2)`, [DEVICE_B, formatHlc(hlc(1, 0, DEVICE_B))]);
    await adminQuery(`INSERT INTO ${q('volume')} VALUES ('vol-1', 'disk', 1000, $1, $2)`, [DEVICE_A, formatHlc(hlc(2))]);
    await adminQuery(`INSERT INTO ${q('tombstones')} (model, record_id, owner_device_id, hlc) VALUES ('entry', 'e1', $1, $2)`, [DEVICE_A, formatHlc(hlc(3))]);
    await adminQuery(`INSERT INTO ${q('shared_changes')} (hlc, origin_device_id, model, record_id, op, data) VALUES ($1, $2, 'tag', 't1', 'upsert', '{"name":"one","color":"red"}')`, [
      formatHlc(hlc(1, 0, DEVICE_B)),
      DEVICE_B,
    ]);
    await adminQuery(`INSERT INTO ${q('parked_changes')} (model, record_id, hlc, owner_device_id, data) VALUES ('entry', 'e9', $1, $2, '{"parentId":"p"}')`, [
      formatHlc(hlc(4)),
      DEVICE_A,
    ]);
    const filesBefore = await relfilenodes(schema);

    // `volume` is not registered on this open: its table is left as it is.
    const registry = new ModelRegistry(testModels.filter((m) => m.name === 'location' || m.name === 'tag'));
    const storage = await track(createPostgresStorage({ connectionString: PG_URL, schema, registry }));
    const versions = await adminQuery<{ version: number }>(`SELECT version FROM "${schema}".${MIGRATIONS_TABLE} ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual(SCHEMA_MIGRATIONS.map((m) => m.version));
    expect(await columnsOf(schema, 'tombstones')).toEqual(['model text not null', 'record_id text not null', 'owner_device_id text not null', 'hlc text not null', 'sig text']);
    expect((await columnsOf(schema, 'shared_changes')).at(-1)).toBe('sig text');
    expect((await columnsOf(schema, 'parked_changes')).at(-1)).toBe('sig text');
    expect(await columnsOf(schema, 'location')).toEqual(['uuid text not null', 'name text not null', 'path text', 'hw_owner text not null', 'hw_hlc text not null', 'hw_sig text']);
    expect((await columnsOf(schema, 'tag')).at(-1)).toBe('hw_sig text');
    expect((await columnsOf(schema, 'volume')).at(-1)).toBe('hw_hlc text not null');
    // Added to the catalog only: no table or index was rewritten (later migrations add tables).
    expect(await relfilenodes(schema)).toMatchObject(filesBefore);

    // The old rows, unsigned, everything else as stored.
    const { syncStore, recordStore } = storage;
    expect(await recordStore.count('location')).toBe(300);
    expectSameWithSigs(await recordStore.page('location', { limit: 1000 }), old);
    expectSameWithSigs(await recordStore.getMany('tag', ['t1']), [{ id: 't1', ownerDeviceId: DEVICE_B, hlc: hlc(1, 0, DEVICE_B), data: { name: 'one', color: 'red' } }]);
    expectSameWithSigs((await syncStore.getTombstones('entry', ['e1'])).get('e1'), { model: 'entry', recordId: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(3) });
    expectSameWithSigs(await syncStore.sharedChangesSince({ after: null, limit: 10 }), [
      { hlc: hlc(1, 0, DEVICE_B), model: 'tag', recordId: 't1', op: 'upsert', data: { name: 'one', color: 'red' } },
    ]);
    expectSameWithSigs(await syncStore.listParkedChanges(), [{ model: 'entry', recordId: 'e9', ownerDeviceId: DEVICE_A, hlc: hlc(4), data: { parentId: 'p' } }]);

    // A newer signed version replaces an old row, signature and all; new rows are signed too.
    const resigned = { ...location(7, hlc(500)), sig: testSig('loc-7') };
    const fresh = { ...location(300, hlc(301)), sig: testSig('loc-300') };
    expect(await recordStore.applyBatch('location', { upserts: [resigned, fresh] })).toEqual({ upserted: 2, deleted: 0, unchanged: 0 });
    expectSameWithSigs(await recordStore.getMany('location', ['loc-007', 'loc-008', 'loc-300']).then((r) => r.sort((a, b) => (a.id < b.id ? -1 : 1))), [resigned, old[8], fresh]);
    const tombstone = { model: 'entry', recordId: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(30), sig: testSig('e1') };
    await syncStore.putTombstones([tombstone]);
    expectSameWithSigs(await syncStore.tombstonesAfter('entry', { limit: 10 }), [tombstone]);

    // Registered later, `volume` gains hw_sig when the record store opens.
    const all = await track(PostgresRecordStore.open({ connectionString: PG_URL, schema, registry: new ModelRegistry(testModels) }));
    expect((await columnsOf(schema, 'volume')).at(-1)).toBe('hw_sig text');
    expectSameWithSigs(await all.getMany('volume', ['vol-1']), [{ id: 'vol-1', ownerDeviceId: DEVICE_A, hlc: hlc(2), data: { name: 'disk', capacity: 1000 } }]);
    expectSameWithSigs(await all.page('location', { afterHlc: hlc(299), limit: 10 }), [fresh, resigned]);
  });

  it('creates model tables with hw_sig beside hw_owner and hw_hlc', async () => {
    await requirePostgres();
    const schema = newSchema();
    await track(PostgresRecordStore.open({ connectionString: PG_URL, schema, registry }));
    expect(await columnsOf(schema, 'tag')).toEqual(['id text not null', 'name text not null', 'color text', 'hw_owner text not null', 'hw_hlc text not null', 'hw_sig text']);
  });
});

describe('invalid configuration', () => {
  it('refuses invalid schema names before connecting', async () => {
    for (const schema of ['', 'Photos', '1lib', 'pg_catalog', 'a-b', 'x'.repeat(64), 'lib"; DROP TABLE x; --']) {
      await expect(PostgresSyncStore.open({ connectionString: PG_URL, schema })).rejects.toBeInstanceOf(StorageError);
    }
  });

  it('refuses a model whose table would clash with the sync tables', async () => {
    await requirePostgres();
    const clash = new ModelRegistry([{ name: 'tombstones', ownership: 'shared', key: 'id', fields: {} }]);
    const schema = newSchema();
    await expect(PostgresRecordStore.open({ connectionString: PG_URL, schema, registry: clash })).rejects.toThrow(/uses table "tombstones"/);
  });

  it('reports an unreachable server as StorageError with the cause', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/test';
    const failure = PostgresSyncStore.open({ connectionString: url, schema: 'hw_unreachable' });
    await expect(failure).rejects.toBeInstanceOf(StorageError);
    await expect(failure).rejects.toThrow(/ECONNREFUSED/);
    await expect(failure).rejects.toHaveProperty('cause');
  });

  it('test helper: an unreachable server fails (never skips) with the command that starts it', async () => {
    await expect(requirePostgres('postgres://postgres@127.0.0.1:1/test')).rejects.toThrow(
      /PostgreSQL is not reachable at postgres:\/\/postgres@127\.0\.0\.1:1\/test: start it with `pg_ctlcluster --skip-systemctl-redirect 15 main start` \(or set PG_URL\)/,
    );
  });
});

describe('pools', () => {
  it('never ends a pool it was given; ends the one it created', async () => {
    await requirePostgres();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const schema = newSchema();
    let storage: PostgresStorage | undefined;
    try {
      storage = await createPostgresStorage({ pool, schema, registry });
      await storage.syncStore.setSyncState('k', 'v');
      await storage.close();
      await expect(storage.syncStore.getSyncState('k')).rejects.toThrow(/closed/);
      // The application's pool still works, and int8 parsing did not leak into it.
      expect((await pool.query<{ n: unknown }>('SELECT count(*) AS n FROM pg_namespace')).rows[0]!.n).toEqual(expect.any(String));
      const again = await createPostgresStorage({ pool, schema, registry });
      expect(await again.syncStore.getSyncState('k')).toBe('v');
      await again.close();
    } finally {
      await pool.end();
    }
  });
});

expectNoLeftoverSchemas();
