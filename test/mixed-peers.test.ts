import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { firstValueFrom, filter, skipWhile, timeout } from 'rxjs';
import { SyncNode, type RecordCursor, type RecordStore, type SyncProgress, type SyncRecord, type SyncState } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { createLibp2pTransport, loadOrCreatePeerId, type Libp2pTransport } from '@highwater/transport-libp2p';
import { entryData, id, LIBRARY_ID, locationData, registry } from './support/library.js';
import { PG_URL, requirePostgres } from './support/postgres.js';

interface Device {
  readonly name: string;
  readonly node: SyncNode;
  readonly transport: Libp2pTransport;
  readonly records: RecordStore;
  close(): Promise<void>;
}

async function dump(records: RecordStore, model: string): Promise<SyncRecord[]> {
  const out: SyncRecord[] = [];
  let after: RecordCursor | null = null;
  for (;;) {
    const page: SyncRecord[] = await records.page(model, { after, limit: 5000 });
    out.push(...page);
    if (page.length < 5000) return out;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
  }
}

const waitState = (d: Device, state: SyncState) => firstValueFrom(d.node.state$.pipe(filter((s) => s === state), timeout(120_000)));
/** The first `state` after the node has been in `first` (a node starts paused when alone). */
const waitStateAfter = (d: Device, first: SyncState, state: SyncState) =>
  firstValueFrom(d.node.state$.pipe(skipWhile((s) => s !== first), filter((s) => s === state), timeout(120_000)));

/**
 * A SQLite-backed peer and a Postgres-backed peer sync the watermark-fix scenario both ways
 * over libp2p (real TCP on loopback), with a disconnect mid-backfill each time.
 */
describe('mixed peers: SQLite ⇄ Postgres over libp2p', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-mixed-'));
  const schema = `hw_test_mixed_${process.pid}_${Date.now()}`;
  const members = new Set<string>();
  const devices: Device[] = [];
  beforeAll(() => requirePostgres());
  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    const cleanup = await createPostgresStorage({ connectionString: PG_URL, schema, registry });
    await cleanup.dropSchema();
    rmSync(dir, { recursive: true, force: true });
  });

  async function device(name: string, storage: 'sqlite' | 'postgres'): Promise<Device> {
    const keyPath = join(dir, `${name}.key`);
    members.add(await loadOrCreatePeerId(keyPath));
    const stores =
      storage === 'sqlite'
        ? createSqliteStorage({ directory: join(dir, name), registry, synchronous: 'normal' })
        : await createPostgresStorage({ connectionString: PG_URL, schema, registry });
    const transport = await createLibp2pTransport({ keyPath, members: () => members });
    const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: name, registry, storage: stores, transport, pageSize: 1000, metricsIntervalMs: 0 });
    await node.start();
    await firstValueFrom(node.state$.pipe(filter((s) => s === 'paused'), timeout(30_000))); // alone: its first pass found nobody
    const d = { name, node, transport, records: stores.recordStore, close: async () => (await node.stop(), await stores.close()) };
    devices.push(d);
    return d;
  }

  /** Backfills `to` from `from`, cutting the link once `to` has 5 000 entries. */
  async function backfillWithDisconnect(from: Device, to: Device): Promise<void> {
    let cut = false;
    const sub = to.node.progress$.subscribe((p: SyncProgress) => {
      if (!cut && p.current?.resource === 'entry' && p.applied >= 5_000) {
        cut = true;
        void to.transport.hangUp(from.transport.localPeerId);
      }
    });
    const paused = waitStateAfter(to, 'backfilling', 'paused');
    await to.transport.dial(from.transport.addresses()[0]!);
    await paused;
    sub.unsubscribe();
    expect(cut).toBe(true);
    const partial = await to.node.count('entry');
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(15_000);
    const ready = waitState(to, 'ready');
    await to.transport.dial(from.transport.addresses()[0]!);
    await ready;
  }

  async function expectSameLibrary(a: Device, b: Device): Promise<void> {
    for (const model of registry.syncOrder()) expect(await dump(b.records, model)).toEqual(await dump(a.records, model));
  }

  it('SQLite → Postgres, then Postgres → SQLite, with identical contents', async () => {
    const sqliteA = await device('device-a', 'sqlite');
    await sqliteA.node.write('location', Array.from({ length: 50 }, (_, i) => ({ id: id('loc', i), data: locationData(i) })));
    for (let start = 0; start < 15_000; start += 1000) {
      await sqliteA.node.write('entry', Array.from({ length: 1000 }, (_, j) => ({ id: id('ent', start + j), data: entryData(start + j, 50) })));
    }
    await sqliteA.node.write('volume', Array.from({ length: 10 }, (_, i) => ({ id: id('vol', i), data: { name: `volume ${i}`, capacity: 1e12 + i } })));
    await sqliteA.node.write('tag', [{ id: 'tag-1', data: { name: 'from sqlite', color: null } }]);

    // SQLite → Postgres.
    const pgB = await device('device-b', 'postgres');
    await backfillWithDisconnect(sqliteA, pgB);
    expect(await pgB.node.count('entry')).toBe(15_000);
    expect(await pgB.node.count('location')).toBe(50);
    expect(await pgB.node.count('volume')).toBe(10);
    await expectSameLibrary(sqliteA, pgB);

    // The Postgres peer writes too; the SQLite peer gets it live.
    await pgB.node.write('tag', [{ id: 'tag-2', data: { name: 'from postgres', color: 'blue' } }]);
    await pgB.node.write('location', [{ id: 'pg-loc-1', data: { name: 'pg location', path: '/pg' } }]);
    await pgB.node.settle();
    const deadline = Date.now() + 30_000;
    while ((await sqliteA.node.count('location')) < 51 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sqliteA.node.settle();
    await expectSameLibrary(pgB, sqliteA);

    // Postgres → a fresh SQLite peer, with the original SQLite peer gone.
    await sqliteA.close();
    devices.splice(devices.indexOf(sqliteA), 1);
    const sqliteC = await device('device-c', 'sqlite');
    await backfillWithDisconnect(pgB, sqliteC);
    expect(await sqliteC.node.count('entry')).toBe(15_000);
    expect(await sqliteC.node.count('tag')).toBe(2);
    expect(await sqliteC.node.count('location')).toBe(51);
    await expectSameLibrary(pgB, sqliteC);
  }, 240_000);
});
