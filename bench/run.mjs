// npm run bench [-- --quick]: measures Highwater against its floors in one run and writes
// BENCHMARKS.md. Benchmarks are commands, never test assertions.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { postgresFloor, sqliteFloor } from './floors.mjs';
import { measureStages } from './stages.mjs';
import { medianRunOf, parallelBackfill, parallelRatio, syncDbSize } from './multi-peer.mjs';
import { BenchPeer } from './processes.mjs';
import { httpStress } from './http-stress.mjs';
import { scrubCost } from './scrub.mjs';
import { relayedBackfill, relayedBackfillOverTransport } from './relayed.mjs';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } } });
// `--only parallel,syncdb` runs those stages alone. Such a run writes no file unless `--out`
// names one: its report lacks the other stages, and BENCHMARKS.md is a full run's.
const STAGES = ['backfill', 'in-process', 'postgres', 'stages', 'relayed', 'parallel', 'syncdb', 'http-stress', 'scrub'];
const only = args.only ? args.only.split(',').map((x) => x.trim()) : null;
const unknown = (only ?? []).filter((x) => !STAGES.includes(x));
if (unknown.length > 0) {
  console.error(`Unknown stage ${unknown.join(', ')}; stages: ${STAGES.join(', ')}`);
  process.exit(2);
}
const runs = (stage) => only === null || only.includes(stage);
const out = args.out ?? (only ? null : 'BENCHMARKS.md');
if (!existsSync(new URL('../packages/cli/dist/index.js', import.meta.url))) {
  console.error('Build first: npm run build');
  process.exit(2);
}
const PAGE = 1000;
// The default: SQLite on the main thread. `--record-thread worker` (recordStoreThread: 'worker')
// is measured in the before/after table: it helps a lone receiver, but not both peers at once.
const SQLITE_THREAD = ['--record-thread', process.env.HW_BENCH_RECORD_THREAD ?? 'main'];
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const plan = args.quick
  ? {
      sizes: [20_000],
      transports: ['libp2p', 'http'],
      postgres: [20_000],
      probes: 1_000,
      catchUpRounds: 3,
      freshPairs: 1,
      parallel: { total: 20_000, rounds: 1 },
      relayed: { n: 20_000, rounds: 1 },
      relayedLibp2p: { n: 20_000, rounds: 1 },
      syncDb: { entries: 20_000, deletes: 2_000, updates: 2_000 },
      httpStress: { n: 20_000, rounds: 1 },
      scrub: { n: 20_000, rounds: 1 },
    }
  : {
      sizes: [100_000, 1_000_000],
      transports: ['libp2p', 'http'],
      postgres: [100_000],
      probes: 10_000,
      catchUpRounds: 5,
      freshPairs: 3,
      parallel: { total: 100_000, rounds: 3 },
      relayed: { n: 50_000, rounds: 7 },
      relayedLibp2p: { n: 50_000, rounds: 9 },
      syncDb: { entries: 100_000, deletes: 10_000, updates: 10_000 },
      httpStress: { n: 100_000, rounds: 3 },
      scrub: { n: 100_000, rounds: 3 },
    };

const results = [];
const mb = (bytes) => Math.round(bytes / 1048576);
const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);

async function pair(transport, receiverArgs = []) {
  const a = new BenchPeer('device-a', transport, ['--page-size', String(PAGE), ...SQLITE_THREAD]);
  const b = new BenchPeer('device-b', transport, ['--page-size', String(PAGE), ...SQLITE_THREAD, ...receiverArgs]);
  await Promise.all([a.ready, b.ready]);
  const [idA, idB] = await Promise.all([a.command('identity'), b.command('identity')]);
  // Only A knows B for now: B joins with `connect` once A holds the data (an HTTP member list
  // connects at once, and B would backfill an empty library and then only catch up).
  await a.command('members', { peers: [idB] });
  return { a, b, idA, idB };
}

/**
 * A backfill of n entries into a fresh pair of processes, `pairs` times (a new pair each time;
 * the last is returned for what follows): the row is the run of median ratio to its floor, and
 * names the others. At 100k one run varies by a tenth with this machine's speed.
 */
async function backfill({ transport, n, storage = 'sqlite', pairs = 1 }) {
  const receiverArgs = storage === 'postgres' ? ['--storage', 'postgres', '--schema', `hw_bench_${process.pid}_${n}`, '--pg-url', PG_URL] : [];
  const runs = [];
  let peers;
  for (let round = 0; round < pairs; round++) {
    if (peers) await Promise.all([peers.a.stop(), peers.b.stop()]);
    peers = await pair(transport, receiverArgs);
    log(`generating ${n} entries on A`);
    await peers.a.command('generate', { from: 0, count: n });
    runs.push(await measureBackfill(peers, { transport, n, storage, device: 'device-b', what: `backfill → ${storage}` }));
  }
  results.push(medianRun(runs));
  return peers;
}

