import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { DeviceKey, deviceRosterModel, ModelRegistry, SyncNode, type HighwaterError, type Transport, type TrustedDevice } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport } from '@highwater/transport-libp2p';
import { eventually, id, LIBRARY_ID, libraryModels, locationData } from './support/library.js';

// Issue #19, item 2 over the real transports: a device that is no member yet redeems an invite
// over libp2p or HTTP on loopback — the inviter's transport admits it for that one exchange only
// — receives the device list, connects and syncs signed; revoked afterwards, it is cut off and
// cannot come back with its key.

const registry = new ModelRegistry([...libraryModels, deviceRosterModel]);

interface Running {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly transport: Transport;
  readonly errors: HighwaterError[];
}

const running: Running[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.node.stop();
    await r.storage.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each(['libp2p', 'http'] as const)('pairing over %s', (kind) => {
  async function transport(key: DeviceKey): Promise<Transport> {
    // Neither knows the other: members come from the node's device list (setMembers).
    return kind === 'libp2p' ? createLibp2pTransport({ deviceKey: key, members: [] }) : createHttpTransport({ deviceKey: key, heartbeatMs: 200 });
  }

  async function device(deviceId: string, key: DeviceKey, devices: readonly TrustedDevice[]): Promise<Running> {
    const dir = mkdtempSync(join(tmpdir(), `hw-pair-${kind}-${deviceId}-`));
    dirs.push(dir);
    const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
    const t = await transport(key);
    const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId, registry, storage, transport: t, metricsIntervalMs: 0, antiEntropyMs: 300, trust: { deviceKey: key, devices } });
    const errors: HighwaterError[] = [];
    node.errors$.subscribe((e) => errors.push(e));
    await node.start();
    const r = { node, storage, transport: t, errors };
    running.push(r);
    return r;
  }

  it('a new device pairs with an invite, syncs both ways signed, and once revoked is cut off and refused with its key', async () => {
    const ka = DeviceKey.generate();
    const kc = DeviceKey.generate();
    const a = await device('device-a', ka, [{ deviceId: 'device-a', publicKey: ka.publicKey }]);
    await a.node.write('location', Array.from({ length: 25 }, (_, n) => ({ id: id('a', n), data: locationData(n) })));
    const c = await device('device-c', kc, []);

    // Before pairing, C is nobody to A: a sync request is refused.
    const aPeer = c.transport.peerIdOf!(ka.publicKey);
    const cPeer = a.transport.peerIdOf!(kc.publicKey);
    await expect(c.transport.request(aPeer, new Uint8Array([1]), { timeoutMs: 2000 })).rejects.toThrow();

    const { code } = a.node.createInvite();
    const paired = await c.node.joinLibrary(code, { name: 'tablet' });
    expect(paired.devices.map((d) => d.deviceId).sort()).toEqual(['device-a', 'device-c']);
    expect((await a.node.devices()).find((d) => d.deviceId === 'device-c')).toMatchObject({ publicKey: kc.publicKey, name: 'tablet', addedBy: 'device-a' });

    await eventually(async () => (await c.node.count('location')) === 25, 'C backfills A’s 25 locations');
    const [stored] = await c.storage.recordStore.getMany('location', [id('a', 7)]);
    expect(stored?.sig).toMatch(/^[A-Za-z0-9_-]{16}\.7\.25$/);
    await c.node.write('location', [{ id: id('c', 1), data: locationData(100) }]);
    await eventually(async () => (await a.node.get('location', [id('c', 1)])).length === 1, 'A accepts C’s signed record');
    expect([...a.errors, ...c.errors].filter((e) => e.code === 'HW_FORGED_CHANGE' || e.code === 'HW_UNKNOWN_DEVICE')).toEqual([]);

    // Revoked: A hangs up on C at once, and C's key gets no further.
    const gone = firstValueFrom(a.transport.peers$.pipe(filter((e) => e.type === 'disconnected' && e.peerId === cPeer), timeout(10_000)));
    await a.node.revokeDevice('device-c');
    await gone;
    expect(a.transport.connectedPeers()).not.toContain(cPeer);
    await eventually(() => !c.transport.connectedPeers().includes(aPeer), 'C to see A gone');
    await expect(c.transport.request(aPeer, new Uint8Array([1]), { timeoutMs: 2000 })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    expect(a.transport.connectedPeers()).not.toContain(cPeer);

    // A revoked device cannot pair its way back either.
    const second = a.node.createInvite();
    await expect(c.node.joinLibrary(second.code)).rejects.toMatchObject({ code: 'HW_PAIRING_REFUSED' });
  });
});
