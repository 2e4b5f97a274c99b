import { afterEach, describe, expect, it } from '@jest/globals';
import {
  createInProcessNetwork,
  DeviceKey,
  type ModelRegistry,
  type HighwaterError,
  type InProcessNetwork,
  type SyncNode,
  type TrustOptions,
} from '@highwater/core';
import { closePeer, createPeer, eventually, waitForState, type TestPeer } from './support/library.js';
import { RawPeer } from './support/raw-peer.js';
import { v1, v2 } from '../packages/core/test/support/note-versions.js';

// Issue #20, item 4: peers on other versions. Two registries of one library: version 1 of
// `note`, and version 2, which adds `color` and `meta`. Real SQLite files, signed changes, an
// in-process network (the engine under test, not a transport).

const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate(), 'device-c': DeviceKey.generate(), 'device-d': DeviceKey.generate() };
type Device = keyof typeof keys;
const devices = (Object.keys(keys) as Device[]).map((deviceId) => ({ deviceId, publicKey: keys[deviceId].publicKey }));
const trustOf = (device: Device): TrustOptions => ({ deviceKey: keys[device], devices });

const noteId = (n: number): string => `note-${String(n).padStart(4, '0')}`;
/** Every third note sets the added fields; the rest leave them null, as version 1 can hold them. */
const noteOf = (n: number) => ({ id: noteId(n), data: { title: `t${n}`, body: n % 2 === 0 ? null : `b${n}`, color: n % 3 === 0 ? `c${n}` : null, meta: n % 3 === 0 ? { n, tags: ['x'] } : null } });