/** The run of median ratio to its floor; with several, its note lists every run's ratio. */
function medianRun(runs) {
  const ratio = (r) => r.rate / r.floor;
  const sorted = [...runs].sort((x, y) => ratio(x) - ratio(y));
  const median = sorted[Math.floor(sorted.length / 2)];
  if (runs.length === 1) return median;
  const all = runs.map((r) => ratio(r).toFixed(2)).join(', ');
  return { ...median, note: `the median by ratio to the floor of ${runs.length} runs, each in a new pair of processes (in order: ${all}); ${median.note}` };
}

/**
 * The same backfill again into a second device opened in the receiving process, after that
 * process (and the sender) ran the first: how much of a backfill's pace is a fresh process's.
 */
async function warmBackfill(peers, { transport, n }) {
  const { a, b, idB } = peers;
  const idC = await b.command('addDevice', { name: 'device-c' });
  const measured = measureBackfill(peers, { transport, n, storage: 'sqlite', device: 'device-c', what: 'backfill → sqlite, warm processes', warm: true });
  // Over HTTP a member list connects at once; the measurement is already listening.
  await a.command('members', { peers: [idB, idC] });
  results.push(await measured);
  await b.command('disconnect', { device: 'device-c', peerId: peers.idA.peerId });
  await b.command('closeDevice', { name: 'device-c' });
  await a.command('members', { peers: [idB] });
}

/** Device `device` of B's process connects to A and backfills its n entries: the result row. */
async function measureBackfill({ a, b, idA }, { transport, n, storage, device, what, warm = false }) {
  const sourcePath = join(a.dir, 'database.db');
  // The floor runs right before and right after the backfill: this machine's speed drifts by a
  // fifth within a minute, and the two together bracket the backfill's conditions.
  const runFloor = () => (storage === 'postgres' ? postgresFloor(sourcePath, PAGE, PG_URL) : sqliteFloor(sourcePath, PAGE));
  const floorBefore = await runFloor();
  log(`backfill ${n} over ${transport} into ${storage}${warm ? ' (warm processes)' : ''}`);
  await b.command('entryBatches', { device }); // nothing yet, but start from empty
  // The in-process reference hosts both devices in one process (a and b are the same peer).
  const oneProcess = a === b;
  const [cpuBefore, senderCpuBefore] = await Promise.all([b.command('cpu'), a.command('cpu')]);
  const catching = b.nextState('backfilling', device);
  const ready = b.nextState('ready', device);
  await b.command('connect', { peer: idA, device });
  const started = (await catching).at;
  const seconds = ((await ready).at - started) / 1000;
  const [cpuAfter, senderCpuAfter] = await Promise.all([b.command('cpu'), a.command('cpu')]);
  const status = await b.command('status', { device });
  // How busy the receiver was: near 100% means its main thread, not the wire, sets the pace.
  // Both processes' CPU per 1000 records (all threads): on two cores their sum over two bounds
  // the pace however well the two overlap.
  const cpuMs = (before, after) => (after.user - before.user + after.system - before.system) / 1000;
  const busy = cpuMs(cpuBefore, cpuAfter) / 1000 / seconds;
  const perThousand = (ms) => (ms / (n / 1000)).toFixed(1);
  if (status.entries !== n) throw new Error(`${device} has ${status.entries} entries, expected ${n}`);
  const { batches, threads } = await b.command('entryBatches', { device });
  const pace = warmUpSplit(started, batches, threads);
  const liveHeap = warm ? undefined : await b.command('liveHeap');
  const floor = combineFloors(floorBefore, await runFloor());
  const result = {
    what,
    transport,
    n,
    rate: n / seconds,
    floor: floor.rate,
    rss: warm ? undefined : status.maxRssBytes,
    liveHeap,
    note: `${seconds.toFixed(2)} s, ${oneProcess ? 'the process' : 'receiver'} CPU ${Math.round(busy * 100)}% busy; CPU per 1000 records: ${oneProcess ? `the process (both devices) ${perThousand(cpuMs(cpuBefore, cpuAfter))} ms` : `receiver ${perThousand(cpuMs(cpuBefore, cpuAfter))} ms, sender ${perThousand(cpuMs(senderCpuBefore, senderCpuAfter))} ms`}; floor ${floor.seconds.toFixed(2)} s (${floor.describe})${pace ? `; ${pace.describe(floor.rate)}` : ''}`,
  };
  log(`  ${Math.round(n / seconds)} records/s, floor ${Math.round(floor.rate)}/s (${(n / seconds / floor.rate).toFixed(2)})${warm ? '' : `, peak RSS ${mb(status.maxRssBytes)} MB`}`);
  return result;
}

