import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  createInProcessNetwork,
  decodeMessage,
  encodeMessage,
  formatHlc,
  HighwaterError,
  jsonCodec,
  PROTOCOL_LIMITS,
  type InProcessNetwork,
  type InProcessTransport,
  type SyncMessage,
  type WireChange,
} from '@highwater/core';
import { closePeer, createPeer, eventually, id, LIBRARY_ID, locationData, waitForState, type TestPeer } from './support/library.js';

// Node B is fed refused input by a hand-driven "raw" peer: every refusal must be answered
// (error reply for requests, error message for one-way sends, errors$ locally) and leave B's
// records and watermarks exactly as they were, with B still syncing afterwards.

const RAW = 'device-x-bad';
const encoder = new TextEncoder();

/** A transport without a node: answers B's watermark exchange with no heads, keeps everything else. */
class RawPeer {
  readonly inbox: SyncMessage[] = [];
  readonly transport: InProcessTransport;

  constructor(network: InProcessNetwork, readonly deviceId: string) {
    this.transport = network.transport(deviceId);
    this.transport.handle(async ({ payload }) => {
      const m = decodeMessage(jsonCodec, payload, LIBRARY_ID);
      if (m.type === 'watermark-exchange-request') {
        return this.encode({ type: 'watermark-exchange-response', requestId: m.requestId, heads: [] });
      }
      this.inbox.push(m);
      return undefined;
    });
  }

  encode(body: Record<string, unknown>): Uint8Array {
    return encodeMessage(jsonCodec, { v: 1, libraryId: LIBRARY_ID, deviceId: this.deviceId, ...body } as unknown as SyncMessage);
  }

  errors(): Extract<SyncMessage, { type: 'error' }>[] {
    return this.inbox.filter((m): m is Extract<SyncMessage, { type: 'error' }> => m.type === 'error');
  }
}

/** HLC text of `owner`'s clock, `offsetMs` from now (well inside the 60 s drift limit). */
function hlcOf(owner: string, offsetMs: number, counter = 0): string {
  return formatHlc({ time: Date.now() + offsetMs, counter, deviceId: owner });
}

function locationUpsert(owner: string, recordId: string, data: Record<string, unknown>, hlc = hlcOf(owner, 0)): WireChange {
  return { model: 'location', id: recordId, owner, hlc, op: 'upsert', data };
}

