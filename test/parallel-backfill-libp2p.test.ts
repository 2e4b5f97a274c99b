import { afterEach, describe, expect, it } from '@jest/globals';
import { entryRecords, locationRecords } from '@highwater/cli';
import { PeerProcess, type PeerRef } from './support/peer-process.js';
import { expectHonestProgress, passes } from './support/progress.js';

type Counts = Record<string, number>;
type Digests = Record<string, string>;
type ByOwner = Record<string, Record<string, { count: number; digest: string }>>;
interface Progress {
  readonly phase: string;
  readonly applied: number;
  readonly total: number;
  readonly ratio: number;
  readonly current: { owner: string; resource: string; peerId: string } | null;
}
/** A response C received to one of its requests, as it came off the wire (sync-peer --wire-events). */
interface Wire {
  readonly peerId: string;
  readonly type: string;
  readonly owner?: string;
  readonly model?: string;
  readonly changes: number;
  /** ms, C's clock */
  readonly at: number;
}
type PeerEvent = { event: string } & Record<string, unknown>;

const PAGE_SIZE = 250;
/** The engine's default pages per request: one response holds up to this many pages. */
const PAGES_PER_REQUEST = 4;
const PAGE = ['--page-size', String(PAGE_SIZE)];
// Slow disks (every page read waits first), so both pulls last long enough to overlap and A can
// be killed mid-stream: A 150 ms a response (its 20 000 entries take ~3 s), B 100 ms (its 5 000
// ~0.7 s, then the rest of A's after the failover).
const A_ARGS = [...PAGE, '--read-delay-ms', '150'];
const B_ARGS = [...PAGE, '--read-delay-ms', '100'];
// C starts its node once connected to both (its one backfill plans with A and B) and reports
// every response it receives. parallelPulls is the default (3).
const C_ARGS = [...PAGE, '--defer-start', '--wire-events'];
const LOCATIONS = 5;
const A_ENTRIES = 20_000;
const B_ENTRIES = 5_000;
const TOTAL = LOCATIONS + A_ENTRIES + B_ENTRIES;

async function writeEntries(p: PeerProcess, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += 1000) {
    await p.command('write', { model: 'entry', records: entryRecords(start, Math.min(1000, from + count - start), LOCATIONS) });
  }
}

