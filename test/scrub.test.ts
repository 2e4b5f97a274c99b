import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createInProcessNetwork, DeviceKey, type HighwaterError, type InProcessNetwork, type RecordStore, type TrustOptions } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';
import { closePeer, createPeer, eventually, id, locationData, registry, type TestPeer } from './support/library.js';
import { PG_URL, requirePostgres } from './support/postgres.js';

// Issue #20, item 2: a store that loses or alters records. A scrub checks each stored stream
// against its owners' signatures and against its peers' digests at the same watermark, and
// repairs what differs from a peer. Real SQLite files, damaged behind the node's back.

const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate(), 'device-c': DeviceKey.generate() };
type Device = keyof typeof keys;
const devices = (Object.keys(keys) as Device[]).map((deviceId) => ({ deviceId, publicKey: keys[deviceId].publicKey }));
const trustOf = (device: Device): TrustOptions => ({ deviceKey: keys[device], devices });

const RECORDS = 2500;
const allIds = Array.from({ length: RECORDS }, (_, n) => id('loc', n));

/** Every location's (id, HLC, data) a peer holds, in id order. */
async function locationsOf(peer: TestPeer): Promise<string[]> {
  const records = await peer.storage.recordStore.getMany('location', allIds);
  return records.map((r) => `${r.id} ${r.hlc.time}.${r.hlc.counter} ${JSON.stringify(r.data)}`).sort();
}

/** Alters `altered` locations' names and deletes `lost` ones in the SQLite file, as a failing disk could. */
function damage(directory: string, altered: readonly string[], lost: readonly string[]): void {
  const db = new Database(`${directory}/database.db`);
  const alter = db.prepare("UPDATE location SET name = 'garbage' WHERE uuid = ?");
  const remove = db.prepare('DELETE FROM location WHERE uuid = ?');
  for (const recordId of altered) expect(alter.run(recordId).changes).toBe(1);
  for (const recordId of lost) expect(remove.run(recordId).changes).toBe(1);
  db.close();
}

