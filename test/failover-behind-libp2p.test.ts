import { afterEach, describe, expect, it } from '@jest/globals';
import { entryRecords, locationRecords } from '@highwater/cli';
import { PeerProcess, type PeerRef } from './support/peer-process.js';

type Counts = Record<string, number>;
type Digests = Record<string, string>;
interface Hlc {
  readonly time: number;
  readonly counter: number;
  readonly deviceId: string;
}
interface Status {
  readonly state: string;
  readonly watermarks: { owner: string; resource: string; hlc: Hlc }[];
}
interface Progress {
  readonly applied: number;
  readonly total: number;
  readonly current: { owner: string; resource: string; peerId: string } | null;
}
type PeerEvent = { event: string } & Record<string, unknown>;

const PAGE = ['--page-size', '250'];
// A reads its pages slowly (100 ms each): the response after the one C is applying when A is
// killed has not left yet, so C holds ~1 750 of A's entries, not more than B has.
const SLOW_A = [...PAGE, '--read-delay-ms', '100'];
const LOCATIONS = 5;
const locations = locationRecords(LOCATIONS);

const compareHlc = (a: Hlc, b: Hlc): number => a.time - b.time || a.counter - b.counter || (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0);

async function writeEntries(p: PeerProcess, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += 1000) {
    await p.command('write', { model: 'entry', records: entryRecords(start, Math.min(1000, from + count - start), LOCATIONS) });
  }
}

async function entryMark(p: PeerProcess, owner: string): Promise<Hlc | undefined> {
  const status = await p.command<Status>('status');
  return status.watermarks.find((w) => w.owner === owner && w.resource === 'entry')?.hlc;
}

/**
 * Failover to a holder that is behind, each device its own OS process over libp2p on loopback:
 * A owns 4 000 entries, B holds A's first 2 000. C backfills from A (the owner, its first source);
 * A is killed (SIGKILL) 1 500 entries in, C continues from B's copy, then A restarts on its files.
 * C must end with all 4 000: after the failover its watermark of (A, entry) may only cover what
 * B served, never the head A had announced, or the catch-up from the returning A fetches nothing.
 */