/** The floor of a backfill from its runs before and after: their records over their time. */
function combineFloors(before, after) {
  const seconds = (before.seconds + after.seconds) / 2;
  const rate = (before.count + after.count) / (before.seconds + after.seconds);
  const reads = before.readRate ? `; plain page reads alone ${Math.round((before.readRate + after.readRate) / 2)}/s` : '';
  return { rate, seconds, describe: `${Math.round(before.rate)}/s before the backfill, ${Math.round(after.rate)}/s after${reads}` };
}

/**
 * The reference: both devices in one process, over the in-process transport (no network stack,
 * no second process; messages are still encoded and decoded), durable SQLite on both sides.
 */
async function inProcessBackfill(n) {
  const a = new BenchPeer('device-a', 'in-process', ['--page-size', String(PAGE), ...SQLITE_THREAD]);
  await a.ready;
  const idA = await a.command('identity');
  log(`generating ${n} entries on A (in-process reference)`);
  await a.command('generate', { from: 0, count: n });
  await a.command('addDevice', { name: 'device-b' });
  const peers = { a, b: a, idA };
  results.push(await measureBackfill(peers, { transport: 'in-process', n, storage: 'sqlite', device: 'device-b', what: 'backfill → sqlite, one process' }));
  await a.stop();
}

/**
 * Splits a backfill's time into its start (until the first page is stored), its first pages
 * (a fresh process runs unoptimised code; the floor's script has little JavaScript to warm up)
 * and the rest, from when each page was stored on the receiver.
 */
function warmUpSplit(started, batches, threads, warmPages = 20) {
  if (batches.length <= warmPages + 10) return null;
  // From the receiver's main thread's schedstat at pages 1, 21 and the last (Linux only).
  const [t1, t21, tEnd] = threads;
  const perPage = (from, to, key, pages) => ((to[key] - from[key]) / pages).toFixed(1);
  const cores =
    t1 && t21 && tEnd
      ? `; per page, receiver main thread ran ${perPage(t1, t21, 'mainRun', warmPages)} ms and waited for a core ${perPage(t1, t21, 'mainWait', warmPages)} ms in the next ${warmPages} (its other threads, V8's compiler and GC, ran ${perPage(t1, t21, 'otherRun', warmPages)} ms), then ${perPage(t21, tEnd, 'mainRun', batches.length - warmPages - 1)}, ${perPage(t21, tEnd, 'mainWait', batches.length - warmPages - 1)} and ${perPage(t21, tEnd, 'otherRun', batches.length - warmPages - 1)} ms`
      : '';
  const first = batches[0][0] - started;
  const warm = batches[warmPages][0] - batches[0][0];
  const rest = batches.at(-1)[0] - batches[warmPages][0];
  const restRecords = batches.slice(warmPages + 1).reduce((sum, [, n]) => sum + n, 0);
  const restRate = restRecords / (rest / 1000);
  return {
    describe: (floorRate) =>
      `first page stored after ${first.toFixed(0)} ms, the next ${warmPages} at ${(warm / warmPages).toFixed(1)} ms each, the remaining ${batches.length - warmPages - 1} at ${(rest / (batches.length - warmPages - 1)).toFixed(1)} ms each (${Math.round(restRate)}/s, ${(restRate / floorRate).toFixed(2)}× the floor)${cores}`,
  };
}

/**
 * Catch-ups of 10 new records, `rounds` times (one sample on this machine varies by half): B
 * drops A, A writes 10, B comes back. Every round must bring exactly those 10.
 */
