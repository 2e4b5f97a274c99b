import { afterEach, describe, expect, it } from '@jest/globals';
import { PeerProcess, type PeerRef } from './support/peer-process.js';

type Counts = Record<string, number>;
const SIZE = { locations: 50, entries: 15_000, volumes: 10, tags: 5 };

/**
 * The watermark-fix scenario with each device in its own OS process over a real transport:
 * the receiver is disconnected mid-backfill and reconnected, then the serving process is
 * killed (SIGKILL) mid-backfill and restarted on the same files; everything converges.
 */
describe.each(['libp2p', 'http'] as const)('engine across OS processes over %s', (transport) => {
  const processes: PeerProcess[] = [];
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.dispose();
  });

  it('survives a disconnect mid-backfill and a killed, restarted serving process', async () => {
    const a = new PeerProcess('device-a', transport);
    const b = new PeerProcess('device-b', transport);
    processes.push(a, b);
    await Promise.all([a.start(['--page-size', '500']), b.start(['--page-size', '500'])]);
    const idA = await a.command<PeerRef>('identity');
    const idB = await b.command<PeerRef>('identity');
    await a.command('members', { peers: [idB] });
    await b.command('members', { peers: [idA] });
    await a.command('generate', { size: SIZE }, 120_000);

    const entriesPast = (n: number) => (e: { event: string } & Record<string, unknown>) => {
      const p = e['progress'] as { current: { resource: string } | null; applied: number } | undefined;
      return e.event === 'progress' && p?.current?.resource === 'entry' && p.applied >= n;
    };

    // 1. Disconnect once B is 3 000 entries in; B pauses with part of the entries (what was in
    // flight, up to two responses of four pages, is applied first).
    const midway = b.waitFor(entriesPast(3_000), '3 000 entries on B');
    await b.command('connect', { peer: idA });
    await midway;
    await b.command('disconnect', { peerId: idA.peerId });
    await b.waitForState('paused');
    const partial = (await b.command<Counts>('counts'))['entry']!;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(SIZE.entries);

    // 2. Reconnect; kill A (SIGKILL) while it serves B's backfill, 1 000 entries into the
    // resumed pass (progress counts a pass's own records).
    const further = b.waitFor(entriesPast(1_000), 'B resuming');
    await b.command('connect', { peer: idA });
    await further;
    await a.kill();
    await b.waitForState('paused');
    const beforeRestart = (await b.command<Counts>('counts'))['entry']!;
    expect(beforeRestart).toBeLessThan(SIZE.entries);

    // 3. A restarts on the same files with the same identity; B finishes.
    await a.start(['--page-size', '500']);
    const idA2 = await a.command<PeerRef>('identity');
    expect(idA2.peerId).toBe(idA.peerId);
    await a.command('members', { peers: [idB] });
    const ready = b.waitForState('ready');
    await b.command('connect', { peer: idA2 });
    await ready;

    const [countsA, countsB] = await Promise.all([a.command<Counts>('counts'), b.command<Counts>('counts')]);
    expect(countsA).toEqual({ location: SIZE.locations, entry: SIZE.entries, tag: SIZE.tags, volume: SIZE.volumes });
    expect(countsB).toEqual(countsA);
    const [digestA, digestB] = await Promise.all([a.command('digest'), b.command('digest')]);
    expect(digestB).toEqual(digestA);
  }, 240_000);
});
