import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  changeSigningBytes,
  createInProcessNetwork,
  DeviceKey,
  formatHlc,
  parseHlc,
  type HighwaterError,
  type InProcessNetwork,
  type SyncNode,
  type TrustOptions,
  type WireChange,
} from '@highwater/core';
import { closePeer, createPeer, eventually, id, locationData, registry, waitForState, type TestPeer } from './support/library.js';
import { RawPeer } from './support/raw-peer.js';

// Issue #19, item 3: every change carries its owner's signature and every receiver verifies it,
// whoever relayed it. A member (here the raw peer, device-b, whose key the node trusts) that
// forges, alters or deletes another device's records is refused on the live path, in state
// pages and in inline catch-up: nothing is stored and no watermark moves.

const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate(), 'device-c': DeviceKey.generate(), 'device-d': DeviceKey.generate() };
type Device = keyof typeof keys;
const devices = (Object.keys(keys) as Device[]).map((deviceId) => ({ deviceId, publicKey: keys[deviceId].publicKey }));
const trustOf = (device: Device): TrustOptions => ({ deviceKey: keys[device], devices });

function hlcOf(owner: string, offsetMs: number): string {
  return formatHlc({ time: Date.now() + offsetMs, counter: 0, deviceId: owner });
}

/** A location change of `owner`, signed with `signer`'s key (the owner's own when they agree). */
function signed(change: Omit<WireChange, 'sig'>, signer: Device): WireChange {
  const bytes = changeSigningBytes(registry, { model: change.model, id: change.id, owner: change.owner, hlc: parseHlc(change.hlc), op: change.op, data: change.data ?? null });
  return { ...change, sig: keys[signer].sign(bytes).toString('base64url') };
}

const upsert = (owner: string, recordId: string, n: number, offsetMs = 0): Omit<WireChange, 'sig'> => ({
  model: 'location',
  id: recordId,
  owner,
  hlc: hlcOf(owner, offsetMs),
  op: 'upsert',
  data: locationData(n),
});

