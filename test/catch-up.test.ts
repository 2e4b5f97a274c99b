import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, formatHlc, type SyncState, type WireChange } from '@highwater/core';
import { RawPeer } from './support/raw-peer.js';
import { closePeer, createPeer, dumpModel, eventually, id, locationData, waitForState, WireCounter, writeMany, type TestPeer } from './support/library.js';

describe('incremental catch-up after reconnect', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  async function syncedPair(options: { pageSize?: number } = {}): Promise<{ network: ReturnType<typeof createInProcessNetwork>; a: TestPeer; b: TestPeer }> {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', options);
    const b = await createPeer(network, 'device-b', options);
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    return { network, a, b };
  }

  /** B comes back to A; what crossed the wire to B until B was ready again. */
  async function reconnectCounting(network: ReturnType<typeof createInProcessNetwork>, b: TestPeer): Promise<WireCounter> {
    const toB = new WireCounter(network, 'device-b');
    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    await b.node.settle();
    toB.stop();
    return toB;
  }

  /** A writes `count` locations and B gets them; then they are apart. */
  async function syncedThenApart(network: ReturnType<typeof createInProcessNetwork>, a: TestPeer, b: TestPeer, count: number): Promise<void> {
    await writeMany(a, 'location', count, (n) => ({ id: id('loc', n), data: locationData(n) }));
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    network.disconnect('device-a', 'device-b');
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
    const fromB = new WireCounter(network, 'device-a', 'device-b');
    const fetchedBefore = b.node.metrics().changesFetched;
    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    await b.node.settle();
    toB.stop();
    fromB.stop();
    // What crossed the wire to B: A's exchange response, carrying the 10 new records inline
    // (A owns them and they fit in a page), so B asked for no page.
    expect(toB.changes).toBe(10);
    expect(toB.messages.get('watermark-exchange-response')).toBe(1);
    expect(toB.messages.has('state-response')).toBe(false);
    expect(fromB.messages.has('state-request')).toBe(false);
    expect(toB.messages.has('state-batch')).toBe(false);
    expect(b.node.metrics().changesFetched - fetchedBefore).toBe(10);
    expect(await b.node.count('location')).toBe(110);
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(a, 'location'));
  });

  it('asks for pages when the new records do not fit in one', async () => {
    const { network, a, b } = await syncedPair({ pageSize: 8 });
    await syncedThenApart(network, a, b, 20);
    await writeMany(a, 'location', 20, (n) => ({ id: id('loc', n), data: locationData(n) }), 1000, 20);

    const toB = await reconnectCounting(network, b);
    // 20 new records, pages of 8: nothing inline; a request for one page, then one for two
    // (8, then 8 + 4).
    expect(toB.changes).toBe(20);
    expect(toB.messages.get('state-response')).toBe(2);
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(a, 'location'));
  });

  it("gets another device's records from a relay by pages, never inline", async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b');
    const c = await createPeer(network, 'device-c');
    peers.push(a, b, c);
    for (const p of [a, b, c]) await p.node.start();
    const bReady = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await bReady;
    network.disconnect('device-a', 'device-b');
    // C's records reach A while B is away; B then catches up from A alone.
    await writeMany(c, 'location', 5, (n) => ({ id: id('loc-c', n), data: locationData(n) }));
    network.connect('device-a', 'device-c');
    await eventually(async () => (await a.node.count('location')) === 5, 'A has C’s records');

    const toB = await reconnectCounting(network, b);
    // A holds C's stream but does not own it: those records come in a state page.
    expect(toB.messages.get('state-response')).toBe(1);
    expect(toB.changes).toBe(5);
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(c, 'location'));
  });

  it('refuses inline changes a peer was not asked for, or did not mark, and stores none of them', async () => {
    const { network, a, b } = await syncedPair({ pageSize: 4 });
    await syncedThenApart(network, a, b, 3);
    const back = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await back;

    const change = (owner: string, n: number): WireChange => ({
      model: 'location',
      id: id(`loc-${owner}`, n),
      owner,
      hlc: formatHlc({ time: Date.now(), counter: n, deviceId: owner }),
      op: 'upsert',
      data: locationData(n),
    });
    const unmarked = new RawPeer(network, 'device-x');
    unmarked.heads = [{ owner: 'device-x', resource: 'location', hlc: change('device-x', 1).hlc, count: 1 }];
    unmarked.inlineChanges = [change('device-x', 1)];
    const tooMany = new RawPeer(network, 'device-y');
    const many = Array.from({ length: 5 }, (_, n) => change('device-y', n));
    tooMany.heads = [{ owner: 'device-y', resource: 'location', hlc: many[4]!.hlc, count: 5, inline: true }];
    tooMany.inlineChanges = many; // B asks for at most a page: 4
    try {
      for (const raw of [unmarked, tooMany]) {
        // A pass runs (catching-up) and ends (ready) with A alone: the raw peer's exchange failed.
        const states: SyncState[] = [];
        const subscription = b.node.state$.subscribe((state) => states.push(state));
        await raw.connect('device-b');
        await eventually(() => states.lastIndexOf('ready') > states.indexOf('catching-up') && states.includes('catching-up'), 'a catch-up pass with the raw peer');
        subscription.unsubscribe();
        await b.node.settle();
        expect(raw.received.some((m) => m.type === 'watermark-exchange-request' && m.inline === 4)).toBe(true);
      }
      expect(await dumpModel(b, 'location')).toEqual(await dumpModel(a, 'location'));
      expect(await b.node.count('location')).toBe(3);
    } finally {
      await unmarked.stop();
      await tooMany.stop();
    }
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

    const toB = await reconnectCounting(network, b);
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