async function catchUp({ a, b, idA, idB }, transport, n, rounds = plan.catchUpRounds) {
  const samples = [];
  let total = n;
  for (let round = 0; round < rounds; round++) {
    // Apart on both sides (an HTTP peer only notices a one-sided drop after missed heartbeats).
    const paused = b.nextState('paused');
    await Promise.all([b.command('disconnect', { peerId: idA.peerId }), a.command('disconnect', { peerId: idB.peerId })]);
    await paused;
    // libp2p refuses more than 5 inbound connections a second from one host.
    await new Promise((r) => setTimeout(r, 300));
    await a.command('generate', { from: total, count: 10 });
    total += 10;
    const before = (await b.command('status')).metrics;
    const catching = b.nextState('catching-up');
    const ready = b.nextState('ready');
    // B comes back and dials A. Over HTTP A re-adds B too (its peer directory dropped B); over
    // libp2p one connection serves both ways, and A dialing at the same instant would only add a
    // second connection and handshake.
    await Promise.all([b.command('connect', { peer: idA }), transport === 'http' ? a.command('connect', { peer: idB }) : null]);
    const ms = (await ready).at - (await catching).at;
    const status = await b.command('status');
    if (status.entries !== total) throw new Error(`B has ${status.entries} entries after catch-up, expected ${total}`);
    samples.push({ ms, records: status.metrics.changesFetched - before.changesFetched, bytes: status.metrics.bytesReceived - before.bytesReceived });
  }
  const records = [...new Set(samples.map((s) => s.records))];
  const bytes = [...new Set(samples.map((s) => s.bytes))];
  const times = samples.map((s) => s.ms).sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)];
  const note = `${records.join(' / ')} records and ${bytes.join(' / ')} bytes received each time; from catching-up to ready: median ${ms.toFixed(1)} ms of ${rounds} (${times[0].toFixed(1)}–${times.at(-1).toFixed(1)})`;
  results.push({ what: 'catch-up of 10 new', transport, n, ms, records, bytes, note });
  log(`  catch-up: ${note}`);
}

async function liveLatency({ a, b }, transport, count) {
  log(`live latency over ${transport}: ${count} writes at 500/s`);
  await a.command('probes', { count, intervalMs: 2 });
  await new Promise((r) => setTimeout(r, 500));
  const latencies = (await b.command('latencies')).sort((x, y) => x - y);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  results.push({ what: 'live change latency', transport, n: latencies.length, p50: pct(50), p99: pct(99), note: `p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms over ${latencies.length} writes` });
  log(`  p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms (${latencies.length} applied)`);
}

if (runs('backfill')) {
  for (const transport of plan.transports) {
    for (const [i, n] of plan.sizes.entries()) {
      const peers = await backfill({ transport, n, pairs: i === 0 ? plan.freshPairs : 1 });
      if (i === 0) await warmBackfill(peers, { transport, n });
      await catchUp(peers, transport, n);
      if (i === 0 && transport === 'libp2p') await liveLatency(peers, transport, plan.probes);
      await Promise.all([peers.a.stop(), peers.b.stop()]);
    }
  }
}
if (runs('in-process')) for (const n of plan.sizes) await inProcessBackfill(n);
if (runs('postgres')) {
  for (const n of plan.postgres) {
    const peers = await backfill({ transport: 'libp2p', n, storage: 'postgres' });
    await Promise.all([peers.a.stop(), peers.b.stop({ dropSchema: true })]);
  }
}

let stages = null;
if (runs('stages')) {
  log('stages of a page, each alone');
  stages = await measureStages({ rounds: args.quick ? 1 : 3 });
}

// Issue #17: more than two peers (bench/multi-peer.mjs).
const peerArgs = ['--page-size', String(PAGE), ...SQLITE_THREAD];
const parallel = [];
if (runs('parallel')) {
  for (const transport of plan.transports) parallel.push(await parallelBackfill({ transport, ...plan.parallel, peerArgs, log }));
  // Sources that serve one read at a time, 100 ms each (a phone's disk, a slow uplink): what several sources are for.
  parallel.push(await parallelBackfill({ transport: 'libp2p', ...plan.parallel, peerArgs, sourceArgs: ['--read-delay-ms', '100'], log }));
}
const relayed = runs('relayed') ? await relayedBackfill({ ...plan.relayed, log }) : null;
const relayedLibp2p = runs('relayed') ? await relayedBackfillOverTransport({ ...plan.relayedLibp2p, transport: 'libp2p', log }) : null;
const syncDb = runs('syncdb') ? await syncDbSize({ ...plan.syncDb, peerArgs, log }) : null;
const stress = runs('http-stress') ? await httpStress({ ...plan.httpStress, peerArgs, log }) : null;
const scrub = runs('scrub') ? await scrubCost({ ...plan.scrub, log }) : null;
const fmt = (x) => (x === undefined ? '' : Math.round(x).toLocaleString('en-US'));
const kB = (bytes) => `${Math.round(bytes / 1000).toLocaleString('en-US')} kB`;