function errorsOf(node: SyncNode): HighwaterError[] {
  const errors: HighwaterError[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  return errors;
}

/**
 * Each test gets device-c, signing and checking, ready beside a raw peer speaking as device-b
 * (a member whose key C trusts), and the errors C reports.
 */
function nodeBesideRawPeer(use: (c: TestPeer, raw: RawPeer, errors: HighwaterError[]) => void): void {
  let c: TestPeer | undefined;
  let raw: RawPeer | undefined;
  beforeEach(async () => {
    const network = createInProcessNetwork();
    c = await createPeer(network, 'device-c', { trust: trustOf('device-c') });
    const errors = errorsOf(c.node);
    raw = new RawPeer(network, 'device-b');
    await c.node.start();
    await raw.connect('device-c');
    await waitForState(c.node, 'ready');
    use(c, raw, errors);
  });
  afterEach(async () => {
    await raw?.stop();
    if (c) await closePeer(c);
  });
}

describe('signed changes over an in-process network that authenticates senders by device key', () => {
  it('a member speaking as another device is refused; its own changes go in', async () => {
    const network = createInProcessNetwork();
    const c = await createPeer(network, 'device-c', { trust: trustOf('device-c'), transportPublicKey: keys['device-c'].publicKey });
    const errors = errorsOf(c.node);
    const raw = new RawPeer(network, 'device-b', keys['device-b'].publicKey);
    try {
      await c.node.start();
      await raw.connect('device-c');
      await waitForState(c.node, 'ready');
      const ofA = signed(upsert('device-a', 'loc-a', 1), 'device-a');
      await raw.transport.send('device-c', raw.encode({ type: 'state-batch', changes: [ofA] }, { deviceId: 'device-a' }));
      await eventually(() => errors.some((e) => e.code === 'HW_DEVICE_MISMATCH'), 'C refuses B speaking as A');
      await raw.send('device-c', { type: 'state-batch', changes: [signed(upsert('device-b', 'loc-b', 2), 'device-b')] });
      await eventually(async () => (await c.storage.recordStore.count('location', 'device-b')) === 1, 'C stores B’s own change');
      expect(await c.storage.recordStore.count('location', 'device-a')).toBe(0);
    } finally {
      await raw.stop();
      await closePeer(c);
    }
  });
});

describe('signed changes: forged, altered and unsigned changes are refused wherever they come from', () => {
  let c: TestPeer;
  let raw: RawPeer;
  let errors: HighwaterError[];
  nodeBesideRawPeer((node, peer, refused) => ((c = node), (raw = peer), (errors = refused)));

  const locationsOf = (owner: string) => c.storage.recordStore.count('location', owner);

  it('live: an A change relayed by B is stored when A signed it, refused when unsigned, signed by B, or altered', async () => {
    const good = signed(upsert('device-a', id('loc', 1), 1), 'device-a');
    const unsigned = upsert('device-a', id('loc', 2), 2);
    const byB = signed(upsert('device-a', id('loc', 3), 3), 'device-b');
    const altered = { ...signed(upsert('device-a', id('loc', 4), 4), 'device-a'), data: locationData(99) };
    for (const change of [unsigned, byB, altered]) await raw.send('device-c', { type: 'state-batch', changes: [good, change] });
    await eventually(() => errors.length === 3, 'three refusals');
    expect(errors.map((e) => e.code)).toEqual(['HW_FORGED_CHANGE', 'HW_FORGED_CHANGE', 'HW_FORGED_CHANGE']);
    // Messages are handled concurrently: their refusals may come in any order.
    expect(errors.map((e) => (e as HighwaterError & { reason?: string }).reason).sort()).toEqual(['bad-signature', 'bad-signature', 'unsigned']);
    // The good change shared each refused message: none of them stored anything.
    expect(await locationsOf('device-a')).toBe(0);
    expect(c.node.watermarks().find((w) => w.owner === 'device-a' && w.resource === 'location')).toBeUndefined();
    // Each refusal is also answered to the sender, on the wire after the node reported it.
    await eventually(() => raw.received.filter((m) => m.type === 'error').length === 3, 'three refusals answered to B');

    await raw.send('device-c', { type: 'state-batch', changes: [good] });
    await eventually(async () => (await locationsOf('device-a')) === 1, 'the signed change stored');
    const stored = await c.storage.recordStore.getMany('location', [id('loc', 1)]);
    expect(stored[0]?.sig).toBe(good.sig);
  });

  it('a revoked device: its changes stamped after the revocation are refused, those stamped before still go in', async () => {
    const revokedAt = Date.now() - 1000;
    c.node.setDevices(devices.map((d) => (d.deviceId === 'device-a' ? { ...d, revokedAt } : d)));
    const before = signed(upsert('device-a', id('loc', 1), 1, -5000), 'device-a');
    const after = signed(upsert('device-a', id('loc', 2), 2, 0), 'device-a');
    await raw.send('device-c', { type: 'state-batch', changes: [after] });
    await eventually(() => errors.length === 1, 'a refusal');
    expect((errors[0] as HighwaterError & { reason?: string }).reason).toBe('revoked');
    await raw.send('device-c', { type: 'state-batch', changes: [before] });
    await eventually(async () => (await locationsOf('device-a')) === 1, 'the earlier change stored');
    expect(() => c.node.setDevices(devices.map((d) => (d.deviceId === 'device-a' ? { ...d, publicKey: keys['device-d'].publicKey } : d)))).toThrow(/another public key/);
  });

  it('live: a change naming a device the library does not have is refused', async () => {
    const stranger = DeviceKey.generate();
    const change = upsert('device-z', id('loc', 1), 1);
    const bytes = changeSigningBytes(registry, { ...change, hlc: parseHlc(change.hlc), data: change.data ?? null });
    await raw.send('device-c', { type: 'state-batch', changes: [{ ...change, sig: stranger.sign(bytes).toString('base64url') }] });
    await eventually(() => errors.length === 1, 'a refusal');
    expect(errors[0]!.code).toBe('HW_FORGED_CHANGE');
    expect(errors[0]!.message).toContain('not a device of this library');
    expect(await locationsOf('device-z')).toBe(0);
  });

  it("live: B cannot delete A's record", async () => {
    const good = signed(upsert('device-a', id('loc', 1), 1, -1000), 'device-a');
    await raw.send('device-c', { type: 'state-batch', changes: [good] });
    await eventually(async () => (await locationsOf('device-a')) === 1, 'the record stored');
    const forgedDelete = signed({ model: 'location', id: id('loc', 1), owner: 'device-a', hlc: hlcOf('device-a', 0), op: 'delete' }, 'device-b');
    await raw.send('device-c', { type: 'state-batch', changes: [forgedDelete] });
    await eventually(() => errors.length === 1, 'a refusal');
    expect(errors[0]!.code).toBe('HW_FORGED_CHANGE');
    expect(await locationsOf('device-a')).toBe(1);
    expect(await c.storage.syncStore.tombstonesAfter('location', { owner: 'device-a', limit: 10 })).toEqual([]);
  });

  it('state pages: a page with one forged change is refused whole, and the honest page then goes in', async () => {
    const goods = [1, 2, 3].map((n) => signed(upsert('device-a', id('loc', n), n, n - 10), 'device-a'));
    const forged = signed(upsert('device-a', id('loc', 4), 4, -5), 'device-b');
    const page = [...goods, forged];
    raw.heads = [{ owner: 'device-a', resource: 'location', hlc: forged.hlc, count: 4 }];
    raw.statePage = (req) => ({ type: 'state-response', requestId: req.requestId, model: 'location', owner: 'device-a', changes: page, hasMore: false, next: null });
    void c.node.syncNow();
    await eventually(() => errors.some((e) => e.code === 'HW_FORGED_CHANGE'), 'the forged page refused');
    expect(raw.received.some((m) => m.type === 'state-request')).toBe(true);
    expect(await locationsOf('device-a')).toBe(0);
    expect(c.node.watermarks().find((w) => w.owner === 'device-a')).toBeUndefined();

    page.pop();
    raw.heads = [{ owner: 'device-a', resource: 'location', hlc: goods[2]!.hlc, count: 3 }];
    void c.node.syncNow();
    await eventually(async () => (await locationsOf('device-a')) === 3, 'the honest page stored');
  });

  it("inline catch-up: B's own changes, one altered after signing, are refused whole", async () => {
    const goods = [1, 2].map((n) => signed(upsert('device-b', id('loc', n), n, n - 10), 'device-b'));
    const altered = { ...signed(upsert('device-b', id('loc', 3), 3, -5), 'device-b'), id: id('loc', 33) };
    // A node holding records has finished its backfill: its next pass is a catch-up, which takes changes inline.
    await c.node.write('location', [{ id: id('own', 1), data: locationData(0) }]);
    await c.node.syncNow();
    raw.heads = [{ owner: 'device-b', resource: 'location', hlc: altered.hlc, count: 3, inline: true }];
    raw.inlineChanges = [...goods, altered];
    // No state pages: the refusal can only have come from the inline changes.
    void c.node.syncNow();
    await eventually(() => errors.some((e) => e.code === 'HW_FORGED_CHANGE'), 'the altered change refused');
    expect(raw.received.some((m) => m.type === 'watermark-exchange-request' && (m.inline ?? 0) > 0)).toBe(true);
    expect(await locationsOf('device-b')).toBe(0);
    expect(c.node.watermarks().find((w) => w.owner === 'device-b')).toBeUndefined();
  });
});

describe('signed heads: a member cannot move watermarks past what an owner signed', () => {
  let c: TestPeer;
  let raw: RawPeer;
  nodeBesideRawPeer((node, peer) => ((c = node), (raw = peer)));

  const markOf = (owner: string) => c.node.watermarks().find((w) => w.owner === owner && w.resource === 'location');
  const forgedHead = (hlc: string) => ({ hlc, sig: keys['device-b'].sign(Buffer.from(JSON.stringify(['highwater-head-v1', 'device-a', 'location', hlc]))).toString('base64url') });

  it('live: a span past its changes, or with no change, moves the watermark only as far as a signed change of A', async () => {
    const first = signed(upsert('device-a', id('loc', 1), 1, -2000), 'device-a');
    const ahead = hlcOf('device-a', 3_600_000); // an hour ahead: the head B claims A reached
    await raw.send('device-c', { type: 'state-batch', changes: [first], spans: [{ owner: 'device-a', resource: 'location', from: null, to: ahead, signed: forgedHead(ahead) }] });
    await eventually(async () => (await c.storage.recordStore.count('location', 'device-a')) === 1, 'the signed change stored');
    await c.node.settle();
    expect(markOf('device-a')?.hlc).toEqual(parseHlc(first.hlc));
    // A span with no change at all, from where the watermark stands: nothing moves.
    await raw.send('device-c', { type: 'state-batch', changes: [], spans: [{ owner: 'device-a', resource: 'location', from: first.hlc, to: ahead }] });
    await c.node.settle();
    expect(markOf('device-a')?.hlc).toEqual(parseHlc(first.hlc));
    // A's next real change, below the head B claimed, is not taken for covered: it goes in.
    const next = signed(upsert('device-a', id('loc', 2), 2, -1000), 'device-a');
    await raw.send('device-c', { type: 'state-batch', changes: [next], spans: [{ owner: 'device-a', resource: 'location', from: first.hlc, to: next.hlc }] });
    await eventually(async () => (await c.storage.recordStore.count('location', 'device-a')) === 2, 'the next change stored');
    await c.node.settle();
    expect(markOf('device-a')?.hlc).toEqual(parseHlc(next.hlc));
  });

  it('catch-up: a head B claims for A beyond A’s signed changes leaves the watermark at the last of them; a head A signed moves it', async () => {
    const goods = [1, 2].map((n) => signed(upsert('device-a', id('loc', n), n, n - 10), 'device-a'));
    const ahead = hlcOf('device-a', 3_600_000);
    raw.heads = [{ owner: 'device-a', resource: 'location', hlc: ahead, count: 2, signed: forgedHead(ahead) }];
    raw.statePage = (req) => ({ type: 'state-response', requestId: req.requestId, model: 'location', owner: 'device-a', changes: goods, hasMore: false, next: null });
    await c.node.syncNow();
    await c.node.settle();
    expect(await c.storage.recordStore.count('location', 'device-a')).toBe(2);
    expect(markOf('device-a')?.hlc).toEqual(parseHlc(goods[1]!.hlc));

    // A deleted its newest record meanwhile and the tombstone is gone: A's head is past every
    // change B can show, and A's signature of that head is what lets C's watermark follow.
    const head = hlcOf('device-a', -1);
    const bytes = Buffer.from(JSON.stringify(['highwater-head-v1', 'device-a', 'location', head]));
    raw.heads = [{ owner: 'device-a', resource: 'location', hlc: head, count: 0, signed: { hlc: head, sig: keys['device-a'].sign(bytes).toString('base64url') } }];
    raw.statePage = (req) => ({ type: 'state-response', requestId: req.requestId, model: 'location', owner: 'device-a', changes: [], hasMore: false, next: null });
    await c.node.syncNow();
    await c.node.settle();
    expect(markOf('device-a')?.hlc).toEqual(parseHlc(head));
  });
});

describe('signed changes between real nodes', () => {
  let network: InProcessNetwork;
  const peers: TestPeer[] = [];

  beforeEach(() => {
    network = createInProcessNetwork();
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('A → B → C relays verify at every hop, and a restarted C serves what it stored (batch proofs read back from SQLite) to D', async () => {
    const [a, b, c] = await Promise.all((['device-a', 'device-b', 'device-c'] as const).map((d) => createPeer(network, d, { trust: trustOf(d) })));
    peers.push(a!, b!, c!);
    for (const p of [a!, b!, c!]) await p.node.start();
    network.connect('device-a', 'device-b');
    network.connect('device-b', 'device-c');
    await a!.node.write('location', Array.from({ length: 30 }, (_, n) => ({ id: id('loc', n), data: locationData(n) })));
    await a!.node.write('tag', [{ id: 'tag-1', data: { name: 'red', color: null } }]);
    // The batch of 30 loses two members to later writes: the rest are checked by their digests in its proof.
    await a!.node.delete('location', [id('loc', 0)]);
    await a!.node.write('location', [{ id: id('loc', 7), data: locationData(700) }]);
    const holds = async (p: TestPeer): Promise<boolean> => {
      const [seventh] = await p.storage.recordStore.getMany('location', [id('loc', 7)]);
      return (await p.storage.recordStore.count('location', 'device-a')) === 29 && (await p.storage.recordStore.count('tag')) === 1 && seventh?.data['name'] === locationData(700)['name'];
    };
    await eventually(() => holds(c!), 'C holds A’s records via B');
    const errors = [...errorsOf(b!.node), ...errorsOf(c!.node)];

    // C restarts (no proof left in memory), then D, which knows only C, gets everything relayed from C's storage, verified.
    await closePeer(c!, false);
    peers.splice(peers.indexOf(c!), 1);
    const restarted = await createPeer(network, 'device-c', { trust: trustOf('device-c'), directory: c!.directory });
    peers.push(restarted);
    await restarted.node.start();
    const d = await createPeer(network, 'device-d', { trust: trustOf('device-d') });
    peers.push(d);
    const dErrors = errorsOf(d.node);
    await d.node.start();
    network.connect('device-c', 'device-d');
    await eventually(() => holds(d), 'D holds A’s records via C');
    expect(dErrors.filter((e) => e.code === 'HW_FORGED_CHANGE')).toEqual([]);
    expect(errors.filter((e) => e.code === 'HW_FORGED_CHANGE')).toEqual([]);
    // Stored as their place in the batch, the proof kept apart.
    const [record] = await d.storage.recordStore.getMany('location', [id('loc', 5)]);
    expect(record?.sig).toMatch(/^[A-Za-z0-9_-]{16}\.5\.30$/);
    const batchId = record!.sig!.split('.')[0]!;
    const [proof] = await d.storage.syncStore.getBatchProofs('device-a', [batchId]);
    expect(proof?.proof).toHaveLength(Math.ceil(((96 + 30 * 16) * 4) / 3));
    const [single] = await d.storage.recordStore.getMany('location', [id('loc', 7)]);
    expect(single?.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  it('a node without trust options still syncs unsigned changes with another (signatures are opt-in)', async () => {
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b');
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    network.connect('device-a', 'device-b');
    await a.node.write('location', [{ id: id('loc', 1), data: locationData(1) }]);
    await eventually(async () => (await b.storage.recordStore.count('location')) === 1, 'B holds the record');
    const [record] = await b.storage.recordStore.getMany('location', [id('loc', 1)]);
    expect(record?.sig).toBeUndefined();
  });

  it('a signing node refuses the unsigned changes of a node that does not sign', async () => {
    const a = await createPeer(network, 'device-a');
    const b = await createPeer(network, 'device-b', { trust: trustOf('device-b') });
    peers.push(a, b);
    const bErrors = errorsOf(b.node);
    await a.node.start();
    await b.node.start();
    network.connect('device-a', 'device-b');
    await a.node.write('location', [{ id: id('loc', 1), data: locationData(1) }]);
    await eventually(() => bErrors.some((e) => e.code === 'HW_FORGED_CHANGE'), 'B refuses the unsigned change');
    expect(await b.storage.recordStore.count('location')).toBe(0);
  });
});