describe('bad input from a peer', () => {
  const peers: TestPeer[] = [];
  const raws: InProcessTransport[] = [];
  let network: InProcessNetwork;
  let a: TestPeer;
  let b: TestPeer;
  let raw: RawPeer;
  let bErrors: HighwaterError[];

  const locationIds = Array.from({ length: 20 }, (_, i) => id('loc', i));

  beforeEach(async () => {
    network = createInProcessNetwork();
    const suffix = Math.random().toString(36).slice(2, 8);
    a = await createPeer(network, `device-a-${suffix}`, { pageSize: 8 });
    b = await createPeer(network, `device-b-${suffix}`, { pageSize: 8 });
    peers.push(a, b);
    await a.node.start();
    await a.node.write('location', locationIds.map((lid, i) => ({ id: lid, data: locationData(i) })));
    await b.node.start();
    const ready = waitForState(b.node, 'ready');
    network.connect(a.deviceId, b.deviceId);
    await ready;
    expect(await b.node.count('location')).toBe(20);

    raw = new RawPeer(network, RAW);
    raws.push(raw.transport);
    await raw.transport.start();
    network.connect(RAW, b.deviceId);
    // The connect started a catch-up pass (exchanging with A and the raw peer); wait it out.
    await b.node.syncNow();
    expect(b.node.state).toBe('ready');

    bErrors = [];
    b.node.errors$.subscribe((e) => bErrors.push(e));
  });

  afterEach(async () => {
    for (const t of raws.splice(0)) await t.stop();
    for (const p of peers.splice(0)) await closePeer(p);
  });

  async function snapshotB(): Promise<unknown> {
    const counts: Record<string, number> = {};
    for (const model of ['location', 'volume', 'entry', 'tag']) counts[model] = await b.node.count(model);
    const records = (await b.node.get('location', locationIds)).sort((x, y) => (x.id < y.id ? -1 : 1));
    return { counts, watermarks: b.node.watermarks(), records };
  }

  it('refuses every malformed, foreign or invalid message with the right code and changes nothing', async () => {
    const before = await snapshotB();
    const evil = (n: number) => locationUpsert(RAW, `evil-${n}`, { name: `evil ${n}`, path: `/evil/${n}` });

    // One-way sends: B must answer with an `error` message and report the error on errors$.
    const garbage = randomBytes(64);
    garbage[0] = 0xff; // never valid UTF-8, so never accidentally JSON
    const oneWay: { name: string; bytes: Uint8Array; code: string }[] = [
      { name: 'random garbage bytes', bytes: garbage, code: 'HW_PROTOCOL_DECODE' },
      { name: 'truncated JSON', bytes: encoder.encode('{"v":1,"libraryId":'), code: 'HW_PROTOCOL_DECODE' },
      { name: 'a JSON array', bytes: encoder.encode('[1,2,3]'), code: 'HW_PROTOCOL_MALFORMED' },
      { name: 'a JSON string', bytes: encoder.encode('"state-batch"'), code: 'HW_PROTOCOL_MALFORMED' },
      { name: 'an object without a version', bytes: encoder.encode('{"hello":"world"}'), code: 'HW_PROTOCOL_VERSION' },
      { name: 'an object with only a version', bytes: encoder.encode('{"v":1,"hello":"world"}'), code: 'HW_PROTOCOL_MALFORMED' },
      {
        name: 'another library',
        bytes: encodeMessage(jsonCodec, {
          v: 1,
          libraryId: 'library-other',
          deviceId: RAW,
          type: 'state-batch',
          changes: [evil(1)],
        }),
        code: 'HW_WRONG_LIBRARY',
      },
      { name: 'protocol version 2', bytes: raw.encode({ v: 2, type: 'state-batch', changes: [evil(2)] }), code: 'HW_PROTOCOL_VERSION' },
      { name: 'an unknown message type', bytes: raw.encode({ type: 'gossip', changes: [evil(3)] }), code: 'HW_UNKNOWN_MESSAGE_TYPE' },
      {
        name: 'a state-batch of an unknown model',
        bytes: raw.encode({
          type: 'state-batch',
          changes: [evil(4), { model: 'widget', id: 'w1', owner: RAW, hlc: hlcOf(RAW, 0, 1), op: 'upsert', data: { name: 'w' } }],
        }),
        code: 'HW_UNKNOWN_MODEL',
      },
      {
        name: 'an upsert with a wrong field type',
        bytes: raw.encode({ type: 'state-batch', changes: [evil(5), locationUpsert(RAW, 'bad-1', { name: 42, path: '/p' }, hlcOf(RAW, 0, 1))] }),
        code: 'HW_RECORD_INVALID',
      },
      {
        name: 'an upsert with a missing field',
        bytes: raw.encode({ type: 'state-batch', changes: [evil(6), locationUpsert(RAW, 'bad-2', { name: 'no path' }, hlcOf(RAW, 0, 1))] }),
        code: 'HW_RECORD_INVALID',
      },
      {
        name: 'an upsert with an extra field',
        bytes: raw.encode({
          type: 'state-batch',
          changes: [evil(7), locationUpsert(RAW, 'bad-3', { name: 'x', path: '/p', admin: true }, hlcOf(RAW, 0, 1))],
        }),
        code: 'HW_RECORD_INVALID',
      },
      {
        // Claims A's record with A as owner but a clock of the raw device: if it passed, it would overwrite A's data.
        name: 'a forged owner',
        bytes: raw.encode({
          type: 'state-batch',
          changes: [evil(8), locationUpsert(a.deviceId, locationIds[3]!, { name: 'forged', path: '/forged' }, hlcOf(RAW, 5_000))],
        }),
        code: 'HW_FORGED_OWNER',
      },
      {
        name: 'a state-change with a forged owner',
        bytes: raw.encode({
          type: 'state-change',
          change: locationUpsert(a.deviceId, locationIds[4]!, { name: 'forged', path: '/forged' }, hlcOf(RAW, 5_000)),
        }),
        code: 'HW_FORGED_OWNER',
      },
      {
        name: `an oversized batch (${PROTOCOL_LIMITS.maxChangesPerMessage + 1} changes)`,
        bytes: raw.encode({
          type: 'state-batch',
          changes: Array.from({ length: PROTOCOL_LIMITS.maxChangesPerMessage + 1 }, (_, i) =>
            locationUpsert(RAW, `bulk-${i}`, { name: `bulk ${i}`, path: `/bulk/${i}` }, hlcOf(RAW, 0, i)),
          ),
        }),
        code: 'HW_PROTOCOL_MALFORMED',
      },
    ];

    for (const c of oneWay) {
      const repliesBefore = raw.errors().length;
      const errorsBefore = bErrors.length;
      await raw.transport.send(b.deviceId, c.bytes);
      await eventually(() => raw.errors().length > repliesBefore && bErrors.length > errorsBefore, `B refusing ${c.name}`, 10_000);
      const reply = raw.errors()[repliesBefore]!;
      expect({ case: c.name, code: reply.code, requestId: reply.requestId, from: reply.deviceId }).toEqual({
        case: c.name,
        code: c.code,
        requestId: null,
        from: b.deviceId,
      });
      expect({ case: c.name, codes: bErrors.slice(errorsBefore).map((e) => e.code) }).toEqual({ case: c.name, codes: [c.code] });
      expect(bErrors[errorsBefore]).toBeInstanceOf(HighwaterError);
    }

    // Requests: the response itself must be an `error` message naming the request.
    const requests: { name: string; bytes: Uint8Array; code: string; requestId: string | null }[] = [
      {
        name: 'a state-request for an unknown model',
        bytes: raw.encode({ type: 'state-request', requestId: 'req-unknown-model', model: 'widget', owner: a.deviceId, after: null, afterHlc: null, limit: 10 }),
        code: 'HW_UNKNOWN_MODEL',
        requestId: 'req-unknown-model',
      },
      {
        name: 'a state-request with a limit beyond the protocol',
        bytes: raw.encode({
          type: 'state-request',
          requestId: 'req-huge-limit',
          model: 'location',
          owner: a.deviceId,
          after: null,
          afterHlc: null,
          limit: PROTOCOL_LIMITS.maxPageSize + 1,
        }),
        code: 'HW_PROTOCOL_MALFORMED',
        // The id of a message that failed validation is not trusted, so the reply names none.
        requestId: null,
      },
      { name: 'garbage bytes as a request', bytes: garbage, code: 'HW_PROTOCOL_DECODE', requestId: null },
      {
        name: 'a request of another library',
        bytes: encodeMessage(jsonCodec, {
          v: 1,
          libraryId: 'library-other',
          deviceId: RAW,
          type: 'watermark-exchange-request',
          requestId: 'req-other-library',
          heads: [],
        }),
        code: 'HW_WRONG_LIBRARY',
        requestId: null,
      },
    ];
    for (const r of requests) {
      const errorsBefore = bErrors.length;
      const response = decodeMessage(jsonCodec, await raw.transport.request(b.deviceId, r.bytes, { timeoutMs: 10_000 }), LIBRARY_ID);
      expect({ case: r.name, type: response.type }).toEqual({ case: r.name, type: 'error' });
      if (response.type !== 'error') continue;
      expect({ case: r.name, code: response.code, requestId: response.requestId }).toEqual({ case: r.name, code: r.code, requestId: r.requestId });
      await eventually(() => bErrors.length > errorsBefore, `errors$ for ${r.name}`, 10_000);
      expect({ case: r.name, codes: bErrors.slice(errorsBefore).map((e) => e.code) }).toEqual({ case: r.name, codes: [r.code] });
    }

    // Nothing of any refused message reached B's stores, watermarks or counters of records.
    await b.node.settle();
    expect(await snapshotB()).toEqual(before);
    expect(await b.node.get('location', ['evil-1', 'evil-4', 'evil-5', 'evil-8', 'bulk-0', 'bad-1', 'bad-3'])).toEqual([]);
    expect(b.node.metrics().messagesRefused).toBeGreaterThanOrEqual(oneWay.length + requests.length);
    expect(b.node.state).toBe('ready');

    // B still syncs live with A.
    await a.node.write('location', Array.from({ length: 5 }, (_, i) => ({ id: id('loc', 20 + i), data: locationData(20 + i) })));
    await eventually(async () => (await b.node.count('location')) === 25, 'B receiving 5 live locations', 10_000);
    const onA = await a.node.get('location', Array.from({ length: 25 }, (_, i) => id('loc', i)));
    const onB = await b.node.get('location', Array.from({ length: 25 }, (_, i) => id('loc', i)));
    expect(onB).toEqual(onA);
  });

  it('keeps the owner of a device-owned record: a newer upsert by another device does not take it over', async () => {
    const target = locationIds[0]!;
    const [original] = await b.node.get('location', [target]);
    expect(original?.ownerDeviceId).toBe(a.deviceId);

    // A valid message (owner = HLC device), newer than A's write, plus a harmless record of the
    // raw device's own so we can tell when B has processed the batch.
    await raw.transport.send(
      b.deviceId,
      raw.encode({
        type: 'state-batch',
        changes: [
          locationUpsert(RAW, target, { name: 'hijacked', path: '/hijacked' }, hlcOf(RAW, 20_000)),
          locationUpsert(RAW, 'raw-own-1', { name: 'raw own', path: '/raw' }, hlcOf(RAW, 20_000, 1)),
        ],
      }),
    );
    await eventually(async () => (await b.node.get('location', ['raw-own-1'])).length === 1, 'B applying the raw batch', 10_000);
    await b.node.settle();
    expect(await b.node.get('location', [target])).toEqual([original]);
    expect(raw.errors()).toEqual([]);

    // A, the owner, can still change its record and B follows.
    await a.node.write('location', [{ id: target, data: { name: 'renamed by owner', path: '/owner' } }]);
    await eventually(async () => (await b.node.get('location', [target]))[0]?.data['name'] === 'renamed by owner', 'owner update on B', 10_000);
    expect(await b.node.get('location', [target])).toEqual(await a.node.get('location', [target]));
  });

  // Regression: a delete of A's record sent by another device used to be refused by the
  // record store but still stored as a tombstone, which then dropped the real owner's updates.
  it('keeps the owner of a device-owned record: a delete by another device does not block the owner', async () => {
    const target = locationIds[1]!;
    const [original] = await b.node.get('location', [target]);
    // A is away, so nothing relays the raw device's (future) clock to it.
    network.disconnect(a.deviceId, b.deviceId);
    await raw.transport.send(
      b.deviceId,
      raw.encode({
        type: 'state-batch',
        changes: [
          { model: 'location', id: target, owner: RAW, hlc: hlcOf(RAW, 20_000), op: 'delete' },
          locationUpsert(RAW, 'raw-own-2', { name: 'raw own', path: '/raw' }, hlcOf(RAW, 20_000, 1)),
        ],
      }),
    );
    await eventually(async () => (await b.node.get('location', ['raw-own-2'])).length === 1, 'B applying the raw batch', 10_000);
    await b.node.settle();
    expect(await b.node.get('location', [target])).toEqual([original]);

    // Meanwhile the owner updates its record; B catches up when A is back and must follow.
    await a.node.write('location', [{ id: target, data: { name: 'renamed by owner', path: '/owner' } }]);
    network.connect(a.deviceId, b.deviceId);
    await b.node.syncNow();
    expect(b.node.state).toBe('ready');
    expect(await b.node.get('location', [target])).toEqual(await a.node.get('location', [target]));
  });
});
