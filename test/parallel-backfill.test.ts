import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, decodeMessage, jsonCodec, type InProcessNetwork, type PeerStatus, type SyncProgress } from '@highwater/core';
import { Random } from '@highwater/sim';
import { expectHonestProgress } from './support/progress.js';
import { closePeer, createPeer, dumpModel, entryData, eventually, id, LIBRARY_ID, locationData, waitForState, WireCounter, writeMany, type TestPeer } from './support/library.js';

/** When each state or shared-log page reached `to`, by sender. */
function pageArrivals(network: InProcessNetwork, to: string): { at: Map<string, number[]>; stop: () => void } {
  const at = new Map<string, number[]>();
  const sub = network.wire$.subscribe((e) => {
    if (e.to !== to || e.kind !== 'response') return;
    const type = decodeMessage(jsonCodec, e.payload, LIBRARY_ID).type;
    if (type !== 'state-response' && type !== 'shared-change-response') return;
    const list = at.get(e.from) ?? [];
    list.push(performance.now());
    at.set(e.from, list);
  });
  return { at, stop: () => sub.unsubscribe() };
}

describe('backfill from several peers', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('pulls two owners’ streams from both owners at once; when one dies its stream moves to a holder and nothing is fetched twice beyond a response', async () => {
    const network = createInProcessNetwork({ latencyMs: 1 });
    const pageSize = 500;
    const a = await createPeer(network, 'device-a', { pageSize });
    const b = await createPeer(network, 'device-b', { pageSize });
    const c = await createPeer(network, 'device-c', { pageSize });
    peers.push(a, b, c);
    await a.node.start();
    await b.node.start();
    await writeMany(a, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', 20_000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 2000);
    // B holds all of A's entries and owns 5 000 of its own.
    const bReady = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await bReady;
    await eventually(async () => (await b.node.count('entry')) === 20_000, 'B holding A’s entries');
    await writeMany(b, 'entry', 5000, (n) => ({ id: id('b-ent', n), data: entryData(n, 5) }), 2500);
    await b.node.settle();

    const arrivals = pageArrivals(network, 'device-c');
    const progress: SyncProgress[] = [];
    c.node.progress$.subscribe((p) => progress.push(p));
    // A dies (its transport, no clean stop) after C has a random share of A's entries.
    const killAt = process.env['HW_KILL_AT'] ? Number(process.env['HW_KILL_AT']) : 3000 + Math.floor(Math.random() * 12_000);
    console.log(`parallel-backfill: A dies once C applied ${killAt} of A's entries (replay: HW_KILL_AT=${killAt})`);
    let killed = false;
    c.node.progress$.subscribe((p) => {
      if (!killed && p.current?.peerId === 'device-a' && p.applied >= killAt) {
        killed = true;
        network.crash('device-a');
      }
    });
    await c.node.start();
    const cReady = waitForState(c.node, 'ready', 60_000);
    network.connect('device-c', 'device-a');
    network.connect('device-c', 'device-b');
    await cReady;
    arrivals.stop();

    expect(killed).toBe(true);
    expect(await c.node.count('entry')).toBe(25_000);
    expect(await dumpModel(c, 'entry')).toEqual(await dumpModel(b, 'entry'));
    // Both owners served during the same period: B's first page came before A's last one.
    const fromA = arrivals.at.get('device-a') ?? [];
    const fromB = arrivals.at.get('device-b') ?? [];
    expect(fromA.length).toBeGreaterThan(1);
    expect(fromB.length).toBeGreaterThan(1);
    expect(Math.min(...fromB)).toBeLessThan(Math.max(...fromA));
    // A record crossed twice only within the response in flight when A died.
    expect(c.node.metrics().changesFetched).toBeLessThanOrEqual(25_005 + pageSize * 4);
    expectHonestProgress(progress);
  }, 90_000);

  it('an owner that connects while a holder serves its stream takes the stream over at the next page', async () => {
    const network = createInProcessNetwork({ latencyMs: 1 });
    const pageSize = 250;
    const [a, b, c] = await Promise.all(['device-a', 'device-b', 'device-c'].map((x) => createPeer(network, x, { pageSize })));
    peers.push(a!, b!, c!);
    await a!.node.start();
    await b!.node.start();
    await writeMany(a!, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a!, 'entry', 10_000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 2000);
    network.connect('device-a', 'device-b');
    await eventually(async () => (await b!.node.count('entry')) === 10_000, 'B holding A’s entries');

    const fromA = new WireCounter(network, 'device-c', 'device-a');
    const fromB = new WireCounter(network, 'device-c', 'device-b');
    const progress: SyncProgress[] = [];
    let joined = false;
    c!.node.progress$.subscribe((p) => {
      progress.push(p);
      // A shows up once C has a share of its entries from B (as a peer found later by discovery would).
      if (!joined && p.current?.peerId === 'device-b' && p.current.resource === 'entry' && p.applied >= 2000) {
        joined = true;
        network.connect('device-c', 'device-a');
      }
    });
    await c!.node.start();
    const ready = waitForState(c!.node, 'ready', 30_000);
    network.connect('device-c', 'device-b');
    await ready;
    await c!.node.settle();
    fromA.stop();
    fromB.stop();

    expect(joined).toBe(true);
    expect(await dumpModel(c!, 'entry')).toEqual(await dumpModel(a!, 'entry'));
    // The rest came from A, from C's checkpoint: B served a part, nothing crossed twice beyond a response.
    expect(fromA.messages.get('state-response')).toBeGreaterThan(0);
    expect(fromB.changes).toBeLessThan(10_005);
    expect(fromA.changes + fromB.changes).toBeLessThanOrEqual(10_005 + pageSize * 4);
    expectHonestProgress(progress);
  }, 60_000);

  it('a source that stalls mid-backfill times out; its stream continues from the checkpoint at another holder', async () => {
    let stalled = false;
    // Once stalled, A keeps its link up but its answers never arrive.
    const network = createInProcessNetwork({ latencyMs: 1, faults: (m) => (stalled && m.from === 'device-a' && m.kind === 'response' ? { drop: true } : undefined) });
    const pageSize = 200;
    const [a, b, c] = await Promise.all(['device-a', 'device-b', 'device-c'].map((x) => createPeer(network, x, { pageSize, requestTimeoutMs: 500 })));
    peers.push(a!, b!, c!);
    await a!.node.start();
    await b!.node.start();
    await writeMany(a!, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a!, 'entry', 4000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 2000);
    network.connect('device-a', 'device-b');
    await eventually(async () => (await b!.node.count('entry')) === 4000, 'B holding A’s entries');

    const fromB = new WireCounter(network, 'device-c', 'device-b');
    const progress: SyncProgress[] = [];
    c!.node.progress$.subscribe((p) => {
      progress.push(p);
      if (p.current?.peerId === 'device-a' && p.applied >= 1000) stalled = true;
    });
    await c!.node.start();
    const ready = waitForState(c!.node, 'ready', 30_000);
    network.connect('device-c', 'device-a');
    network.connect('device-c', 'device-b');
    await ready;
    fromB.stop();

    expect(stalled).toBe(true);
    expect(await dumpModel(c!, 'entry')).toEqual(await dumpModel(b!, 'entry'));
    // B served the rest of A's entries, from where C's checkpoint stood, not from the start.
    expect(fromB.messages.get('state-response')).toBeGreaterThan(0);
    expect(fromB.changes).toBeLessThanOrEqual(4005 - 1000 + pageSize * 4);
    expect(c!.node.metrics().changesFetched).toBeLessThanOrEqual(4005 + pageSize * 4);
    expectHonestProgress(progress);
  }, 60_000);

  it('takes a stream from the fastest peer holding all of it when its owner is away', async () => {
    const slow = 'device-b';
    // Every message to or from B waits 40 ms more: B holds the same as D, further away.
    const network = createInProcessNetwork({ faults: (m) => (m.from === slow || m.to === slow ? { delayMs: 40 } : undefined) });
    const [a, b, c, d] = await Promise.all(['device-a', 'device-b', 'device-c', 'device-d'].map((x) => createPeer(network, x, { pageSize: 100 })));
    peers.push(a!, b!, c!, d!);
    for (const p of [a!, b!, d!]) await p.node.start();
    await writeMany(a!, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a!, 'entry', 1000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }));
    for (const holder of [b!, d!]) {
      const ready = waitForState(holder.node, 'ready');
      network.connect('device-a', holder.deviceId);
      await ready;
      await eventually(async () => (await holder.node.count('entry')) === 1000, `${holder.deviceId} holding A’s entries`);
    }
    network.crash('device-a');

    const fromB = new WireCounter(network, 'device-c', slow);
    const fromD = new WireCounter(network, 'device-c', 'device-d');
    const statuses: PeerStatus[] = [];
    c!.node.peers$.subscribe((s) => statuses.push(s));
    await c!.node.start();
    const ready = waitForState(c!.node, 'ready', 30_000);
    network.connect('device-c', slow);
    network.connect('device-c', 'device-d');
    await ready;
    fromB.stop();
    fromD.stop();

    expect(await c!.node.count('entry')).toBe(1000);
    expect(fromD.messages.get('state-response')).toBeGreaterThan(0);
    expect(fromB.messages.get('state-response') ?? 0).toBe(0);
    // Both round trips measured, smoothed, reported on peers$ and kept in the metrics.
    const rtt = c!.node.metrics().peerRttMs;
    expect(rtt[slow]).toBeGreaterThan(rtt['device-d']! + 50);
    expect(statuses.some((s) => s.peerId === slow && s.rttMs !== undefined && s.rttMs >= 80)).toBe(true);
  });

  it('transitive: what C got from B is not fetched again when the owner returns', async () => {
    const network = createInProcessNetwork();
    const [a, b, c] = await Promise.all(['device-a', 'device-b', 'device-c'].map((x) => createPeer(network, x)));
    peers.push(a!, b!, c!);
    for (const p of [a!, b!, c!]) await p.node.start();
    await writeMany(a!, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a!, 'entry', 1500, (n) => ({ id: id('ent', n), data: entryData(n, 5) }));
    await a!.node.write('tag', [{ id: 'tag-1', data: { name: 'from A', color: null } }]);
    network.connect('device-a', 'device-b');
    await eventually(async () => (await b!.node.count('entry')) === 1500 && (await b!.node.count('tag')) === 1, 'B holding A’s data');
    network.disconnect('device-a', 'device-b');
    const cProgress: SyncProgress[] = [];
    c!.node.progress$.subscribe((p) => cProgress.push(p));
    const cReady = waitForState(c!.node, 'ready');
    network.connect('device-b', 'device-c');
    await cReady;
    await eventually(async () => (await c!.node.count('entry')) === 1500, 'C holding A’s entries from B');
    expectHonestProgress(cProgress);

    const fromA = new WireCounter(network, 'device-c', 'device-a');
    const again = waitForState(c!.node, 'catching-up');
    network.connect('device-a', 'device-c');
    await again;
    await waitForState(c!.node, 'ready');
    await c!.node.settle();
    fromA.stop();
    expect(fromA.changes).toBe(0);
    expect(fromA.messages.get('state-response') ?? 0).toBe(0);
  });

  it('five peers, each owning data, with disconnects during the backfill, all converge exactly', async () => {
    const network = createInProcessNetwork({ latencyMs: 1 });
    const names = ['device-a', 'device-b', 'device-c', 'device-d', 'device-e'];
    const all = await Promise.all(names.map((x) => createPeer(network, x, { pageSize: 50, requestTimeoutMs: 2000 })));
    peers.push(...all);
    for (const [i, p] of all.entries()) {
      await p.node.start();
      await writeMany(p, 'location', 2, (n) => ({ id: id(`${p.deviceId}-loc`, n), data: locationData(n) }));
      await writeMany(p, 'entry', 400 + 100 * i, (n) => ({ id: id(`${p.deviceId}-ent`, n), data: { ...entryData(n, 1), locationId: id(`${p.deviceId}-loc`, n % 2), parentId: null } }));
    }
    const progress = new Map(all.map((p) => [p.deviceId, [] as SyncProgress[]]));
    for (const p of all) p.node.progress$.subscribe((e) => progress.get(p.deviceId)!.push(e));
    // A mesh, with links cut and restored at random while the backfills run (HW_LINK_SEED replays the choices).
    const seed = process.env['HW_LINK_SEED'] ? Number(process.env['HW_LINK_SEED']) : Math.floor(Math.random() * 2 ** 31);
    console.log(`parallel-backfill: link seed ${seed} (replay: HW_LINK_SEED=${seed})`);
    const random = new Random(seed);
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) network.connect(names[i]!, names[j]!);
    for (let round = 0; round < 12; round++) {
      await new Promise((r) => setTimeout(r, 15));
      const x = random.pick(names);
      const y = random.pick(names.filter((n) => n !== x));
      if (network.isConnected(x, y)) network.disconnect(x, y);
      else network.connect(x, y);
    }
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) network.connect(names[i]!, names[j]!);
    const total = all.reduce((n, _, i) => n + 400 + 100 * i, 0);
    await eventually(async () => (await Promise.all(all.map((p) => p.node.count('entry')))).every((n) => n === total), 'every peer holding every entry', 60_000);
    for (const p of all) await eventually(() => p.node.state === 'ready', `${p.deviceId} ready`, 30_000);
    const dumps = await Promise.all(all.map((p) => dumpModel(p, 'entry')));
    for (const dump of dumps.slice(1)) expect(dump).toEqual(dumps[0]);
    for (const p of all) expectHonestProgress(progress.get(p.deviceId)!);
  }, 90_000);
});

