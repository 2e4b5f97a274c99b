import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, formatHlc, type SyncRecord } from '@highwater/core';
import { closePeer, createPeer, dumpModel, entryData, eventually, id, locationData, waitForState, writeMany, type TestPeer } from './support/library.js';
import { RawPeer } from './support/raw-peer.js';

describe('deletes propagate and stay deleted', () => {
  const peers: TestPeer[] = [];
  const raws: RawPeer[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) await r.stop();
    for (const p of peers.splice(0)) await closePeer(p);
  });

  async function readyPair() {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b');
    peers.push(a, b);
    await a.node.start();
    await writeMany(a, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', 20, (n) => ({ id: id('ent', n), data: entryData(n, 5) }));
    await writeMany(a, 'tag', 4, (n) => ({ id: id('tag', n), data: { name: `tag ${n}`, color: null } }), 1);
    await b.node.start();
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    return { network, a, b };
  }

  /** A stale copy of a record, as an old message from a slow relay would carry it. */
  function staleUpsert(model: string, r: SyncRecord) {
    return { model, id: r.id, owner: r.ownerDeviceId, hlc: formatHlc(r.hlc), op: 'upsert' as const, data: r.data };
  }

  it('propagates device-owned and shared deletes live, and stale updates do not resurrect them', async () => {
    const { network, a, b } = await readyPair();
    const [entryBefore] = await a.node.get('entry', [id('ent', 15)]);
    const [tagBefore] = await a.node.get('tag', [id('tag', 1)]);
    await a.node.delete('entry', [id('ent', 15)]);
    await a.node.delete('tag', [id('tag', 1)]);
    await eventually(async () => (await b.node.count('entry')) === 19 && (await b.node.count('tag')) === 3, 'deletes on b');
    expect(await b.node.get('entry', [id('ent', 15)])).toEqual([]);
    expect((await b.storage.syncStore.getTombstones('entry', [id('ent', 15)])).get(id('ent', 15))?.ownerDeviceId).toBe('device-a');

    const raw = new RawPeer(network, 'device-x');
    raws.push(raw);
    raw.heads = [];
    const ready = waitForState(b.node, 'ready');
    await raw.connect('device-b');
    await ready;
    await raw.send('device-b', { type: 'state-batch', changes: [staleUpsert('entry', entryBefore!)] });
    await raw.send('device-b', { type: 'shared-change', changes: [staleUpsert('tag', tagBefore!)] });
    await b.node.settle();
    await new Promise((r) => setTimeout(r, 50));
    await b.node.settle();
    expect(await b.node.get('entry', [id('ent', 15)])).toEqual([]);
    expect(await b.node.get('tag', [id('tag', 1)])).toEqual([]);
    expect(b.node.metrics().changesStale).toBeGreaterThanOrEqual(2);
  });

  it('propagates deletes through catch-up and backfill', async () => {
    const { network, a, b } = await readyPair();
    network.disconnect('device-a', 'device-b');
    await a.node.delete('entry', [id('ent', 3), id('ent', 4)]);
    await a.node.delete('location', [id('loc', 4)]);
    await a.node.delete('tag', [id('tag', 0)]);
    await a.node.write('tag', [{ id: id('tag', 9), data: { name: 'new', color: 'blue' } }]);

    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    for (const model of ['location', 'entry', 'tag']) expect(await dumpModel(b, model)).toEqual(await dumpModel(a, model));
    expect(await b.node.count('entry')).toBe(18);
    expect(await b.node.count('location')).toBe(4);
    expect(await b.node.count('tag')).toBe(4);

    // A device that joins later backfills the deletes as tombstones too.
    const c = await createPeer(network, 'device-c');
    peers.push(c);
    await c.node.start();
    const cReady = waitForState(c.node, 'ready');
    network.connect('device-a', 'device-c');
    await cReady;
    for (const model of ['location', 'entry', 'tag']) expect(await dumpModel(c, model)).toEqual(await dumpModel(a, model));
    expect([...(await c.storage.syncStore.getTombstones('entry', [id('ent', 3), id('ent', 4)])).keys()].sort()).toEqual([id('ent', 3), id('ent', 4)]);
  });
});
