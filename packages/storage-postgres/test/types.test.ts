import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ModelRegistry, type ModelDefinition, type RecordCursor, type SyncRecord } from '@highwater/core';
import { DEVICE_A, hlc } from '@highwater/core/testing';
import { createPostgresStorage, type PostgresStorage } from '@highwater/storage-postgres';
import { adminQuery, dropSchema, expectNoLeftoverSchemas, PG_URL, requirePostgres, uniqueSchema } from './pg-test-helper.js';

const sample: ModelDefinition = {
  name: 'sample',
  ownership: 'device',
  key: 'id',
  fields: {
    label: { type: 'text', nullable: true },
    count: { type: 'integer', nullable: true },
    ratio: { type: 'real', nullable: true },
    flag: { type: 'boolean', nullable: true },
    doc: { type: 'json', nullable: true },
    parentId: { type: 'text', nullable: true, references: 'sample' },
  },
};
const registry = new ModelRegistry([sample]);

/** JS string order (UTF-16 code units), which equals byte order for these ASCII keys. */
const jsOrder = (keys: readonly string[]): string[] => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Keys whose locale order differs from byte order: case, punctuation, digits. */
const MIXED_KEYS = ['a', 'B', 'b', 'A', '_x', '-x', '.x', 'Z', 'z', 'a-b', 'a_b', 'a.b', 'aB', 'ab', 'AB', '0', '9', '~', 'a b', 'a:b', 'Zebra', 'apple', 'Apple'];

let storage: PostgresStorage;
let schema: string;

beforeEach(async () => {
  await requirePostgres();
  schema = uniqueSchema();
  storage = await createPostgresStorage({ connectionString: PG_URL, schema, registry });
});

afterEach(async () => {
  await storage?.close();
  await dropSchema(schema);
});

function record(id: string, data: Record<string, unknown>, at = hlc(1)): SyncRecord {
  return { id, ownerDeviceId: DEVICE_A, hlc: at, data: { label: null, count: null, ratio: null, flag: null, doc: null, parentId: null, ...data } };
}

async function readBack(records: readonly SyncRecord[]): Promise<SyncRecord[]> {
  await storage.recordStore.applyBatch('sample', { upserts: records });
  const got = await storage.recordStore.getMany('sample', records.map((r) => r.id));
  return jsOrder(records.map((r) => r.id)).map((id) => got.find((r) => r.id === id)!);
}

describe('field types round-trip exactly', () => {
  it('integers, including big ones, come back as numbers', async () => {
    const values = [0, 1, -1, 1.7e12, 1_790_000_000_123, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 31, -(2 ** 31) - 1];
    const records = values.map((count, i) => record(`i${String(i).padStart(2, '0')}`, { count }));
    const got = await readBack(records);
    expect(got).toEqual(records);
    expect(got.every((r) => typeof r.data['count'] === 'number')).toBe(true);
    expect(typeof (await storage.recordStore.count('sample'))).toBe('number');
  });

  it('reals keep every bit, including -0 and the extremes', async () => {
    const values = [0.1, 1 / 3, -2.5, 1e-300, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.EPSILON, 123456789.123456789, -0, 0, 1e21];
    const records = values.map((ratio, i) => record(`r${String(i).padStart(2, '0')}`, { ratio }));
    const got = await readBack(records);
    expect(got).toEqual(records);
    expect(Object.is(got[values.indexOf(-0)]!.data['ratio'], -0)).toBe(true);
  });

  it('booleans and nulls', async () => {
    const records = [record('b1', { flag: true }), record('b2', { flag: false }), record('b3', {})];
    expect(await readBack(records)).toEqual(records);
  });

  it('text with quotes, backslashes, newlines and non-ASCII characters', async () => {
    const labels = ['', "it's", 'say "hi"', 'back\\slash', 'line\nbreak\ttab', 'héllo wörld', '日本語', 'emoji 🎉', '{"not":"json"}', 'NULL'];
    const records = labels.map((label, i) => record(`t${i}`, { label }));
    expect(await readBack(records)).toEqual(records);
  });

  it('JSON comes back with its key order, nesting and value types, stored byte-identical to JSON.stringify', async () => {
    const docs = [
      { z: 1, a: { y: [1, 2, { b: 1, a: 2 }], x: null }, m: 'text', '10': 'numeric key last?', '2': 'x' },
      [3, 'two', { one: 1 }, [], {}],
      'a plain string',
      42.5,
      true,
      { deep: { deeper: { deepest: { list: [[[]]], big: 1.7e12, neg: -0.5, unicode: 'ü🎉', escaped: 'quote " backslash \\ nul \u0000' } } } },
    ];
    const records = docs.map((doc, i) => record(`j${i}`, { doc }));
    const got = await readBack(records);
    expect(got).toEqual(records);
    // Key order is not part of toEqual: compare the serialised form too.
    expect(got.map((r) => JSON.stringify(r.data['doc']))).toEqual(docs.map((d) => JSON.stringify(d)));
    const raw = await adminQuery<{ id: string; doc: string }>(`SELECT id, doc::text AS doc FROM "${schema}".sample ORDER BY id`);
    expect(raw.map((r) => r.doc)).toEqual(docs.map((d) => JSON.stringify(d)));
  });

  it('metrics and shared-change data (JSON in the sync store) keep their key order too', async () => {
    const metrics = { zeta: 1, alpha: { y: 2, b: [3] } };
    await storage.syncStore.saveMetricsSnapshot({ takenAt: 1, libraryId: 'lib', metrics });
    const [snapshot] = await storage.syncStore.listMetricsSnapshots(1);
    expect(JSON.stringify(snapshot!.metrics)).toBe(JSON.stringify(metrics));
    const data = { z: 'last first', a: null };
    await storage.syncStore.appendSharedChanges([{ hlc: hlc(1), model: 'tag', recordId: 't', op: 'upsert', data }]);
    const [change] = await storage.syncStore.sharedChangesSince({ after: null, limit: 1 });
    expect(JSON.stringify(change!.data)).toBe(JSON.stringify(data));
  });
});

