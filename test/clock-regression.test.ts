import { afterEach, describe, expect, it } from '@jest/globals';
import { compareHlc, createInProcessNetwork } from '@highwater/core';
import { closePeer, createPeer, dumpModel, eventually, id, locationData, ManualClock, waitForState, type TestPeer } from './support/library.js';

const HOUR = 3_600_000;

describe("owner's wall clock jumps backwards", () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('loses nothing, live or through catch-up, and across a restart of the owner', async () => {
    const network = createInProcessNetwork();
    const clock = new ManualClock();
    const a = await createPeer(network, 'device-a', { wallClock: clock });
    const b = await createPeer(network, 'device-b');
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;

    // Live: every write an hour earlier than the one before.
    const written = [];
    for (let i = 0; i < 5; i++) {
      written.push(...(await a.node.write('location', [{ id: id('loc', i), data: locationData(i) }])));
      clock.time -= HOUR;
    }
    for (let i = 1; i < written.length; i++) expect(compareHlc(written[i]!.hlc, written[i - 1]!.hlc)).toBeGreaterThan(0);
    await eventually(async () => (await b.node.count('location')) === 5, 'live writes on b');

    // Catch-up: apart, the clock goes back further between writes.
    network.disconnect('device-a', 'device-b');
    for (let i = 5; i < 10; i++) {
      clock.time -= HOUR;
      await a.node.write('location', [{ id: id('loc', i), data: locationData(i) }]);
    }
    // The owner restarts with its wall clock another day behind: the clock resumes past its last stamp.
    await a.node.stop();
    await a.storage.close();
    peers.splice(peers.indexOf(a), 1);
    clock.time -= 24 * HOUR;
    const restarted = await createPeer(network, 'device-a', { directory: a.directory, wallClock: clock });
    peers.push(restarted);
    await restarted.node.start();
    const [afterRestart] = await restarted.node.write('location', [{ id: id('loc', 10), data: locationData(10) }]);
    const lastBefore = (await restarted.node.get('location', [id('loc', 9)]))[0]!;
    expect(compareHlc(afterRestart!.hlc, lastBefore.hlc)).toBeGreaterThan(0);

    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    expect(await b.node.count('location')).toBe(11);
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(restarted, 'location'));
  });
});
