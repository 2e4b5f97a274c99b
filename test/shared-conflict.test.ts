import { afterEach, describe, expect, it } from '@jest/globals';
import { compareHlc, createInProcessNetwork, formatHlc, GC_LOG_PRUNED_UP_TO } from '@highwater/core';
import { closePeer, createPeer, eventually, id, ManualClock, waitForState, type TestPeer } from './support/library.js';
import { RawPeer } from './support/raw-peer.js';

describe('shared records: last writer by HLC wins, also after the log was pruned', () => {
  const peers: TestPeer[] = [];
  const raws: RawPeer[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) await r.stop();
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('converges concurrent updates of one tag to the higher HLC on both nodes', async () => {
    const network = createInProcessNetwork();
    const clockA = new ManualClock(1_790_000_000_000);
    const clockB = new ManualClock(1_790_000_000_000);
    const members = ['device-a', 'device-b'];
    const a = await createPeer(network, 'device-a', { wallClock: clockA, members });
    const b = await createPeer(network, 'device-b', { wallClock: clockB, members });
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    await a.node.write('tag', [{ id: id('tag', 1), data: { name: 'original', color: null } }]);
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;

    // Concurrent edits while apart; A's clock is 10 s ahead, so A's edit is the later one.
    network.disconnect('device-a', 'device-b');
    clockA.time += 10_000;
    clockB.time += 1_000;
    const [fromA] = await a.node.write('tag', [{ id: id('tag', 1), data: { name: 'from a', color: 'red' } }]);
    const [fromB] = await b.node.write('tag', [{ id: id('tag', 1), data: { name: 'from b', color: 'blue' } }]);
    expect(compareHlc(fromA!.hlc, fromB!.hlc)).toBeGreaterThan(0);

    const bothReady = Promise.all([waitForState(a.node, 'ready'), waitForState(b.node, 'ready')]);
    network.connect('device-a', 'device-b');
    await bothReady;
    const [onA] = await a.node.get('tag', [id('tag', 1)]);
    const [onB] = await b.node.get('tag', [id('tag', 1)]);
    expect(onA).toEqual(fromA);
    expect(onB).toEqual(fromA);

    // Both acked each other's changes: each log is pruned up to the other's ack.
    await eventually(async () => (await a.storage.syncStore.countSharedChanges()) < 3 && (await b.storage.syncStore.countSharedChanges()) < 3, 'pruned logs');
    expect(await a.storage.syncStore.getSyncState(GC_LOG_PRUNED_UP_TO)).not.toBeNull();

    // B's losing change arrives again, late (a slow relay): it still loses on A.
    const raw = new RawPeer(network, 'device-x');
    raws.push(raw);
    const rawReady = waitForState(a.node, 'ready');
    await raw.connect('device-a');
    await rawReady;
    await raw.send('device-a', {
      type: 'shared-change',
      changes: [{ model: 'tag', id: fromB!.id, owner: 'device-b', hlc: formatHlc(fromB!.hlc), op: 'upsert', data: fromB!.data }],
    });
    await new Promise((r) => setTimeout(r, 50));
    await a.node.settle();
    expect((await a.node.get('tag', [id('tag', 1)]))[0]).toEqual(fromA);

    // Another concurrent round after pruning: this time B is ahead.
    network.disconnect('device-a', 'device-b');
    clockB.time += 60_000;
    clockA.time += 1;
    await a.node.write('tag', [{ id: id('tag', 1), data: { name: 'a again', color: null } }]);
    const [bWins] = await b.node.write('tag', [{ id: id('tag', 1), data: { name: 'b wins', color: null } }]);
    const again = Promise.all([waitForState(a.node, 'ready'), waitForState(b.node, 'ready')]);
    network.connect('device-a', 'device-b');
    await again;
    await eventually(async () => JSON.stringify((await a.node.get('tag', [id('tag', 1)]))[0]) === JSON.stringify(bWins), 'b wins on a');
    expect((await b.node.get('tag', [id('tag', 1)]))[0]).toEqual(bWins);
  });

  it('never prunes while a member has not acked', async () => {
    const network = createInProcessNetwork();
    const members = ['device-a', 'device-b', 'device-c'];
    const a = await createPeer(network, 'device-a', { members });
    const b = await createPeer(network, 'device-b', { members });
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    await a.node.write('tag', [{ id: id('tag', 1), data: { name: 'x', color: null } }]);
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    await eventually(async () => (await a.storage.syncStore.listAcks()).some((ack) => ack.peerDeviceId === 'device-b' && ack.owner === 'device-a' && ack.resource === 'tag'), 'b acked on a');
    await a.node.settle();
    expect(await a.storage.syncStore.countSharedChanges()).toBe(1);
    expect(await a.storage.syncStore.getSyncState(GC_LOG_PRUNED_UP_TO)).toBeNull();
  });
});
