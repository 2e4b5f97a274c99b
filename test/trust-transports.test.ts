import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { DeviceKey, SyncNode, type HighwaterError, type Transport } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, libp2pPeerIdOf, type Libp2pTransport } from '@highwater/transport-libp2p';
import { eventually, id, LIBRARY_ID, locationData, registry } from './support/library.js';

// Issue #19: one device key authenticates the device on either transport and signs its changes.
// Over real libp2p and HTTP on loopback: signed changes flow between devices (the owner's own
// changes need no signature check: its transport key proved who sent them), and a member that
// speaks as another device is refused, since its transport key is not that device's.

const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate(), 'device-c': DeviceKey.generate() };
type Device = keyof typeof keys;
const devices = (Object.keys(keys) as Device[]).map((deviceId) => ({ deviceId, publicKey: keys[deviceId].publicKey }));

interface Running {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly transport: Transport;
  readonly errors: HighwaterError[];
}

const dirs: string[] = [];
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.node.stop();
    await r.storage.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A node on `key`, speaking as `deviceId` (an impostor when they differ). */
async function device(deviceId: Device, key: DeviceKey, transport: Transport): Promise<Running> {
  // An impostor's own list says its key is the device it claims (a node refuses to start otherwise).
  const listed = devices.map((d) => (d.deviceId === deviceId ? { deviceId, publicKey: key.publicKey } : d));
  const dir = mkdtempSync(join(tmpdir(), `hw-trust-${deviceId}-`));
  dirs.push(dir);
  const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
  const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId, registry, storage, transport, metricsIntervalMs: 0, trust: { deviceKey: key, devices: listed } });
  const errors: HighwaterError[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  await node.start();
  const r = { node, storage, transport, errors };
  running.push(r);
  return r;
}

const libp2pMembers = devices.map((d) => libp2pPeerIdOf(d.publicKey));

async function libp2p(key: DeviceKey): Promise<Libp2pTransport> {
  return createLibp2pTransport({ deviceKey: key, members: libp2pMembers });
}

function http(key: DeviceKey): HttpTransport {
  return createHttpTransport({ deviceKey: key, heartbeatMs: 200 });
}

async function linkHttp(a: HttpTransport, b: HttpTransport): Promise<void> {
  a.addPeer({ url: b.url, publicKey: b.publicKey });
  b.addPeer({ url: a.url, publicKey: a.publicKey });
  await firstValueFrom(a.peers$.pipe(filter((e) => e.type === 'connected'), timeout(10_000)));
}

