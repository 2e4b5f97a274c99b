/**
 * An always-on hub on PostgreSQL, reached over HTTP by two laptops on SQLite that never talk
 * to each other: laptop A writes, the hub gets it, laptop B gets it through the hub; B writes
 * back, A gets it the same way. Exits 0 only when all three hold the same records.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ModelRegistry, SyncNode, formatHlc, type RecordStore, type SyncStore } from '@highwater/core';
import { createPostgresStorage, type PostgresStorage } from '@highwater/storage-postgres';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, type HttpTransport } from '@highwater/transport-http';

const PG_URL = process.env['PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const DEVICES = ['hub', 'laptop-a', 'laptop-b'];

const registry = new ModelRegistry([
  // Albums are shared: any device creates or renames one, the last writer (by HLC) wins.
  { name: 'album', ownership: 'shared', key: 'id', fields: { name: { type: 'text' } } },
  // Photos belong to the device that imported them; each points at its album.
  {
    name: 'photo',
    ownership: 'device',
    key: 'id',
    fields: { albumId: { type: 'text', references: 'album' }, file: { type: 'text' }, bytes: { type: 'integer' } },
  },
]);
const MODELS = registry.syncOrder();

interface Device {
  readonly name: string;
  readonly store: 'postgres' | 'sqlite';
  readonly node: SyncNode;
  readonly transport: HttpTransport;
  readonly records: RecordStore;
}

/** The hub's library: a schema of its own per run, so reruns and parallel runs never collide. */
async function openHubStorage(): Promise<PostgresStorage> {
  const schema = `hw_example_hub_${randomBytes(4).toString('hex')}`;
  try {
    return await createPostgresStorage({ connectionString: PG_URL, schema, registry });
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL}: start it with \`pg_ctlcluster --skip-systemctl-redirect 15 main start\` ` +
        `(or set PG_URL). Cause: ${(error as Error).message}`,
    );
  }
}

async function openDevice(
  name: string,
  store: Device['store'],
  storage: { syncStore: SyncStore; recordStore: RecordStore },
  keyFolder: string,
): Promise<Device> {
  // Each device signs its HTTP calls with its own Ed25519 key (created on first use).
  const transport = createHttpTransport({ keyPath: join(keyFolder, `${name}.pem`), listen: { host: '127.0.0.1', port: 0 } });
  const node = await SyncNode.create({ libraryId: 'photos', deviceId: name, registry, storage, transport, members: DEVICES });
  await node.start(); // listens on a free port: transport.url tells which
  return { name, store, node, transport, records: storage.recordStore };
}

/** Resolves once `transport` counts `peerId` as connected (a signed heartbeat came back). */
function connected(transport: HttpTransport, peerId: string): Promise<void> {
  return new Promise((resolve) => {
    const subscription = transport.peers$.subscribe((event) => {
      if (event.type === 'connected' && event.peerId === peerId) {
        subscription.unsubscribe();
        resolve();
      }
    });
    if (transport.connectedPeers().includes(peerId)) {
      subscription.unsubscribe();
      resolve();
    }
  });
}

/** Makes two devices members of each other: each lists the other's peer id, url and public key. */
async function link(x: Device, y: Device): Promise<void> {
  const both = Promise.all([connected(x.transport, y.transport.localPeerId), connected(y.transport, x.transport.localPeerId)]);
  for (const [from, to] of [[x, y], [y, x]] as const) {
    from.transport.addPeer({ peerId: to.transport.localPeerId, url: to.transport.url, publicKey: to.transport.publicIdentity.publicKey });
  }
  await both;
}

/** Waits until `check` holds, at most 10 s; returns the time it took. */
async function until(what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - started;
}

const holds = (device: Device, model: string, count: number) => async () => (await device.node.count(model)) === count;

/** Every record of a device, model by model, as comparable text. */
async function contents(device: Device): Promise<string> {
  const models = await Promise.all(MODELS.map((model) => device.records.page(model, { limit: 10_000 })));
  return JSON.stringify(models.map((records) => records.map((r) => [r.id, r.ownerDeviceId, formatHlc(r.hlc), r.data])));
}

const folder = await mkdtemp(join(tmpdir(), 'highwater-http-hub-'));
const closers: (() => Promise<void>)[] = [];
const devices: Device[] = [];
try {
  const hubStorage = await openHubStorage();
  closers.push(() => hubStorage.dropSchema()); // deletes this run's library from the database
  const hub = await openDevice('hub', 'postgres', hubStorage, folder);
  devices.push(hub);
  for (const name of ['laptop-a', 'laptop-b']) {
    const storage = createSqliteStorage({ directory: join(folder, name), registry });
    closers.push(() => storage.close());
    devices.push(await openDevice(name, 'sqlite', storage, folder));
  }
  const [, laptopA, laptopB] = devices as [Device, Device, Device];
  console.log(`hub on PostgreSQL (schema ${hubStorage.schema}) at ${hub.transport.url}`);

  // Each laptop knows only the hub.
  await link(hub, laptopA);
  await link(hub, laptopB);

  // Laptop A writes; the hub stores it and passes it on to laptop B.
  await laptopA.node.write('album', [{ id: 'album-trip', data: { name: 'Trip' } }]);
  await laptopA.node.write(
    'photo',
    [1, 2, 3].map((n) => ({ id: `photo-a-${n}`, data: { albumId: 'album-trip', file: `IMG_000${n}.jpg`, bytes: 2_000_000 + n } })),
  );
  const toHub = await until('the hub to hold laptop A\'s photos', holds(hub, 'photo', 3));
  const toB = await until('laptop B to hold laptop A\'s photos', holds(laptopB, 'photo', 3));
  console.log(`laptop A wrote 1 album, 3 photos: on the hub after ${toHub} ms, on laptop B ${toB} ms later`);

  // Laptop B writes back: photos of its own, and a new name for the shared album.
  await laptopB.node.write('photo', [{ id: 'photo-b-1', data: { albumId: 'album-trip', file: 'DSC_0001.jpg', bytes: 3_500_000 } }]);
  await laptopB.node.write('album', [{ id: 'album-trip', data: { name: 'Trip 2025' } }]);
  const toA = await until('laptop A to hold laptop B\'s photo and album name', async () => {
    const [album] = await laptopA.node.get('album', ['album-trip']);
    return (await holds(laptopA, 'photo', 4)()) && album?.data['name'] === 'Trip 2025';
  });
  console.log(`laptop B wrote 1 photo, renamed the album: on laptop A after ${toA} ms, through the hub`);

  // All three hold the same records, clocks included.
  await Promise.all(devices.map((device) => device.node.settle()));
  console.log(`\ndevice    store     ${MODELS.map((m) => m.padStart(6)).join('')}`);
  for (const device of devices) {
    const counts = await Promise.all(MODELS.map((model) => device.node.count(model)));
    console.log(`${device.name.padEnd(10)}${device.store.padEnd(10)}${counts.map((c) => String(c).padStart(6)).join('')}`);
  }
  const [expected, ...others] = await Promise.all(devices.map(contents));
  if (others.some((other) => other !== expected)) throw new Error('the devices hold different records');
  console.log(`\nidentical on all three: ${MODELS.length} models, same records, same clocks`);
} catch (error) {
  console.error(`failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  for (const { node } of devices) await node.stop();
  for (const close of closers) await close();
  await rm(folder, { recursive: true, force: true });
}
