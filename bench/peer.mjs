// One benchmark process: durable SQLite (WAL, synchronous=FULL) and a real transport, driven
// over IPC by bench/run.mjs. Commands mirror test/peer/src/sync-peer.ts (which carries the demo's
// models); this one carries the benchmark's entries and measures. The process starts with one
// device; `addDevice` opens another in the same process (its own library folder, storage and
// transport), which is how the bench measures a backfill into a process whose code V8 has
// already optimised. Commands name their device with `device` (default: the first).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Subject } from 'rxjs';
import { createInProcessNetwork, DeviceKey, ModelRegistry, SyncNode } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { openPeerTransport } from '../packages/cli/dist/index.js';
import { benchModels, entryData, entryKey, nowMs, tagRecord } from './bench-models.mjs';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string' },
    device: { type: 'string' },
    transport: { type: 'string', default: 'libp2p' },
    'page-size': { type: 'string', default: '1000' },
    // Pages a pull asks for per request, at most (SyncNode's pagesPerRequest; default 4).
    'pages-per-request': { type: 'string' },
    storage: { type: 'string', default: 'sqlite' },
    'record-thread': { type: 'string', default: 'main' },
    schema: { type: 'string' },
    'pg-url': { type: 'string', default: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    // SyncNode's members (device ids, comma-separated): tombstones and the shared log are pruned
    // only below every member's ack; without a list, never.
    members: { type: 'string' },
    // SyncNode's antiEntropyMs (heads to every peer, and a garbage collection, this often).
    'anti-entropy-ms': { type: 'string' },
    // SyncNode's parallelPulls (streams of one resource pulled at once; default 3).
    'parallel-pulls': { type: 'string' },
    // Every page read of the record store takes this long more, one read at a time: a serving
    // peer with a slow disk or a slow uplink, whatever the number of streams it serves (the
    // parallel stage's "slow sources").
    'read-delay-ms': { type: 'string', default: '0' },
    // The node sees no peer dialled by `connectAll` until all of them are connected (see gate()).
    gated: { type: 'boolean', default: false },
    // Signed changes (SyncNode's trust): the library's devices, comma-separated; each device's
    // key is derived from its id, so every process knows every key.
    signed: { type: 'string' },
  },
});
const registry = new ModelRegistry(benchModels);

/** A device's key for `--signed`, derived from its id. */
const benchKey = (deviceId) => DeviceKey.fromSeed(createHash('sha256').update(`highwater-bench/${deviceId}`).digest());

/**
 * CPU time (ms) of this process's main thread and of its other threads (V8's compiler and GC
 * helpers, SQLite's worker when used), and how long the main thread waited for a core: from
 * Linux's per-thread schedstat (undefined elsewhere). Read at a backfill's first, 21st and last
 * page, it shows where a fresh process's first pages go on a two-core machine.
 */
function threadTimes() {
  try {
    const tasks = readdirSync('/proc/self/task');
    let mainRun = 0;
    let mainWait = 0;
    let otherRun = 0;
    for (const task of tasks) {
      const [run, wait] = readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ').map(Number);
      if (Number(task) === process.pid) [mainRun, mainWait] = [run, wait];
      else otherRun += run;
    }
    return { mainRun: mainRun / 1e6, mainWait: mainWait / 1e6, otherRun: otherRun / 1e6 };
  } catch {
    return undefined;
  }
}

