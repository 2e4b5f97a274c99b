/**
 * One Highwater device as its own OS process: SQLite files in `--dir`, a real transport
 * (libp2p or HTTP), and a SyncNode. Run it by hand, or spawn it with an IPC channel and
 * drive it with commands (the cross-process tests and the multi-process demo do).
 *
 *   node examples/dist/sync-peer.js --dir ./lib-a --device device-a --transport libp2p
 *
 * --page-size n sets the node's page size; --read-delay-ms n makes every page the node reads
 * from its record store wait n ms first (a slow disk: a test can then kill the process while a
 * peer's backfill from it is mid-stream, before the next response leaves). --defer-start starts
 * only the transport: peers can be connected first, and the node's first pass, on the `start`
 * command, then plans with all of them. --parallel-pulls n sets the node's parallelPulls.
 * --wire-events reports every response this node receives to a request of its own, as it
 * arrives: { event: 'wire', peerId, type, owner, model, changes, at } (`at`: ms, this process's
 * clock; owner/model/changes for state and shared-log pages) — what came off the wire, not what
 * the engine says it did.
 *
 * IPC commands (process.send({ id, cmd, ...args })), each answered with { id, ok, result | error }:
 *   identity                         → { peerId, addresses, publicKey? }
 *   members { peers: PeerRef[] }     → set the library members (HTTP heartbeats them; over libp2p,
 *                                      `connect` dials: members are only admitted)
 *   generate { size, prefix? }       → write a generated library
 *   write { model, records } / delete { model, ids }
 *   disconnect { peerId }            → drop the link to a peer (it is redialled by `connect`)
 *   connect { peer: PeerRef }
 *   counts                           → { model: count }
 *   owners                           → { model: { owner: { count, digest } } } (`highwater verify`'s per-stream digests)
 *   digest                           → { model: its owners' digests joined }
 *   status                           → { state, metrics, watermarks }
 *   start                            → starts the node (with --defer-start; otherwise it already runs)
 *   stop                             → stops cleanly and exits 0
 * Events sent to the parent: { event: 'state', state }, { event: 'progress', progress }.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jsonCodec, ModelRegistry, SyncNode, type Transport } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { generateLibrary, libraryDigest, libraryModels, type LibrarySize } from '@highwater/cli';
import { openPeerTransport, type PeerRef, type PeerTransport } from '@highwater/cli';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string' },
    device: { type: 'string' },
    library: { type: 'string', default: 'demo-library' },
    transport: { type: 'string', default: 'libp2p' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'page-size': { type: 'string', default: '1000' },
    'read-delay-ms': { type: 'string', default: '0' },
    'defer-start': { type: 'boolean', default: false },
    'parallel-pulls': { type: 'string' },
    'wire-events': { type: 'boolean', default: false },
  },
});
if (!args.dir || !args.device) {
  console.error('usage: sync-peer --dir <folder> --device <device id> [--transport libp2p|http] [--library id] [--port n]');
  process.exit(2);
}
if (args.transport !== 'libp2p' && args.transport !== 'http') {
  console.error(`--transport must be libp2p or http, not ${args.transport}`);
  process.exit(2);
}

const registry = new ModelRegistry(libraryModels);
const storage = createSqliteStorage({ directory: args.dir, registry });
const transport: PeerTransport = await openPeerTransport(args.transport, {
  keyPath: join(args.dir, `${args.transport}.key`),
  host: args.host!,
  port: Number(args.port),
});
const readDelayMs = Number(args['read-delay-ms']);
const recordStore =
  readDelayMs > 0
    ? new Proxy(storage.recordStore, {
        get: (target, prop) =>
          prop === 'page'
            ? async (model: string, query: Parameters<typeof target.page>[1]) => {
                await new Promise((resolve) => setTimeout(resolve, readDelayMs));
                return target.page(model, query);
              }
            : Reflect.get(target, prop).bind(target),
      })
    : storage.recordStore;
const send = (message: unknown): void => {
  if (process.send) process.send(message);
};
// --wire-events: the node's transport, with every response to one of its requests reported as it arrives.
const nodeTransport: Transport = args['wire-events']
  ? new Proxy(transport.transport, {
      get: (target, prop) => {
        if (prop === 'request') {
          return async (peerId: string, payload: Uint8Array, options?: Parameters<Transport['request']>[2]) => {
            const response = await target.request(peerId, payload, options);
            const at = performance.timeOrigin + performance.now();
            let m: { type?: string; owner?: string; origin?: string; model?: string; changes?: unknown[] } = {};
            try {
              m = jsonCodec.decode(response) as typeof m;
            } catch {
              // Not ours to judge: the engine refuses it.
            }
            send({ event: 'wire', peerId, type: m.type, owner: m.owner ?? m.origin, model: m.model, changes: Array.isArray(m.changes) ? m.changes.length : 0, at });
            return response;
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    })
  : transport.transport;
const node = await SyncNode.create({
  libraryId: args.library!,
  deviceId: args.device,
  registry,
  storage: { syncStore: storage.syncStore, recordStore },
  transport: nodeTransport,
  pageSize: Number(args['page-size']),
  ...(args['parallel-pulls'] !== undefined ? { parallelPulls: Number(args['parallel-pulls']) } : {}),
  members: [],
});
node.state$.subscribe((state) => {
  send({ event: 'state', state });
  if (!process.send) console.log(`state: ${state}`);
});
node.progress$.subscribe((progress) => send({ event: 'progress', progress }));
// Deferred: the transport listens and dials, the node starts on the `start` command.
if (args['defer-start']) await transport.transport.start();
else await node.start();

/** Per model: { owner: { count, digest } } (the digests `highwater verify` compares). */
async function byOwner(): Promise<Record<string, Record<string, { count: number; digest: string }>>> {
  const streams = await libraryDigest(registry, storage.recordStore);
  return Object.fromEntries(
    registry.syncOrder().map((model) => [model, Object.fromEntries(streams.filter((s) => s.resource === model).map((s) => [s.owner, { count: s.count, digest: s.digest }]))]),
  );
}

