/**
 * Turning a device config into live parts: its storage (for `status` and `verify`, which only
 * read), its identity (for `id`), and a running node with its transport (for `serve`).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deviceRosterModel, DEVICE_ROSTER, ModelRegistry, SyncNode, type DeviceKey, type PairedDevice, type RecordStore, type SyncStore, type Transport } from '@highwater/core';
import { createPostgresStorage, SYNC_TABLES } from '@highwater/storage-postgres';
import pg from 'pg';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, httpPeerIdOf, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, libp2pPeerIdOf, loadOrCreateDeviceKey, type Libp2pTransport } from '@highwater/transport-libp2p';
import { ConfigError, loadModels, type DeviceConfig } from './config.js';
import { pairedPeers } from './paired-peers.js';

export interface DeviceStorage {
  readonly registry: ModelRegistry;
  readonly syncStore: SyncStore;
  readonly recordStore: RecordStore;
  /** Bytes of the sync metadata (sync.db and its WAL; the sync tables in PostgreSQL). */
  syncMetadataBytes(): Promise<number>;
  close(): Promise<void>;
}

/** Whether the device runs signed: its config lists `devices`, or it is joining a library (which then lists them). */
const isSigned = (config: DeviceConfig, options: { signed?: boolean }): boolean => options.signed === true || config.devices !== undefined;

/**
 * Opens a device's storage as its config says (creating it if missing). A signed device's
 * library has the device roster too (`hw_device`), unless its models define it already.
 */