describe('byte order (COLLATE "C") of keys and clocks', () => {
  it('the test keys really do sort differently under a locale collation', async () => {
    // Guards the next tests: with keys that sort the same either way they would prove nothing.
    const rows = await adminQuery<{ k: string }>('SELECT k FROM unnest($1::text[]) AS k ORDER BY k COLLATE "und-x-icu"', [MIXED_KEYS]);
    expect(rows.map((r) => r.k)).not.toEqual(jsOrder(MIXED_KEYS));
  });

  it('pages records with tied HLCs in JS string order of their keys', async () => {
    await storage.recordStore.applyBatch('sample', { upserts: MIXED_KEYS.map((id) => record(id, {}, hlc(7))) });
    const seen: string[] = [];
    let after: RecordCursor | null = null;
    for (;;) {
      const page: SyncRecord[] = await storage.recordStore.page('sample', { after, limit: 4 });
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.id));
      after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
    }
    expect(seen).toEqual(jsOrder(MIXED_KEYS));
  });

  it('orders HLCs whose device ids differ by case in byte order, in records and tombstones', async () => {
    const devices = ['device-a', 'Device-b', 'DEVICE-c', 'device_d', 'device.e', 'device-A'];
    const clocks = devices.map((d) => hlc(5, 0, d));
    const formatted = jsOrder(devices);
    await storage.recordStore.applyBatch('sample', { upserts: devices.map((d, i) => ({ ...record(`k${i}`, {}), ownerDeviceId: d, hlc: clocks[i]! })) });
    const byHlc = await storage.recordStore.page('sample', { limit: 100 });
    expect(byHlc.map((r) => r.hlc.deviceId)).toEqual(formatted);
    // After a watermark: only the clocks greater in byte order.
    const afterWatermark = await storage.recordStore.page('sample', { afterHlc: hlc(5, 0, 'Device-b'), limit: 100 });
    expect(afterWatermark.map((r) => r.hlc.deviceId)).toEqual(formatted.filter((d) => d > 'Device-b'));
    await storage.syncStore.putTombstones(devices.map((d, i) => ({ model: 'sample', recordId: MIXED_KEYS[i]!, ownerDeviceId: d, hlc: clocks[i]! })));
    const tombstones = await storage.syncStore.tombstonesAfter('sample', { limit: 100 });
    expect(tombstones.map((t) => t.hlc.deviceId)).toEqual(formatted);
  });

  it('declares COLLATE "C" on every key, owner, HLC and record-id column', async () => {
    const rows = await adminQuery<{ table_name: string; column_name: string; collation_name: string | null }>(
      `SELECT table_name, column_name, collation_name FROM information_schema.columns
        WHERE table_schema = $1 AND data_type = 'text' ORDER BY table_name, column_name`,
      [schema],
    );
    const collation = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r.collation_name]));
    const mustBeC = [
      'sample.id',
      'sample.hw_owner',
      'sample.hw_hlc',
      'sample.parentId',
      'device_resource_watermarks.last_watermark',
      'device_resource_watermarks.owner_device_id',
      'backfill_checkpoints.resume_hlc',
      'backfill_checkpoints.resume_id',
      'shared_changes.hlc',
      'shared_changes.record_id',
      'peer_acks.last_acked_hlc',
      'tombstones.hlc',
      'tombstones.record_id',
    ];
    expect(mustBeC.map((c) => [c, collation.get(c)])).toEqual(mustBeC.map((c) => [c, 'C']));
  });
});

expectNoLeftoverSchemas();
