import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork } from '@highwater/core';
import { closePeer, createPeer, entryData, eventually, id, locationData, waitForState, WireCounter, type TestPeer } from './support/library.js';

describe('engine smoke', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('backfills a small library and then syncs live', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 50 });
    const b = await createPeer(network, 'device-b', { pageSize: 50 });
    peers.push(a, b);
    await a.node.start();
    await a.node.write('location', Array.from({ length: 5 }, (_, i) => ({ id: id('loc', i), data: locationData(i) })));
    await a.node.write('entry', Array.from({ length: 200 }, (_, i) => ({ id: id('ent', i), data: entryData(i, 5) })));
    await a.node.write('tag', [{ id: 't1', data: { name: 'red', color: null } }]);
    await b.node.start();
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    expect(await b.node.count('location')).toBe(5);
    expect(await b.node.count('entry')).toBe(200);
    expect(await b.node.count('tag')).toBe(1);
    await a.node.write('entry', [{ id: id('ent', 500), data: entryData(500, 5) }]);
    await eventually(async () => (await b.node.count('entry')) === 201, 'live entry on b');
    await a.node.delete('entry', [id('ent', 500)]);
    await eventually(async () => (await b.node.count('entry')) === 200, 'live delete on b');
  });

  it('starts again after a stop: catches up what it missed and pushes live once more', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b');
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    network.connect('device-a', 'device-b');
    await a.node.write('location', [{ id: id('loc', 0), data: locationData(0) }]);
    await eventually(async () => (await b.node.count('location')) === 1, 'the first location on b');

    await a.node.stop();
    expect(a.node.state).toBe('paused');
    await b.node.write('location', [{ id: id('loc', 1), data: locationData(1) }]); // a misses it
    const ready = waitForState(a.node, 'ready');
    await a.node.start();
    network.connect('device-a', 'device-b');
    await ready;
    expect(await a.node.count('location')).toBe(2);
    const pushed = new WireCounter(network, 'device-b', 'device-a');
    await a.node.write('location', [{ id: id('loc', 2), data: locationData(2) }]);
    await eventually(async () => (await b.node.count('location')) === 3, 'a live write after the restart on b');
    expect(pushed.messages.get('state-batch')).toBe(1);
    pushed.stop();
  });
});
