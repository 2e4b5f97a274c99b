import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, type SyncProgress, type SyncState } from '@highwater/core';
import { closePeer, createPeer, dumpModel, entryData, id, locationData, waitForState, WireCounter, writeMany, type TestPeer } from './support/library.js';

const PAGE = 500;
const ENTRIES = 12_000;

describe('backfill crash resume', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('resumes from the checkpoint after a crash, fetching at most one page again', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: PAGE });
    peers.push(a);
    await a.node.start();
    await writeMany(a, 'location', 10, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', ENTRIES, (n) => ({ id: id('ent', n), data: entryData(n, 10) }));

    // B dies once 5 000 entries are in: its transport is cut and its node is abandoned
    // without stop() — nothing is flushed or saved on the way out, as when the process dies.
    const crashed = await createPeer(network, 'device-b', { pageSize: PAGE });
    let crashAt = -1;
    const sub = crashed.node.progress$.subscribe((p: SyncProgress) => {
      if (crashAt < 0 && p.current?.resource === 'entry' && p.applied - 10 >= 5_000) {
        crashAt = p.applied - 10;
        void crashed.transport.stop();
      }
    });
    await crashed.node.start();
    const dead = waitForState(crashed.node, 'paused');
    network.connect('device-a', 'device-b');
    await dead;
    sub.unsubscribe();
    await crashed.storage.close(); // the files stay; only the handles go, as on process exit

    const checkpoint = await (async () => {
      const probe = await createPeer(createInProcessNetwork(), 'device-b', { directory: crashed.directory });
      const cp = await probe.storage.syncStore.loadCheckpoint('device-a', 'entry');
      await probe.storage.close();
      return cp;
    })();
    expect(crashAt).toBeGreaterThanOrEqual(5_000);
    expect(checkpoint).not.toBeNull();
    expect(checkpoint!.completed).toBe(false);
    const applied = checkpoint!.recordsApplied;
    expect(applied).toBeGreaterThanOrEqual(5_000);
    expect(applied).toBeLessThan(ENTRIES);

    // A new node on the same files.
    const resumed = await createPeer(network, 'device-b', { directory: crashed.directory, pageSize: PAGE });
    peers.push(resumed);
    expect(await resumed.node.count('entry')).toBe(applied);
    const states: SyncState[] = [];
    resumed.node.state$.subscribe((s) => states.push(s));
    const toB = new WireCounter(network, 'device-b');
    await resumed.node.start();
    const ready = waitForState(resumed.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    toB.stop();

    expect(states).toContain('backfilling');
    // Only what the checkpoint did not cover crosses the wire again: at most one page more.
    expect(toB.changes).toBeGreaterThanOrEqual(ENTRIES - applied);
    expect(toB.changes).toBeLessThanOrEqual(ENTRIES - applied + PAGE);
    expect(await resumed.node.count('entry')).toBe(ENTRIES);
    expect(await dumpModel(resumed, 'entry')).toEqual(await dumpModel(a, 'entry'));
    expect(await dumpModel(resumed, 'location')).toEqual(await dumpModel(a, 'location'));
    expect(await resumed.storage.syncStore.listCheckpoints()).toEqual([]);
  });
});