function errorsOf(node: SyncNode): HighwaterError[] {
  const errors: HighwaterError[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  return errors;
}

/** The (id, HLC, data) of every note, sorted: what two devices must agree on. */
async function notesOf(peer: TestPeer, ids: readonly string[]): Promise<{ id: string; hlc: string; data: unknown }[]> {
  const records = await peer.storage.recordStore.getMany('note', ids);
  return records.map((r) => ({ id: r.id, hlc: `${r.hlc.time}.${r.hlc.counter}.${r.hlc.deviceId}`, data: r.data })).sort((a, b) => (a.id < b.id ? -1 : 1));
}

const keptAside = (node: SyncNode): number => node.versionStatus().find((s) => s.model === 'note')!.keptAside;

describe('peers on other versions of a model', () => {
  let network: InProcessNetwork;
  const peers: TestPeer[] = [];
  /** A started node; `errors` collects what it reports from before its start (taking up what it kept aside happens there). */
  const start = async (device: Device, registry: ModelRegistry, directory?: string, errors?: HighwaterError[]): Promise<TestPeer> => {
    const peer = await createPeer(network, device, { registry, trust: trustOf(device), ...(directory ? { directory } : {}) });
    peers.push(peer);
    if (errors) peer.node.errors$.subscribe((e) => errors.push(e));
    await peer.node.start();
    return peer;
  };
  const stop = async (peer: TestPeer): Promise<void> => {
    peers.splice(peers.indexOf(peer), 1);
    await closePeer(peer, false);
  };

  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  it('an older device applies what it can read, keeps the rest aside, serves all of it on, and applies the rest once upgraded', async () => {
    network = createInProcessNetwork();
    const a = await start('device-a', v2);
    const b = await start('device-b', v1);
    const bErrors = errorsOf(b.node);
    await a.node.write('note', Array.from({ length: 120 }, (_, n) => noteOf(n)));
    network.connect('device-a', 'device-b');

    // B backfills: 80 notes it can read (added fields null), 40 that set them kept aside.
    await eventually(async () => (await b.storage.recordStore.count('note')) === 80 && keptAside(b.node) === 40, 'B holds 80 notes and keeps 40 aside');
    const ids = Array.from({ length: 121 }, (_, n) => noteId(n));
    const [plain] = await b.storage.recordStore.getMany('note', [noteId(1)]);
    expect(plain?.data).toEqual({ title: 't1', body: 'b1' });
    expect(await b.storage.recordStore.getMany('note', [noteId(0), noteId(3)])).toEqual([]);
    // Kept aside is stored: B's watermark covers A's whole stream, so nothing is pulled again.
    const aHead = a.node.watermarks().find((w) => w.owner === 'device-a' && w.resource === 'note')!.hlc;
    await eventually(() => b.node.watermarks().some((w) => w.owner === 'device-a' && w.resource === 'note' && w.hlc.time === aHead.time && w.hlc.counter === aHead.counter), 'B’s watermark reaches A’s head');
    // The handshake told B, once, that A is ahead on `note`.
    expect(bErrors.filter((e) => e.code === 'HW_MODEL_VERSION').map((e) => e.message)).toEqual([
      'Device device-a has version 2 of model "note", this node version 1: its changes this version cannot read are kept aside, unapplied, until this node is upgraded',
    ]);
    expect(b.node.versionStatus()).toEqual([{ model: 'note', version: 1, newestSeen: 2, newerOn: ['device-a'], keptAside: 40 }]);
    expect(a.node.versionStatus()).toEqual([{ model: 'note', version: 2, newestSeen: 2, newerOn: [], keptAside: 0 }]);

    // Live: a note that sets an added field is kept aside too; one that does not is applied.
    await a.node.write('note', [noteOf(120), { id: noteId(1), data: { title: 't1 again', body: null, color: null, meta: null } }]);
    await eventually(async () => keptAside(b.node) === 41 && (await b.storage.recordStore.getMany('note', [noteId(1)]))[0]?.data['title'] === 't1 again', 'B takes the live write');

    // C, on version 2, reaches only B: it gets every note whole, as A signed it, relayed by a device that could not read 41 of them.
    await stop(a);
    const c = await start('device-c', v2);
    const cErrors = errorsOf(c.node);
    network.connect('device-b', 'device-c');
    await eventually(async () => (await c.storage.recordStore.count('note')) === 121, 'C holds all 121 notes via B');
    const aFinal = await notesOf(await reopen(a), ids);
    expect(await notesOf(c, ids)).toEqual(aFinal);
    expect(cErrors.filter((e) => e.code !== 'HW_PEER_UNREACHABLE')).toEqual([]);

    // D, on version 1, reaches only B, also on version 1: B's handshake says it has heard of version 2, so D keeps aside what B kept aside.
    const dErrors: HighwaterError[] = [];
    const d = await start('device-d', v1, undefined, dErrors);
    network.connect('device-b', 'device-d');
    await eventually(async () => (await d.storage.recordStore.count('note')) === 80 && keptAside(d.node) === 41, 'D holds 80 notes and keeps 41 aside');
    expect(dErrors.map((e) => `${e.code} ${e.message}`)).toEqual([
      'HW_MODEL_VERSION Device device-b has heard of version 2 of model "note", this node version 1: its changes this version cannot read are kept aside, unapplied, until this node is upgraded',
    ]);
    expect(d.node.versionStatus()).toEqual([{ model: 'note', version: 1, newestSeen: 2, newerOn: [], keptAside: 41 }]);

    // B is upgraded: at its next start the notes kept aside are checked against A's signatures and applied.
    await stop(b);
    const upgradedErrors: HighwaterError[] = [];
    const upgraded = await start('device-b', v2, b.directory, upgradedErrors);
    await upgraded.node.settle();
    expect(await upgraded.storage.recordStore.count('note')).toBe(121);
    expect(await notesOf(upgraded, ids)).toEqual(aFinal);
    expect(keptAside(upgraded.node)).toBe(0);
    expect(upgraded.node.parkedCount()).toBe(0);
    expect(upgradedErrors).toEqual([]);

    /** A's files, read back after it stopped. */
    async function reopen(stopped: TestPeer): Promise<TestPeer> {
      const again = await createPeer(network, 'device-a', { registry: v2, trust: trustOf('device-a'), directory: stopped.directory });
      peers.push(again);
      return again;
    }
  });

  it('a change kept aside whose content was altered is dropped at the upgrade, not applied', async () => {
    network = createInProcessNetwork();
    const a = await start('device-a', v2);
    const b = await start('device-b', v1);
    await a.node.write('note', [noteOf(0), noteOf(3)]);
    network.connect('device-a', 'device-b');
    await eventually(() => keptAside(b.node) === 2, 'B keeps both notes aside');
    await stop(a);
    await stop(b);
    // Alter one kept-aside note in B's sync.db, as a disk fault or a hostile relay's copy could have it.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(`${b.directory}/sync.db`);
    const altered = db.prepare("UPDATE parked_changes SET data = json_set(data, '$.color', 'forged') WHERE record_id = ?").run(noteId(3));
    db.close();
    expect(altered.changes).toBe(1);
    const errors: HighwaterError[] = [];
    const upgraded = await start('device-b', v2, b.directory, errors);
    await upgraded.node.settle();
    expect(errors.map((e) => e.message)).toEqual([`Dropped note/${noteId(3)}, which waited here: its content is not as its owner device-a signed it`]);
    expect((await upgraded.storage.recordStore.getMany('note', [noteId(0), noteId(3)])).map((r) => [r.id, r.data['color']])).toEqual([[noteId(0), 'c0']]);
    expect(upgraded.node.parkedCount()).toBe(0);
  });
});

describe('a change with fields no version of the library has', () => {
  it('is refused as before versions when no peer has a newer version of its model', async () => {
    const network = createInProcessNetwork();
    const b = await createPeer(network, 'device-b', { registry: v1 });
    const errors = errorsOf(b.node);
    const raw = new RawPeer(network, 'device-r');
    try {
      await b.node.start();
      await raw.connect('device-b');
      await waitForState(b.node, 'ready');
      const hlc = `${Date.now().toString(16).padStart(12, '0')}-000000-device-r`;
      await raw.send('device-b', { type: 'state-batch', changes: [{ model: 'note', id: 'n1', owner: 'device-r', hlc, op: 'upsert', data: { title: 't', body: null, color: 'red' } }] });
      await eventually(() => errors.some((e) => e.code === 'HW_RECORD_INVALID'), 'B refuses the change');
      expect(errors.find((e) => e.code === 'HW_RECORD_INVALID')?.message).toMatch(/unrecognized field "color", and no peer has a newer version of the model/);
      expect(b.node.parkedCount()).toBe(0);
      expect(await b.storage.recordStore.count('note')).toBe(0);
    } finally {
      await raw.stop();
      await closePeer(b);
    }
  });
});

describe('serving a device on an older version', () => {
  it('a node from before versions gets pages in its version: fields it lacks left off where unset, a change that sets them whole', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { registry: v2 });
    const old = new RawPeer(network, 'device-o');
    try {
      await a.node.start();
      await a.node.write('note', [noteOf(1), noteOf(2), noteOf(3)]);
      await old.connect('device-a');
      // Its handshake names no versions: it has version 1 of every model.
      await old.request('device-a', { type: 'watermark-exchange-request', requestId: 'x1', heads: [] });
      const page = await old.request('device-a', { type: 'state-request', requestId: 's1', model: 'note', owner: 'device-a', after: null, afterHlc: null, limit: 10, rows: true });
      expect(page.type).toBe('state-response');
      if (page.type !== 'state-response') return;
      expect(page.fields).toEqual(['title', 'body']);
      expect(page.changes.map((c) => c.data)).toEqual([
        { title: 't1', body: 'b1' },
        { title: 't2', body: null },
        { title: 't3', body: 'b3', color: 'c3', meta: { n: 3, tags: ['x'] } },
      ]);
      // A node on version 2 gets every field.
      const current = new RawPeer(network, 'device-p');
      current.versions = { protocol: [1, 1], models: { note: 2 } }; // also in its answers to the node's own exchanges
      await current.connect('device-a');
      await current.request('device-a', { type: 'watermark-exchange-request', requestId: 'x2', heads: [], versions: { protocol: [1, 1], models: { note: 2 } } });
      const full = await current.request('device-a', { type: 'state-request', requestId: 's2', model: 'note', owner: 'device-a', after: null, afterHlc: null, limit: 10, rows: true });
      expect(full.type === 'state-response' && full.fields).toEqual(['title', 'body', 'color', 'meta']);
      expect(full.type === 'state-response' && full.changes[0]!.data).toEqual({ title: 't1', body: 'b1', color: null, meta: null });
      await current.stop();
    } finally {
      await old.stop();
      await closePeer(a);
    }
  });
});