/** What one page costs the receiver, stage by stage, and what their sum bounds. */
function stageSection() {
  const stageSum = (t) => stages.store + stages.decode + stages.checks + stages.transport[t];
  const libp2pFloor = results.find((r) => r.what === 'backfill → sqlite' && r.transport === 'libp2p');
  const stageLines = [
    '| stage (receiver, per page of 1000) | ms |',
    '| --- | ---: |',
    `| store write: \`applyBatch\` of 1000 records (last-writer-wins upsert, one transaction) | ${stages.store.toFixed(2)} |`,
    `| (the floor's plain \`INSERT OR REPLACE\` of the same rows) | ${stages.floor.toFixed(2)} |`,
    `| (the floor's plain read of a page of them) | ${stages.floorRead.toFixed(2)} |`,
    `| decode: \`decodeMessage\` of a ${Math.round(stages.bytes / 1024)} KiB state-response as rows (UTF-8, JSON, protocol checks) | ${stages.decode.toFixed(2)} |`,
    `| data checks: the model's validation of 1000 records | ${stages.checks.toFixed(2)} |`,
    `| transport: receiving a ${Math.round(stages.bytes / 1024)} KiB response from another process, libp2p | ${stages.transport.libp2p.toFixed(2)} |`,
    `| transport: the same over HTTP | ${stages.transport.http.toFixed(2)} |`,
    `| signatures: verifying a relayed page of 1000 changes written in one write (a check per batch of 128; nodes with \`trust\`; not in the sum below) | ${stages.signatures.toFixed(2)} |`,
    `| signatures: the same page written one change per write (a check per change; not in the sum below) | ${stages.signaturesSingle.toFixed(2)} |`,
  ];
  // The stages' bound against the floor measured beside them (this machine's speed drifts within a
  // run, so the backfill's floor, minutes earlier, is only the second comparison).
  const floorPage = stages.floor + stages.floorRead;
  const budget = `These stages alone take ${stageSum('libp2p').toFixed(2)} ms per page over libp2p, against ${floorPage.toFixed(2)} ms for the floor's read and write of a page measured beside them: one receiving thread that did nothing else would reach ${(floorPage / stageSum('libp2p')).toFixed(2)}× the floor (${Math.round(1000_000 / stageSum('libp2p')).toLocaleString('en-US')} records/s${libp2pFloor ? `, ${(1000_000 / stageSum('libp2p') / libp2pFloor.floor).toFixed(2)}× the floor of the ${libp2pFloor.n.toLocaleString('en-US')} backfill above` : ''}).`;
  const share = (ms) => `${((ms / stageSum('libp2p')) * 100).toFixed(0)} %`;
  const signed = `Signed changes (issue #19), on a page another device relays, add ${stages.signatures.toFixed(2)} ms to these stages' ${stageSum('libp2p').toFixed(2)} ms over libp2p (${share(stages.signatures)} more receiver work) when the page's changes were written in batches, and ${stages.signaturesSingle.toFixed(2)} ms (${share(stages.signaturesSingle)}) when each was written alone; pages from the owner itself are not checked.`;
  return `What one page costs the receiver at the least, each stage measured alone in this run${stages.rounds > 1 ? ` (median of ${stages.rounds} rounds, each measuring every stage in turn)` : ''}:

${stageLines.join('\n')}

${budget}

${signed}
`;
}