async function openDevice(deviceId, dir, schema) {
  const storage =
    args.storage === 'postgres'
      ? await createPostgresStorage({ connectionString: args['pg-url'], schema, registry })
      : createSqliteStorage({ directory: dir, registry, synchronous: 'full', recordStoreThread: args['record-thread'] });
  const latencies = [];
  // When each batch of entries was stored and how many it held: how a backfill's pace changes
  // from its first pages (a fresh process, code not yet optimised) to the rest.
  const entryBatches = [];
  // threadTimes() when the first and the 21st batch of entries were stored.
  const batchThreads = [];
  // Live latency is taken where the record becomes durable: right after the store applied it.
  let slowReads = Promise.resolve();
  const recordStore = new Proxy(storage.recordStore, {
    get(target, prop) {
      if (prop === 'page' && Number(args['read-delay-ms']) > 0) {
        return (...a) => {
          const read = slowReads.then(() => new Promise((r) => setTimeout(r, Number(args['read-delay-ms'])))).then(() => target.page(...a));
          slowReads = read.catch(() => undefined);
          return read;
        };
      }
      if (prop !== 'applyBatch') return Reflect.get(target, prop).bind(target);
      return async (model, batch) => {
        const result = await target.applyBatch(model, batch);
        if (model === 'probe') for (const r of batch.upserts ?? []) latencies.push(nowMs() - r.data.sentAt);
        else if (model === 'entry') {
          entryBatches.push([nowMs(), batch.upserts?.length ?? 0]);
          if (entryBatches.length === 1 || entryBatches.length === 21) batchThreads.push(threadTimes());
        }
        return result;
      };
    },
  });
  const trust = args.signed
    ? { deviceKey: benchKey(deviceId), devices: args.signed.split(',').map((id) => ({ deviceId: id, publicKey: benchKey(id).publicKey })) }
    : null;
  const keyed = trust ? { deviceKey: trust.deviceKey } : { keyPath: join(dir, `${args.transport}.key`) };
  const peer = inProcessNetwork ? inProcessPeer(deviceId) : await openPeerTransport(args.transport, { ...keyed, host: '127.0.0.1', port: 0 });
  const held = args.gated ? gate(peer.transport) : null;
  const node = await SyncNode.create({
    libraryId: 'bench',
    deviceId,
    registry,
    storage: { syncStore: storage.syncStore, recordStore },
    transport: held ? held.transport : peer.transport,
    pageSize: Number(args['page-size']),
    ...(args['pages-per-request'] ? { pagesPerRequest: Number(args['pages-per-request']) } : {}),
    ...(args.members ? { members: args.members.split(',') } : {}),
    ...(args['anti-entropy-ms'] ? { antiEntropyMs: Number(args['anti-entropy-ms']) } : {}),
    ...(args['parallel-pulls'] ? { parallelPulls: Number(args['parallel-pulls']) } : {}),
    ...(trust ? { trust } : {}),
    metricsIntervalMs: 0,
  });
  node.state$.subscribe((state) => process.send({ event: 'state', device: deviceId, state, at: nowMs() }));
  // Records applied per source (transport peer id), from progress: which peers a backfill pulled from.
  const fromSource = new Map();
  let lastApplied = 0;
  node.progress$.subscribe((p) => {
    if (p.current === null) lastApplied = p.applied;
    else {
      fromSource.set(p.current.peerId, (fromSource.get(p.current.peerId) ?? 0) + p.applied - lastApplied);
      lastApplied = p.applied;
    }
  });
  await node.start();
  return { storage, node, peer, held, dir, fromSource, latencies, entryBatches, batchThreads };
}

/**
 * The transport as the node sees it while `hold(peerIds)` is on: those peers are neither in
 * `connectedPeers()` nor announced on `peers$` until `release()`, which announces them all at
 * once. A node starts a pass when the first peer connects and asks only the peers connected at
 * that moment (a connect during the pass only schedules another); dialling three peers takes
 * tens of milliseconds, so without this a fresh node would backfill everything from the first.
 * Requests from held peers are still answered.
 */