describe('scrub: finding and repairing what a store lost or altered', () => {
  let network: InProcessNetwork;
  const peers: TestPeer[] = [];
  const start = async (device: Device, options: { trusted: boolean; directory?: string; errors?: HighwaterError[] }): Promise<TestPeer> => {
    const peer = await createPeer(network, device, { ...(options.trusted ? { trust: trustOf(device) } : {}), ...(options.directory ? { directory: options.directory } : {}), scrubIntervalMs: 0 });
    peers.push(peer);
    if (options.errors) peer.node.errors$.subscribe((e) => options.errors!.push(e));
    await peer.node.start();
    return peer;
  };
  /** A, B and C in a line, all holding A's RECORDS locations. */
  const threeInSync = async (trusted: boolean): Promise<[TestPeer, TestPeer, TestPeer]> => {
    network = createInProcessNetwork();
    const a = await start('device-a', { trusted });
    const b = await start('device-b', { trusted });
    const c = await start('device-c', { trusted });
    await a.node.write('location', allIds.map((recordId, n) => ({ id: recordId, data: locationData(n) })));
    network.connect('device-a', 'device-b');
    network.connect('device-b', 'device-c');
    network.connect('device-a', 'device-c');
    for (const p of [b, c]) await eventually(async () => (await p.storage.recordStore.count('location', 'device-a')) === RECORDS, `${p.deviceId} holds A’s locations`);
    return [a, b, c];
  };
  const restart = async (peer: TestPeer, trusted: boolean, errors?: HighwaterError[]): Promise<TestPeer> => {
    peers.splice(peers.indexOf(peer), 1);
    await closePeer(peer, false);
    return start(peer.deviceId as Device, { trusted, directory: peer.directory, ...(errors ? { errors } : {}) });
  };

  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('with trust: damaged records are found by their signatures, lost ones by the digests, and both are repaired from a peer', async () => {
    const [a, b] = await threeInSync(true);
    const expected = await locationsOf(a);
    const altered = [id('loc', 7), id('loc', 1200), id('loc', 2499)];
    const lost = [id('loc', 0), id('loc', 1500)];
    await closePeer(b, false);
    peers.splice(peers.indexOf(b), 1);
    damage(b.directory, altered, lost);
    const errors: HighwaterError[] = [];
    const damaged = await start('device-b', { trusted: true, directory: b.directory, errors });
    network.connect('device-a', 'device-b');
    network.connect('device-b', 'device-c');
    await eventually(() => damaged.node.state === 'ready', 'B is ready');
    expect(await damaged.storage.recordStore.count('location', 'device-a')).toBe(RECORDS - lost.length);

    const report = await damaged.node.scrub();
    expect(report.damaged).toEqual([{ owner: 'device-a', resource: 'location', ids: [...altered].sort() }]);
    expect(report.diverged.map((d) => `${d.resource}/${d.owner} vs ${d.device}`).sort()).toEqual(['location/device-a vs device-a', 'location/device-a vs device-c']);
    expect(report.repaired).toHaveLength(1);
    expect(report.repaired[0]).toMatchObject({ owner: 'device-a', resource: 'location', replaced: 3, restored: 2, removed: 0 });
    expect(await locationsOf(damaged)).toEqual(expected);
    expect(errors.filter((e) => e.code === 'HW_STORE_DAMAGED').map((e) => e.message)).toEqual([
      `3 stored location records of device-a are not as their owner signed them (the store altered them): ${[...altered].sort().join(', ')}`,
    ]);

    // Scrubbed again: nothing left to find, every stream compared with both peers.
    const again = await damaged.node.scrub();
    expect(again).toMatchObject({ damaged: [], diverged: [], repaired: [] });
    expect(again.compared).toBeGreaterThanOrEqual(2);
  });

  it('with trust: a byte flipped inside a value in database.db passes quick_check, and a scrub finds and repairs it', async () => {
    const [a, b] = await threeInSync(true);
    const expected = await locationsOf(a);
    await closePeer(b, false);
    peers.splice(peers.indexOf(b), 1);
    const path = `${b.directory}/database.db`;
    const file = readFileSync(path);
    const at = file.indexOf('location 1234');
    expect(at).toBeGreaterThan(0);
    expect(file.indexOf('location 1234', at + 1)).toBe(-1);
    file[at + 'location 123'.length] = '5'.charCodeAt(0); // "location 1234" reads "location 1235"
    writeFileSync(path, file);
    const flipped = await start('device-b', { trusted: true, directory: b.directory });
    expect((await flipped.storage.recordStore.getMany('location', [id('loc', 1234)]))[0]?.data['name']).toBe('location 1235');
    network.connect('device-a', 'device-b');
    const report = await flipped.node.scrub();
    expect(report.damaged).toEqual([{ owner: 'device-a', resource: 'location', ids: [id('loc', 1234)] }]);
    expect(report.repaired).toMatchObject([{ owner: 'device-a', resource: 'location', replaced: 1, restored: 0, removed: 0 }]);
    expect(await locationsOf(flipped)).toEqual(expected);
  });

  it('with trust: a record its owner writes again while the scrub reads the stream keeps the new version (the repair puts back only what was)', async () => {
    const [a, b] = await threeInSync(true);
    await closePeer(b, false);
    peers.splice(peers.indexOf(b), 1);
    const target = id('loc', 42);
    damage(b.directory, [target], []);
    // B's store, watched: the scrub's first look at the target record waits for A's new write of it to land.
    let armed = false;
    let rewritten: Promise<void> | null = null;
    const peer = await createPeer(network, 'device-b', {
      trust: trustOf('device-b'),
      directory: b.directory,
      scrubIntervalMs: 0,
      wrapStorage: ({ syncStore, recordStore }) => ({
        syncStore,
        recordStore: new Proxy(recordStore, {
          get: (store, prop) =>
            prop === 'getMany'
              ? async (model: string, ids: readonly string[]) => {
                  if (armed && model === 'location' && ids.includes(target)) {
                    armed = false;
                    rewritten = (async () => {
                      await a.node.write('location', [{ id: target, data: { name: 'written again', path: '/again' } }]);
                      await eventually(async () => (await store.getMany('location', [target]))[0]?.data['name'] === 'written again', 'B applies the new write');
                    })();
                    await rewritten;
                  }
                  return store.getMany(model, ids);
                }
              : Reflect.get(store, prop).bind(store),
        }),
      }),
    });
    peers.push(peer);
    await peer.node.start();
    network.connect('device-a', 'device-b');
    await eventually(() => peer.node.state === 'ready', 'B is ready');
    armed = true;
    const report = await peer.node.scrub();
    expect(rewritten).not.toBeNull();
    expect(report.damaged).toEqual([{ owner: 'device-a', resource: 'location', ids: [target] }]);
    const [record] = await peer.storage.recordStore.getMany('location', [target]);
    expect(record?.data).toEqual({ name: 'written again', path: '/again' });
    expect(record).toEqual((await a.storage.recordStore.getMany('location', [target]))[0]);
  });

  it('with trust: a peer whose copy is damaged too is refused as a source; the repair comes from the other', async () => {
    const [a, b, c] = await threeInSync(true);
    const expected = await locationsOf(a);
    await closePeer(a, false);
    peers.splice(peers.indexOf(a), 1);
    for (const p of [b, c]) {
      await closePeer(p, false);
      peers.splice(peers.indexOf(p), 1);
    }
    damage(b.directory, [id('loc', 10)], []);
    damage(c.directory, [id('loc', 20)], []);
    const b2 = await start('device-b', { trusted: true, directory: b.directory });
    const c2 = await start('device-c', { trusted: true, directory: c.directory });
    network.connect('device-b', 'device-c');
    await eventually(() => b2.node.state === 'ready' && c2.node.state === 'ready', 'B and C are ready');
    // C's page holding loc-20 does not verify, so B cannot take its stream from C; A is away.
    const first = await b2.node.scrub();
    expect(first.damaged).toEqual([{ owner: 'device-a', resource: 'location', ids: [id('loc', 10)] }]);
    expect(first.repaired).toEqual([]);
    // A comes back: B is repaired from A, then C from A or B.
    const a2 = await start('device-a', { trusted: true, directory: a.directory });
    network.connect('device-a', 'device-b');
    network.connect('device-a', 'device-c');
    await eventually(() => a2.node.state === 'ready', 'A is ready');
    expect((await b2.node.scrub()).repaired).toMatchObject([{ owner: 'device-a', resource: 'location', replaced: 1, from: 'device-a' }]);
    expect((await c2.node.scrub()).repaired).toMatchObject([{ owner: 'device-a', resource: 'location', replaced: 1 }]);
    expect(await locationsOf(b2)).toEqual(expected);
    expect(await locationsOf(c2)).toEqual(expected);
  });

  it('with trust: shared records are scrubbed too, once every origin’s stream is at the same watermark on both sides', async () => {
    const [a, b, c] = await threeInSync(true);
    const tags = (owner: TestPeer, from: number) => owner.node.write('tag', Array.from({ length: 40 }, (_, n) => ({ id: `tag-${from + n}`, data: { name: `tag ${from + n}`, color: null } })));
    await tags(a, 0);
    await tags(c, 40);
    // Some of C's tags written over by A: their rows are A's now.
    await a.node.write('tag', [{ id: 'tag-41', data: { name: 'renamed by a', color: 'red' } }]);
    const tagIds = Array.from({ length: 80 }, (_, n) => `tag-${n}`);
    const tagsOf = async (p: TestPeer) => (await p.storage.recordStore.getMany('tag', tagIds)).map((r) => `${r.id} ${r.ownerDeviceId} ${JSON.stringify(r.data)}`).sort();
    await eventually(async () => {
      const [ofA, ofB, ofC] = [await tagsOf(a), await tagsOf(b), await tagsOf(c)];
      return ofA.length === 80 && ofA.some((t) => t.includes('renamed by a')) && JSON.stringify(ofB) === JSON.stringify(ofA) && JSON.stringify(ofC) === JSON.stringify(ofA);
    }, 'A, B and C hold every tag alike');
    const expected = await tagsOf(a);
    await eventually(() => ['device-a', 'device-c'].every((origin) => JSON.stringify(b.node.watermarks().find((w) => w.owner === origin && w.resource === 'tag')?.hlc) === JSON.stringify(a.node.watermarks().find((w) => w.owner === origin && w.resource === 'tag')?.hlc)), 'B’s tag watermarks reach A’s');
    await closePeer(b, false);
    peers.splice(peers.indexOf(b), 1);
    const db = new Database(`${b.directory}/database.db`);
    expect(db.prepare("UPDATE tag SET name = 'garbage' WHERE id IN ('tag-3', 'tag-41')").run().changes).toBe(2);
    expect(db.prepare("DELETE FROM tag WHERE id = 'tag-50'").run().changes).toBe(1);
    db.close();
    const damaged = await start('device-b', { trusted: true, directory: b.directory });
    network.connect('device-a', 'device-b');
    network.connect('device-b', 'device-c');
    await eventually(() => damaged.node.state === 'ready', 'B is ready');
    const report = await damaged.node.scrub();
    expect(report.damaged).toEqual([{ owner: 'device-a', resource: 'tag', ids: ['tag-3', 'tag-41'] }]);
    expect(report.repaired.filter((r) => r.resource === 'tag').map((r) => `${r.owner} ${r.replaced} ${r.restored}`).sort()).toEqual(['device-a 2 0', 'device-c 0 1']);
    expect(await tagsOf(damaged)).toEqual(expected);
  });

  it('without trust: a divergence is repaired from the stream’s owner only; with the owner away it is reported', async () => {
    const [a, b, c] = await threeInSync(false);
    const expected = await locationsOf(a);
    await closePeer(b, false);
    peers.splice(peers.indexOf(b), 1);
    damage(b.directory, [id('loc', 3)], [id('loc', 4)]);
    const errors: HighwaterError[] = [];
    let damaged = await start('device-b', { trusted: false, directory: b.directory, errors });
    network.connect('device-b', 'device-c');
    await eventually(() => damaged.node.state === 'ready', 'B is ready');

    // Only C, not the owner, to compare with: found, reported, not repaired.
    network.disconnect('device-a', 'device-b');
    const reported = await damaged.node.scrub();
    expect(reported.damaged).toEqual([]);
    expect(reported.diverged).toEqual([{ owner: 'device-a', resource: 'location', device: 'device-c' }]);
    expect(reported.repaired).toEqual([]);
    expect(errors.find((e) => e.code === 'HW_STREAM_DIVERGED')?.message).toBe(
      'location of device-a differs from device-c at the same watermark; without trust only the stream’s owner can repair it',
    );

    // With A, the owner, reachable: repaired from its copy.
    network.connect('device-a', 'device-b');
    damaged = peers.find((p) => p.deviceId === 'device-b')!;
    await eventually(() => damaged.transport.connectedPeers().includes('device-a'), 'B reaches A');
    const repaired = await damaged.node.scrub();
    expect(repaired.repaired).toEqual([{ owner: 'device-a', resource: 'location', from: 'device-a', replaced: 1, restored: 1, removed: 0 }]);
    expect(await locationsOf(damaged)).toEqual(expected);
    expect(await locationsOf(c)).toEqual(expected);
  });

  it('with trust, on Postgres: rows altered and lost in the database are found and repaired from a SQLite peer', async () => {
    await requirePostgres();
    network = createInProcessNetwork();
    const schema = `hw_test_scrub_${process.pid}_${Date.now()}`;
    const pgStorage = await createPostgresStorage({ connectionString: PG_URL, schema, registry });
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const a = await start('device-a', { trusted: true });
      const b = await createPeer(network, 'device-b', { trust: trustOf('device-b'), scrubIntervalMs: 0, wrapStorage: () => pgStorage });
      peers.push(b);
      await b.node.start();
      await a.node.write('location', allIds.map((recordId, n) => ({ id: recordId, data: locationData(n) })));
      network.connect('device-a', 'device-b');
      await eventually(async () => (await b.node.count('location', 'device-a')) === RECORDS, 'B holds A’s locations in Postgres');
      expect((await client.query(`UPDATE "${schema}".location SET name = 'garbage' WHERE uuid = ANY($1)`, [[id('loc', 5), id('loc', 6)]])).rowCount).toBe(2);
      expect((await client.query(`DELETE FROM "${schema}".location WHERE uuid = $1`, [id('loc', 9)])).rowCount).toBe(1);
      const report = await b.node.scrub();
      expect(report.damaged).toEqual([{ owner: 'device-a', resource: 'location', ids: [id('loc', 5), id('loc', 6)] }]);
      expect(report.repaired).toEqual([{ owner: 'device-a', resource: 'location', from: 'device-a', replaced: 2, restored: 1, removed: 0 }]);
      const records = async (store: RecordStore) => (await store.getMany('location', allIds)).map((r) => `${r.id} ${JSON.stringify(r.data)} ${r.sig}`).sort();
      expect(await records(pgStorage.recordStore)).toEqual(await records(a.storage.recordStore));
    } finally {
      await client.end();
      for (const p of peers.splice(0)) await closePeer(p);
      await pgStorage.dropSchema();
    }
  });
});
