import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, GC_PRUNED_UP_TO, type InProcessNetwork, type SyncProgress } from '@highwater/core';
import { closePeer, createPeer, dumpModel, entryData, eventually, id, locationData, ManualClock, waitForState, WireCounter, writeMany, type TestPeer } from './support/library.js';

const MEMBERS = ['device-a', 'device-b', 'device-c'];
const HOUR = 3600_000;

/** Tombstones a peer holds of one (owner, model) stream. */
async function tombstones(peer: TestPeer, model: string, owner: string): Promise<number> {
  return (await peer.storage.syncStore.tombstonesAfter(model, { owner, limit: 10_000 })).length;
}

/** Entries 0..199 of A, of which the files ending in 3 or 7 (40) get deleted. */
const DELETED = Array.from({ length: 200 }, (_, n) => n).filter((n) => n % 10 === 3 || n % 10 === 7);

async function library(network: InProcessNetwork, options: Parameters<typeof createPeer>[2] = {}): Promise<TestPeer[]> {
  const all = await Promise.all(MEMBERS.map((d) => createPeer(network, d, { members: MEMBERS, antiEntropyMs: 200, ...options })));
  for (const p of all) await p.node.start();
  const [a] = all as [TestPeer];
  await writeMany(a, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
  await writeMany(a, 'entry', 200, (n) => ({ id: id('ent', n), data: entryData(n, 5) }));
  for (const [x, y] of [
    ['device-a', 'device-b'],
    ['device-a', 'device-c'],
    ['device-b', 'device-c'],
  ] as const)
    network.connect(x, y);
  for (const p of all) await eventually(async () => (await p.node.count('entry')) === 200, `${p.deviceId} holding A’s entries`);
  return all;
}

describe('tombstone garbage collection', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('prunes a stream’s tombstones and shared changes once every member acked past them, not before', async () => {
    const network = createInProcessNetwork();
    const [a, b, c] = (await library(network)) as [TestPeer, TestPeer, TestPeer];
    peers.push(a, b, c);
    // C is away (within the horizon): A's deletes must wait for it.
    network.disconnect('device-a', 'device-c');
    network.disconnect('device-b', 'device-c');
    await a.node.delete('entry', DELETED.map((n) => id('ent', n)));
    await b.node.write('tag', [{ id: 'tag-1', data: { name: 'temporary', color: null } }]);
    await b.node.delete('tag', ['tag-1']);
    await eventually(async () => (await b.node.count('entry')) === 160 && (await tombstones(b, 'entry', 'device-a')) === 40, 'B holding A’s deletes');
    await eventually(async () => (await a.node.count('tag')) === 0 && (await tombstones(a, 'tag', 'device-b')) === 1, 'A holding B’s tag delete');
    await new Promise((r) => setTimeout(r, 600)); // acks and a collection or two
    for (const p of [a, b]) {
      expect(await tombstones(p, 'entry', 'device-a')).toBe(40);
      expect(await tombstones(p, 'tag', 'device-b')).toBe(1);
      expect(await p.storage.syncStore.countSharedChanges()).toBe(2);
    }

    network.connect('device-a', 'device-c');
    network.connect('device-b', 'device-c');
    await eventually(async () => (await c.node.count('entry')) === 160 && (await c.node.count('tag')) === 0, 'C holding the deletes');
    // Every member acked: each stream's tombstones and shared changes go, on every peer.
    for (const p of [a, b, c]) {
      await eventually(
        async () => (await tombstones(p, 'entry', 'device-a')) === 0 && (await tombstones(p, 'tag', 'device-b')) === 0 && (await p.storage.syncStore.countSharedChanges()) === 0,
        `${p.deviceId} pruned`,
      );
      expect(await p.storage.syncStore.getSyncState(GC_PRUNED_UP_TO)).toContain('device-a');
    }
    for (const p of [a, b, c]) expect(p.node.metrics().tombstonesPruned).toBe(41);
    // A and B logged the tag's write and delete; C, which pulled it as state, its delete only.
    for (const p of [a, b]) expect(p.node.metrics().sharedChangesPruned).toBe(2);
  });

  it('a member away beyond the horizon stops holding collection back, and when it returns it drops what was deleted instead of bringing it back', async () => {
    const clock = new ManualClock();
    const network = createInProcessNetwork();
    const [a, b, c] = (await library(network, { wallClock: clock, gcHorizonMs: 24 * HOUR })) as [TestPeer, TestPeer, TestPeer];
    peers.push(a, b, c);
    network.disconnect('device-a', 'device-c');
    network.disconnect('device-b', 'device-c');
    await a.node.delete('entry', DELETED.map((n) => id('ent', n)));
    await writeMany(a, 'entry', 10, (n) => ({ id: id('ent', n), data: entryData(n, 5) }), 10, 200);
    await b.node.write('tag', [{ id: 'tag-1', data: { name: 'temporary', color: null } }]);
    await b.node.delete('tag', ['tag-1']);
    await eventually(async () => (await b.node.count('entry')) === 170, 'B holding A’s deletes and new entries');
    await eventually(async () => (await tombstones(a, 'tag', 'device-b')) === 1, 'A holding B’s tag delete');
    await new Promise((r) => setTimeout(r, 600));
    expect(await tombstones(a, 'entry', 'device-a')).toBe(40);

    // Two days on, C still away: A and B collect without it.
    clock.time += 48 * HOUR;
    await a.node.write('location', [{ id: id('loc', 9), data: locationData(9) }]);
    for (const p of [a, b]) await eventually(async () => (await tombstones(p, 'entry', 'device-a')) === 0, `${p.deviceId} pruned without C`);
    // A shared record's tombstone waits for every member, away or not: C may hold an older write of it.
    for (const p of [a, b]) expect(await tombstones(p, 'tag', 'device-b')).toBe(1);

    // C returns, to B only: B pruned A's deletes past C's watermark, so C takes A's entries
    // again from their beginning and drops what B does not hold.
    const progress: SyncProgress[] = [];
    c.node.progress$.subscribe((p) => progress.push(p));
    const fromB = new WireCounter(network, 'device-c', 'device-b');
    const back = waitForState(c.node, 'catching-up');
    network.connect('device-b', 'device-c');
    await back;
    await waitForState(c.node, 'ready');
    fromB.stop();
    expect(await c.node.count('entry')).toBe(170);
    expect(await dumpModel(c, 'entry')).toEqual(await dumpModel(a, 'entry'));
    expect(fromB.messages.get('state-response')).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ ratio: 1 });
    // C took B's prune point on: a member behind it asking C would reconcile too.
    expect(await c.storage.syncStore.getSyncState(GC_PRUNED_UP_TO)).toContain('device-a');

    // Nothing comes back anywhere once C meets A too.
    network.connect('device-a', 'device-c');
    await new Promise((r) => setTimeout(r, 600));
    for (const p of [a, b, c]) {
      await p.node.settle();
      expect(await p.node.count('entry')).toBe(170);
      for (const n of DELETED.slice(0, 5)) expect(await p.node.get('entry', [id('ent', n)])).toEqual([]);
      expect(await p.node.count('tag')).toBe(0);
    }
    expect(c.node.metrics().streamsReconciled).toBeGreaterThan(0);
    // With C back, the tag's tombstone goes too.
    for (const p of [a, b, c]) await eventually(async () => (await tombstones(p, 'tag', 'device-b')) === 0, `${p.deviceId} pruned the tag’s tombstone`);
  });
});