function gate(transport) {
  const heldIds = new Set();
  const peers$ = new Subject();
  transport.peers$.subscribe((e) => {
    if (!heldIds.has(e.peerId)) peers$.next(e);
  });
  const seen = new Proxy(transport, {
    get(target, prop) {
      if (prop === 'peers$') return peers$.asObservable();
      if (prop === 'connectedPeers') return () => target.connectedPeers().filter((p) => !heldIds.has(p));
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    transport: seen,
    hold: (ids) => ids.forEach((id) => heldIds.add(id)),
    release() {
      const connected = transport.connectedPeers();
      const ids = [...heldIds];
      heldIds.clear();
      for (const peerId of ids) if (connected.includes(peerId)) peers$.next({ type: 'connected', peerId, at: Date.now() });
    },
  };
}

/** sync.db of a device, through a connection of the bench's own (WAL: it reads beside the node's). */
const syncDbs = new Map();
function syncDbOf(dir) {
  if (!syncDbs.has(dir)) syncDbs.set(dir, new Database(join(dir, 'sync.db')));
  return syncDbs.get(dir);
}
const fileBytes = (path) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

// `--transport in-process`: the devices of this process reach each other over the in-process
// transport (the bench's reference without a network stack or a second process).
const inProcessNetwork = args.transport === 'in-process' ? createInProcessNetwork() : null;

function inProcessPeer(deviceId) {
  return {
    transport: inProcessNetwork.transport(deviceId),
    identity: async () => ({ peerId: deviceId }),
    setMembers: async () => undefined,
    connect: async (peer) => inProcessNetwork.connect(deviceId, peer.peerId),
    disconnect: async (peerId) => inProcessNetwork.disconnect(deviceId, peerId),
  };
}

const devices = new Map([[args.device, await openDevice(args.device, args.dir, args.schema)]]);

/** The inspector session of `profileStart`. */
let profiler = null;
const commands = {
  async addDevice(_, { name }) {
    if (devices.has(name)) throw new Error(`${name} is already open`);
    devices.set(name, await openDevice(name, join(args.dir, name), args.schema && `${args.schema}_${name}`));
    return devices.get(name).peer.identity();
  },
  async closeDevice(_, { name }) {
    const device = devices.get(name);
    if (!device || name === args.device) throw new Error(`cannot close ${name}`);
    devices.delete(name);
    await device.node.stop();
    await device.storage.close();
  },
  identity: ({ peer }) => peer.identity(),
  members: ({ peer }, m) => peer.setMembers(m.peers),
  connect: ({ peer }, m) => peer.connect(m.peer),
  /**
   * Dials every peer of `peers` while the node cannot see them (a `--gated` process), then shows
   * them all at once: the node's pass starts with all of them. Returns when they were shown.
   */
  async connectAll({ peer, held }, { peers }) {
    if (!held) throw new Error('connectAll needs a --gated process');
    held.hold(peers.map((p) => p.peerId));
    await Promise.all(peers.map((p) => peer.connect(p)));
    while (!peers.every((p) => peer.transport.connectedPeers().includes(p.peerId))) await new Promise((r) => setTimeout(r, 5));
    const at = nowMs();
    held.release();
    return { at };
  },
  /** Records applied per source peer id since the last call. */
  sources: async ({ fromSource }) => {
    const out = Object.fromEntries(fromSource);
    fromSource.clear();
    return out;
  },
  write: async ({ node }, { model, inputs }) => {
    await node.write(model, inputs);
  },
  delete: async ({ node }, { model, ids }) => {
    await node.delete(model, ids);
  },
  /** The first `count` tags as this peer holds them: [id, color] (color says who wrote which version). */
  tags: async ({ node }, { count }) => (await node.get('tag', Array.from({ length: count }, (_, i) => tagRecord(i).id))).map((r) => [r.id, r.data.color]).sort(([x], [y]) => (x < y ? -1 : 1)),
  counts: async ({ node }, { models }) => Object.fromEntries(await Promise.all(models.map(async (m) => [m, await node.count(m)]))),
  /**
   * sync.db's size and what fills it: its file and WAL's bytes, then (with `checkpoint`) the WAL
   * folded in and truncated, its pages and free pages, and the rows of the tables GC prunes.
   */
  async syncDb({ node, dir }, { checkpoint = false, dump = false }) {
    const db = syncDbOf(dir);
    const path = join(dir, 'sync.db');
    const before = { dbBytes: fileBytes(path), walBytes: fileBytes(`${path}-wal`) };
    const checkpointed = checkpoint ? db.pragma('wal_checkpoint(TRUNCATE)')[0] : undefined;
    const count = (table) => db.prepare(`SELECT count(*) AS n FROM ${table}`).get().n;
    return {
      before,
      dbBytes: fileBytes(path),
      walBytes: fileBytes(`${path}-wal`),
      checkpointed,
      pageSize: db.pragma('page_size', { simple: true }),
      pages: db.pragma('page_count', { simple: true }),
      freePages: db.pragma('freelist_count', { simple: true }),
      autoVacuum: db.pragma('auto_vacuum', { simple: true }),
      ...(dump ? { dump: Object.fromEntries(['peer_acks', 'device_resource_watermarks', 'sync_state'].map((t) => [t, db.prepare(`SELECT * FROM ${t}`).all()])) } : {}),
      rows: Object.fromEntries(['tombstones', 'shared_changes', 'parked_changes', 'peer_acks', 'device_resource_watermarks', 'backfill_checkpoints', 'sync_state', 'sync_metrics_snapshots', 'batch_proofs'].map((t) => [t, count(t)])),
      metrics: node.metrics(),
      state: node.state,
    };
  },
  disconnect: ({ peer }, m) => peer.disconnect(m.peerId),
  async generate({ node }, { from, count }) {
    for (let start = from; start < from + count; start += 5000) {
      const inputs = [];
      for (let n = start; n < Math.min(from + count, start + 5000); n++) inputs.push({ id: entryKey(n), data: entryData(n) });
      await node.write('entry', inputs);
    }
  },
  async probes({ node, latencies }, { count, intervalMs }) {
    latencies.length = 0;
    for (let i = 0; i < count; i++) {
      const due = nowMs() + intervalMs;
      await node.write('probe', [{ id: `probe-${String(i).padStart(6, '0')}`, data: { sentAt: nowMs() } }]);
      const wait = due - nowMs();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  },
  latencies: async ({ latencies }) => [...latencies],
  entryBatches: async ({ entryBatches, batchThreads }) => ({ batches: entryBatches.splice(0), threads: [...batchThreads.splice(0), threadTimes()] }),
  // What stays reachable after a full GC: the heap a node keeps, as opposed to garbage waiting
  // for V8's next major GC (which peak RSS includes).
  liveHeap: async () => {
    globalThis.gc();
    return process.memoryUsage().heapUsed;
  },
  // This process's CPU time so far (all threads), without the work `status` does to count.
  cpu: async () => process.cpuUsage(),
  // A CPU profile of one span of the run (HW_BENCH_CPU_PROF profiles the whole process, start-up
  // and setup included): `profileStop` writes it to `path` as a .cpuprofile.
  async profileStart(_, { intervalUs = 250 }) {
    profiler ??= new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await profiler.post('Profiler.start');
  },
  async profileStop(_, { path }) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
    profiler.disconnect();
  },
  status: async ({ node }) => ({ state: node.state, metrics: node.metrics(), maxRssBytes: process.resourceUsage().maxRSS * 1024, entries: await node.count('entry'), cpu: process.cpuUsage() }),
  async stop(_, { dropSchema }) {
    for (const db of syncDbs.values()) db.close();
    for (const { node, storage } of [...devices.values()].reverse()) {
      await node.stop();
      if (dropSchema && storage.dropSchema) await storage.dropSchema();
      else await storage.close();
    }
    setImmediate(() => process.exit(0));
  },
};
process.on('message', (m) => {
  Promise.resolve()
    .then(() => {
      const device = devices.get(m.device ?? args.device);
      if (!device && m.cmd !== 'addDevice' && m.cmd !== 'closeDevice') throw new Error(`no device ${m.device}`);
      return commands[m.cmd](device, m);
    })
    .then(
      (result) => process.send({ id: m.id, ok: true, result }),
      (error) => process.send({ id: m.id, ok: false, error: String(error?.stack ?? error) }),
    );
});
process.send({ event: 'ready' });
