import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { compareHlc, formatHlc, ModelRegistry, type Hlc, type SharedChange, type SyncRecord, type Tombstone } from '@highwater/core';
import { DEVICE_A, DEVICE_B, entryRecord, hlc, tagRecord, testModels } from '@highwater/core/testing';
import { PostgresRecordStore, PostgresSyncStore } from '@highwater/storage-postgres';
import { dropSchema, expectNoLeftoverSchemas, PG_URL, requirePostgres, shuffled, uniqueSchema } from './pg-test-helper.js';

// Two stores with two separate pools on one schema stand for two processes sharing the
// database: nothing is shared between them but the server.

const maxOf = (values: readonly Hlc[]): Hlc => values.reduce((a, b) => (compareHlc(a, b) >= 0 ? a : b));

/** 300 distinct clocks spread over time, counter and device (ties on time included). */
const CLOCKS: readonly Hlc[] = Array.from({ length: 300 }, (_, i) => hlc(1000 + (i % 97), i % 5, i % 2 ? DEVICE_A : DEVICE_B));

describe('two processes on one schema', () => {
  let schema: string;
  let one: PostgresSyncStore;
  let two: PostgresSyncStore;

  beforeEach(async () => {
    await requirePostgres();
    schema = uniqueSchema();
    [one, two] = await Promise.all([
      PostgresSyncStore.open({ connectionString: PG_URL, schema, poolSize: 8 }),
      PostgresSyncStore.open({ connectionString: PG_URL, schema, poolSize: 8 }),
    ]);
  });

  afterEach(async () => {
    await Promise.all([one?.close(), two?.close()]);
    await dropSchema(schema);
  });

  it('advances one watermark to the maximum, never losing the larger value', async () => {
    const order = shuffled(CLOCKS, 1);
    const moved = await Promise.all(order.map((h, i) => (i % 2 ? one : two).advanceWatermark(DEVICE_A, 'entry', h)));
    expect(await one.getWatermark(DEVICE_A, 'entry')).toEqual(maxOf(CLOCKS));
    expect(await two.getWatermark(DEVICE_A, 'entry')).toEqual(maxOf(CLOCKS));
    // The maximum always moves it (nothing larger exists), so at least one call reported a move.
    expect(moved[order.findIndex((h) => compareHlc(h, maxOf(CLOCKS)) === 0)]).toBe(true);
  });

  it('advances one stream of a peer ack to the maximum', async () => {
    const order = shuffled(CLOCKS, 2);
    const moved = await Promise.all(
      order.map((h, i) => (i % 3 ? one : two).recordAcks(DEVICE_B, [{ owner: DEVICE_A, resource: 'entry', hlc: h }], 1000 + i)),
    );
    expect((await two.listAcks()).map((a) => [a.peerDeviceId, a.owner, a.resource, a.hlc])).toEqual([[DEVICE_B, DEVICE_A, 'entry', maxOf(CLOCKS)]]);
    expect(moved[order.findIndex((h) => compareHlc(h, maxOf(CLOCKS)) === 0)]).toBe(1);
  });

  it('advances every stream of several-stream acks to its maximum, streams named in opposite orders', async () => {
    // Each call names every stream; the two processes list them in opposite orders, which
    // deadlocks unless rows are written in a fixed order.
    const resources = ['entry', 'location', 'tag', 'volume'];
    const owners = [DEVICE_A, DEVICE_B];
    const streams = owners.flatMap((owner) => resources.map((resource) => ({ owner, resource })));
    const calls = shuffled(CLOCKS, 4).slice(0, 80).map((h, i) => {
      const acks = streams.map((s, k) => ({ ...s, hlc: CLOCKS[(CLOCKS.indexOf(h) + k * 37) % CLOCKS.length]! }));
      return { store: i % 2 ? one : two, acks: i % 2 ? acks : [...acks].reverse() };
    });
    const moved = await Promise.all(calls.map((c, i) => c.store.recordAcks('device-c', c.acks, i)));
    expect(moved.every((n) => n >= 0 && n <= streams.length)).toBe(true);
    const listed = await one.listAcks();
    expect(listed.map((a) => [a.owner, a.resource])).toEqual(streams.map((s) => [s.owner, s.resource]));
    for (const ack of listed) {
      const sent = calls.flatMap((c) => c.acks.filter((a) => a.owner === ack.owner && a.resource === ack.resource).map((a) => a.hlc));
      expect(ack.hlc).toEqual(maxOf(sent));
    }
  });

  it('keeps the highest tombstone per record when both write overlapping batches', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `e${String(i).padStart(3, '0')}`);
    const all: Tombstone[] = CLOCKS.map((h, i) => ({ model: 'entry', recordId: ids[i % ids.length]!, ownerDeviceId: DEVICE_A, hlc: h }));
    const batches = Array.from({ length: 20 }, (_, b) => shuffled(all, 10 + b).slice(0, 60));
    await Promise.all(batches.map((batch, b) => (b % 2 ? one : two).putTombstones(batch)));
    const written = batches.flat();
    const found = await one.getTombstones('entry', ids);
    for (const id of ids) {
      const candidates = written.filter((t) => t.recordId === id).map((t) => t.hlc);
      if (candidates.length === 0) expect(found.has(id)).toBe(false);
      else expect(found.get(id)?.hlc).toEqual(maxOf(candidates));
    }
  });

  it('counts each shared change once when both append the same changes', async () => {
    const changes: SharedChange[] = CLOCKS.map((h, i) => ({ hlc: h, model: 'tag', recordId: `t${i % 30}`, op: 'upsert', data: { name: `v${i}` } }));
    const batches = Array.from({ length: 20 }, (_, b) => shuffled(changes, 100 + b).slice(0, 50));
    const added = await Promise.all(batches.map((batch, b) => (b % 2 ? one : two).appendSharedChanges(batch)));
    const distinct = new Set(batches.flat().map((c) => formatHlc(c.hlc)));
    expect(added.reduce((a, b) => a + b, 0)).toBe(distinct.size);
    expect(await two.countSharedChanges()).toBe(distinct.size);
  });

  it('loses no checkpoint: concurrent saves of different resources all land, each row whole', async () => {
    const resources = Array.from({ length: 30 }, (_, i) => `model_${i}`);
    // Each resource is advanced by one process, page after page; the two processes interleave.
    const writer = (store: PostgresSyncStore, mine: readonly string[]) =>
      Promise.all(
        mine.map(async (resourceType) => {
          for (let page = 1; page <= 10; page++) {
            const cursor = { hlc: hlc(page * 100, 0), id: `${resourceType}-${page}` };
            await store.saveCheckpoint({ ownerDeviceId: DEVICE_A, resourceType, cursor, completed: page === 10, recordsApplied: page * 1000, recordsTotal: 10_000 });
          }
        }),
      );
    await Promise.all([writer(one, resources.filter((_, i) => i % 2 === 0)), writer(two, resources.filter((_, i) => i % 2 === 1))]);
    const listed = await one.listCheckpoints();
    expect(listed.map((c) => c.resourceType)).toEqual([...resources].sort());
    for (const c of listed) {
      expect(c).toMatchObject({ cursor: { hlc: hlc(1000, 0), id: `${c.resourceType}-10` }, completed: true, recordsApplied: 10_000 });
    }
  });

  it('leaves one checkpoint row whole when both overwrite it at once', async () => {
    const saves = Array.from({ length: 100 }, (_, i) => ({
      ownerDeviceId: DEVICE_A,
      resourceType: 'entry',
      cursor: { hlc: hlc(i, 0), id: `entry-${i}` },
      completed: i % 2 === 0,
      recordsApplied: i * 10,
      recordsTotal: i,
    }));
    await Promise.all(shuffled(saves, 3).map((s, i) => (i % 2 ? one : two).saveCheckpoint(s)));
    // Checkpoints are plain upserts (last writer wins), so which save survives is up to the
    // race; what must hold is that the row is exactly one of them, never a mix of two.
    const loaded = await one.loadCheckpoint(DEVICE_A, 'entry');
    const { updatedAt: _updatedAt, ...row } = loaded!;
    expect(saves).toContainEqual(row);
  });
});