async function countsReach(p: PeerProcess, model: string, n: number, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const counts = await p.command<Counts>('counts');
    if (counts[model] === n) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Issue #17 over real libp2p on loopback, each device its own OS process with its own SQLite
 * files: A owns 20 000 entries (and the locations), B holds all of them and owns 5 000 more. C,
 * fresh, backfills from both at once: A's stream from A, B's from B. A is SIGKILLed at a random
 * point of its stream; C moves A's stream to B from its checkpoint, completes, and holds exactly
 * what B holds, having fetched nothing twice beyond the response in flight at the switch.
 * Replay a failure with HW_KILL_AT=<the logged kill point>.
 */
describe('parallel backfill across OS processes over libp2p', () => {
  const processes: PeerProcess[] = [];
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.dispose();
  });

  it('C pulls A’s and B’s streams at once; A is killed mid-stream; C completes from B, exact, nothing fetched twice beyond a response', async () => {
    const killAt = process.env['HW_KILL_AT'] ? Number(process.env['HW_KILL_AT']) : 3000 + Math.floor(Math.random() * 13_000);
    console.log(`parallel-backfill-libp2p: A is killed once C applied ${killAt} of A's entries from A (replay: HW_KILL_AT=${killAt})`);

    const a = new PeerProcess('device-a', 'libp2p');
    const b = new PeerProcess('device-b', 'libp2p');
    const c = new PeerProcess('device-c', 'libp2p');
    processes.push(a, b, c);
    await Promise.all([a.start(A_ARGS), b.start(B_ARGS), c.start(C_ARGS)]);
    const [idA, idB, idC] = (await Promise.all([a, b, c].map((p) => p.command<PeerRef>('identity')))) as [PeerRef, PeerRef, PeerRef];
    await a.command('members', { peers: [idB, idC] });
    await b.command('members', { peers: [idA, idC] });
    await c.command('members', { peers: [idA, idB] });

    // 1. A writes its locations and 20 000 entries; B syncs all of them, then writes 5 000 of its
    // own (which reach A live: A holds B's stream too, but B, its owner, is C's source for it).
    await a.command('write', { model: 'location', records: locationRecords(LOCATIONS) });
    await writeEntries(a, 0, A_ENTRIES);
    const bReady = b.waitForState('ready', 30_000);
    await b.command('connect', { peer: idA });
    await bReady;
    await countsReach(b, 'entry', A_ENTRIES, 'B holding A’s entries');
    await writeEntries(b, A_ENTRIES, B_ENTRIES);
    await countsReach(b, 'entry', A_ENTRIES + B_ENTRIES, 'B holding its own entries');
    await countsReach(a, 'entry', A_ENTRIES + B_ENTRIES, 'A holding B’s entries');
    const ownersOfB = await b.command<ByOwner>('owners');
    expect(Object.fromEntries(Object.entries(ownersOfB['entry'] ?? {}).map(([o, v]) => [o, v.count]))).toEqual({ 'device-a': A_ENTRIES, 'device-b': B_ENTRIES });

    // 2. C connects to A and B, then starts its backfill. Everything C reports is recorded in
    // arrival order; once C applied `killAt` of A's entries from A, A is SIGKILLed.
    const progress: Progress[] = [];
    const wire: Wire[] = [];
    let lastApplied = 0;
    let fromAApplied = 0;
    let kill: { wire: number; progress: number; fromAApplied: number; done: Promise<void> } | null = null;
    const unsubscribe = c.onEvent((e: PeerEvent) => {
      if (e.event === 'wire') wire.push(e as unknown as Wire);
      if (e.event !== 'progress') return;
      const p = e['progress'] as Progress;
      progress.push(p);
      const processed = p.applied - (p.current === null ? p.applied : lastApplied);
      lastApplied = p.applied;
      if (p.current?.peerId === idA.peerId && p.current.owner === 'device-a' && p.current.resource === 'entry') fromAApplied += processed;
      if (!kill && fromAApplied >= killAt) kill = { wire: wire.length, progress: progress.length, fromAApplied, done: a.kill() };
    });
    const backfilled = c.waitFor((e) => e.event === 'state' && e['state'] === 'ready', 'C ready after its backfill', 45_000);
    const started = performance.now();
    await c.command('connect', { peer: idA });
    await c.command('connect', { peer: idB });
    await c.command('start');
    await backfilled;
    const backfillMs = performance.now() - started;
    unsubscribe();
    expect(kill).not.toBeNull();
    const killed = kill!;
    await killed.done;
    await b.command('status'); // B still up and answering

    // 3. C holds exactly what B holds: the same counts, per model and per (owner, model), the same records.
    const [countsB, countsC] = await Promise.all([b.command<Counts>('counts'), c.command<Counts>('counts')]);
    expect(countsC).toMatchObject({ location: LOCATIONS, entry: A_ENTRIES + B_ENTRIES });
    expect(countsC).toEqual(countsB);
    const [ownersB, ownersC] = await Promise.all([b.command<ByOwner>('owners'), c.command<ByOwner>('owners')]);
    expect(ownersC).toEqual(ownersB);
    const [digestB, digestC] = await Promise.all([b.command<Digests>('digest'), c.command<Digests>('digest')]);
    expect(digestC).toEqual(digestB);

    // 4. From the wire: the entry pages C received, by who sent them and whose stream they carry.
    const entryPages = (w: readonly Wire[], peer: PeerRef, owner: string) =>
      w.filter((x) => x.type === 'state-response' && x.model === 'entry' && x.peerId === peer.peerId && x.owner === owner);
    const changesOf = (w: readonly Wire[]) => w.reduce((n, x) => n + x.changes, 0);
    const beforeKill = wire.slice(0, killed.wire);
    const aFromA = entryPages(beforeKill, idA, 'device-a');
    const bFromB = entryPages(beforeKill, idB, 'device-b');
    const first = (w: readonly Wire[]) => Math.min(...w.map((x) => x.at));
    const last = (w: readonly Wire[]) => Math.max(...w.map((x) => x.at));
    const summary = {
      killAt,
      fromAAppliedAtKill: killed.fromAApplied,
      backfillMs: Math.round(backfillMs),
      beforeKill: { pagesOfAFromA: aFromA.length, pagesOfBFromB: bFromB.length },
      spansMs:
        aFromA.length > 0 && bFromB.length > 0
          ? { aFromA: [0, Math.round(last(aFromA) - first(aFromA))], bFromB: [Math.round(first(bFromB) - first(aFromA)), Math.round(last(bFromB) - first(aFromA))] }
          : null,
    };
    console.log(`parallel-backfill-libp2p: ${JSON.stringify(summary)}`);

    // Both served during the same period, before A died: each sent several pages, and the spans
    // of their arrivals overlap (B's first before A's last, A's first before B's last).
    expect({
      pagesOfAFromA: aFromA.length >= 2,
      pagesOfBFromB: bFromB.length >= 2,
      bStartedBeforeALast: bFromB.length > 0 && aFromA.length > 0 && first(bFromB) < last(aFromA),
      aStartedBeforeBLast: bFromB.length > 0 && aFromA.length > 0 && first(aFromA) < last(bFromB),
    }).toEqual({ pagesOfAFromA: true, pagesOfBFromB: true, bStartedBeforeALast: true, aStartedBeforeBLast: true });
    // The same from C's progress: events naming B come between the first and last naming A.
    const names = (peer: PeerRef, owner: string) => (p: Progress) => p.current?.resource === 'entry' && p.current.peerId === peer.peerId && p.current.owner === owner;
    const progressBeforeKill = progress.slice(0, killed.progress);
    const firstA = progressBeforeKill.findIndex(names(idA, 'device-a'));
    const lastA = progressBeforeKill.findLastIndex(names(idA, 'device-a'));
    expect(progressBeforeKill.slice(firstA + 1, lastA).some(names(idB, 'device-b'))).toBe(true);

    // The owner served its stream while connected: nothing of B's came from A.
    expect(wire.filter((x) => x.type === 'state-response' && x.peerId === idA.peerId && x.owner === 'device-b')).toEqual([]);
    // A was killed mid-stream, and C continued A's stream from B in the same pass.
    const aFromB = entryPages(wire, idB, 'device-a');
    const aFromAAll = entryPages(wire, idA, 'device-a');
    expect(changesOf(aFromAAll)).toBeLessThan(A_ENTRIES);
    expect(aFromB.length).toBeGreaterThan(0);
    expect(passes(progress)).toHaveLength(1);

    // Nothing fetched twice beyond one response (PAGES_PER_REQUEST pages) per switch: one switch here.
    const inFlight = PAGE_SIZE * PAGES_PER_REQUEST;
    const aStreamReceived = changesOf(aFromAAll) + changesOf(aFromB);
    expect(aStreamReceived).toBeGreaterThanOrEqual(A_ENTRIES);
    expect(aStreamReceived).toBeLessThanOrEqual(A_ENTRIES + inFlight);
    expect(changesOf(entryPages(wire, idB, 'device-b'))).toBe(B_ENTRIES);
    const status = await c.command<{ metrics: { changesFetched: number } }>('status');
    console.log(`parallel-backfill-libp2p: A's stream received ${aStreamReceived} (${changesOf(aFromAAll)} from A, ${changesOf(aFromB)} from B); changesFetched ${status.metrics.changesFetched}`);
    expect(status.metrics.changesFetched).toBeLessThanOrEqual(TOTAL + inFlight);
    expect(status.metrics.changesFetched).toBeGreaterThanOrEqual(TOTAL);

    // Progress: within each pass it only grows; the last event is exactly 100 %.
    expectHonestProgress(progress);
    const final = progress.at(-1)!;
    expect(final.applied).toBeGreaterThanOrEqual(TOTAL);
    expect(final.applied).toBeLessThanOrEqual(TOTAL + inFlight);
  }, 60_000);
});
