import { afterEach, describe, expect, it } from '@jest/globals';
import { compareHlc, createInProcessNetwork, type SyncProgress } from '@highwater/core';
import {
  closePeer,
  createPeer,
  dumpModel,
  entryData,
  id,
  locationData,
  ManualClock,
  waitForState,
  writeMany,
  type TestPeer,
} from './support/library.js';

/**
 * The watermark-fix plan's integration test: 50 locations (early timestamps), 15 000 entries
 * (later), 10 volumes (timestamps in the middle, written last); the receiver is disconnected
 * in the middle of the entries and reconnected. With one global watermark the volumes were
 * skipped; with a watermark per (owner, resource) every count matches.
 */
describe('watermark-fix scenario: 50 locations, 15 000 entries, 10 volumes, disconnect mid-backfill', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('converges exactly after a disconnect mid-backfill', async () => {
    const network = createInProcessNetwork();
    const base = 1_790_000_000_000;
    const clock = new ManualClock(base);
    const a = await createPeer(network, 'device-a', { wallClock: clock, pageSize: 1000 });
    const b = await createPeer(network, 'device-b', { pageSize: 1000 });
    peers.push(a, b);
    await a.node.start();

    for (let i = 0; i < 50; i++) {
      clock.time = base + i * 1000;
      await a.node.write('location', [{ id: id('loc', i), data: locationData(i) }]);
    }
    clock.time = base + 100_000;
    await writeMany(a, 'entry', 15_000, (n) => ({ id: id('ent', n), data: { ...entryData(n, 50), mtime: base + (100 + n) * 1000 } }));
    for (let i = 0; i < 10; i++) {
      clock.time = base + (50 + i) * 1000; // behind the entries: the HLC keeps ordering anyway
      await a.node.write('volume', [{ id: id('vol', i), data: { name: `volume ${i}`, capacity: 1e12 + i } }]);
    }

    // Disconnect B once it has applied about a third of the entries.
    let disconnectedAt = -1;
    const sub = b.node.progress$.subscribe((p: SyncProgress) => {
      if (disconnectedAt < 0 && p.current?.resource === 'entry' && p.applied >= 5_000) {
        disconnectedAt = p.applied;
        network.disconnect('device-a', 'device-b');
      }
    });
    await b.node.start();
    const paused = waitForState(b.node, 'paused');
    network.connect('device-a', 'device-b');
    await paused;
    sub.unsubscribe();

    expect(disconnectedAt).toBeGreaterThanOrEqual(5_000);
    const partial = await b.node.count('entry');
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(15_000);
    expect(await b.node.count('location')).toBe(50);
    const checkpoint = await b.storage.syncStore.loadCheckpoint('device-a', 'entry');
    expect(checkpoint).toMatchObject({ completed: false, recordsTotal: 15_000 });
    expect(checkpoint!.recordsApplied).toBe(partial);

    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;

    expect(await b.node.count('location')).toBe(50);
    expect(await b.node.count('entry')).toBe(15_000);
    expect(await b.node.count('volume')).toBe(10);
    for (const model of ['location', 'entry', 'volume']) {
      expect(await dumpModel(b, model)).toEqual(await dumpModel(a, model));
    }

    // One watermark per (owner, resource), each equal to the owner's own.
    const mine = a.node.watermarks().filter((w) => w.owner === 'device-a');
    const theirs = b.node.watermarks().filter((w) => w.owner === 'device-a');
    expect(theirs.map((w) => w.resource).sort()).toEqual(['entry', 'location', 'volume']);
    for (const w of mine) {
      const copy = theirs.find((t) => t.resource === w.resource)!;
      expect(compareHlc(copy.hlc, w.hlc)).toBe(0);
    }
    // The volumes were written last: their watermark is ahead of the entries', not skipped.
    const wm = Object.fromEntries(theirs.map((w) => [w.resource, w.hlc]));
    expect(compareHlc(wm['volume']!, wm['entry']!)).toBeGreaterThan(0);
    expect(await b.storage.syncStore.getSyncState('backfill.completed_at')).not.toBeNull();
    expect(await b.storage.syncStore.listCheckpoints()).toEqual([]);
  });
});
