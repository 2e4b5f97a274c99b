import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  createInProcessNetwork,
  decodeInviteCode,
  DeviceKey,
  deviceRosterModel,
  encodeInviteCode,
  inviteIdOf,
  ModelRegistry,
  redeemInvite,
  SyncNode,
  type HighwaterError,
  type InProcessNetwork,
  type Transport,
  type TrustedDevice,
} from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { eventually, id, LIBRARY_ID, libraryModels, locationData } from './support/library.js';

// Issue #19, item 2: pairing. A device of the library issues an invite (a code); a new device
// redeems it over the transport and receives the device list; the inviter adds it to the roster.
// Here over the in-process transport, for the desk's rules (one use, expiry, wrong proofs,
// forged answers, taken ids); test/pairing-transports.test.ts does it over libp2p and HTTP.

const registry = new ModelRegistry([...libraryModels, deviceRosterModel]);
const keys: Record<string, DeviceKey> = {};
const keyOf = (deviceId: string): DeviceKey => (keys[deviceId] ??= DeviceKey.generate());
const founderA = (): TrustedDevice[] => [{ deviceId: 'device-a', publicKey: keyOf('device-a').publicKey }];

interface Peer {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly transport: Transport;
  readonly errors: HighwaterError[];
  readonly dir: string;
}

const opened: Peer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of opened.splice(0)) {
    await p.node.stop();
    await p.storage.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A node of device `deviceId`; a new device knows only itself (`devices` empty). */
async function peer(network: InProcessNetwork, deviceId: string, devices: readonly TrustedDevice[], dir?: string): Promise<Peer> {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), `hw-pair-${deviceId}-`));
    dirs.push(dir);
  }
  const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
  const transport = network.transport(deviceId);
  const node = await SyncNode.create({
    libraryId: LIBRARY_ID,
    deviceId,
    registry,
    storage,
    transport,
    metricsIntervalMs: 0,
    antiEntropyMs: 200,
    trust: { deviceKey: keyOf(deviceId), devices },
  });
  const errors: HighwaterError[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  const p = { node, storage, transport, errors, dir };
  opened.push(p);
  await node.start();
  return p;
}

const holds = async (p: Peer, recordId: string): Promise<boolean> => (await p.node.get('location', [recordId])).length === 1;
const deviceIds = async (p: Peer): Promise<string[]> => (await p.node.devices()).map((d) => d.deviceId).sort();

describe('invite codes', () => {
  const invite = { secret: new Uint8Array(16).fill(7), expiresAt: 1_900_000_000_000, inviterKey: DeviceKey.generate().publicKey, addresses: ['/ip4/127.0.0.1/tcp/4001', 'http://10.0.0.5:7400'] };

  it('round-trip, and read back whatever the case, dashes and spaces', () => {
    const code = encodeInviteCode(invite);
    expect(code).toMatch(/^HW1(-[0-9A-Z]{1,5})+$/);
    const back = decodeInviteCode(code);
    expect(back).toEqual({ ...invite, secret: invite.secret });
    expect(decodeInviteCode(` ${code.toLowerCase().replace(/-/g, ' ')} `)).toEqual(back);
  });

  it('a mistyped, cut or foreign code is refused with HW_INVITE_CODE', () => {
    const code = encodeInviteCode(invite);
    const at = 12;
    const typo = code.slice(0, at) + (code[at] === '2' ? '3' : '2') + code.slice(at + 1);
    expect(() => decodeInviteCode(typo)).toThrow(expect.objectContaining({ code: 'HW_INVITE_CODE', message: expect.stringContaining('checksum') }));
    expect(() => decodeInviteCode(code.slice(0, 40))).toThrow(expect.objectContaining({ code: 'HW_INVITE_CODE' }));
    expect(() => decodeInviteCode('XY1-ABCDE')).toThrow(expect.objectContaining({ code: 'HW_INVITE_CODE' }));
    expect(() => decodeInviteCode(`${code}U`)).toThrow(expect.objectContaining({ code: 'HW_INVITE_CODE' }));
  });
});