describe('two processes applying overlapping record batches', () => {
  const registry = new ModelRegistry(testModels);
  let schema: string;
  let one: PostgresRecordStore;
  let two: PostgresRecordStore;

  beforeEach(async () => {
    await requirePostgres();
    schema = uniqueSchema();
    [one, two] = await Promise.all([
      PostgresRecordStore.open({ connectionString: PG_URL, schema, registry, poolSize: 8 }),
      PostgresRecordStore.open({ connectionString: PG_URL, schema, registry, poolSize: 8 }),
    ]);
  });

  afterEach(async () => {
    await Promise.all([one?.close(), two?.close()]);
    await dropSchema(schema);
  });

  /** Batches of versions of `count` records, shuffled and split between the two stores. */
  async function applyConcurrently(model: string, versions: readonly SyncRecord[], seed: number): Promise<void> {
    const order = shuffled(versions, seed);
    const batches = Array.from({ length: Math.ceil(order.length / 150) }, (_, b) => order.slice(b * 150, (b + 1) * 150));
    await Promise.all(batches.map((upserts, b) => (b % 2 ? one : two).applyBatch(model, { upserts })));
  }

  function expectHighestWins(stored: readonly SyncRecord[], versions: readonly SyncRecord[]): void {
    const expected = new Map<string, SyncRecord>();
    for (const v of versions) {
      const kept = expected.get(v.id);
      if (!kept || compareHlc(v.hlc, kept.hlc) > 0) expected.set(v.id, v);
    }
    expect(stored.length).toBe(expected.size);
    for (const record of stored) expect(record).toEqual(expected.get(record.id));
  }

  it('ends with the highest HLC per device-owned record', async () => {
    // 200 records, 6 versions each with different clocks (and data that says which).
    const versions = Array.from({ length: 1200 }, (_, i) => {
      const version = Math.floor(i / 200);
      const at = hlc(500 + ((version * 7) % 6) * 10 + (i % 3), version, DEVICE_A);
      return entryRecord(i % 200, at, DEVICE_A, { name: `v${version}`, size: version });
    });
    await applyConcurrently('entry', versions, 7);
    const stored = await one.getMany('entry', versions.slice(0, 200).map((r) => r.id));
    expectHighestWins(stored, versions);
    expect(await two.count('entry')).toBe(200);
  });

  it('ends with the highest HLC per shared record, whichever device wrote it', async () => {
    const devices = [DEVICE_A, DEVICE_B, 'device-c'];
    const versions = Array.from({ length: 900 }, (_, i) => tagRecord(`tag-${i % 150}`, `v${i}`, hlc(100 + (i % 11), i % 4, devices[i % 3]!)));
    await applyConcurrently('tag', versions, 11);
    const stored = await two.getMany('tag', [...new Set(versions.map((v) => v.id))]);
    expectHighestWins(stored, versions);
  });

  it('does not fail on lock-order deadlocks: the same keys written in opposite orders at once', async () => {
    // Without a fixed row order (or a retry) the two transactions each lock half the rows
    // and wait for the other's half, and Postgres aborts one with a deadlock error.
    const ids = Array.from({ length: 400 }, (_, i) => i);
    for (let round = 0; round < 5; round++) {
      const forward = ids.map((i) => entryRecord(i, hlc(10 * round + 1, 0), DEVICE_A, { name: `forward ${round}` }));
      const backward = [...ids].reverse().map((i) => entryRecord(i, hlc(10 * round + 2, 0), DEVICE_A, { name: `backward ${round}` }));
      const results = await Promise.all([one.applyBatch('entry', { upserts: forward }), two.applyBatch('entry', { upserts: backward })]);
      expect(results[1].upserted).toBe(400);
    }
    const stored = await one.page('entry', { limit: 1000 });
    expect(new Set(stored.map((r) => r.data['name']))).toEqual(new Set(['backward 4']));
  });
});

expectNoLeftoverSchemas();
