import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  changeSigningBytes,
  createInProcessNetwork,
  DEVICE_ROSTER,
  DeviceKey,
  deviceRosterModel,
  formatHlc,
  parseHlc,
  type WireChange,
  ModelRegistry,
  SyncNode,
  type HighwaterError,
  type InProcessNetwork,
  type TrustedDevice,
  type Transport,
} from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, libp2pPeerIdOf, type Libp2pTransport } from '@highwater/transport-libp2p';
import { eventually, id, LIBRARY_ID, libraryModels, locationData } from './support/library.js';
import { RawPeer } from './support/raw-peer.js';

// Issue #19, item 2 (in part): the roster is library data. A founder adds a device by writing a
// signed roster record; every device takes it up (accepts the new device's changes) once the
// record reaches it, and a revocation travels the same way. A member cannot rebind another
// device's id to its own key, nor delete a device from the roster.

const registry = new ModelRegistry([...libraryModels, deviceRosterModel]);
const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate(), 'device-c': DeviceKey.generate() };
type Device = keyof typeof keys;
const founders = (['device-a', 'device-b'] as const).map((deviceId) => ({ deviceId, publicKey: keys[deviceId].publicKey }));

interface Peer {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly errors: HighwaterError[];
}

const opened: { peer: Peer; dir: string }[] = [];
afterEach(async () => {
  for (const { peer, dir } of opened.splice(0)) {
    await peer.node.stop();
    await peer.storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function peer(network: InProcessNetwork, deviceId: Device, devices: readonly TrustedDevice[] = founders): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), `hw-roster-${deviceId}-`));
  const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
  const node = await SyncNode.create({
    libraryId: LIBRARY_ID,
    deviceId,
    registry,
    storage,
    transport: network.transport(deviceId),
    metricsIntervalMs: 0,
    antiEntropyMs: 200,
    trust: { deviceKey: keys[deviceId], devices },
  });
  const errors: HighwaterError[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  const p = { node, storage, errors };
  opened.push({ peer: p, dir });
  await node.start();
  return p;
}

const holds = async (p: Peer, recordId: string): Promise<boolean> => (await p.node.get('location', [recordId])).length === 1;

