import { afterEach, describe, expect, it } from '@jest/globals';
import { compareHlc, createInProcessNetwork, type Hlc, type SyncProgress } from '@highwater/core';
import { closePeer, createPeer, dumpModel, entryData, eventually, id, locationData, ManualClock, waitForState, writeMany, type TestPeer } from './support/library.js';

// Three devices, the normal case for a library. Each test is one of the ways three peers lost
// records before watermarks moved only over spans: a relay, a failover to a holder behind the
// owner, shared records converging along a chain.

const markOf = (peer: TestPeer, owner: string, resource: string): Hlc | undefined =>
  peer.node.watermarks().find((w) => w.owner === owner && w.resource === resource)?.hlc;

/** The HLC of one record on a peer (the owner's write). */
async function hlcOf(peer: TestPeer, model: string, recordId: string): Promise<Hlc> {
  const [record] = await peer.node.get(model, [recordId]);
  if (!record) throw new Error(`${recordId} is not on ${peer.deviceId}`);
  return record.hlc;
}

describe('three peers', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('relay gap: C gets what B pulled from A, not only the live changes B relayed', async () => {
    const network = createInProcessNetwork();
    const [a, b, c] = await Promise.all(['device-a', 'device-b', 'device-c'].map((d) => createPeer(network, d)));
    peers.push(a!, b!, c!);
    for (const p of [a!, b!, c!]) await p.node.start();
    const bcReady = Promise.all([waitForState(b!.node, 'ready'), waitForState(c!.node, 'ready')]);
    network.connect('device-b', 'device-c');
    await bcReady;

    // A wrote while offline, then meets B only.
    await writeMany(a!, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a!, 'entry', 500, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 100);
    network.connect('device-a', 'device-b');
    await eventually(async () => (await b!.node.count('entry')) === 500, 'B catching up from A');

    // Ten live writes on A reach C only through B.
    await writeMany(a!, 'entry', 10, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 10, 500);
    await eventually(async () => (await c!.node.count('entry')) === 510 && (await c!.node.count('location')) === 5, 'C holding all of A’s records', 15_000);
    await c!.node.settle();
    expect(await dumpModel(c!, 'entry')).toEqual(await dumpModel(a!, 'entry'));
    expect(await dumpModel(c!, 'location')).toEqual(await dumpModel(a!, 'location'));
    expect(markOf(c!, 'device-a', 'entry')).toEqual(markOf(a!, 'device-a', 'entry'));

    // And after C reconnects to B, nothing is missing either (the watermark claimed nothing it lacked).
    network.disconnect('device-b', 'device-c');
    const again = waitForState(c!.node, 'ready');
    network.connect('device-b', 'device-c');
    await again;
    expect(await c!.node.count('entry')).toBe(510);
  });

  it('failover to a holder that is behind: the watermark stops at what that holder served, and the rest comes when the owner returns', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 250 });
    const b = await createPeer(network, 'device-b', { pageSize: 250 });
    const c = await createPeer(network, 'device-c', { pageSize: 250 });
    peers.push(a, b, c);
    await a.node.start();
    await b.node.start();
    await writeMany(a, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', 2000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }));
    const bReady = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await bReady;
    await eventually(async () => (await b.node.count('entry')) === 2000, 'B holding A’s first 2000 entries');
    network.disconnect('device-a', 'device-b');
    await writeMany(a, 'entry', 2000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 1000, 2000);
    const headOfB = await hlcOf(b, 'entry', id('ent', 1999));
    expect(markOf(b, 'device-a', 'entry')).toEqual(headOfB);

    // C backfills from A (the owner, its first source); A leaves after 1500 entries.
    let cut = false;
    c.node.progress$.subscribe((p: SyncProgress) => {
      if (!cut && p.current?.resource === 'entry' && p.current.peerId === 'device-a' && p.applied >= 1500) {
        cut = true;
        network.disconnect('device-a', 'device-c');
      }
    });
    const progress: SyncProgress[] = [];
    c.node.progress$.subscribe((p) => progress.push(p));
    await c.node.start();
    const cReady = waitForState(c.node, 'ready');
    network.connect('device-b', 'device-c');
    network.connect('device-a', 'device-c');
    await cReady;
    await c.node.settle();
    expect(cut).toBe(true);

    // B served up to its head: C holds exactly B's 2000 and its watermark says so.
    expect(await c.node.count('entry')).toBe(2000);
    expect(await dumpModel(c, 'entry')).toEqual(await dumpModel(b, 'entry'));
    expect(markOf(c, 'device-a', 'entry')).toEqual(headOfB);
    expect(progress.at(-1)).toMatchObject({ ratio: 1 });
    expect(progress.at(-1)!.applied).toBe(progress.at(-1)!.total);

    // A returns: C catches up the 2000 it lacks.
    network.connect('device-a', 'device-c');
    await eventually(async () => (await c.node.count('entry')) === 4000, 'C catching up from A after it returned');
    await c.node.settle();
    expect(await dumpModel(c, 'entry')).toEqual(await dumpModel(a, 'entry'));
    expect(markOf(c, 'device-a', 'entry')).toEqual(markOf(a, 'device-a', 'entry'));
  });

  it('shared records written during a partition converge along a chain A–B–C to the highest HLC', async () => {
    const network = createInProcessNetwork();
    const base = 1_790_000_000_000;
    const clocks = { a: new ManualClock(base + 1000), b: new ManualClock(base + 2000), c: new ManualClock(base + 3000) };
    const a = await createPeer(network, 'device-a', { wallClock: clocks.a });
    const b = await createPeer(network, 'device-b', { wallClock: clocks.b });
    const c = await createPeer(network, 'device-c', { wallClock: clocks.c });
    peers.push(a, b, c);
    for (const p of [a, b, c]) await p.node.start();
    const tags = (who: string, from = 0, to = 50) => Array.from({ length: to - from }, (_, i) => ({ id: `tag-${from + i}`, data: { name: `${who} ${from + i}`, color: who } }));
    // Every device writes all 50 tags; C's clock is the newest, then A rewrites ten even later.
    await a.node.write('tag', tags('a'));
    await b.node.write('tag', tags('b'));
    await c.node.write('tag', tags('c'));
    clocks.a.time = base + 4000;
    await a.node.write('tag', tags('a-again', 0, 10));
    const expected = new Map<string, { name: string; color: string }>();
    for (const t of [...tags('c'), ...tags('a-again', 0, 10)]) expected.set(t.id, t.data);

    network.connect('device-a', 'device-b');
    network.connect('device-b', 'device-c');
    const converged = async (p: TestPeer): Promise<boolean> => {
      const records = await p.node.get('tag', [...expected.keys()]);
      return records.length === 50 && records.every((r) => JSON.stringify(r.data) === JSON.stringify(expected.get(r.id)));
    };
    await eventually(async () => (await converged(a)) && (await converged(b)) && (await converged(c)), 'every device holding the newest write of each tag', 15_000);
    for (const p of [a, b, c]) await p.node.settle();
    const dumps = await Promise.all([a, b, c].map((p) => dumpModel(p, 'tag')));
    expect(dumps[1]).toEqual(dumps[0]);
    expect(dumps[2]).toEqual(dumps[0]);
    // Each device's watermark of each origin's tag stream is that origin's own.
    for (const origin of [a, b, c]) {
      for (const p of [a, b, c]) {
        const mine = markOf(p, origin.deviceId, 'tag');
        expect(mine && compareHlc(mine, markOf(origin, origin.deviceId, 'tag')!)).toBe(0);
      }
    }
  });
});
