import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ModelRegistry, type RecordDeletion, type SyncRecord } from '@highwater/core';
import { DEVICE_A, DEVICE_B, entryRecord, hlc, tagRecord, testModels } from '@highwater/core/testing';
import { PostgresRecordStore } from '@highwater/storage-postgres';
import { dropSchema, expectNoLeftoverSchemas, PG_URL, randomInts, requirePostgres, uniqueSchema } from './pg-test-helper.js';

// Bulk apply sends each batch as a few multi-row statements, which may not touch one row
// twice; these tests pin down that batches holding a key more than once still end exactly
// where applying their changes one at a time ends.

const registry = new ModelRegistry(testModels);
let schemas: string[] = [];
let bulk: PostgresRecordStore;
let oneByOne: PostgresRecordStore;

beforeEach(async () => {
  await requirePostgres();
  schemas = [uniqueSchema(), uniqueSchema()];
  bulk = await PostgresRecordStore.open({ connectionString: PG_URL, schema: schemas[0]!, registry });
  oneByOne = await PostgresRecordStore.open({ connectionString: PG_URL, schema: schemas[1]!, registry });
});

afterEach(async () => {
  await Promise.all([bulk?.close(), oneByOne?.close()]);
  for (const schema of schemas) await dropSchema(schema);
});

async function applySequentially(model: string, upserts: readonly SyncRecord[], deletes: readonly RecordDeletion[]): Promise<void> {
  for (const upsert of upserts) await oneByOne.applyBatch(model, { upserts: [upsert] });
  for (const deletion of deletes) await oneByOne.applyBatch(model, { deletes: [deletion] });
}

async function expectSameState(model: string, ids: readonly string[]): Promise<void> {
  const byId = (a: SyncRecord, b: SyncRecord): number => (a.id < b.id ? -1 : 1);
  const [got, want] = await Promise.all([bulk.getMany(model, ids), oneByOne.getMany(model, ids)]);
  expect(got.sort(byId)).toEqual(want.sort(byId));
}

describe('a batch that names a key more than once', () => {
  it('keeps the highest HLC and counts the lower duplicates as unchanged', async () => {
    const result = await bulk.applyBatch('entry', {
      upserts: [entryRecord(1, hlc(5), DEVICE_A, { name: 'five' }), entryRecord(1, hlc(7), DEVICE_A, { name: 'seven' }), entryRecord(1, hlc(6))],
    });
    expect(result).toEqual({ upserted: 1, deleted: 0, unchanged: 2 });
    expect((await bulk.getMany('entry', ['entry-000001']))[0]!.data['name']).toBe('seven');
  });

  it('keeps the first of equal HLCs, as one-by-one last-writer-wins does', async () => {
    const upserts = [tagRecord('t', 'first', hlc(5)), tagRecord('t', 'second', hlc(5))];
    await bulk.applyBatch('tag', { upserts });
    await applySequentially('tag', upserts, []);
    await expectSameState('tag', ['t']);
    expect((await bulk.getMany('tag', ['t']))[0]!.data['name']).toBe('first');
  });

  it('does not let a later, higher upsert of another owner take a device-owned record created in the same batch', async () => {
    const upserts = [entryRecord(1, hlc(5, 0, DEVICE_A), DEVICE_A), entryRecord(1, hlc(9, 0, DEVICE_B), DEVICE_B, { name: 'forged' })];
    expect(await bulk.applyBatch('entry', { upserts })).toEqual({ upserted: 1, deleted: 0, unchanged: 1 });
    await applySequentially('entry', upserts, []);
    await expectSameState('entry', ['entry-000001']);
    expect((await bulk.getMany('entry', ['entry-000001']))[0]!.ownerDeviceId).toBe(DEVICE_A);
  });

  it('ends like one-by-one application on random batches with duplicates, owners and deletes', async () => {
    const random = randomInts(42);
    const owners = [DEVICE_A, DEVICE_B];
    for (let round = 0; round < 8; round++) {
      const upserts = Array.from({ length: 300 }, () => {
        const owner = owners[random(2)]!;
        return entryRecord(random(60), hlc(round * 100 + random(40), random(3), owner), owner, { size: random(1000) });
      });
      const tags = Array.from({ length: 300 }, () => tagRecord(`tag-${random(60)}`, `n${random(1000)}`, hlc(round * 100 + random(40), random(3), owners[random(2)]!)));
      const deletes = Array.from({ length: 30 }, () => {
        const owner = owners[random(2)]!;
        return { id: `entry-${String(random(60)).padStart(6, '0')}`, ownerDeviceId: owner, hlc: hlc(round * 100 + random(50), 0, owner) };
      });
      const result = await bulk.applyBatch('entry', { upserts, deletes });
      expect(result.upserted + result.deleted + result.unchanged).toBe(330);
      await bulk.applyBatch('tag', { upserts: tags });
      await applySequentially('entry', upserts, deletes);
      await applySequentially('tag', tags, []);
    }
    await expectSameState('entry', Array.from({ length: 60 }, (_, i) => `entry-${String(i).padStart(6, '0')}`));
    await expectSameState('tag', Array.from({ length: 60 }, (_, i) => `tag-${i}`));
  });

  it('applies a batch larger than one statement, with duplicates across statement boundaries', async () => {
    const records = Array.from({ length: 12_000 }, (_, i) => entryRecord(i % 9000, hlc(i), DEVICE_A, { size: i }));
    expect(await bulk.applyBatch('entry', { upserts: records })).toEqual({ upserted: 9000, deleted: 0, unchanged: 3000 });
    expect(await bulk.count('entry')).toBe(9000);
    const [first] = await bulk.getMany('entry', ['entry-000000']);
    expect(first!.data['size']).toBe(9000);
  });
});

expectNoLeftoverSchemas();
