import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, type SyncState } from '@highwater/core';
import { closePeer, createPeer, dumpModel, id, locationData, waitForState, WireCounter, writeMany, type TestPeer } from './support/library.js';

describe('incremental catch-up after reconnect', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  async function syncedPair(): Promise<{ network: ReturnType<typeof createInProcessNetwork>; a: TestPeer; b: TestPeer }> {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b');
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    return { network, a, b };
  }

  it('fetches exactly the 10 locations written while disconnected', async () => {
    const { network, a, b } = await syncedPair();
    await writeMany(a, 'location', 100, (n) => ({ id: id('loc', n), data: locationData(n) }));
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    expect(await b.node.count('location')).toBe(100);

    network.disconnect('device-a', 'device-b');
    await writeMany(a, 'location', 10, (n) => ({ id: id('loc', n), data: locationData(n) }), 1000, 100);

    const toB = new WireCounter(network, 'device-b');
    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    await b.node.settle();
    toB.stop();
    // What crossed the wire to B: the exchange response and one page holding the 10 new records.
    expect(toB.changes).toBe(10);
    expect(toB.messages.get('state-response')).toBe(1);
    expect(toB.messages.has('state-batch')).toBe(false);
    expect(await b.node.count('location')).toBe(110);
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(a, 'location'));
  });

  it('catches shared tags up from the shared log: exactly the 10 new ones', async () => {
    const { network, a, b } = await syncedPair();
    await writeMany(a, 'tag', 50, (n) => ({ id: id('tag', n), data: { name: `tag ${n}`, color: null } }), 10);
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    expect(await b.node.count('tag')).toBe(50);

    network.disconnect('device-a', 'device-b');
    await writeMany(a, 'tag', 10, (n) => ({ id: id('tag', n), data: { name: `tag ${n}`, color: 'red' } }), 1, 50);

    const toB = new WireCounter(network, 'device-b');
    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    toB.stop();
    expect(toB.changes).toBe(10);
    expect(toB.messages.get('shared-change-response')).toBe(1);
    expect(toB.messages.has('state-response')).toBe(false);
    expect(await dumpModel(b, 'tag')).toEqual(await dumpModel(a, 'tag'));
  });

  it('does not backfill again after a restart that follows a finished backfill', async () => {
    const { network, a, b } = await syncedPair();
    await writeMany(a, 'location', 30, (n) => ({ id: id('loc', n), data: locationData(n) }));
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    await b.node.stop();
    await b.storage.close();
    peers.splice(peers.indexOf(b), 1);

    const restarted = await createPeer(network, 'device-b', { directory: b.directory });
    peers.push(restarted);
    const states: SyncState[] = [];
    restarted.node.state$.subscribe((s) => states.push(s));
    const toB = new WireCounter(network, 'device-b');
    await restarted.node.start();
    const again = waitForState(restarted.node, 'ready');
    network.connect('device-a', 'device-b');
    await again;
    toB.stop();
    expect(states).not.toContain('backfilling');
    expect(states).toContain('catching-up');
    expect(toB.changes).toBe(0);
    expect(toB.messages.has('state-response')).toBe(false);
    expect(await restarted.node.count('location')).toBe(30);
  });
});
