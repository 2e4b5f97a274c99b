import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter, timeout } from 'rxjs';
import {
  decodeMessage,
  jsonCodec,
  ModelRegistry,
  SyncNode,
  type InProcessNetwork,
  type InProcessTransport,
  type ModelDefinition,
  type SyncMessage,
  type SyncNodeOptions,
  type SyncState,
  type WallClock,
  type WireEvent,
} from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';

export const LIBRARY_ID = 'library-1';

/** The seeds' models: locations, volumes, entries (in a location, on a volume, with a parent), shared tags. */
export const libraryModels: readonly ModelDefinition[] = [
  { name: 'location', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' }, path: { type: 'text' } } },
  { name: 'volume', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' }, capacity: { type: 'integer' } } },
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      mtime: { type: 'integer' },
      kind: { type: 'text' },
      locationId: { type: 'text', references: 'location' },
      volumeId: { type: 'text', nullable: true, references: 'volume' },
      parentId: { type: 'text', nullable: true, references: 'entry' },
    },
  },
  { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' }, color: { type: 'text', nullable: true } } },
];

export const registry = new ModelRegistry(libraryModels);

/** Ids that sort in creation order (time-ordered keys write fastest, see TOOLCHAIN.md). */
export const id = (kind: string, n: number): string => `${kind}-${String(n).padStart(7, '0')}`;

export interface TestPeer {
  readonly deviceId: string;
  readonly directory: string;
  readonly storage: SqliteStorage;
  readonly transport: InProcessTransport;
  readonly node: SyncNode;
}

/** A settable wall clock, so tests can move time — including backwards. */
export class ManualClock implements WallClock {
  constructor(public time = 1_790_000_000_000) {}
  now(): number {
    return this.time;
  }
}

/** A node on real SQLite files in `directory` (a fresh temp folder by default). */
export async function createPeer(
  network: InProcessNetwork,
  deviceId: string,
  options: Partial<SyncNodeOptions> & {
    directory?: string;
    wrapStorage?: (storage: SyncNodeOptions['storage']) => SyncNodeOptions['storage'];
    /** The device key the in-process transport authenticates as (see InProcessNetwork.transport). */
    transportPublicKey?: string;
    /** A size limit for the SQLite library database (see createSqliteStorage). */
    maxDatabaseBytes?: number;
  } = {},
): Promise<TestPeer> {
  const { directory: given, wrapStorage, transportPublicKey, maxDatabaseBytes, ...nodeOptions } = options;
  const directory = given ?? mkdtempSync(join(tmpdir(), `hw-${deviceId}-`));
  const storage = createSqliteStorage({ directory, registry: nodeOptions.registry ?? registry, synchronous: 'normal', ...(maxDatabaseBytes !== undefined ? { maxDatabaseBytes } : {}) });
  const transport = network.transport(deviceId, transportPublicKey === undefined ? {} : { publicKey: transportPublicKey });
  const node = await SyncNode.create({
    libraryId: LIBRARY_ID,
    deviceId,
    registry,
    // wrapStorage: a test watching or failing what the node asks of its stores.
    storage: wrapStorage ? wrapStorage(storage) : storage,
    transport,
    metricsIntervalMs: 0,
    ...nodeOptions,
  });
  return { deviceId, directory, storage, transport, node };
}

export async function closePeer(peer: TestPeer, removeFiles = true): Promise<void> {
  await peer.node.stop();
  await peer.storage.close();
  if (removeFiles) rmSync(peer.directory, { recursive: true, force: true });
}

export function waitForState(node: SyncNode, state: SyncState, ms = 30_000): Promise<SyncState> {
  return firstValueFrom(node.state$.pipe(filter((s) => s === state), timeout(ms)));
}

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Counts what crosses the in-process wire: messages by type and changes carried, per direction. */
export class WireCounter {
  readonly messages = new Map<string, number>();
  changes = 0;
  bytes = 0;
  private readonly subscription;

  constructor(
    network: InProcessNetwork,
    private readonly to?: string,
    private readonly from?: string,
  ) {
    this.subscription = network.wire$.subscribe((e: WireEvent) => this.count(e));
  }

  private count(e: WireEvent): void {
    if ((this.to && e.to !== this.to) || (this.from && e.from !== this.from)) return;
    const message: SyncMessage = decodeMessage(jsonCodec, e.payload, LIBRARY_ID);
    this.messages.set(message.type, (this.messages.get(message.type) ?? 0) + 1);
    this.bytes += e.bytes;
    if ('changes' in message) this.changes += message.changes?.length ?? 0;
    if (message.type === 'state-change') this.changes += 1;
  }

  /** Changes carried by pages (state-response, shared-change-response), not live pushes. */
  stop(): void {
    this.subscription.unsubscribe();
  }
}

export function locationData(n: number): { name: string; path: string } {
  return { name: `location ${n}`, path: `/volumes/main/location-${n}` };
}

export function entryData(n: number, locations: number): Record<string, unknown> {
  return {
    name: `file-${n}.jpg`,
    size: 1000 + n,
    mtime: 1_700_000_000_000 + n,
    kind: n % 10 === 0 ? 'directory' : 'file',
    locationId: id('loc', n % locations),
    volumeId: null,
    parentId: n % 10 === 0 || n < 10 ? null : id('ent', n - (n % 10)),
  };
}

/** Every record of a model in (HLC, id) order, read through the store's keyset pages. */
export async function dumpModel(peer: TestPeer, model: string): Promise<unknown[]> {
  const out: unknown[] = [];
  let after = null;
  for (;;) {
    const page: Awaited<ReturnType<TestPeer['storage']['recordStore']['page']>> = await peer.storage.recordStore.page(model, { after, limit: 2000 });
    out.push(...page);
    if (page.length < 2000) return out;
    const last = page[page.length - 1]!;
    after = { hlc: last.hlc, id: last.id };
  }
}

/** Writes records in chunks (one transaction and one live push per chunk). */
export async function writeMany(peer: TestPeer, model: string, count: number, make: (n: number) => { id: string; data: Record<string, unknown> }, chunk = 1000, from = 0): Promise<void> {
  for (let start = from; start < from + count; start += chunk) {
    const inputs = [];
    for (let n = start; n < Math.min(from + count, start + chunk); n++) inputs.push(make(n));
    await peer.node.write(model, inputs);
  }
}