describe('failover to a holder that is behind, across OS processes over libp2p', () => {
  const processes: PeerProcess[] = [];
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.dispose();
  });

  it('C gets B’s 2 000 after A is killed, its watermark stops there, and the rest comes when A returns', async () => {
    const a = new PeerProcess('device-a', 'libp2p');
    const b = new PeerProcess('device-b', 'libp2p');
    const c = new PeerProcess('device-c', 'libp2p');
    processes.push(a, b, c);
    // C's node starts only once it is connected to both A and B: its first pass plans with both.
    await Promise.all([a.start(SLOW_A), b.start(PAGE), c.start([...PAGE, '--defer-start'])]);
    const [idA, idB, idC] = (await Promise.all([a, b, c].map((p) => p.command<PeerRef>('identity')))) as [PeerRef, PeerRef, PeerRef];
    await a.command('members', { peers: [idB, idC] });
    await b.command('members', { peers: [idA, idC] });
    await c.command('members', { peers: [idA, idB] });

    // 1. A writes its locations and first 2 000 entries; B syncs them and is cut off from A.
    await a.command('write', { model: 'location', records: locations });
    await writeEntries(a, 0, 2000);
    const bReady = b.waitForState('ready', 30_000);
    await b.command('connect', { peer: idA });
    await bReady;
    expect(await b.command<Counts>('counts')).toMatchObject({ location: LOCATIONS, entry: 2000 });
    await b.command('disconnect', { peerId: idA.peerId });
    await b.waitForState('paused', 10_000);
    const headOfB = await entryMark(b, 'device-a');
    expect(headOfB).toBeDefined();

    // 2. A writes 2 000 more, which B never sees.
    await writeEntries(a, 2000, 2000);
    expect(await a.command<Counts>('counts')).toMatchObject({ location: LOCATIONS, entry: 4000 });
    expect(await b.command<Counts>('counts')).toMatchObject({ entry: 2000 });
    const headOfA = (await entryMark(a, 'device-a'))!;
    expect(compareHlc(headOfA, headOfB!)).toBeGreaterThan(0);
    const digestOfB = await b.command<Digests>('digest');

    // 3. C meets A and B, then starts: it backfills from A (the owner, its first source), and
    // once it has 1 500 entries from A, A is killed where it stands. C goes on with B.
    // Every progress event of C's backfill, up to its first 'ready' (the backfill complete).
    const progress: Progress[] = [];
    const backfilled = c.waitFor(
      (e: PeerEvent) => {
        if (e.event === 'progress') progress.push(e['progress'] as Progress);
        return e.event === 'state' && e['state'] === 'ready';
      },
      'C ready after the failover',
      30_000,
    );
    const fromA = (n: number) => (e: PeerEvent) => {
      const p = e['progress'] as Progress | undefined;
      return e.event === 'progress' && p?.current?.resource === 'entry' && p.current.peerId === idA.peerId && p.applied >= n;
    };
    const killPoint = c.waitFor(fromA(1500), '1 500 entries on C from A', 30_000).then(() => a.kill());
    await c.command('connect', { peer: idA });
    await c.command('connect', { peer: idB });
    await c.command('start');
    await killPoint;
    await backfilled;
    await b.command('status'); // B still up and answering
    const afterFailover = await c.command<Counts>('counts');
    const markAfterFailover = await entryMark(c, 'device-a');
    const digestAfterFailover = await c.command<Digests>('digest');

    // A really was cut mid-stream, and C really continued from B in the same pass (no new pass
    // began in between: the pull still knew the head A had announced when it switched to B).
    const entryFrom = (peer: PeerRef) => (p: Progress) => p.current?.resource === 'entry' && p.current.peerId === peer.peerId;
    const lastFromA = progress.findLastIndex(entryFrom(idA));
    const firstFromB = progress.findIndex(entryFrom(idB));
    expect(progress[lastFromA]?.applied).toBeGreaterThanOrEqual(1500);
    expect(firstFromB).toBeGreaterThan(lastFromA);
    expect(progress.slice(lastFromA, firstFromB + 1).every((p) => p.current !== null && p.total === progress[lastFromA]!.total)).toBe(true);

    // B served up to its head: C holds exactly B's 2 000 (the same records) …
    expect(afterFailover).toMatchObject({ location: LOCATIONS, entry: 2000 });
    expect(digestAfterFailover['entry']).toBe(digestOfB['entry']);

    // 4. A restarts on the same files (same identity, a new port) and meets C again.
    await a.start(SLOW_A);
    const idA2 = await a.command<PeerRef>('identity');
    expect(idA2.peerId).toBe(idA.peerId);
    await a.command('members', { peers: [idB, idC] });
    const caughtUp = c.waitFor((e) => e.event === 'state' && e['state'] === 'ready', 'C ready after A returned', 30_000);
    await c.command('connect', { peer: idA2 });
    await caughtUp;
    // Bounded: a catch-up of 2 000 entries over loopback takes well under a second.
    let countsC = await c.command<Counts>('counts');
    for (const deadline = Date.now() + 10_000; countsC['entry'] !== 4000 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      countsC = await c.command<Counts>('counts');
    }

    // … and its watermark of (A, entry) said only that (B's head, not the head A had announced),
    // so when A returns, C fetches the 2 000 it lacks and ends with A's 4 000.
    expect({
      watermarkAfterFailover: markAfterFailover,
      watermarkBeyondWhatCHeld: markAfterFailover !== undefined && compareHlc(markAfterFailover, headOfB!) > 0,
      watermarkIsHeadAAnnounced: markAfterFailover !== undefined && compareHlc(markAfterFailover, headOfA) === 0,
      entriesOnCAfterAReturned: countsC['entry'],
    }).toEqual({
      watermarkAfterFailover: headOfB,
      watermarkBeyondWhatCHeld: false,
      watermarkIsHeadAAnnounced: false,
      entriesOnCAfterAReturned: 4000,
    });
    const countsA = await a.command<Counts>('counts');
    expect(countsA).toMatchObject({ location: LOCATIONS, entry: 4000 });
    expect(countsC).toEqual(countsA);
    const [digestA, digestC] = await Promise.all([a.command<Digests>('digest'), c.command<Digests>('digest')]);
    expect(digestC).toEqual(digestA);
    expect(await entryMark(c, 'device-a')).toEqual(headOfA);
  }, 60_000);
});
