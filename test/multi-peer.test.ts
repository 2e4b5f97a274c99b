import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, type SyncProgress } from '@highwater/core';
import { closePeer, createPeer, dumpModel, entryData, id, locationData, waitForState, WireCounter, writeMany, type TestPeer } from './support/library.js';

describe('multi-peer backfill', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it("continues an owner's stream on another peer when the serving peer leaves (portable resume tokens)", async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 250 });
    const b = await createPeer(network, 'device-b', { pageSize: 250 });
    const c = await createPeer(network, 'device-c', { pageSize: 250 });
    peers.push(a, b, c);
    await a.node.start();
    await writeMany(a, 'location', 5, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', 4000, (n) => ({ id: id('ent', n), data: entryData(n, 5) }));
    await b.node.start();
    const bReady = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await bReady;

    // C joins both; A (the owner, its first choice) leaves after 1500 entries.
    const toC = new WireCounter(network, 'device-c');
    const fromB = new WireCounter(network, 'device-c', 'device-b');
    let cut = false;
    c.node.progress$.subscribe((p: SyncProgress) => {
      if (!cut && p.current?.resource === 'entry' && p.current.peerId === 'device-a' && p.applied >= 1500) {
        cut = true;
        network.disconnect('device-a', 'device-c');
      }
    });
    await c.node.start();
    const cReady = waitForState(c.node, 'ready');
    network.connect('device-b', 'device-c');
    network.connect('device-a', 'device-c');
    await cReady;
    toC.stop();
    fromB.stop();

    expect(cut).toBe(true);
    expect(await c.node.count('entry')).toBe(4000);
    expect(await dumpModel(c, 'entry')).toEqual(await dumpModel(a, 'entry'));
    // B served the rest of A's entries from C's checkpoint; the library crossed about once.
    expect(fromB.changes).toBeGreaterThan(0);
    expect(fromB.changes).toBeLessThanOrEqual(4000 - 1500);
    expect(toC.changes).toBeGreaterThanOrEqual(4005);
    expect(toC.changes).toBeLessThanOrEqual(4005 + 250 * 2);
  });
});
