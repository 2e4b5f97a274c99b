// A relayed backfill with and without signed changes (issue #19): device A writes N entries in
// writes of 1000, B backfills them from A (measured too: the owner's pages go unchecked, their
// proofs stored), then a fresh C backfills them from B alone —
// every page relayed, so with `trust` C checks the owner's signatures (A's transport key vouches
// for nothing B sends). One process, the in-process transport, durable SQLite: the difference
// between the two is the CPU the checks cost, end to end. Rounds alternate unsigned and signed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createInProcessNetwork, DeviceKey, ModelRegistry, SyncNode } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { benchModels, entryData, entryKey } from './bench-models.mjs';

const registry = new ModelRegistry(benchModels);
// A full collection before each measured backfill, so none of the garbage of the writes (or of
// the run before) is collected, and counted, during it.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc');
const WRITE = 1000;

async function oneRun(n, signed) {
  const network = createInProcessNetwork();
  const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate(), 'device-c': DeviceKey.generate() };
  const devices = Object.entries(keys).map(([deviceId, key]) => ({ deviceId, publicKey: key.publicKey }));
  const opened = [];
  const open = async (deviceId) => {
    const dir = mkdtempSync(join(tmpdir(), `hw-relayed-${deviceId}-`));
    const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'full' });
    const node = await SyncNode.create({
      libraryId: 'bench',
      deviceId,
      registry,
      storage,
      // Signed: the transports authenticate senders by device key, as libp2p and HTTP do.
      transport: network.transport(deviceId, signed ? { publicKey: keys[deviceId].publicKey } : {}),
      metricsIntervalMs: 0,
      antiEntropyMs: 0,
      ...(signed ? { trust: { deviceKey: keys[deviceId], devices } } : {}),
    });
    await node.start();
    opened.push({ node, storage, dir });
    return node;
  };
  const held = (node) =>
    new Promise((resolve) => {
      const check = async () => ((await node.count('entry')) === n ? resolve() : setTimeout(check, 5));
      void check();
    });
  try {
    const a = await open('device-a');
    for (let from = 0; from < n; from += WRITE) {
      await a.write('entry', Array.from({ length: Math.min(WRITE, n - from) }, (_, i) => ({ id: entryKey(from + i), data: entryData(from + i) })));
    }
    const b = await open('device-b');
    collectGarbage();
    const directCpu = process.cpuUsage();
    const directStarted = performance.now();
    network.connect('device-a', 'device-b');
    await held(b);
    const direct = { ms: performance.now() - directStarted, cpuMs: cpuMsSince(directCpu) };
    network.disconnect('device-a', 'device-b');
    const c = await open('device-c');
    const forged = [];
    c.errors$.subscribe((e) => forged.push(e.code));
    collectGarbage();
    const cpu = process.cpuUsage();
    const started = performance.now();
    network.connect('device-b', 'device-c');
    await held(c);
    const ms = performance.now() - started;
    const cpuMs = cpuMsSince(cpu);
    if (forged.length > 0) throw new Error(`relayed backfill refused changes: ${forged.join(', ')}`);
    return { ms, cpuMs, direct };
  } finally {
    for (const { node, storage, dir } of opened) {
      await node.stop();
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const cpuMsSince = (start) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/**
 * Medians of each configuration's runs, and the CPU the signed run of each round took more than
 * the unsigned run beside it: the median of those paired ratios, and their range. This machine's
 * speed drifts within minutes, so a ratio of two runs side by side moves less than a ratio of medians.
 */
function summarize(n, runs) {
  const rates = (list) => ({ rate: (n / median(list.map((x) => x.ms))) * 1000, cpuPer1000: (median(list.map((x) => x.cpuMs)) / n) * 1000 });
  const summary = (list) => ({ ...rates(list), direct: rates(list.map((x) => x.direct)), runs: list });
  const paired = (cpu) => {
    const ratios = runs.signed.map((s, i) => cpu(s) / cpu(runs.unsigned[i]) - 1);
    return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
  };
  return {
    unsigned: summary(runs.unsigned),
    signed: summary(runs.signed),
    moreCpu: { direct: paired((x) => x.direct.cpuMs), relayed: paired((x) => x.cpuMs) },
  };
}

/**
 * Median over `rounds` alternating pairs of runs: records/s and CPU per 1000 records of C's
 * relayed backfill, unsigned and signed, and the same of B's backfill from the owner (`direct`).
 */
export async function relayedBackfill({ n, rounds, log = () => undefined }) {
  const runs = { unsigned: [], signed: [] };
  for (let r = 0; r < rounds; r++) {
    for (const signed of r % 2 === 0 ? [false, true] : [true, false]) {
      const run = await oneRun(n, signed);
      runs[signed ? 'signed' : 'unsigned'].push(run);
      log(`relayed backfill ${n}, ${signed ? 'signed' : 'unsigned'}: ${Math.round(run.ms)} ms, CPU ${Math.round(run.cpuMs)} ms (from the owner: ${Math.round(run.direct.ms)} ms, CPU ${Math.round(run.direct.cpuMs)} ms)`);
    }
  }
  return { n, rounds, ...summarize(n, runs) };
}

/**
 * The same two backfills between three processes over a real transport (A, B and C each a
 * bench/peer.mjs; with `--signed` each has `trust` over the three devices): B from the owner A,
 * then C from B alone. CPU per 1000 records of both processes of each backfill.
 */
async function processRun(n, signed, transport) {
  const { BenchPeer } = await import('./processes.mjs');
  const extra = ['--page-size', '1000', ...(signed ? ['--signed', 'device-a,device-b,device-c'] : [])];
  const [a, b, c] = ['device-a', 'device-b', 'device-c'].map((d) => new BenchPeer(d, transport, extra));
  try {
    await Promise.all([a.ready, b.ready, c.ready]);
    const [idA, idB, idC] = await Promise.all([a, b, c].map((p) => p.command('identity')));
    await a.command('members', { peers: [idB] });
    await a.command('generate', { from: 0, count: n });
    const backfill = async (receiver, sender, senderId) => {
      const before = await Promise.all([receiver.command('cpu'), sender.command('cpu')]);
      const ms = await receiver.backfillFrom(senderId, n);
      const after = await Promise.all([receiver.command('cpu'), sender.command('cpu')]);
      const cpu = (i) => (after[i].user - before[i].user + after[i].system - before[i].system) / 1000;
      return { ms, cpuMs: cpu(0) + cpu(1), receiverCpuMs: cpu(0) };
    };
    const direct = await backfill(b, a, idA);
    await b.command('members', { peers: [idA, idC] });
    const relayed = await backfill(c, b, idB);
    return { ...relayed, direct };
  } finally {
    await Promise.all([a, b, c].map((p) => p.stop()));
  }
}

/** {@link relayedBackfill} between processes over `transport` (libp2p). */
export async function relayedBackfillOverTransport({ n, rounds, transport = 'libp2p', log = () => undefined }) {
  const runs = { unsigned: [], signed: [] };
  for (let r = 0; r < rounds; r++) {
    for (const signed of r % 2 === 0 ? [false, true] : [true, false]) {
      const run = await processRun(n, signed, transport);
      runs[signed ? 'signed' : 'unsigned'].push(run);
      log(`relayed backfill ${n} over ${transport}, ${signed ? 'signed' : 'unsigned'}: ${Math.round(run.ms)} ms, CPU ${Math.round(run.cpuMs)} ms (from the owner: ${Math.round(run.direct.ms)} ms, CPU ${Math.round(run.direct.cpuMs)} ms)`);
    }
  }
  return { n, rounds, transport, ...summarize(n, runs) };
}