export async function openDeviceStorage(config: DeviceConfig, options: { signed?: boolean } = {}): Promise<DeviceStorage> {
  const models = await loadModels(config);
  const withRoster = isSigned(config, options) && !models.some((m) => m.name === DEVICE_ROSTER);
  const registry = new ModelRegistry(withRoster ? [...models, deviceRosterModel] : models);
  if (config.storage.kind === 'sqlite') {
    const storage = createSqliteStorage({ directory: config.dir, registry });
    // Said on stderr whatever the log level: the node now backfills every stream again.
    if (storage.rebuiltSyncDb) process.stderr.write(`sync.db in ${config.dir} was damaged: moved to ${storage.rebuiltSyncDb} and made anew; this device syncs its library again from its peers\n`);
    const fileBytes = (name: string): number => {
      try {
        return statSync(join(config.dir, name)).size;
      } catch {
        return 0;
      }
    };
    return {
      registry,
      syncStore: storage.syncStore,
      recordStore: storage.recordStore,
      syncMetadataBytes: async () => fileBytes('sync.db') + fileBytes('sync.db-wal'),
      close: () => storage.close(),
    };
  }
  const { url, schema } = config.storage;
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
  try {
    const storage = await createPostgresStorage({ pool, schema, registry });
    return {
      registry,
      syncStore: storage.syncStore,
      recordStore: storage.recordStore,
      syncMetadataBytes: async () => {
        const tables = SYNC_TABLES.map((t) => `'"${schema}".${t}'`).join(', ');
        const { rows } = await pool.query<{ bytes: string | null }>(
          `SELECT sum(pg_total_relation_size(t::regclass))::text AS bytes FROM unnest(ARRAY[${tables}]) AS t`,
        );
        return Number(rows[0]?.bytes ?? 0);
      },
      close: async () => {
        await storage.close();
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** What other members put in their config's `peers` to reach this device. */
export interface DeviceIdentity {
  readonly deviceId: string;
  /** The device key's Ed25519 public key (raw, base64url): the same whichever transport runs. */
  readonly publicKey: string;
  /** The peer id on the configured transport (one of the two below). */
  readonly peerId: string;
  readonly libp2pPeerId: string;
  readonly httpPeerId: string;
  readonly addresses?: string[];
  readonly url?: string;
}

/** The device key file every device dir gets now. */
export const DEVICE_KEY_FILE = 'device.key';

/**
 * The device's key file: `device.key`, unless the dir already holds a per-transport key of
 * earlier versions (`libp2p.key`, `http.key`), which stays the device's key so its peer ids do
 * not change. The configured transport's own file wins when both are there.
 */
export function deviceKeyPath(config: DeviceConfig): string {
  const other = config.transport.kind === 'libp2p' ? 'http' : 'libp2p';
  for (const name of [DEVICE_KEY_FILE, `${config.transport.kind}.key`, `${other}.key`]) {
    const path = join(config.dir, name);
    if (existsSync(path)) return path;
  }
  return join(config.dir, DEVICE_KEY_FILE);
}

/** Loads (creating on first use) the device key; reads the libp2p protobuf files of earlier versions too. */
export function loadDeviceKey(config: DeviceConfig): Promise<DeviceKey> {
  return loadOrCreateDeviceKey(deviceKeyPath(config));
}

function identityOf(config: DeviceConfig, deviceKey: DeviceKey, transport: { addresses?: string[]; url?: string }): DeviceIdentity {
  const libp2pPeerId = libp2pPeerIdOf(deviceKey.publicKey);
  const httpPeerId = httpPeerIdOf(deviceKey.publicKey);
  return {
    deviceId: config.device,
    publicKey: deviceKey.publicKey,
    peerId: config.transport.kind === 'libp2p' ? libp2pPeerId : httpPeerId,
    libp2pPeerId,
    httpPeerId,
    ...transport,
  };
}

/**
 * This device's identity, creating its key on first use. A libp2p address is known only with a
 * fixed port; with port 0 it is whatever `serve` gets (and `status` shows).
 */
export async function deviceIdentity(config: DeviceConfig): Promise<DeviceIdentity> {
  const t = config.transport;
  const deviceKey = await loadDeviceKey(config);
  if (t.kind === 'libp2p') {
    const peerId = libp2pPeerIdOf(deviceKey.publicKey);
    if (t.announce) return identityOf(config, deviceKey, { addresses: t.announce.map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${peerId}`)) });
    return identityOf(config, deviceKey, t.port ? { addresses: [`/ip4/${t.host}/tcp/${t.port}/p2p/${peerId}`] } : {});
  }
  if (t.publicUrl) return identityOf(config, deviceKey, { url: t.publicUrl });
  return identityOf(config, deviceKey, t.port ? { url: `http://${t.host}:${t.port}` } : {});
}

/**
 * The peer id of each configured peer: the one given, or the one its public key gives on the
 * configured transport. Both given must agree.
 */
export function configuredPeerIds(config: DeviceConfig): string[] {
  const t = config.transport;
  const derive = t.kind === 'libp2p' ? libp2pPeerIdOf : httpPeerIdOf;
  return t.peers.map((peer, i) => {
    if (peer.publicKey === undefined) return peer.peerId!;
    const derived = derive(peer.publicKey);
    if (peer.peerId !== undefined && peer.peerId !== derived) {
      throw new ConfigError(
        `${config.path}: transport.peers.${i}: peerId ${peer.peerId} is not the ${t.kind} peer id of its publicKey (which gives ${derived})`,
      );
    }
    return derived;
  });
}

/** The configured transport with the paired devices added as peers (a configured one wins). */
function withPairedPeers(transport: DeviceConfig['transport'], paired: readonly PairedDevice[]): DeviceConfig['transport'] {
  const configured = new Set(transport.peers.map((p) => p.publicKey).filter((k) => k !== undefined));
  const fresh = paired.filter((p) => !configured.has(p.publicKey));
  if (transport.kind === 'libp2p') {
    const peers = fresh
      .map((p) => ({ deviceId: p.deviceId, publicKey: p.publicKey, addresses: p.addresses.filter((a) => a.startsWith('/')) }))
      .filter((p) => p.addresses.length > 0);
    return { ...transport, peers: [...transport.peers, ...peers] };
  }
  const peers = fresh.flatMap((p) => {
    const url = p.addresses.find((a) => /^https?:\/\//.test(a));
    return url ? [{ deviceId: p.deviceId, publicKey: p.publicKey, url }] : [];
  });
  return { ...transport, peers: [...transport.peers, ...peers] };
}

export interface RunningDevice {
  readonly node: SyncNode;
  readonly storage: DeviceStorage;
  readonly transport: Transport;
  /** Peer id → device id, from the config's peers. */
  readonly deviceOfPeer: ReadonlyMap<string, string>;
  identity(): DeviceIdentity;
  stop(): Promise<void>;
}

/**
 * Opens storage and transport and creates the node (not yet started). `signed` runs it signed
 * even though its config lists no devices yet (`join`: the pairing hands them over).
 */
export async function openDevice(config: DeviceConfig, logger?: import('pino').Logger, options: { signed?: boolean } = {}): Promise<RunningDevice> {
  // The devices this one paired join the configured peers (see PAIRED_PEERS_FILE).
  const t = withPairedPeers(config.transport, pairedPeers(config.dir));
  // Before opening anything: a peer whose peerId and publicKey disagree is a config error.
  const peerIds = configuredPeerIds({ ...config, transport: t });
  const deviceKey = await loadDeviceKey(config);
  const storage = await openDeviceStorage(config, options);
  const deviceOfPeer = new Map<string, string>();
  for (const [i, peer] of t.peers.entries()) if (peer.deviceId) deviceOfPeer.set(peerIds[i]!, peer.deviceId);
  let transport: Transport;
  let identity: () => DeviceIdentity;
  if (t.kind === 'libp2p') {
    const members = new Set(peerIds);
    const libp2p: Libp2pTransport = await createLibp2pTransport({
      deviceKey,
      listen: [`/ip4/${t.host}/tcp/${t.port}`],
      ...(t.announce ? { announce: t.announce } : {}),
      members: () => members,
      bootstrap: t.peers.flatMap((p) => p.addresses),
      bootstrapIntervalMs: t.redialMs,
    });
    transport = libp2p;
    identity = () => identityOf(config, deviceKey, { addresses: libp2p.addresses() });
  } else {
    const http: HttpTransport = createHttpTransport({
      deviceKey,
      listen: { host: t.host, port: t.port },
      ...(t.publicUrl ? { publicUrl: t.publicUrl } : {}),
      peers: t.peers.map(({ url, publicKey }, i) => ({ peerId: peerIds[i]!, url, publicKey })),
    });
    transport = http;
    identity = () => identityOf(config, deviceKey, { url: t.publicUrl ?? http.url });
  }
  const node = await SyncNode.create({
    libraryId: config.library,
    deviceId: config.device,
    registry: storage.registry,
    storage,
    transport,
    ...(config.members ? { members: config.members } : {}),
    ...(isSigned(config, options) ? { trust: { deviceKey, devices: config.devices ?? [] } } : {}),
    ...config.node,
    ...(logger ? { logger } : {}),
  });
  return {
    node,
    storage,
    transport,
    deviceOfPeer,
    identity,
    stop: async () => {
      await node.stop();
      await storage.close();
    },
  };
}
