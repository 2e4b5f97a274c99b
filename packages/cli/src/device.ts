/**
 * Turning a device config into live parts: its storage (for `status` and `verify`, which only
 * read), its identity (for `id`), and a running node with its transport (for `serve`).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelRegistry, SyncNode, type RecordStore, type SyncStore, type Transport } from '@highwater/core';
import { createPostgresStorage, SYNC_TABLES } from '@highwater/storage-postgres';
import pg from 'pg';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, loadOrCreateHttpIdentity, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, loadOrCreatePeerId, type Libp2pTransport } from '@highwater/transport-libp2p';
import { loadModels, type DeviceConfig } from './config.js';

export interface DeviceStorage {
  readonly registry: ModelRegistry;
  readonly syncStore: SyncStore;
  readonly recordStore: RecordStore;
  /** Bytes of the sync metadata (sync.db and its WAL; the sync tables in PostgreSQL). */
  syncMetadataBytes(): Promise<number>;
  close(): Promise<void>;
}

/** Opens a device's storage as its config says (creating it if missing). */
export async function openDeviceStorage(config: DeviceConfig): Promise<DeviceStorage> {
  const registry = new ModelRegistry(await loadModels(config));
  if (config.storage.kind === 'sqlite') {
    const storage = createSqliteStorage({ directory: config.dir, registry });
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
  readonly peerId: string;
  readonly addresses?: string[];
  readonly url?: string;
  readonly publicKey?: string;
}

const keyPath = (config: DeviceConfig): string => join(config.dir, `${config.transport.kind}.key`);

/**
 * This device's identity, creating its key on first use. A libp2p address is known only with a
 * fixed port; with port 0 it is whatever `serve` gets (and `status` shows).
 */
export async function deviceIdentity(config: DeviceConfig): Promise<DeviceIdentity> {
  const t = config.transport;
  if (t.kind === 'libp2p') {
    const peerId = await loadOrCreatePeerId(keyPath(config));
    return { deviceId: config.device, peerId, ...(t.port ? { addresses: [`/ip4/${t.host}/tcp/${t.port}/p2p/${peerId}`] } : {}) };
  }
  const identity = loadOrCreateHttpIdentity(keyPath(config));
  return { deviceId: config.device, peerId: identity.peerId, publicKey: identity.publicKey, ...(t.port ? { url: `http://${t.host}:${t.port}` } : {}) };
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

/** Opens storage and transport and creates the node (not yet started). */
export async function openDevice(config: DeviceConfig, logger?: import('pino').Logger): Promise<RunningDevice> {
  const storage = await openDeviceStorage(config);
  const t = config.transport;
  const deviceOfPeer = new Map(t.peers.filter((p) => p.deviceId).map((p) => [p.peerId, p.deviceId!]));
  let transport: Transport;
  let identity: () => DeviceIdentity;
  if (t.kind === 'libp2p') {
    const members = new Set(t.peers.map((p) => p.peerId));
    const libp2p: Libp2pTransport = await createLibp2pTransport({
      keyPath: keyPath(config),
      listen: [`/ip4/${t.host}/tcp/${t.port}`],
      members: () => members,
      bootstrap: t.peers.flatMap((p) => p.addresses),
      bootstrapIntervalMs: t.redialMs,
    });
    transport = libp2p;
    identity = () => ({ deviceId: config.device, peerId: libp2p.localPeerId, addresses: libp2p.addresses() });
  } else {
    const http: HttpTransport = createHttpTransport({
      keyPath: keyPath(config),
      listen: { host: t.host, port: t.port },
      peers: t.peers.map(({ peerId, url, publicKey }) => ({ peerId, url, publicKey })),
    });
    transport = http;
    identity = () => ({ deviceId: config.device, peerId: http.localPeerId, url: http.url, publicKey: http.publicIdentity.publicKey });
  }
  const node = await SyncNode.create({
    libraryId: config.library,
    deviceId: config.device,
    registry: storage.registry,
    storage,
    transport,
    members: config.members,
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
