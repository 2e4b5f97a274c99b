// One benchmark process: durable SQLite (WAL, synchronous=FULL) and a real transport, driven
// over IPC by bench/run.mjs. Commands mirror examples/sync-peer (which carries the demo's
// models); this one carries the benchmark's entries and measures. The process starts with one
// device; `addDevice` opens another in the same process (its own library folder, storage and
// transport), which is how the bench measures a backfill into a process whose code V8 has
// already optimised. Commands name their device with `device` (default: the first).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createInProcessNetwork, ModelRegistry, SyncNode } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { openPeerTransport } from '../examples/dist/peer-transports.js';
import { benchModels, entryData, entryKey, nowMs } from './bench-models.mjs';

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
  },
});
const registry = new ModelRegistry(benchModels);

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
  const recordStore = new Proxy(storage.recordStore, {
    get(target, prop) {
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
  const peer = inProcessNetwork ? inProcessPeer(deviceId) : await openPeerTransport(args.transport, { keyPath: join(dir, `${args.transport}.key`), host: '127.0.0.1', port: 0 });
  const node = await SyncNode.create({
    libraryId: 'bench',
    deviceId,
    registry,
    storage: { syncStore: storage.syncStore, recordStore },
    transport: peer.transport,
    pageSize: Number(args['page-size']),
    ...(args['pages-per-request'] ? { pagesPerRequest: Number(args['pages-per-request']) } : {}),
    metricsIntervalMs: 0,
  });
  node.state$.subscribe((state) => process.send({ event: 'state', device: deviceId, state, at: nowMs() }));
  await node.start();
  return { storage, node, peer, latencies, entryBatches, batchThreads };
}

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
  status: async ({ node }) => ({ state: node.state, metrics: node.metrics(), maxRssBytes: process.resourceUsage().maxRSS * 1024, entries: await node.count('entry'), cpu: process.cpuUsage() }),
  async stop(_, { dropSchema }) {
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