describe('the device roster', () => {
  it('a device added to the roster by one founder is accepted by the other; revoked, its later changes are refused', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a');
    const b = await peer(network, 'device-b');
    // C knows the founders and itself; the founders do not know C yet.
    const c = await peer(network, 'device-c', [...founders, { deviceId: 'device-c', publicKey: keys['device-c'].publicKey }]);
    network.connect('device-a', 'device-b');
    network.connect('device-b', 'device-c');
    await c.node.write('location', [{ id: id('c', 1), data: locationData(1) }]);
    await eventually(() => b.errors.some((e) => e.code === 'HW_FORGED_CHANGE' && e.message.includes('not a device of this library')), 'B refuses C, unknown');
    expect(await holds(b, id('c', 1))).toBe(false);

    await a.node.addDevice({ deviceId: 'device-c', publicKey: keys['device-c'].publicKey, name: 'tablet' });
    await eventually(async () => (await b.node.devices()).some((d) => d.deviceId === 'device-c'), 'B takes the roster record up');
    expect((await b.node.devices()).find((d) => d.deviceId === 'device-c')).toMatchObject({ name: 'tablet', addedBy: 'device-a' });
    // C's record, refused before, now comes with the next catch-up; C's next one live. A gets both through B.
    await c.node.write('location', [{ id: id('c', 2), data: locationData(2) }]);
    for (const p of [a, b]) await eventually(async () => (await holds(p, id('c', 1))) && (await holds(p, id('c', 2))), 'C’s records accepted');

    await a.node.revokeDevice('device-c');
    await eventually(async () => (await b.node.devices()).find((d) => d.deviceId === 'device-c')?.revokedAt !== undefined, 'B takes the revocation up');
    await new Promise((r) => setTimeout(r, 5));
    const refusedBefore = b.errors.length;
    await c.node.write('location', [{ id: id('c', 3), data: locationData(3) }]);
    await eventually(() => b.errors.slice(refusedBefore).some((e) => e.code === 'HW_FORGED_CHANGE' && e.message.includes('revoked')), 'B refuses C’s later change');
    expect(await holds(b, id('c', 3))).toBe(false);
    expect(await holds(b, id('c', 2))).toBe(true);
  });

  it('a member cannot give another device’s id its own key, nor delete a device from the roster', async () => {
    const network = createInProcessNetwork();
    const b = await peer(network, 'device-b');
    // An honest node refuses to write either.
    const rebind = { publicKey: keys['device-b'].publicKey, name: null, addedBy: 'device-b', revokedAt: null };
    await expect(b.node.write(DEVICE_ROSTER, [{ id: 'device-a', data: rebind }])).rejects.toMatchObject({ code: 'HW_FORGED_CHANGE', reason: 'roster' });
    await expect(b.node.delete(DEVICE_ROSTER, ['device-a'])).rejects.toMatchObject({ code: 'HW_FORGED_CHANGE', reason: 'roster' });

    // A member running other software signs them anyway (device-b's key): A refuses both.
    const a = await peer(network, 'device-a');
    const raw = new RawPeer(network, 'device-x');
    await raw.connect('device-a');
    const signedByB = (op: 'upsert' | 'delete', n: number): WireChange => {
      const hlc = formatHlc({ time: Date.now() - 100 + n, counter: 0, deviceId: 'device-b' });
      const change = { model: DEVICE_ROSTER, id: 'device-a', owner: 'device-b', hlc: parseHlc(hlc), op, data: op === 'upsert' ? rebind : null };
      const sig = keys['device-b'].sign(changeSigningBytes(registry, change)).toString('base64url');
      return op === 'upsert' ? { model: DEVICE_ROSTER, id: 'device-a', owner: 'device-b', hlc, op, data: rebind, sig } : { model: DEVICE_ROSTER, id: 'device-a', owner: 'device-b', hlc, op, sig };
    };
    await raw.send('device-a', { type: 'shared-change', changes: [signedByB('upsert', 0)] });
    await raw.send('device-a', { type: 'shared-change', changes: [signedByB('delete', 1)] });
    await eventually(() => a.errors.filter((e) => (e as HighwaterError & { reason?: string }).reason === 'roster').length === 2, 'A refuses both');
    expect((await a.node.devices()).find((d) => d.deviceId === 'device-a')?.publicKey).toBe(keys['device-a'].publicKey);
    expect(await a.node.count(DEVICE_ROSTER)).toBe(0);
    await raw.stop();
  });

  it('a revocation sticks: a later write that would undo it loses on every device, whichever order the writes arrive in', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a');
    const b = await peer(network, 'device-b');
    await a.node.addDevice({ deviceId: 'device-c', publicKey: keys['device-c'].publicKey, name: 'tablet' });
    await a.node.revokeDevice('device-c');
    const revokedAt = (await a.node.devices()).find((d) => d.deviceId === 'device-c')!.revokedAt;
    expect(revokedAt).toEqual(expect.any(Number));
    // B, not yet connected, writes C back in (as a member running other software would). Its
    // write is newer than the revocation, yet once both meet the revoked version wins: at B...
    const undo = { publicKey: keys['device-c'].publicKey, name: 'tablet', addedBy: 'device-b', revokedAt: null };
    await b.node.write(DEVICE_ROSTER, [{ id: 'device-c', data: undo }]);
    expect((await b.node.devices()).find((d) => d.deviceId === 'device-c')?.revokedAt).toBeUndefined();
    network.connect('device-a', 'device-b');
    await eventually(async () => (await b.node.devices()).find((d) => d.deviceId === 'device-c')?.revokedAt === revokedAt, 'B takes the revocation, over its own later write');
    // ...and at A, which receives the newer write after the revocation.
    await eventually(async () => (await b.storage.syncStore.sharedChangesSince({ after: null, limit: 10, originDeviceId: 'device-b', model: DEVICE_ROSTER })).length === 1, 'B logged its write');
    await new Promise((r) => setTimeout(r, 500));
    expect((await a.node.devices()).find((d) => d.deviceId === 'device-c')?.revokedAt).toBe(revokedAt);
    // The API says so rather than writing a version that would lose.
    await expect(a.node.addDevice({ deviceId: 'device-c', publicKey: keys['device-c'].publicKey })).rejects.toMatchObject({ code: 'HW_DEVICE_REVOKED' });
  });

  it('addDevice without the roster model is a typed error', async () => {
    const network = createInProcessNetwork();
    const dir = mkdtempSync(join(tmpdir(), 'hw-roster-none-'));
    const plain = new ModelRegistry(libraryModels);
    const storage = createSqliteStorage({ directory: dir, registry: plain, synchronous: 'normal' });
    const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: 'device-a', registry: plain, storage, transport: network.transport('device-a'), metricsIntervalMs: 0, trust: { deviceKey: keys['device-a'], devices: founders } });
    opened.push({ peer: { node, storage, errors: [] }, dir });
    await expect(node.addDevice({ deviceId: 'device-c', publicKey: keys['device-c'].publicKey })).rejects.toMatchObject({ code: 'HW_INVALID_OPTION' });
  });

  it.each(['libp2p', 'http'] as const)('over %s: a revocation in the roster disconnects the device on every device that takes it up', async (kind) => {
    const cKey = keys['device-c'];
    const all = [...founders, { deviceId: 'device-c', publicKey: cKey.publicKey }];
    const transports = new Map<Device, Transport>();
    for (const d of ['device-a', 'device-b', 'device-c'] as const) {
      transports.set(d, kind === 'libp2p' ? await createLibp2pTransport({ deviceKey: keys[d], members: all.map((x) => libp2pPeerIdOf(x.publicKey)) }) : createHttpTransport({ deviceKey: keys[d], heartbeatMs: 200 }));
    }
    const open = async (d: Device, devices: readonly TrustedDevice[]): Promise<Peer> => {
      const dir = mkdtempSync(join(tmpdir(), `hw-roster-${kind}-${d}-`));
      const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
      const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: d, registry, storage, transport: transports.get(d)!, metricsIntervalMs: 0, trust: { deviceKey: keys[d], devices } });
      const p = { node, storage, errors: [] as HighwaterError[] };
      node.errors$.subscribe((e) => p.errors.push(e));
      opened.push({ peer: p, dir });
      await node.start();
      return p;
    };
    const a = await open('device-a', founders);
    const b = await open('device-b', founders);
    await a.node.addDevice({ deviceId: 'device-c', publicKey: cKey.publicKey });
    const c = await open('device-c', all);
    const [ta, tb, tc] = [transports.get('device-a')!, transports.get('device-b')!, transports.get('device-c')!];
    if (kind === 'libp2p') {
      await (tb as Libp2pTransport).dial((ta as Libp2pTransport).addresses()[0]!);
      await (tc as Libp2pTransport).dial((tb as Libp2pTransport).addresses()[0]!);
    } else {
      const [ha, hb, hc] = [ta, tb, tc] as HttpTransport[];
      hb!.addPeer({ url: ha!.url, publicKey: ha!.publicKey });
      ha!.addPeer({ url: hb!.url, publicKey: hb!.publicKey });
      await eventually(async () => (await b.node.devices()).some((d) => d.deviceId === 'device-c'), 'B knows C from the roster');
      hb!.addPeer({ url: hc!.url, publicKey: hc!.publicKey });
      hc!.addPeer({ url: hb!.url, publicKey: hb!.publicKey });
    }
    const cPeer = tb.peerIdOf!(cKey.publicKey);
    await eventually(() => tb.connectedPeers().includes(cPeer), 'B and C connected');
    await c.node.write('location', [{ id: id('c', 1), data: locationData(1) }]);
    await eventually(() => holds(b, id('c', 1)), 'C’s record at B');

    await a.node.revokeDevice('device-c');
    await eventually(() => !tb.connectedPeers().includes(cPeer), 'B drops C once the revocation reaches it', 15_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(tb.connectedPeers()).not.toContain(cPeer);
    expect(await holds(b, id('c', 1))).toBe(true);
  });
});