/** Backfill from three sources at once against one (issue #17). */
function parallelSection() {
  const { total, split, rounds } = parallel[0];
  const label = { three: 'D ← A, B, C', one: 'E ← A', serial: 'F ← A, `parallelPulls` 1' };
  const rows = [];
  for (const p of parallel) {
    for (const variant of ['three', 'one', 'serial']) {
      const r = medianRunOf(p.runs[variant]);
      const ratio = parallelRatio(p, variant);
      const vs = variant === 'one' ? '1' : `${ratio.medianPair.toFixed(2)}×${rounds > 1 ? ` (rounds: ${ratio.pairs.map((x) => x.toFixed(2)).join(', ')})` : ''}`;
      const all = rounds > 1 ? `the median of ${rounds} runs (${r.all.map((x) => x.toLocaleString('en-US')).join(', ')} records/s); ` : '';
      rows.push(
        `| ${label[variant]} | ${p.transport} | ${p.sources} | ${fmt(total)} | ${fmt(r.rate)} | ${r.seconds.toFixed(2)} s | ${vs} | ${Math.round(r.busy * 100)}% | ${r.receiverCpu.toFixed(1)} ms, ${r.sendersCpu.toFixed(1)} ms | ${all}records by source: ${r.bySource}; ${fmt(r.fetched)} fetched; smoothed RTT (ms): ${r.rtt}; peak RSS ${mb(r.rss)} MB |`,
      );
    }
  }
  return `Backfill from several peers (issue #17): three owner processes A, B and C write
${split.map((x) => x.toLocaleString('en-US')).join(', ')} entries each and sync with each other, so each holds all
${total.toLocaleString('en-US')}. A fresh process D then connects to all three and backfills:
the engine pulls the three owners' streams at once (\`parallelPulls\`, default 3), each from
its owner. Against it, a fresh process E connects to A alone and backfills the same from it (the
three streams, still at once, all from A), and a fresh process F does as E one stream after
another (\`parallelPulls\` 1, as before parallel pulls). Each runs alone beside A, B and C (four
processes on this machine's ${cpus().length} cores), and dials its peers before its node sees
them, so its backfill starts with all of them connected (a peer that connects mid-backfill takes
over only the streams it owns, at the end of the response in flight); the time runs from then to
\`ready\`. With local sources the receiver is the bottleneck (its CPU is busy throughout), so
more sources cannot help it; "slow" sources serve one page read at a time and each takes 100 ms
more (a phone's disk, a slow uplink): there each source is the bottleneck, and three serve three
times as much. ${rounds > 1 ? `${rounds} rounds, each in another order, each run in a new process; a row is the run of median rate, and "vs E" the median of the rounds' ratios to E.` : 'One round, in the order D, E, F.'}

| backfill | transport | sources | N | records/s | time | vs E | receiver CPU busy | CPU per 1000 records: receiver, A + B + C | notes |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |
${rows.join('\n')}
`;
}

/** sync.db's size after deletes and shared-record updates, before and after collection (issue #17). */
function syncDbSection() {
  const d = syncDb;
  const size = (x) => x.pages * x.pageSize;
  const rows = ['A', 'B', 'C'].map((name, i) => {
    const [synced, before, after] = [d.synced[i], d.before[i], d.after[i]];
    const kept = (x) => `${fmt(x.rows.tombstones)} tombstones, ${fmt(x.rows.shared_changes)} shared changes`;
    const role = ['the entries, the deletes, a third of the updates', 'a third of the updates', 'a third of the updates, while away'][i];
    const onDisk = (x) => `${kB(x.before.dbBytes)} + ${kB(x.before.walBytes)}`;
    const checkpointed = after.dbBytes === size(after) && after.walBytes === 0 ? '' : ` (**after the checkpoint: sync.db ${kB(after.dbBytes)}, WAL ${kB(after.walBytes)}**)`;
    return `| ${name} | ${role} | ${kB(size(synced))} | ${kB(size(before))} (${kept(before)}) | ${kB(size(after))} (${kept(after)})${checkpointed} | ${Math.max(size(after), after.dbBytes) < 1_000_000 ? 'yes' : '**no**'} | ${onDisk(after)} | ${fmt(after.metrics.tombstonesPruned)}, ${fmt(after.metrics.sharedChangesPruned)} | on disk when synced ${onDisk(synced)}, before collection ${onDisk(before)}; ${fmt(after.pages)} pages of ${after.pageSize} B after (${fmt(after.freePages)} free; before: ${fmt(before.pages)}, ${fmt(before.freePages)} free); ${fmt(after.rows.peer_acks)} acks, ${fmt(after.rows.device_resource_watermarks)} watermarks, ${fmt(after.rows.parked_changes)} parked, ${fmt(after.rows.batch_proofs)} batch proofs; auto_vacuum ${after.autoVacuum}; ${fmt(d.counts[i])} entries |`;
  });
  const outcome = d.collected
    ? `every peer held the same ${fmt(d.n - d.deletes)} entries and had pruned every tombstone and shared change ${d.seconds.toFixed(1)} s after C returned`
    : `**not every tombstone and shared change was pruned ${d.timeoutMs / 1000} s after C returned** (the "after" column is what was left then)`;
  return `sync.db size (issue #17): three members A, B and C (libp2p; each lists all three as
\`members\`: a stream's tombstones and shared changes are pruned only below every member's ack),
\`antiEntropyMs\` 1000. A writes ${fmt(d.n)} entries and ${d.tags} shared tags; all three sync ("synced").
C leaves; A deletes ${fmt(d.deletes)} entries while A, B and C update the tags ${fmt(d.updates)} times
in all, a third each, C while away: C's acks hold every prune back ("before collection", once A
and B agree). C returns: ${outcome}${d.tagsAgree ? ' (all three hold the same tags)' : ' (**the peers disagree on the tags**)'}.
Sizes are sync.db's pages (page count × page size, read beside the node: what the file holds
once the WAL is folded in); "after" is also the file after \`PRAGMA wal_checkpoint(TRUNCATE)\`
from another connection. "On disk" is sync.db + sync.db-wal as the node left them: SQLite's
automatic checkpoints reuse the WAL from its start without shrinking it, and the file shrinks
only when a checkpoint copies the vacuumed pages back. The adapter uses incremental
auto_vacuum and runs \`incremental_vacuum\` after each prune. kB = 1000 bytes.

| peer | wrote | sync.db synced | before collection | after | after < 1 MB | after, on disk | pruned: tombstones, shared changes | notes |
| --- | --- | ---: | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}

function httpStressSection() {
  const { n, rounds, attackers, modes } = stress;
  const what = {
    none: 'no attack',
    stall: `${attackers / 2} slow-header clients (a header line every 300 ms, never finished) and ${attackers / 2} silent connections`,
    flood: `${attackers} keep-alive connections sending unsigned requests back to back (each refused 401)`,
  };
  const base = modes.none.median.rate;
  const rows = Object.entries(modes).map(
    ([mode, { median: m, runs }]) =>
      `| ${what[mode]} | ${fmt(m.rate)} | ${(m.rate / base).toFixed(2)} | ${(m.ms / 1000).toFixed(2)} s | ${Math.round(m.sourceCpuMs)} ms | ${mode === 'flood' ? fmt(m.answered) : ''} | ${mode === 'none' ? '' : fmt(m.closedByServer)} | ${runs.map((r) => fmt(r.rate)).join(', ')} |`,
  );
  return `Backfill over HTTP with the source's port under attack (issue #20): B backfills ${fmt(n)} entries from A (two processes) while this bench process holds ${attackers} other connections on A's port; a fresh pair per run, ${rounds} rounds in rotating order, the median run by rate. The source closes a connection whose headers are not in within 10 s, or that sent nothing for 10 s (\`test/http-stress.test.ts\`); a backfill this short ends before that.

| attack | records/s | vs no attack | time | source CPU | attack requests answered | attack connections closed by the source | runs (records/s) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${rows.join('\n')}
`;
}

function scrubSection() {
  const { n, rounds, damaged, lost, runs: all, median: m } = scrub;
  const rate = (ms) => fmt((n / ms) * 1000);
  return `A scrub (issue #20): B holds ${fmt(n)} entries of A's, both on SQLite, signed, in one process over the in-process network; ${rounds} rounds from a fresh pair each, the median by the clean scrub's time. Clean: B reads its stream, checks every record against A's signature (one check per batch proof) and digests it, and A digests the same stream to answer. Repair: the same after ${damaged} rows of B's file were altered and ${lost} deleted behind its back, then the stream read again from A and put right.

| scrub of ${fmt(n)} | time | records/s | runs (ms) |
| --- | ---: | ---: | --- |
| clean | ${Math.round(m.cleanMs)} ms | ${rate(m.cleanMs)} | ${all.map((r) => Math.round(r.cleanMs)).join(', ')} |
| ${damaged} altered and ${lost} lost, repaired | ${Math.round(m.repairMs)} ms | ${rate(m.repairMs)} | ${all.map((r) => Math.round(r.repairMs)).join(', ')} |
`;
}

function relayedSection() {
  const pct = (x) => `${(x * 100).toFixed(0)} %`;
  const more = ({ median, min, max }) => `${pct(median)} (${pct(min)} to ${pct(max)})`;
  const rows = ({ unsigned, signed, moreCpu }, where) => [
    `| B from the owner A, ${where} | ${fmt(unsigned.direct.rate)} | ${fmt(signed.direct.rate)} | ${unsigned.direct.cpuPer1000.toFixed(1)} ms | ${signed.direct.cpuPer1000.toFixed(1)} ms | ${more(moreCpu.direct)} |`,
    `| C from B, relayed (a proof checked per batch of 128), ${where} | ${fmt(unsigned.rate)} | ${fmt(signed.rate)} | ${unsigned.cpuPer1000.toFixed(1)} ms | ${signed.cpuPer1000.toFixed(1)} ms | ${more(moreCpu.relayed)} |`,
  ];
  const { n, rounds } = relayed;
  return `Backfills with and without signed changes (issue #19): A writes ${fmt(n)} entries in writes of 5000 (over libp2p) or 1000 (in process), B backfills them from A (the owner: its pages go unchecked, their proofs are stored; the in-process transport authenticates senders by device key as libp2p and HTTP do), then a fresh C backfills them from B alone, so with \`trust\` C checks the owner's batch proofs of every page. In process: one process, durable SQLite, median of ${rounds} alternating runs each; over libp2p: three processes, median of ${relayedLibp2p.rounds} alternating runs each, ${fmt(relayedLibp2p.n)} entries:

| backfill | records/s unsigned | signed | CPU per 1000 records unsigned (both nodes) | signed | more CPU: median of the rounds' signed/unsigned pairs (range) |
| --- | ---: | ---: | ---: | ---: | ---: |
${[...rows(relayed, 'in process'), ...rows(relayedLibp2p, 'libp2p')].join('\n')}

Target: ≤ 15 % more CPU.
`;
}

// RSS growth between sizes, per transport.
const rssNotes = plan.transports
  .map((t) => {
    const rows = results.filter((r) => r.what === 'backfill → sqlite' && r.transport === t);
    if (rows.length < 2) return null;
    return `${t}: peak RSS ${mb(rows[0].rss)} MB at ${rows[0].n}, ${mb(rows[1].rss)} MB at ${rows[1].n} (×${(rows[1].rss / rows[0].rss).toFixed(2)}); heap live after a full GC ${mb(rows[0].liveHeap)} MB and ${mb(rows[1].liveHeap)} MB`;
  })
  .filter(Boolean);

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${mb(totalmem())} MB RAM, Node ${process.version}`;
const date = new Date().toISOString().slice(0, 10);
const flags = [args.quick ? '--quick' : null, only ? `--only ${only.join(',')}` : null].filter(Boolean);
const lines = [
  '| what | transport | N | records/s | floor records/s | ratio to floor | peak RSS (receiver) | notes |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.map((r) =>
    r.what.startsWith('backfill')
      ? `| ${r.what} | ${r.transport} | ${fmt(r.n)} | ${fmt(r.rate)} | ${fmt(r.floor)} | ${(r.rate / r.floor).toFixed(2)} | ${r.rss === undefined ? '' : `${mb(r.rss)} MB`} | ${r.note} |`
      : `| ${r.what} | ${r.transport} | ${fmt(r.n)} | | | | | ${r.note} |`,
  ),
];
const sections = [
  `# Highwater benchmarks

Generated by \`npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}\` on ${date}. Machine: ${machine}.

Data: file entries of about 250 bytes of JSON on the wire (uuid, parent, name, size, mtime,
kind, owner device, HLC) with time-ordered (UUIDv7-shaped) keys; every parent reference is
checked by the engine. Each device is its own OS process with durable SQLite (WAL,
synchronous=FULL, record store on the ${SQLITE_THREAD[1]} thread) unless the row says Postgres;
the "one process" rows are the in-process reference, both devices in one process over the
in-process transport (their peak RSS is that process's, which also generated the entries);
pages of ${PAGE}, each applied in one transaction and then checkpointed, as the floor commits
them; a pull asks for one page, then two, then four per request (\`pagesPerRequest\`, default 4).
Floors run in the same run:
a plain better-sqlite3 script reading the source's pages and writing the same rows into the
same schema with the same page size and commit pattern, run right before and right after each
backfill (the floor column is both runs together); for Postgres, multi-row INSERTs of the
same pages.
`,
  results.length ? `${lines.join('\n')}\n` : null,
  rssNotes.length ? `Memory: ${rssNotes.join('; ')}.\n` : null,
  stages ? stageSection() : null,
  relayed ? relayedSection() : null,
  parallel.length ? parallelSection() : null,
  syncDb ? syncDbSection() : null,
  stress ? httpStressSection() : null,
  scrub ? scrubSection() : null,
  `Targets (issue #6, this 2-core machine): backfill 100k over libp2p into SQLite ≥ 80 000/s and
≥ 0.7× floor; 1M ≥ 50 000/s; catch-up of 10 after 1M: exactly 10 records, < 20 ms; peak RSS at
1M ≤ 1.25× at 100k and < 300 MB; live p50 ≤ 5 ms, p99 ≤ 25 ms; Postgres backfill ≥ 0.7× its floor.
Issue #17: sync.db < 1 MB on every peer after 100 000 entries, 10 000 deletes and 10 000
shared-record updates, once all peers acked.
`,
];
const report = sections.filter(Boolean).join('\n');
if (out === null) {
  console.log(`\n(--only: no file written; pass --out FILE to write one)\n`);
  console.log(report);
} else {
  // The hand-kept history of fixes (profile → change → before/after) survives regeneration.
  const HISTORY = '## Before and after';
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const history = previous.includes(HISTORY) ? `\n${previous.slice(previous.indexOf(HISTORY))}` : '';
  writeFileSync(out, report + history);
  console.log(`\nwrote ${out}\n`);
  console.log(report);
}
