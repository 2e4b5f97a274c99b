import { afterEach, describe, expect, it } from '@jest/globals';
import { BACKFILL_COMPLETED_AT, createInProcessNetwork, type PeerStatus, type SyncProgress, type SyncState } from '@highwater/core';
import { closePeer, createPeer, entryData, eventually, id, locationData, waitForState, writeMany, type TestPeer } from './support/library.js';

describe('sync state machine, progress and metrics', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('goes Uninitialized → Paused → Backfilling → Ready → Paused → CatchingUp → Ready with honest progress', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 300 });
    const b = await createPeer(network, 'device-b', { pageSize: 300 });
    peers.push(a, b);
    await a.node.start();
    await writeMany(a, 'location', 7, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', 2000, (n) => ({ id: id('ent', n), data: entryData(n, 7) }));
    await a.node.delete('entry', [id('ent', 1999)]);

    const states: SyncState[] = [];
    const progress: SyncProgress[] = [];
    const peerEvents: PeerStatus[] = [];
    b.node.state$.subscribe((s) => states.push(s));
    b.node.progress$.subscribe((p) => progress.push(p));
    b.node.peers$.subscribe((p) => peerEvents.push(p));
    await b.node.start();
    await waitForState(b.node, 'paused');
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;

    expect(states).toEqual(['uninitialized', 'backfilling', 'paused', 'backfilling', 'ready']);
    const backfill = progress.filter((p) => p.phase === 'backfill' && p.total > 0);
    // Total = what A announced (7 locations + 1999 entries), not a constant; ratio never goes back.
    expect(backfill[0]!.total).toBe(2006);
    expect(backfill.at(-1)).toMatchObject({ applied: 2007, ratio: 1 }); // 1999 entries + 1 tombstone + 7 locations
    for (let i = 1; i < backfill.length; i++) expect(backfill[i]!.ratio).toBeGreaterThanOrEqual(backfill[i - 1]!.ratio);
    expect(backfill.some((p) => p.ratio > 0 && p.ratio < 1)).toBe(true);
    expect(peerEvents[0]).toMatchObject({ peerId: 'device-a', connected: true });

    network.disconnect('device-a', 'device-b');
    expect(b.node.state).toBe('paused');
    expect(peerEvents.at(-1)).toMatchObject({ peerId: 'device-a', deviceId: 'device-a', connected: false });
    await a.node.write('location', [{ id: id('loc', 100), data: locationData(100) }]);
    const again = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await again;
    expect(states.slice(5)).toEqual(['paused', 'catching-up', 'ready']);

    const metrics = b.node.metrics();
    expect(metrics.backfillsCompleted).toBe(1);
    expect(metrics.catchUpsCompleted).toBe(1);
    // 1999 entries stored; the tombstone of the 2000th was kept but changed no row.
    expect(metrics.appliedByModel['entry']).toBe(1999);
    expect(await b.storage.syncStore.getTombstones('entry', [id('ent', 1999)])).toHaveProperty('size', 1);
  });

  it('keeps metrics across a restart', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b');
    peers.push(a, b);
    await a.node.start();
    await writeMany(a, 'location', 12, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await b.node.start();
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    expect(b.node.metrics().changesApplied).toBe(12);
    await b.node.stop();
    const before = b.node.metrics();
    expect(before.messagesReceived).toBeGreaterThan(0);
    await b.storage.close();
    peers.splice(peers.indexOf(b), 1);
    const restarted = await createPeer(network, 'device-b', { directory: b.directory });
    peers.push(restarted);
    expect(restarted.node.metrics()).toEqual(before);
  });

  it('still backfills from the first peer that holds the library when the first peer it met held nothing', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 200 });
    const empty = await createPeer(network, 'device-b');
    const fresh = await createPeer(network, 'device-c', { pageSize: 200 });
    peers.push(a, empty, fresh);
    await a.node.start();
    await writeMany(a, 'location', 3, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', 1000, (n) => ({ id: id('ent', n), data: entryData(n, 3) }));
    await empty.node.start();
    await fresh.node.start();

    const states: SyncState[] = [];
    const phases = new Set<string>();
    fresh.node.state$.subscribe((s) => states.push(s));
    fresh.node.progress$.subscribe((p) => phases.add(p.phase));
    const metOnlyEmpty = waitForState(fresh.node, 'ready');
    network.connect('device-b', 'device-c');
    await metOnlyEmpty;
    // Nothing was pulled and the node holds nothing: no library was backfilled yet.
    expect(await fresh.storage.syncStore.getSyncState(BACKFILL_COMPLETED_AT)).toBeNull();
    expect(fresh.node.metrics().backfillsCompleted).toBe(0);

    states.length = 0;
    phases.clear();
    network.connect('device-a', 'device-c');
    await eventually(async () => (await fresh.node.count('entry')) === 1000 && fresh.node.state === 'ready', 'device-c to hold the library');
    expect(states).toContain('backfilling');
    expect(states).not.toContain('catching-up');
    expect([...phases]).toEqual(['backfill']);
    expect(await fresh.storage.syncStore.getSyncState(BACKFILL_COMPLETED_AT)).not.toBeNull();
    expect(fresh.node.metrics().backfillsCompleted).toBe(1);

    // A node that holds data of its own (device-a, which wrote it) completes its first pass, peers empty or not.
    expect(await a.storage.syncStore.getSyncState(BACKFILL_COMPLETED_AT)).not.toBeNull();
  });
});