describe('pairing (in process)', () => {
  it('a new device redeems an invite: both hold each other in their device lists, sync, and the new one keeps the list across a restart', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a', founderA());
    await a.node.write('location', [{ id: id('a', 1), data: locationData(1) }]);
    const c = await peer(network, 'device-c', []);

    const invite = a.node.createInvite();
    expect(invite.code).toMatch(/^HW1-/);
    const pairedByA: unknown[] = [];
    a.node.paired$.subscribe((d) => pairedByA.push(d));
    const paired = await c.node.joinLibrary(invite.code, { name: 'tablet' });
    // The inviter tells the application whom it paired and where that device listens.
    expect(pairedByA).toEqual([{ deviceId: 'device-c', publicKey: keyOf('device-c').publicKey, name: 'tablet', addresses: ['device-c'] }]);
    expect(paired.libraryId).toBe(LIBRARY_ID);
    expect(paired.inviter).toMatchObject({ deviceId: 'device-a', publicKey: keyOf('device-a').publicKey });
    expect(paired.devices.map((d) => d.deviceId).sort()).toEqual(['device-a', 'device-c']);
    expect(await deviceIds(c)).toEqual(['device-a', 'device-c']);
    expect((await a.node.devices()).find((d) => d.deviceId === 'device-c')).toMatchObject({ publicKey: keyOf('device-c').publicKey, name: 'tablet', addedBy: 'device-a' });
    // The invite is used: the door closes again once the answer had time to leave.
    await eventually(
      () => c.transport.pair!('device-a', keyOf('device-a').publicKey, Buffer.from('{}')).then(() => false, (e: HighwaterError) => e.code === 'HW_PEER_UNREACHABLE'),
      'the door to close',
    );

    // The join connected them: A's record comes over, C's record is accepted by A.
    await eventually(() => holds(c, id('a', 1)), 'C backfills A’s record');
    await c.node.write('location', [{ id: id('c', 1), data: locationData(2) }]);
    await eventually(() => holds(a, id('c', 1)), 'A accepts C’s signed record');
    expect(a.errors.filter((e) => e.code === 'HW_FORGED_CHANGE')).toEqual([]);

    // C restarts: the device list a pairing handed it is still there (the founder is in no roster record).
    await c.node.stop();
    await c.storage.close();
    opened.splice(opened.indexOf(c), 1);
    const again = await peer(network, 'device-c', [], c.dir);
    expect(await deviceIds(again)).toEqual(['device-a', 'device-c']);
    network.connect('device-a', 'device-c');
    await a.node.write('location', [{ id: id('a', 2), data: locationData(3) }]);
    await eventually(() => holds(again, id('a', 2)), 'the restarted C accepts A’s new record');
    expect(again.errors.filter((e) => e.code === 'HW_FORGED_CHANGE')).toEqual([]);
  });

  it('an invite pairs one device: a second redemption of the same code is refused', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a', founderA());
    const c = await peer(network, 'device-c', []);
    const d = await peer(network, 'device-d', []);
    const { code } = a.node.createInvite();
    await c.node.joinLibrary(code);
    await expect(d.node.joinLibrary(code)).rejects.toMatchObject({ code: 'HW_INVITE_INVALID' });
    // With another invite open, the used one is still refused.
    a.node.createInvite();
    await expect(d.node.joinLibrary(code)).rejects.toMatchObject({ code: 'HW_INVITE_INVALID' });
    expect(await deviceIds(a)).toEqual(['device-a', 'device-c']);
    expect(await deviceIds(d)).toEqual(['device-d']);
  });

  it('an expired invite is refused by the joiner before it asks, and by the inviter', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a', founderA());
    const c = await peer(network, 'device-c', []);
    const { code, expiresAt } = a.node.createInvite({ ttlMs: 1 });
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 20));
    await expect(c.node.joinLibrary(code)).rejects.toMatchObject({ code: 'HW_INVITE_EXPIRED' });
    // A joiner whose clock is behind asks anyway: the inviter no longer has the invite.
    a.node.createInvite();
    const late = redeemInvite({ code, transport: c.transport, deviceKey: keyOf('device-c'), deviceId: 'device-c', wallClock: { now: () => expiresAt - 60_000 } });
    await expect(late).rejects.toMatchObject({ code: 'HW_INVITE_INVALID' });
    expect(await deviceIds(a)).toEqual(['device-a']);
  });

  it('five wrong proofs of the secret close the invite; a wrong secret never pairs', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a', founderA());
    const c = await peer(network, 'device-c', []);
    const { code } = a.node.createInvite();
    const invite = decodeInviteCode(code);
    // Someone who saw the invite id on the wire, but not the secret, guesses proofs.
    const guess = (n: number): Uint8Array =>
      Buffer.from(
        JSON.stringify({
          type: 'hw-pair-request',
          v: 1,
          invite: inviteIdOf(invite.secret),
          deviceId: 'device-x',
          publicKey: keyOf('device-x').publicKey,
          name: null,
          addresses: [],
          proof: Buffer.alloc(32, n).toString('base64url'),
          sig: Buffer.alloc(64, n).toString('base64url'),
        }),
      );
    for (let n = 0; n < 5; n++) {
      const answer = JSON.parse(Buffer.from(await c.transport.pair!('device-a', invite.inviterKey, guess(n))).toString()) as { ok: boolean; code: string };
      expect(answer).toMatchObject({ ok: false, code: 'HW_INVITE_INVALID' });
    }
    await expect(c.node.joinLibrary(code)).rejects.toMatchObject({ code: 'HW_INVITE_INVALID' });

    // A code with the right address and key but another secret names no open invite.
    const second = decodeInviteCode(a.node.createInvite().code);
    const wrong = encodeInviteCode({ ...second, secret: new Uint8Array(16).fill(1) });
    await expect(c.node.joinLibrary(wrong)).rejects.toMatchObject({ code: 'HW_INVITE_INVALID' });
    expect(await deviceIds(a)).toEqual(['device-a']);
    expect(await deviceIds(c)).toEqual(['device-c']);
  });

  it('the inviter refuses a request not signed by the key it names, and a device id that another key holds', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a', founderA());
    const c = await peer(network, 'device-c', []);
    // C asks for device-x's key to be added, holding only its own key.
    const stolen = { ...keyOf('device-c'), publicKey: keyOf('device-x').publicKey, sign: (b: Uint8Array) => keyOf('device-c').sign(b) } as DeviceKey;
    const { code } = a.node.createInvite();
    await expect(redeemInvite({ code, transport: c.transport, deviceKey: stolen, deviceId: 'device-x' })).rejects.toMatchObject({
      code: 'HW_PAIRING_REFUSED',
      message: expect.stringContaining('not signed by the key it names'),
    });
    // device-a is taken by A's key.
    const taken = a.node.createInvite();
    await expect(redeemInvite({ code: taken.code, transport: c.transport, deviceKey: keyOf('device-c'), deviceId: 'device-a' })).rejects.toMatchObject({
      code: 'HW_PAIRING_REFUSED',
      message: expect.stringContaining('belongs to another key'),
    });
    expect(await deviceIds(a)).toEqual(['device-a']);
  });

  it('an answer that does not prove the secret, or is no pairing answer at all, is refused (HW_PAIRING_FORGED) and nothing is taken up', async () => {
    const network = createInProcessNetwork();
    const a = await peer(network, 'device-a', founderA());
    const c = await peer(network, 'device-c', []);
    const { code } = a.node.createInvite();
    const invite = decodeInviteCode(code);
    // An impostor at A's address answers in A's place, without the secret.
    await a.node.stop();
    const impostor = network.transport('device-a');
    await impostor.start();
    const forged = {
      type: 'hw-pair-answer',
      v: 1,
      ok: true,
      libraryId: LIBRARY_ID,
      inviter: 'device-a',
      devices: [
        { deviceId: 'device-a', publicKey: invite.inviterKey, name: null, addedBy: null, revokedAt: null },
        { deviceId: 'device-evil', publicKey: keyOf('device-evil').publicKey, name: null, addedBy: null, revokedAt: null },
      ],
      addresses: [],
      proof: Buffer.alloc(32).toString('base64url'),
    };
    impostor.acceptPairing(async () => Buffer.from(JSON.stringify(forged)));
    await expect(c.node.joinLibrary(code)).rejects.toMatchObject({ code: 'HW_PAIRING_FORGED' });
    impostor.acceptPairing(async () => Buffer.from('not json'));
    await expect(c.node.joinLibrary(code)).rejects.toMatchObject({ code: 'HW_PAIRING_FORGED' });
    expect(await deviceIds(c)).toEqual(['device-c']);
    await impostor.stop();
  });

  it('a node without trust or without the roster model cannot issue invites', async () => {
    const network = createInProcessNetwork();
    const dir = mkdtempSync(join(tmpdir(), 'hw-pair-plain-'));
    dirs.push(dir);
    const plainRegistry = new ModelRegistry(libraryModels);
    const storage = createSqliteStorage({ directory: dir, registry: plainRegistry, synchronous: 'normal' });
    const transport = network.transport('device-p');
    const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: 'device-p', registry: plainRegistry, storage, transport, metricsIntervalMs: 0 });
    opened.push({ node, storage, transport, errors: [], dir });
    await node.start();
    expect(() => node.createInvite()).toThrow(expect.objectContaining({ code: 'HW_PAIRING_UNSUPPORTED' }));
    await expect(node.joinLibrary('HW1-AAAAA')).rejects.toMatchObject({ code: 'HW_PAIRING_UNSUPPORTED' });
  });
});
