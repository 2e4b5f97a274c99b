import { afterEach, describe, expect, it } from '@jest/globals';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { createInProcessNetwork, type AppliedChanges, type SyncRecord } from '@highwater/core';
import { closePeer, createPeer, entryData, eventually, id, locationData, waitForState, type TestPeer } from './support/library.js';

// Live changes that arrive while a node backfills are buffered, not applied (applying them
// could move a watermark past records the pull has not fetched yet). A buffer that overflows
// is dropped and the node catches up again; either way it ends with exactly the owner's data.

const INITIAL = 3000;
const LIVE_WRITES = 25;
const PER_WRITE = 20;
const TOTAL = INITIAL + LIVE_WRITES * PER_WRITE;
/** Locations written live while B pulls entries (the location stream is already pulled then). */
const LIVE_LOCATIONS = [1, 2];

async function all(peer: TestPeer, model: string): Promise<SyncRecord[]> {
  return peer.storage.recordStore.page(model, { limit: 100_000 });
}

const markOf = (peer: TestPeer, owner: string, resource: string) =>
  peer.node.watermarks().find((w) => w.owner === owner && w.resource === resource)?.hlc;

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('live buffer during backfill', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  /** A with a location and INITIAL entries; B started and paused (nobody to sync with yet). */
  async function setup(liveBufferLimit: number): Promise<{ a: TestPeer; b: TestPeer; connect: () => void }> {
    const network = createInProcessNetwork({ latencyMs: 2 });
    const suffix = Math.random().toString(36).slice(2, 8);
    const a = await createPeer(network, `device-a-${suffix}`);
    const b = await createPeer(network, `device-b-${suffix}`, { liveBufferLimit, pageSize: 100 });
    peers.push(a, b);
    await a.node.start();
    await a.node.write('location', [{ id: id('loc', 0), data: locationData(0) }]);
    for (let start = 0; start < INITIAL; start += 1000) {
      await a.node.write(
        'entry',
        Array.from({ length: 1000 }, (_, i) => ({ id: id('ent', start + i), data: entryData(start + i, 1) })),
      );
    }
    await b.node.start();
    await waitForState(b.node, 'paused', 10_000);
    return { a, b, connect: () => network.connect(a.deviceId, b.deviceId) };
  }

  /**
   * Connects, waits until B is backfilling and already pulling entries, then writes on A (each
   * write awaited, each pushed live to B): the live locations, then 25 writes of 20 entries.
   */
  async function connectAndWriteDuringBackfill(a: TestPeer, b: TestPeer, connect: () => void): Promise<void> {
    const backfilling = waitForState(b.node, 'backfilling', 10_000);
    const pullingEntries = firstValueFrom(b.node.progress$.pipe(filter((p) => p.current?.resource === 'entry'), timeout(10_000)));
    connect();
    await backfilling;
    await pullingEntries;
    await a.node.write('location', LIVE_LOCATIONS.map((n) => ({ id: id('loc', n), data: locationData(n) })));
    for (let w = 0; w < LIVE_WRITES; w++) {
      const first = INITIAL + w * PER_WRITE;
      await a.node.write('entry', Array.from({ length: PER_WRITE }, (_, i) => ({ id: id('ent', first + i), data: entryData(first + i, 1) })));
    }
  }

  async function expectSameAsOwner(a: TestPeer, b: TestPeer): Promise<void> {
    expect(await b.node.count('entry')).toBe(TOTAL);
    expect(await b.node.count('location')).toBe(1 + LIVE_LOCATIONS.length);
    expect(await all(b, 'entry')).toEqual(await all(a, 'entry'));
    expect(await all(b, 'location')).toEqual(await all(a, 'location'));
    for (const resource of ['entry', 'location']) {
      expect(markOf(b, a.deviceId, resource)).toBeDefined();
      expect(markOf(b, a.deviceId, resource)).toEqual(markOf(a, a.deviceId, resource));
    }
  }

  it("drops an overflowing buffer, catches up again and ends with exactly the owner's data", async () => {
    const { a, b, connect } = await setup(50);
    await connectAndWriteDuringBackfill(a, b, connect);

    await eventually(async () => b.node.state === 'ready' && (await b.node.count('entry')) === TOTAL, 'B ready with every entry', 15_000);
    await eventually(async () => (await b.node.count('location')) === 1 + LIVE_LOCATIONS.length, 'B holding the live locations', 15_000);
    await b.node.settle();
    expect(b.node.metrics().liveOverflows).toBeGreaterThanOrEqual(1);
    expect(b.node.state).toBe('ready');
    await expectSameAsOwner(a, b);
  });

  it('applies live changes buffered during backfill only once the pull is complete', async () => {
    const { a, b, connect } = await setup(100_000);
    const events: string[] = [];
    b.node.state$.subscribe((s) => events.push(`state:${s}`));
    b.node.applied$.subscribe((e: AppliedChanges) => events.push(`applied:${e.source}:${e.model}`));
    await connectAndWriteDuringBackfill(a, b, connect);

    await eventually(async () => b.node.state === 'ready' && (await b.node.count('entry')) === TOTAL, 'B ready with every entry', 15_000);
    await b.node.settle();
    expect(b.node.metrics().liveOverflows).toBe(0);
    await expectSameAsOwner(a, b);

    // The live locations came after the location stream was pulled, so they can only have been
    // applied from the live buffer — and only after the last page of the pass was applied.
    const live = events.flatMap((e, i) => (e.startsWith('applied:live:') ? [i] : []));
    const pulls = events.flatMap((e, i) => (e.startsWith('applied:pull:') ? [i] : []));
    expect(events.filter((e) => e === 'applied:live:location')).not.toEqual([]);
    expect(pulls).not.toEqual([]);
    expect(Math.min(...live)).toBeGreaterThan(Math.max(...pulls));
    // One pass: backfilling → ready, with every live application in between or after.
    const firstBackfilling = events.indexOf('state:backfilling');
    const ready = events.indexOf('state:ready');
    expect(firstBackfilling).toBeGreaterThanOrEqual(0);
    expect(ready).toBeGreaterThan(firstBackfilling);
    expect(events.slice(firstBackfilling).filter((e) => e.startsWith('state:'))).toEqual(['state:backfilling', 'state:ready']);
  });

  // Regression: a trigger arriving after the runner's last "run again?" check but before it
  // cleared `running` was lost, leaving a Ready node buffering live changes forever.
  it('does not lose a sync trigger that lands just as a pass finishes', async () => {
    const network = createInProcessNetwork();
    const suffix = Math.random().toString(36).slice(2, 8);
    const a = await createPeer(network, `device-a-${suffix}`);
    const b = await createPeer(network, `device-b-${suffix}`);
    peers.push(a, b);
    await a.node.start();
    await a.node.write('location', [{ id: id('loc', 0), data: locationData(0) }]);
    await b.node.start();
    const firstReady = waitForState(b.node, 'ready', 10_000);
    network.connect(a.deviceId, b.deviceId);
    await firstReady;

    // Trigger a pass, and a second one some microtasks after it reports 'ready'; whatever the
    // depth, B must afterwards apply A's live writes.
    for (let depth = 0; depth < 12; depth++) {
      await nextMacrotask();
      let armed = false;
      const sub = b.node.state$.subscribe((s) => {
        if (s !== 'ready' || !armed) return;
        armed = false;
        let chain = Promise.resolve();
        for (let i = 0; i < depth; i++) chain = chain.then(() => undefined);
        void chain.then(() => b.node.syncNow());
      });
      armed = true; // after the replayed current state
      await b.node.syncNow();
      await nextMacrotask();
      sub.unsubscribe();
      await eventually(() => b.node.state === 'ready', `B ready again (depth ${depth})`, 5_000);
      await a.node.write('location', [{ id: id('loc', 100 + depth), data: locationData(100 + depth) }]);
      await eventually(
        async () => (await b.node.get('location', [id('loc', 100 + depth)])).length === 1,
        `B applying a live write after a trigger ${depth} microtasks past 'ready'`,
        3_000,
      );
    }
  });
});