describe.each(['libp2p', 'http'] as const)('trust over %s', (kind) => {
  async function pair(aKey: DeviceKey, aAs: Device, bKey: DeviceKey, bAs: Device): Promise<[Running, Running]> {
    if (kind === 'libp2p') {
      const ta = await libp2p(aKey);
      const tb = await libp2p(bKey);
      const a = await device(aAs, aKey, ta);
      const b = await device(bAs, bKey, tb);
      await tb.dial(ta.addresses()[0]!);
      return [a, b];
    }
    const ta = http(aKey);
    const tb = http(bKey);
    const a = await device(aAs, aKey, ta);
    const b = await device(bAs, bKey, tb);
    await linkHttp(ta, tb);
    return [a, b];
  }

  it('signed changes reach the other device, signatures stored with them', async () => {
    const [a, b] = await pair(keys['device-a'], 'device-a', keys['device-b'], 'device-b');
    await a.node.write('location', Array.from({ length: 20 }, (_, n) => ({ id: id('loc', n), data: locationData(n) })));
    await eventually(async () => (await b.node.count('location')) === 20, 'B holds A’s 20 locations');
    const [stored] = await b.storage.recordStore.getMany('location', [id('loc', 3)]);
    expect(stored?.sig).toMatch(/^[A-Za-z0-9_-]{16}\.3\.20$/); // its place in the batch of the write; the batch proof is stored apart
    expect([...a.errors, ...b.errors].map((e) => e.code)).toEqual([]);
  });

  it('a member speaking as another device is refused: its transport key is not that device’s', async () => {
    // The impostor holds device-b's key (a member) but says it is device-a.
    const [honest, impostor] = await pair(keys['device-c'], 'device-c', keys['device-b'], 'device-a');
    await eventually(() => honest.errors.some((e) => e.code === 'HW_DEVICE_MISMATCH'), 'the impostor refused');
    const refused = honest.errors.find((e) => e.code === 'HW_DEVICE_MISMATCH')!;
    expect(refused.message).toContain('"device-a"');
    // Its writes, signed with device-b's key as device-a's, never land either.
    await impostor.node.write('location', [{ id: id('fake', 1), data: locationData(1) }]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(await honest.node.count('location')).toBe(0);
  });

  it('revoking a device: it is disconnected at once, its reconnect with its old key is refused, and its later changes are refused even when another device relays them', async () => {
    const ka = keys['device-a'];
    const kb = keys['device-b'];
    const kc = keys['device-c'];
    let a: Running;
    let b: Running;
    let c: Running;
    let redial: () => Promise<unknown>;
    if (kind === 'libp2p') {
      const [ta, tb, tc] = [await libp2p(ka), await libp2p(kb), await libp2p(kc)];
      [a, b, c] = [await device('device-a', ka, ta), await device('device-b', kb, tb), await device('device-c', kc, tc)];
      await tb.dial(ta.addresses()[0]!);
      await tc.dial(ta.addresses()[0]!);
      await tc.dial(tb.addresses()[0]!);
      redial = () => tb.dial(ta.addresses()[0]!);
    } else {
      const [ta, tb, tc] = [http(ka), http(kb), http(kc)];
      [a, b, c] = [await device('device-a', ka, ta), await device('device-b', kb, tb), await device('device-c', kc, tc)];
      await linkHttp(ta, tb);
      await linkHttp(ta, tc);
      await linkHttp(tb, tc);
      redial = () => tb.request(ta.localPeerId, new Uint8Array([1]), { timeoutMs: 2000 });
    }
    await eventually(() => a.transport.connectedPeers().length === 2 && c.transport.connectedPeers().length === 2, 'a full mesh');
    await b.node.write('location', [{ id: id('b', 1), data: locationData(1) }]);
    await eventually(async () => (await a.node.count('location')) === 1 && (await c.node.count('location')) === 1, 'B’s first record everywhere');

    const bPeer = a.transport.peerIdOf!(kb.publicKey);
    const gone = firstValueFrom(a.transport.peers$.pipe(filter((e) => e.type === 'disconnected' && e.peerId === bPeer), timeout(10_000)));
    a.node.setDevices(devices.map((d) => (d.deviceId === 'device-b' ? { ...d, revokedAt: Date.now() } : d)));
    await gone;
    expect(a.transport.connectedPeers()).not.toContain(bPeer);
    const aPeer = b.transport.peerIdOf!(ka.publicKey);
    await eventually(() => !b.transport.connectedPeers().includes(aPeer), 'B to see A gone');
    // Coming back with its old key: HTTP answers 401; a libp2p dial may complete its handshake
    // for an instant before A's gater closes it, so what counts is that no connection stays.
    if (kind === 'http') await expect(redial()).rejects.toThrow();
    else await redial().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(a.transport.connectedPeers()).not.toContain(bPeer);
    expect(b.transport.connectedPeers()).not.toContain(aPeer);

    // C has not revoked B: it takes B's next record and relays it to A, which refuses it.
    await new Promise((r) => setTimeout(r, 5)); // B's clock past the revocation
    await b.node.write('location', [{ id: id('b', 2), data: locationData(2) }]);
    await eventually(async () => (await c.node.count('location')) === 2, 'C holds B’s second record');
    await eventually(() => a.errors.some((e) => e.code === 'HW_FORGED_CHANGE' && e.message.includes('revoked')), 'A refuses B’s later change relayed by C');
    expect(await a.node.count('location')).toBe(1);
    // What B wrote before the revocation still verifies: A keeps it, and serves it.
    expect((await a.node.get('location', [id('b', 1)])).length).toBe(1);
  });
});