describe('protocol versions in the handshake', () => {
  it('a peer whose protocol range does not meet this node’s is refused and reported; the node goes on serving others', async () => {
    const network = createInProcessNetwork();
    const node = await createPeer(network, 'device-a');
    const errors = errorsOf(node.node);
    const future = new RawPeer(network, 'device-f');
    const current = new RawPeer(network, 'device-g');
    try {
      await node.node.start();
      await node.node.write('location', [{ id: 'loc-1', data: { name: 'n', path: '/p' } }]);
      // A peer that speaks only protocol 2 and 3: its exchange answer is refused, and reported once.
      future.versions = { protocol: [2, 3], models: {} };
      await future.connect('device-a');
      await eventually(() => errors.some((e) => e.code === 'HW_PROTOCOL_VERSION'), 'the node reports the peer it cannot speak with');
      expect(errors.find((e) => e.code === 'HW_PROTOCOL_VERSION')?.message).toBe(
        'Device device-f speaks protocol versions 2 to 3, this node version 1: upgrade the older one to sync them',
      );
      // Its requests get the same answer; a message in version 2 is refused before it is read.
      const refused = await future.request('device-a', { type: 'watermark-exchange-request', requestId: 'r1', heads: [], versions: { protocol: [2, 3], models: {} } });
      expect(refused).toMatchObject({ type: 'error', code: 'HW_PROTOCOL_VERSION' });
      const v2Message = await future.transport.request('device-a', future.encode({ type: 'watermark-exchange-request', requestId: 'r2', heads: [] }, { v: 2 }));
      expect(JSON.parse(Buffer.from(v2Message).toString())).toMatchObject({ type: 'error', code: 'HW_PROTOCOL_VERSION', message: expect.stringMatching(/this node speaks version 1/) });
      // A peer whose range meets it is answered with the node's versions and heads.
      await current.connect('device-a');
      const answer = await current.request('device-a', { type: 'watermark-exchange-request', requestId: 'r3', heads: [], versions: { protocol: [1, 3], models: { location: 1 } } });
      expect(answer).toMatchObject({ type: 'watermark-exchange-response', versions: { protocol: [1, 1], models: { location: 1, volume: 1, entry: 1, tag: 1 } } });
      expect(answer.type === 'watermark-exchange-response' && answer.heads.some((h) => h.owner === 'device-a' && h.resource === 'location')).toBe(true);
      await waitForState(node.node, 'ready');
    } finally {
      await future.stop();
      await current.stop();
      await closePeer(node);
    }
  });
});