async function stop(): Promise<never> {
  await node.stop();
  await storage.close();
  process.exit(0);
}

const commands: Record<string, (m: Record<string, unknown>) => Promise<unknown>> = {
  identity: async () => transport.identity(),
  members: async (m) => transport.setMembers(m['peers'] as PeerRef[]),
  connect: async (m) => transport.connect(m['peer'] as PeerRef),
  disconnect: async (m) => transport.disconnect(m['peerId'] as string),
  generate: async (m) => generateLibrary((model, records) => node.write(model, records), m['size'] as LibrarySize, (m['prefix'] as string | undefined) ?? ''),
  write: async (m) => node.write(m['model'] as string, m['records'] as { id: string; data: Record<string, unknown> }[]),
  delete: async (m) => node.delete(m['model'] as string, m['ids'] as string[]),
  counts: async () => Object.fromEntries(await Promise.all(registry.syncOrder().map(async (model) => [model, await node.count(model)]))),
  digest: async () => Object.fromEntries(Object.entries(await byOwner()).map(([model, owners]) => [model, Object.values(owners).map((o) => o.digest).join(':')])),
  owners: byOwner,
  status: async () => ({ state: node.state, metrics: node.metrics(), watermarks: node.watermarks() }),
  start: () => node.start(),
  stop,
};

process.on('message', (raw) => {
  const message = raw as { id: number; cmd: string } & Record<string, unknown>;
  const command = commands[message.cmd];
  if (!command) return send({ id: message.id, ok: false, error: `unknown command ${message.cmd}` });
  command(message).then(
    (result) => send({ id: message.id, ok: true, result }),
    (error: unknown) => send({ id: message.id, ok: false, error: (error as Error).message }),
  );
});
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
send({ event: 'ready' });
if (!process.send) console.log(`device ${args.device} up: ${JSON.stringify(await transport.identity())}`);
