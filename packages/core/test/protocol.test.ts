import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { formatHlc, HLC_MAX_COUNTER, HLC_MAX_TIME } from '../src/clock/hlc.js';
import { ProtocolError, type ProtocolErrorCode } from '../src/errors.js';
import { decodeMessage, encodeMessage, jsonCodec, type MessageCodec } from '../src/protocol/codec.js';
import { PROTOCOL_LIMITS, type SyncMessage, type SyncMessageType, type WireChange, type WireHead } from '../src/protocol/messages.js';
import { isCleanChange, parseSyncMessage, SYNC_MESSAGE_TYPES, syncMessageSchema, wireChangeSchema } from '../src/protocol/schemas.js';

const LIB = 'library-1';
const envelope = { v: 1, libraryId: LIB, deviceId: 'device-a' } as const;

function hlc(deviceId: string, time = 1_700_000_000_000, counter = 0): string {
  return formatHlc({ time, counter, deviceId });
}

function upsert(i: number, owner = 'device-b'): WireChange {
  return { model: 'entry', id: `entry-${i}`, owner, hlc: hlc(owner, 1_700_000_000_000 + i), op: 'upsert', data: { name: `file ${i}`, size: i, tags: ['a', { nested: null }] } };
}

function del(i: number, owner = 'device-b'): WireChange {
  return { model: 'entry', id: `entry-${i}`, owner, hlc: hlc(owner, 1_700_000_000_000 + i, 7), op: 'delete' };
}

/** One valid example of each message type. */
const examples: { readonly [T in SyncMessageType]: Extract<SyncMessage, { type: T }> } = {
  'state-change': { ...envelope, type: 'state-change', change: upsert(1) },
  'state-batch': {
    ...envelope,
    type: 'state-batch',
    changes: [upsert(1), del(2), upsert(3, 'device-a')],
    spans: [
      { owner: 'device-b', resource: 'entry', from: hlc('device-b'), to: hlc('device-b', 1_700_000_000_002, 7) },
      { owner: 'device-a', resource: 'entry', from: null, to: hlc('device-a', 1_700_000_000_003) },
    ],
  },
  'state-request': {
    ...envelope,
    type: 'state-request',
    requestId: 'req-1',
    model: 'entry',
    owner: 'device-b',
    after: { hlc: hlc('device-b'), id: 'entry-9' },
    afterHlc: null,
    limit: 500,
  },
  'state-response': {
    ...envelope,
    type: 'state-response',
    requestId: 'req-1',
    model: 'entry',
    owner: 'device-b',
    changes: [upsert(10), del(11)],
    next: { hlc: hlc('device-b', 1_700_000_000_011, 7), id: 'entry-11' },
    hasMore: true,
    prunedUpTo: hlc('device-b', 1_700_000_000_005, 0),
  },
  'shared-change': { ...envelope, type: 'shared-change', changes: [{ ...upsert(1, 'device-c'), model: 'tag' }] },
  'shared-change-request': {
    ...envelope,
    type: 'shared-change-request',
    requestId: 'req-2',
    model: 'tag',
    origin: 'device-c',
    afterHlc: hlc('device-c'),
    limit: 1,
  },
  'shared-change-response': {
    ...envelope,
    type: 'shared-change-response',
    requestId: 'req-2',
    changes: [{ ...del(4, 'device-c'), model: 'tag' }],
    hasMore: false,
    complete: false,
  },
  'stream-acks': { ...envelope, type: 'stream-acks', heads: [{ owner: 'device-c', resource: 'tag', hlc: hlc('device-c', 1_700_000_000_500, 3) }] },
  'watermark-exchange-request': {
    ...envelope,
    type: 'watermark-exchange-request',
    requestId: 'req-3',
    heads: [
      { owner: 'device-a', resource: 'entry', hlc: hlc('device-a'), count: 12 },
      { owner: 'device-b', resource: 'location', hlc: hlc('device-b'), count: 0 },
    ],
    inline: 1000,
  },
  'watermark-exchange-response': {
    ...envelope,
    type: 'watermark-exchange-response',
    requestId: 'req-3',
    heads: [{ owner: 'device-a', resource: 'entry', hlc: hlc('device-a', 1_700_000_000_002), count: 2, inline: true }],
    changes: [upsert(1, 'device-a'), upsert(2, 'device-a')],
  },
  'heads-announce': {
    ...envelope,
    type: 'heads-announce',
    heads: [{ owner: 'device-a', resource: 'entry', hlc: hlc('device-a', 1_700_000_000_002) }],
  },
  'stream-digest-request': { ...envelope, type: 'stream-digest-request', requestId: 'req-9', streams: [{ owner: 'device-a', resource: 'entry', upTo: hlc('device-a') }] },
  'stream-digest-response': {
    ...envelope,
    type: 'stream-digest-response',
    requestId: 'req-9',
    digests: [{ owner: 'device-a', resource: 'entry', upTo: hlc('device-a'), count: 2, digest: 'A'.repeat(43) }],
  },
  error: { ...envelope, type: 'error', requestId: null, code: 'HW_UNKNOWN_MODEL', message: 'Unknown model "nope"' },
};

const exampleList: readonly SyncMessage[] = Object.values(examples);

/** A mutable deep copy (JSON-shaped) to tamper with. */
function tamper<T>(message: T): any {
  return structuredClone(message);
}

/** The ProtocolError `fn` throws; fails the test when it returns or throws anything else. */
function refusal(fn: () => unknown): ProtocolError {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error(`expected a ProtocolError, but got ${JSON.stringify(result)}`);
}

function expectRefused(value: unknown, code: ProtocolErrorCode, expectedLibraryId = LIB): ProtocolError {
  const error = refusal(() => parseSyncMessage(value, expectedLibraryId));
  expect(error.code).toBe(code);
  return error;
}

/** Decode + parse; either a message or a ProtocolError, anything else is rethrown (fails). */
function decodeOrRefusal(bytes: Uint8Array): SyncMessage | ProtocolError {
  try {
    return decodeMessage(jsonCodec, bytes, LIB);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
}

function parseOrRefusal(value: unknown): SyncMessage | ProtocolError {
  try {
    return parseSyncMessage(value, LIB);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
}

/** A message accepted once must be accepted again, unchanged (validation is idempotent). */
function expectStable(result: SyncMessage | ProtocolError): void {
  if (result instanceof ProtocolError) return;
  expect(parseSyncMessage(result, LIB)).toStrictEqual(result);
}

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('valid messages', () => {
  it('has one example per message type', () => {
    expect(Object.keys(examples).sort()).toEqual([...SYNC_MESSAGE_TYPES].sort());
    expect(SYNC_MESSAGE_TYPES).toHaveLength(14);
  });

  it.each(exampleList.map((m) => [m.type, m] as const))('%s parses to an equal message', (_type, message) => {
    const parsed = parseSyncMessage(tamper(message), LIB);
    expect(parsed).toStrictEqual(message);
  });

  it.each(exampleList.map((m) => [m.type, m] as const))('%s survives encode → decode → parse', (_type, message) => {
    const bytes = encodeMessage(jsonCodec, message);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(decodeMessage(jsonCodec, bytes, LIB)).toStrictEqual(message);
  });

  it('accepts values at the limits', () => {
    const owner = 'd'.repeat(128);
    const change: WireChange = { model: `a${'_'.repeat(62)}`, id: 'x'.repeat(PROTOCOL_LIMITS.maxIdLength), owner, hlc: hlc(owner, HLC_MAX_TIME, HLC_MAX_COUNTER), op: 'delete' };
    const message: SyncMessage = { ...envelope, libraryId: 'L'.repeat(128), type: 'state-change', change };
    expect(parseSyncMessage(message, message.libraryId)).toStrictEqual(message);
    const request = { ...examples['state-request'], requestId: 'r'.repeat(64), limit: PROTOCOL_LIMITS.maxPageSize };
    expect(parseSyncMessage(request, LIB)).toStrictEqual(request);
    const head: WireHead = { owner: 'a', resource: 'r'.repeat(PROTOCOL_LIMITS.maxNameLength), hlc: hlc('a'), count: Number.MAX_SAFE_INTEGER };
    const heads = { ...examples['watermark-exchange-response'], heads: [head] };
    expect(parseSyncMessage(heads, LIB)).toStrictEqual(heads);
    const error = { ...examples.error, requestId: 'req', code: 'C'.repeat(64), message: 'm'.repeat(PROTOCOL_LIMITS.maxMessageLength) };
    expect(parseSyncMessage(error, LIB)).toStrictEqual(error);
  });

  it('strips unknown keys from the envelope and the change, but keeps data untouched', () => {
    const data = { name: 'x', extra: { deep: [1, 2, { more: true }] }, __meta: 'kept' };
    const input = {
      ...examples['state-change'],
      sneaky: 'envelope extra',
      change: { ...upsert(1), data, alsoSneaky: 42 },
    };
    const parsed = parseSyncMessage(input, LIB);
    expect(parsed).not.toHaveProperty('sneaky');
    expect(parsed.type === 'state-change' && parsed.change).not.toHaveProperty('alsoSneaky');
    expect(parsed).toStrictEqual({ ...examples['state-change'], change: { ...upsert(1), data } });
    // The very same object: passed through, not copied or filtered.
    expect(parsed.type === 'state-change' && parsed.change.data).toBe(data);
  });

  it('strips unknown keys inside cursors and heads', () => {
    const request = tamper(examples['state-request']);
    request.after.extra = 1;
    expect(parseSyncMessage(request, LIB)).toStrictEqual(examples['state-request']);
    const heads = tamper(examples['watermark-exchange-request']);
    heads.heads[1].extra = 'x';
    expect(parseSyncMessage(heads, LIB)).toStrictEqual(examples['watermark-exchange-request']);
  });

  it('carries a catch-up inline in a watermark exchange: the ask, the marked heads and their changes', () => {
    const response = examples['watermark-exchange-response'];
    expect(parseSyncMessage(tamper(response), LIB)).toStrictEqual(response);
    expect(decodeMessage(jsonCodec, encodeMessage(jsonCodec, response), LIB)).toStrictEqual(response);
    // Both fields are optional: a peer that asks for nothing inline, and one that sends nothing.
    const { inline: _ask, ...plainRequest } = examples['watermark-exchange-request'] as Extract<SyncMessage, { type: 'watermark-exchange-request' }>;
    expect(parseSyncMessage(plainRequest, LIB)).toStrictEqual(plainRequest);
    const plainResponse = { ...envelope, type: 'watermark-exchange-response', requestId: 'r', heads: [] };
    expect(parseSyncMessage(plainResponse, LIB)).toStrictEqual(plainResponse);
  });

  it('parses a state-response page of 1000 changes', () => {
    const changes = Array.from({ length: 1000 }, (_, i) => (i % 5 === 4 ? del(i) : upsert(i)));
    const page: SyncMessage = { ...examples['state-response'], changes, next: { hlc: changes[999]!.hlc, id: changes[999]!.id } };
    const parsed = parseSyncMessage(tamper(page), LIB);
    expect(parsed).toStrictEqual(page);
    expect(decodeMessage(jsonCodec, encodeMessage(jsonCodec, page), LIB)).toStrictEqual(page);
  });
});

describe('refused messages', () => {
  it('HW_PROTOCOL_DECODE: invalid UTF-8 or invalid JSON', () => {
    expect(refusal(() => decodeMessage(jsonCodec, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), LIB)).code).toBe('HW_PROTOCOL_DECODE');
    // A truncated multi-byte sequence is invalid UTF-8 too (not silently replaced by U+FFFD).
    expect(refusal(() => jsonCodec.decode(new Uint8Array([0x22, 0xe2, 0x82, 0x22]))).code).toBe('HW_PROTOCOL_DECODE');
    expect(refusal(() => decodeMessage(jsonCodec, utf8('{"v":1,'), LIB)).code).toBe('HW_PROTOCOL_DECODE');
    expect(refusal(() => decodeMessage(jsonCodec, new Uint8Array(), LIB)).code).toBe('HW_PROTOCOL_DECODE');
  });

  it('HW_PROTOCOL_DECODE also when a codec lets a foreign error escape', () => {
    const broken: MessageCodec = {
      name: 'broken',
      encode: () => new Uint8Array(),
      decode: () => {
        throw new RangeError('boom');
      },
    };
    const error = refusal(() => decodeMessage(broken, new Uint8Array([1]), LIB));
    expect(error.code).toBe('HW_PROTOCOL_DECODE');
    expect(error.message).toContain('boom');
  });

  it('validation does not depend on JSON: another codec goes through the same checks', () => {
    // A stand-in for a binary codec: "encodes" by handing over a structured clone.
    let wire: unknown;
    const structured: MessageCodec = {
      name: 'structured',
      encode: (message) => {
        wire = structuredClone(message);
        return new Uint8Array([0]);
      },
      decode: () => wire,
    };
    const message = examples['state-batch'];
    expect(decodeMessage(structured, encodeMessage(structured, message), LIB)).toStrictEqual(message);
    expect(refusal(() => decodeMessage(structured, encodeMessage(structured, message), 'other')).code).toBe('HW_WRONG_LIBRARY');
  });

  it('HW_PROTOCOL_VERSION: v other than 1, before anything else', () => {
    expectRefused({ ...examples.error, v: 2 }, 'HW_PROTOCOL_VERSION');
    expectRefused({ ...examples.error, v: '1' }, 'HW_PROTOCOL_VERSION');
    const { v: _v, ...noVersion } = examples.error;
    expectRefused(noVersion, 'HW_PROTOCOL_VERSION');
    // Version wins over a wrong library, an unknown type and a malformed body.
    expectRefused({ v: 2, libraryId: 'other', deviceId: '??', type: 'future-type' }, 'HW_PROTOCOL_VERSION');
  });

  it('HW_UNKNOWN_MESSAGE_TYPE: a string type that is not a message type', () => {
    const error = expectRefused({ ...envelope, type: 'nope' }, 'HW_UNKNOWN_MESSAGE_TYPE');
    expect(error.message).toContain('"nope"');
    // Names of Object.prototype members are not message types either.
    expectRefused({ ...envelope, type: '__proto__' }, 'HW_UNKNOWN_MESSAGE_TYPE');
    expectRefused({ ...envelope, type: 'toString' }, 'HW_UNKNOWN_MESSAGE_TYPE');
    // Not a string at all: malformed.
    expectRefused({ ...envelope, type: 3 }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...envelope }, 'HW_PROTOCOL_MALFORMED');
  });

  it('HW_WRONG_LIBRARY: another library, refused before the body or the type is looked at', () => {
    expectRefused(examples['state-batch'], 'HW_WRONG_LIBRARY', 'library-2');
    expectRefused({ ...envelope, libraryId: 'library-2', type: 'state-batch', changes: 'garbage' }, 'HW_WRONG_LIBRARY');
    expectRefused({ ...envelope, libraryId: 'library-2', type: 'nope' }, 'HW_WRONG_LIBRARY');
    // ... but after the envelope shape.
    expectRefused({ ...envelope, libraryId: '', type: 'error' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...envelope, libraryId: 'x'.repeat(129), type: 'error' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples.error, deviceId: 'bad device' }, 'HW_PROTOCOL_MALFORMED');
  });

  it('HW_FORGED_OWNER: a change whose HLC device is not its owner', () => {
    const forged = { ...upsert(2), hlc: hlc('device-z') };
    const batch = { ...examples['state-batch'], changes: [upsert(1), forged] };
    const error = expectRefused(batch, 'HW_FORGED_OWNER');
    expect(error.message).toContain('changes[1].owner');
    expectRefused({ ...examples['state-change'], change: { ...del(1), owner: 'device-a' } }, 'HW_FORGED_OWNER');
    expectRefused({ ...examples['shared-change-response'], changes: [{ ...del(1, 'device-c'), owner: 'device-c2' }] }, 'HW_FORGED_OWNER');
    // An owner that merely prefixes/suffixes the HLC's device is still forged.
    expectRefused({ ...examples['state-change'], change: { ...upsert(1, 'ab'), owner: 'b' } }, 'HW_FORGED_OWNER');
  });

  it('a malformed message is reported as malformed even if it also has a forged owner', () => {
    const batch = { ...examples['state-batch'], changes: [{ ...upsert(1), hlc: hlc('device-z') }, { ...upsert(2), id: '' }] };
    const error = expectRefused(batch, 'HW_PROTOCOL_MALFORMED');
    expect(error.message).toContain('changes[1].id');
  });

  it('HW_PROTOCOL_MALFORMED: an upsert without data, a delete with data', () => {
    const { data: _data, ...noData } = upsert(1);
    expect(expectRefused({ ...examples['state-change'], change: noData }, 'HW_PROTOCOL_MALFORMED').message).toContain('change.data');
    expectRefused({ ...examples['state-change'], change: { ...upsert(1), data: null } }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-change'], change: { ...upsert(1), data: [1, 2] } }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-change'], change: { ...upsert(1), data: 'x' } }, 'HW_PROTOCOL_MALFORMED');
    const withData = { ...examples['state-batch'], changes: [upsert(1), { ...del(2), data: {} }] };
    expect(expectRefused(withData, 'HW_PROTOCOL_MALFORMED').message).toContain('changes[1].data');
    expectRefused({ ...examples['state-change'], change: { ...del(1), op: 'remove' } }, 'HW_PROTOCOL_MALFORMED');
  });

  it('HW_PROTOCOL_MALFORMED: bad HLC text names the field', () => {
    const changes = [upsert(0), upsert(1), upsert(2), { ...upsert(3), hlc: '2024-01-01' }];
    const error = expectRefused({ ...examples['state-batch'], changes }, 'HW_PROTOCOL_MALFORMED');
    expect(error.message).toContain('changes[3].hlc: invalid HLC text');
    expect(error.detail).toBe('changes[3].hlc: invalid HLC text');
    // Upper-case hex is not the canonical text form.
    expectRefused({ ...examples['stream-acks'], heads: [{ ...examples['stream-acks'].heads[0]!, hlc: examples['stream-acks'].heads[0]!.hlc.toUpperCase() }] }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-response'], prunedUpTo: 'not an hlc' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-request'], afterHlc: 5 }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-request'], after: { hlc: 'x', id: 'a' } }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['watermark-exchange-request'], heads: [{ owner: 'a', resource: 'r', hlc: '', count: 1 }] }, 'HW_PROTOCOL_MALFORMED');
  });

  it('HW_PROTOCOL_MALFORMED: arrays beyond the limits', () => {
    const one = upsert(1);
    const tooMany = Array.from({ length: PROTOCOL_LIMITS.maxChangesPerMessage + 1 }, () => one);
    const error = expectRefused({ ...examples['state-batch'], changes: tooMany }, 'HW_PROTOCOL_MALFORMED');
    expect(error.message).toContain('changes');
    // Exactly at the limit is fine.
    const atLimit = { ...examples['shared-change'], changes: tooMany.slice(1) };
    expect(parseSyncMessage(atLimit, LIB)).toStrictEqual(atLimit);
    const head = { owner: 'a', resource: 'entry', hlc: hlc('a'), count: 1 };
    const heads = Array.from({ length: PROTOCOL_LIMITS.maxHeads + 1 }, () => head);
    expectRefused({ ...examples['watermark-exchange-request'], heads }, 'HW_PROTOCOL_MALFORMED');
  });

  it('HW_PROTOCOL_MALFORMED: inline asks and inline changes out of shape', () => {
    const request = examples['watermark-exchange-request'];
    expect(() => parseSyncMessage({ ...request, inline: -1 }, LIB)).toThrow(/inline: must not be negative/);
    expect(() => parseSyncMessage({ ...request, inline: PROTOCOL_LIMITS.maxChangesPerMessage + 1 }, LIB)).toThrow(/inline: must be at most/);
    const response = examples['watermark-exchange-response'] as Extract<SyncMessage, { type: 'watermark-exchange-response' }>;
    expect(() => parseSyncMessage({ ...response, heads: [{ ...response.heads[0]!, inline: 'yes' }] }, LIB)).toThrow(/heads\[0\]\.inline/);
    expect(() => parseSyncMessage({ ...response, changes: [upsert(1, 'device-a'), { ...upsert(2, 'device-a'), hlc: 'soon' }] }, LIB)).toThrow(/changes\[1\]\.hlc/);
    expectRefused({ ...response, changes: [{ ...upsert(1, 'device-a'), owner: 'device-z' }] }, 'HW_FORGED_OWNER');
  });

  it('HW_PROTOCOL_MALFORMED: limits, counts, ids and names out of range', () => {
    const request = examples['state-request'];
    expect(expectRefused({ ...request, limit: 0 }, 'HW_PROTOCOL_MALFORMED').message).toContain('limit');
    expectRefused({ ...request, limit: PROTOCOL_LIMITS.maxPageSize + 1 }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...request, limit: 1.5 }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...request, limit: '10' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...request, requestId: '' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...request, requestId: 'r'.repeat(65) }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...request, model: 'Entry' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...request, owner: 'has space' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['shared-change-request'], origin: '' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-change'], change: { ...upsert(1), id: '' } }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-change'], change: { ...upsert(1), id: 'x'.repeat(PROTOCOL_LIMITS.maxIdLength + 1) } }, 'HW_PROTOCOL_MALFORMED');
    const head = examples['watermark-exchange-request'].heads[0]!;
    expectRefused({ ...examples['watermark-exchange-request'], heads: [{ ...head, count: -1 }] }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['watermark-exchange-request'], heads: [{ ...head, count: 2 ** 53 }] }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples.error, code: 'C'.repeat(65) }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples.error, message: 'm'.repeat(PROTOCOL_LIMITS.maxMessageLength + 1) }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-response'], hasMore: 'yes' }, 'HW_PROTOCOL_MALFORMED');
    expectRefused({ ...examples['state-response'], next: undefined }, 'HW_PROTOCOL_MALFORMED');
  });

  it('HW_PROTOCOL_MALFORMED: values that are not message objects, including cyclic ones', () => {
    for (const value of [null, undefined, 1, 'x', true, [], [examples.error]]) expectRefused(value, 'HW_PROTOCOL_MALFORMED');
    const cyclic: any = tamper(examples['state-change']);
    cyclic.change = cyclic;
    expectRefused(cyclic, 'HW_PROTOCOL_MALFORMED');
    const cyclicChanges: any = tamper(examples['state-batch']);
    cyclicChanges.changes.push(cyclicChanges.changes);
    expectRefused(cyclicChanges, 'HW_PROTOCOL_MALFORMED');
    // A cycle inside data is data's business: passed through untouched.
    const data: any = { a: 1 };
    data.self = data;
    const parsed = parseSyncMessage({ ...examples['state-change'], change: { ...upsert(1), data } }, LIB);
    expect(parsed.type === 'state-change' && parsed.change.data).toBe(data);
  });
});

// ---------------------------------------------------------------------------------------------
// Property-based tests.

const deviceIdArb = fc.stringMatching(/^[0-9A-Za-z._:-]{1,12}$/);
const modelArb = fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/);
const recordIdArb = fc.string({ minLength: 1, maxLength: 20 });
const requestIdArb = fc.string({ minLength: 1, maxLength: 64 });
const hlcArb = (deviceId: string) =>
  fc.record({ time: fc.integer({ min: 0, max: HLC_MAX_TIME }), counter: fc.integer({ min: 0, max: HLC_MAX_COUNTER }) }).map((h) => formatHlc({ ...h, deviceId }));
const anyHlcArb = deviceIdArb.chain(hlcArb);
const dataArb = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });

const changeArb: fc.Arbitrary<WireChange> = fc
  .record({ model: modelArb, id: recordIdArb, owner: deviceIdArb, op: fc.constantFrom('upsert' as const, 'delete' as const), data: dataArb })
  .chain(({ owner, op, data, ...rest }) =>
    hlcArb(owner).map((h): WireChange => (op === 'upsert' ? { ...rest, owner, hlc: h, op, data } : { ...rest, owner, hlc: h, op })),
  );
const changesArb = fc.array(changeArb, { maxLength: 6 });
/** A state-response page as rows can carry it: one model and owner, every upsert's data exactly `fields`. */
const rowsPageArb = fc
  .record({ model: modelArb, owner: deviceIdArb, fields: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }).filter((f) => f !== '__proto__'), { minLength: 1, maxLength: 4 }) })
  .chain(({ model, owner, fields }) =>
    fc
      .array(fc.record({ id: recordIdArb, hlc: hlcArb(owner), del: fc.boolean(), values: fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: fields.length, maxLength: fields.length }) }), { maxLength: 6 })
      .map((rows) => ({
        model,
        owner,
        fields,
        changes: rows.map(({ id, hlc: h, del: isDelete, values }) =>
          isDelete ? { model, id, owner, hlc: h, op: 'delete' } : { model, id, owner, hlc: h, op: 'upsert', data: Object.fromEntries(fields.map((f, i) => [f, values[i]])) },
        ),
      })),
  );
const cursorArb = fc.record({ hlc: anyHlcArb, id: recordIdArb });
const headArb = fc.record({ owner: deviceIdArb, resource: modelArb, hlc: anyHlcArb, count: fc.maxSafeNat() });
const limitArb = fc.integer({ min: 1, max: PROTOCOL_LIMITS.maxPageSize });
const envelopeArb = fc.record({ v: fc.constant(1 as const), libraryId: fc.constant(LIB), deviceId: deviceIdArb });

const bodyArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constant('state-change'), change: changeArb }),
  fc.record({ type: fc.constant('state-batch'), changes: changesArb }),
  fc.record({
    type: fc.constant('state-request'),
    requestId: requestIdArb,
    model: modelArb,
    owner: deviceIdArb,
    after: fc.option(cursorArb),
    afterHlc: fc.option(anyHlcArb),
    limit: limitArb,
    rows: fc.boolean(),
  }),
  fc
    .record({ type: fc.constant('state-response'), requestId: requestIdArb, page: rowsPageArb, next: fc.option(cursorArb), hasMore: fc.boolean() })
    .map(({ page, ...rest }) => ({ ...rest, ...page })),
  fc.record({
    type: fc.constant('state-response'),
    requestId: requestIdArb,
    model: modelArb,
    owner: deviceIdArb,
    changes: changesArb,
    next: fc.option(cursorArb),
    hasMore: fc.boolean(),
  }),
  fc.record({ type: fc.constant('shared-change'), changes: changesArb }),
  fc.record({
    type: fc.constant('shared-change-request'),
    requestId: requestIdArb,
    model: modelArb,
    origin: deviceIdArb,
    afterHlc: fc.option(anyHlcArb),
    limit: limitArb,
  }),
  fc.record({ type: fc.constant('shared-change-response'), requestId: requestIdArb, changes: changesArb, hasMore: fc.boolean(), complete: fc.boolean() }),
  fc.record({ type: fc.constant('stream-acks'), heads: fc.array(fc.record({ owner: deviceIdArb, resource: modelArb, hlc: anyHlcArb }), { maxLength: 4 }) }),
  fc.record(
    { type: fc.constant('watermark-exchange-request'), requestId: requestIdArb, heads: fc.array(headArb, { maxLength: 4 }), inline: fc.nat({ max: PROTOCOL_LIMITS.maxChangesPerMessage }) },
    { requiredKeys: ['type', 'requestId', 'heads'] },
  ),
  fc.record(
    { type: fc.constant('watermark-exchange-response'), requestId: requestIdArb, heads: fc.array(fc.record({ head: headArb, inline: fc.option(fc.boolean(), { nil: undefined }) }).map(({ head, inline }) => (inline === undefined ? head : { ...head, inline })), { maxLength: 4 }), changes: changesArb },
    { requiredKeys: ['type', 'requestId', 'heads'] },
  ),
  fc.record({
    type: fc.constant('error'),
    requestId: fc.option(requestIdArb),
    code: fc.string({ minLength: 1, maxLength: 64 }),
    message: fc.string({ maxLength: 200 }),
  }),
);

/** Valid messages, normalised through JSON (no -0, no null-prototype objects). */
const messageArb: fc.Arbitrary<SyncMessage> = fc
  .tuple(envelopeArb, bodyArb)
  .map(([env, body]) => JSON.parse(JSON.stringify({ ...env, ...body })) as SyncMessage);

type Slot = { readonly container: any; readonly key: string | number };

/** Every (container, key) in a JSON tree, nested ones (changes, data, heads, cursors) included. */
function slots(root: any): Slot[] {
  const out: Slot[] = [];
  const walk = (node: any) => {
    if (node === null || typeof node !== 'object') return;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_: unknown, i: number) => i) : Object.keys(node);
    for (const key of keys) {
      out.push({ container: node, key });
      walk(node[key]);
    }
  };
  walk(root);
  return out;
}

const RUNS = 500;

describe('fuzz', () => {
  it('generated valid messages parse and round-trip unchanged', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        expect(parseSyncMessage(structuredClone(message), LIB)).toStrictEqual(message);
        expect(decodeMessage(jsonCodec, encodeMessage(jsonCodec, message), LIB)).toStrictEqual(message);
      }),
      { numRuns: RUNS, seed: 0x5eed01 },
    );
  });

  it('(a) random bytes: a message or a ProtocolError, nothing else', () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 4096 }),
      // Mostly-ASCII JSON-ish bytes reach JSON.parse and the validator more often.
      fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789.e-tfnulrsv '), maxLength: 200 }).map(utf8),
    );
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        expectStable(decodeOrRefusal(bytes));
      }),
      { numRuns: RUNS, seed: 0x5eed02 },
    );
  });

  it('(b) random JSON values: a message or a ProtocolError, nothing else', () => {
    const types = [...SYNC_MESSAGE_TYPES, 'nope', '__proto__'];
    // Random values with a valid envelope get past the envelope checks into the body schemas.
    const enveloped = fc
      .tuple(fc.constantFrom(...types), fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue(), { maxKeys: 8 }), fc.jsonValue())
      .map(([type, extra, change]) => ({ ...extra, change, changes: [change], heads: [change], ...envelope, type }));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), enveloped), (value) => {
        expectStable(parseOrRefusal(value));
        expectStable(decodeOrRefusal(utf8(JSON.stringify(value) ?? 'null')));
      }),
      { numRuns: RUNS, seed: 0x5eed03 },
    );
  });

  it('(c) mutated valid messages: a ProtocolError or a message that passes again', () => {
    // Random JSON, plus plausible field values (which make e.g. forged owners likely).
    const replacementArb = fc.oneof(
      fc.jsonValue(),
      deviceIdArb,
      anyHlcArb,
      modelArb,
      fc.constantFrom(0, -1, 1.5, 2 ** 53, PROTOCOL_LIMITS.maxPageSize + 1, '', 'upsert', 'delete', null, true, {}, []),
    );
    const mutationArb = fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: replacementArb }),
    );
    let refused = 0;
    const codes = new Set<string>();
    fc.assert(
      fc.property(messageArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (message, mutations) => {
        const value: any = structuredClone(message);
        for (const mutation of mutations) {
          const all = slots(value);
          if (all.length === 0) break;
          const { container, key } = all[mutation.at % all.length]!;
          if (mutation.kind === 'delete') {
            if (Array.isArray(container)) container.splice(key as number, 1);
            else delete container[key];
          } else {
            container[key] = mutation.value;
          }
        }
        const direct = parseOrRefusal(value);
        const viaBytes = decodeOrRefusal(utf8(JSON.stringify(value)));
        if (direct instanceof ProtocolError) {
          refused += 1;
          codes.add(direct.code);
        }
        expectStable(direct);
        expectStable(viaBytes);
        // The codec adds nothing: same verdict either way.
        if (direct instanceof ProtocolError) expect(viaBytes instanceof ProtocolError && viaBytes.code).toBe(direct.code);
        else expect(viaBytes).toStrictEqual(direct);
      }),
      { numRuns: RUNS, seed: 0x5eed04 },
    );
    // The mutations do reach the validator (otherwise this property would be vacuous).
    expect(refused).toBeGreaterThan(RUNS / 4);
    expect([...codes].sort()).toEqual(['HW_FORGED_OWNER', 'HW_PROTOCOL_MALFORMED', 'HW_PROTOCOL_VERSION', 'HW_UNKNOWN_MESSAGE_TYPE', 'HW_WRONG_LIBRARY']);
  });

  it('(c) truncated encodings are refused as undecodable', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (message, at) => {
        const bytes = encodeMessage(jsonCodec, message);
        const truncated = bytes.subarray(0, at % bytes.length);
        const result = decodeOrRefusal(truncated);
        expect(result).toBeInstanceOf(ProtocolError);
        expect((result as ProtocolError).code).toBe('HW_PROTOCOL_DECODE');
      }),
      { numRuns: RUNS, seed: 0x5eed05 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The fast path for arrays of changes (isCleanChange) must agree with the change schema.

describe('fast path for changes', () => {
  /** A change, possibly broken in one of the ways a peer could break it. */
  const mutatedChangeArb: fc.Arbitrary<unknown> = fc.tuple(changeArb, fc.integer({ min: 0, max: 14 }), fc.jsonValue({ maxDepth: 1 }), fc.string({ maxLength: 6 })).map(
    ([change, how, junk, key]) => {
      const c: Record<string, unknown> = { ...change };
      switch (how) {
        case 0: delete c[key.length % 2 ? 'id' : 'hlc']; break;
        case 1: c[key === '' ? 'extra' : key] = junk; break;
        case 2: c['model'] = junk; break;
        case 3: c['id'] = key.length % 2 ? '' : 'x'.repeat(PROTOCOL_LIMITS.maxIdLength + 1); break;
        case 4: c['owner'] = `${String(c['owner'])}x`; break; // forged: differs from the HLC's device
        case 5: c['hlc'] = String(c['hlc']).toUpperCase(); break;
        case 6: c['op'] = junk; break;
        case 7: c['data'] = c['op'] === 'upsert' ? junk : {}; break;
        case 8: c['data'] = undefined; break;
        case 9: return Object.assign(Object.create({ inherited: 1 }), c);
        case 10: return JSON.parse(`{"__proto__": 1, ${JSON.stringify(c).slice(1)}`) as unknown;
        default: break; // unchanged
      }
      return c;
    },
  );

  it('accepts only what the schema accepts, and then the schema would output the same change', () => {
    fc.assert(
      fc.property(mutatedChangeArb, (value) => {
        if (!isCleanChange(value)) return;
        const parsed = wireChangeSchema.safeParse(value);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toStrictEqual(value);
      }),
      { numRuns: 2_000 },
    );
  });

  it("takes a change's sig as its own signature, its place in a batch, or that place carrying the batch's proof — nothing else", () => {
    const text = (n: number): string => 'A'.repeat(n);
    const taken = [text(86), `${text(16)}.0.2`, `${text(16)}.127.128`, `${text(16)}.0.2.${text(171)}`, `${text(16)}.5.128.${text(2859)}`];
    // Among the refused: the form before proofs were kept apart (own signature, then place).
    const refused = [text(85), text(87), `${text(86)}.1.2`, `${text(15)}.0.2`, `${text(16)}.01.2`, `${text(16)}.0.0`, `${text(16)}.0.2.${text(170)}`, `${text(16)}.0.2.${text(2860)}`, `${text(16)}.0.2.`, `${text(16)}.0.2.${text(171)}=`];
    for (const sig of taken) {
      expect(isCleanChange({ ...upsert(1), sig })).toBe(true);
      expect(wireChangeSchema.safeParse({ ...upsert(1), sig }).success).toBe(true);
    }
    for (const sig of refused) {
      expect(isCleanChange({ ...upsert(1), sig })).toBe(false);
      expect(wireChangeSchema.safeParse({ ...upsert(1), sig }).success).toBe(false);
    }
  });

  it('takes every change a node sends (so the fast path is the path taken)', () => {
    fc.assert(fc.property(changeArb, (change) => expect(isCleanChange(JSON.parse(JSON.stringify(change)))).toBe(true)), { numRuns: 500 });
  });

  it('gives the same message or the same refusal as the schema alone, for whole messages', () => {
    const batchArb = fc.array(mutatedChangeArb, { maxLength: 5 }).map((changes) => ({ v: 1, libraryId: LIB, deviceId: 'device-a', type: 'state-batch', changes }));
    fc.assert(
      fc.property(batchArb, (message) => {
        const full = syncMessageSchema.safeParse(message);
        let outcome: { ok: true; value: unknown } | { ok: false; code: string };
        try {
          outcome = { ok: true, value: parseSyncMessage(message, LIB) };
        } catch (error) {
          outcome = { ok: false, code: (error as ProtocolError).code };
        }
        expect(outcome.ok).toBe(full.success);
        if (outcome.ok) expect(outcome.value).toStrictEqual(full.data);
      }),
      { numRuns: 1_000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The JSON codec's layout: one line per change.

describe('json codec lines', () => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it('sends a message with changes as its envelope (changes counted) and one line per change, and reads it back', () => {
    const message = { ...examples['state-batch'], changes: [upsert(1), upsert(2), upsert(3)] } as SyncMessage;
    const lines = text(jsonCodec.encode(message)).split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'state-batch', changes: 3 });
    expect(lines.slice(1).map((l) => JSON.parse(l))).toEqual([upsert(1), upsert(2), upsert(3)]);
    expect(decodeMessage(jsonCodec, jsonCodec.encode(message), LIB)).toStrictEqual(parseSyncMessage(message, LIB));
    // Without changes (or with none) a message is one line of plain JSON.
    expect(text(jsonCodec.encode(examples['state-request']))).not.toContain('\n');
    expect(text(jsonCodec.encode({ ...examples['state-batch'], changes: [] } as SyncMessage))).not.toContain('\n');
  });

  it('keeps every line of a 1000-change page small (no string a young-generation GC cannot free)', () => {
    const message = { ...examples['state-batch'], changes: Array.from({ length: 1000 }, (_, i) => upsert(i + 1)) } as SyncMessage;
    const bytes = jsonCodec.encode(message);
    const longest = Math.max(...text(bytes).split('\n').map((l) => l.length));
    expect(bytes.byteLength).toBeGreaterThan(100_000);
    expect(longest).toBeLessThan(1_000);
  });

  const rowsPage = (changes: WireChange[], fields = ['name', 'size', 'tags']): SyncMessage =>
    ({ ...examples['state-response'], changes, fields }) as SyncMessage;

  it('sends a state-response that names its fields as rows: [id, hlc] or [id, hlc, ...values], and reads back the same changes', () => {
    const message = rowsPage([upsert(10), del(11), upsert(12)]);
    const bytes = jsonCodec.encode(message);
    const lines = text(bytes).split('\n');
    expect(lines).toHaveLength(4);
    const head = JSON.parse(lines[0]!);
    expect(head).toMatchObject({ type: 'state-response', rows: 3, fields: ['name', 'size', 'tags'], model: 'entry', owner: 'device-b' });
    expect(head).not.toHaveProperty('changes');
    expect(lines.slice(1).map((l) => JSON.parse(l))).toEqual([
      ['entry-10', upsert(10).hlc, 'file 10', 10, ['a', { nested: null }]],
      ['entry-11', del(11).hlc],
      ['entry-12', upsert(12).hlc, 'file 12', 12, ['a', { nested: null }]],
    ]);
    const decoded = decodeMessage(jsonCodec, bytes, LIB);
    expect(decoded).toStrictEqual(parseSyncMessage(message, LIB));
    // Smaller than the same page as objects.
    expect(bytes.byteLength).toBeLessThan(jsonCodec.encode({ ...message, fields: undefined } as SyncMessage).byteLength * 0.8);
  });

  it('sends the page as objects when a row could not carry one of its changes exactly', () => {
    const asObjects = (message: SyncMessage) => expect(JSON.parse(text(jsonCodec.encode(message)).split('\n')[0]!)).toMatchObject({ changes: 2 });
    const { tags: _tags, ...withoutTags } = upsert(2).data!;
    asObjects(rowsPage([upsert(1), { ...upsert(2), data: withoutTags }])); // a field missing
    asObjects(rowsPage([upsert(1), { ...upsert(2), data: { ...upsert(2).data, extra: 1 } }])); // a key not in fields
    asObjects(rowsPage([upsert(1), { ...upsert(2), data: { ...upsert(2).data, size: undefined } }])); // undefined is not null
    asObjects(rowsPage([upsert(1), upsert(2, 'device-c')])); // another owner than the envelope's
    asObjects(rowsPage([upsert(1), { ...upsert(2), model: 'other' }])); // another model
    asObjects(rowsPage([upsert(1), upsert(2)], [])); // no fields: an upsert's row would read as a delete
    asObjects(rowsPage([upsert(1), upsert(2)], ['name', 'name', 'size'])); // duplicate fields
    // Other message types never go as rows, fields or not.
    expect(JSON.parse(text(jsonCodec.encode({ ...examples['state-batch'], fields: ['name', 'size', 'tags'] } as SyncMessage)).split('\n')[0]!)).toMatchObject({ changes: 3 });
  });

  it('refuses rows out of shape as undecodable, and rows with bad values as the same changes would be', () => {
    const whole = text(jsonCodec.encode(rowsPage([upsert(1), del(2)])));
    const [head, ...rows] = whole.split('\n');
    const withHead = (h: object) => [JSON.stringify(h), ...rows].join('\n');
    const withRow = (row: unknown) => [head, rows[0], JSON.stringify(row)].join('\n');
    const decodeCode = (t: string) => refusal(() => decodeMessage(jsonCodec, utf8(t), LIB)).code;
    const h = JSON.parse(head!);
    expect(decodeCode(withRow(['entry-2']))).toBe('HW_PROTOCOL_DECODE'); // too short
    expect(decodeCode(withRow(['entry-2', del(2).hlc, 'x']))).toBe('HW_PROTOCOL_DECODE'); // neither 2 nor 2 + fields
    expect(decodeCode(withRow({ id: 'entry-2' }))).toBe('HW_PROTOCOL_DECODE'); // not an array
    expect(decodeCode(withHead({ ...h, fields: undefined }))).toBe('HW_PROTOCOL_DECODE');
    expect(decodeCode(withHead({ ...h, fields: ['name', 'name', 'tags'] }))).toBe('HW_PROTOCOL_DECODE');
    expect(decodeCode(withHead({ ...h, fields: ['__proto__', 'size', 'tags'] }))).toBe('HW_PROTOCOL_DECODE');
    expect(decodeCode(withHead({ ...h, fields: 'name' }))).toBe('HW_PROTOCOL_DECODE');
    expect(decodeCode(withHead({ ...h, changes: 2 }))).toBe('HW_PROTOCOL_DECODE'); // both counts
    expect(decodeCode(withHead({ ...h, rows: 3 }))).toBe('HW_PROTOCOL_DECODE');
    // Well-formed rows with bad values: refused by validation, as the change objects would be.
    expect(decodeCode(withRow(['', del(2).hlc]))).toBe('HW_PROTOCOL_MALFORMED');
    expect(decodeCode(withRow(['entry-2', 'not an hlc']))).toBe('HW_PROTOCOL_MALFORMED');
    expect(decodeCode(withRow(['entry-2', hlc('device-x')]))).toBe('HW_FORGED_OWNER'); // the clock of another device than the envelope's owner
  });

  it('sends a signed row whose sig is the next place of the row before it in the same batch as "+", and reads back the full sig', () => {
    const batch = 'B'.repeat(16);
    const other = 'C'.repeat(16);
    const proof = 'P'.repeat(171);
    const sigs = [
      `${batch}.0.3.${proof}`, // carries the proof: sent whole
      `${batch}.1.3`, // next place: "+"
      `${batch}.2.3`, // "+"
      'S'.repeat(86), // a change signed alone: sent whole
      `${other}.5.128`, // another batch, not after the row before: sent whole
      `${other}.6.128`, // "+"
      `${other}.8.128`, // skips a place (7 was superseded): sent whole
      `${other}.9.128`, // "+", after a delete's row below
      `${'D'.repeat(16)}.10.128`, // the place after the row before's, but of another batch: sent whole
    ];
    const changes: WireChange[] = sigs.map((sig, i) => ({ ...(i === 6 ? del(20 + i) : upsert(20 + i)), sig }));
    const message = rowsPage(changes);
    const bytes = jsonCodec.encode(message);
    const lines = text(bytes).split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ rows: 9, signed: true });
    expect(lines.slice(1).map((l) => (JSON.parse(l) as unknown[])[2])).toEqual([sigs[0], '+', '+', sigs[3], sigs[4], '+', sigs[6], '+', sigs[8]]);
    expect(decodeMessage(jsonCodec, bytes, LIB)).toStrictEqual(parseSyncMessage(message, LIB));
    // The places a "+" stands for are not on the wire.
    const full = `${batch}.1.3`;
    expect(text(bytes)).not.toContain(`"${full}"`);

    // A "+" with no batch place before it, or after the last place of a batch, is undecodable.
    const [head, ...rows] = lines;
    const withSigs = (...rowSigs: string[]) => [head!.replace('"rows":9', `"rows":${rowSigs.length}`), ...rowSigs.map((sig, i) => { const row = JSON.parse(rows[i]!) as unknown[]; row[2] = sig; return JSON.stringify(row); })].join('\n');
    const decodeCode = (t: string) => refusal(() => decodeMessage(jsonCodec, utf8(t), LIB)).code;
    expect(decodeCode(withSigs('+'))).toBe('HW_PROTOCOL_DECODE'); // the first row
    expect(decodeCode(withSigs('S'.repeat(86), '+'))).toBe('HW_PROTOCOL_DECODE'); // after a change signed alone
    expect(decodeCode(withSigs(`${batch}.2.3`, '+'))).toBe('HW_PROTOCOL_DECODE'); // after the batch's last place
    expect(decodeMessage(jsonCodec, utf8(withSigs(`${batch}.1.3`, '+')), LIB)).toMatchObject({ changes: [{ sig: `${batch}.1.3` }, { sig: `${batch}.2.3` }] });
  });

  it('reads back every signed page exactly, whatever runs of batch places it holds', () => {
    const placeArb = fc.oneof(
      fc.record({ batch: fc.constantFrom('A', 'B'), index: fc.nat({ max: 4 }), size: fc.integer({ min: 2, max: 5 }), proof: fc.boolean() }).map(({ batch, index, size, proof }) =>
        `${batch.repeat(16)}.${Math.min(index, size - 1)}.${size}${proof ? `.${'P'.repeat(171)}` : ''}`,
      ),
      fc.constant('S'.repeat(86)),
    );
    fc.assert(
      fc.property(fc.array(placeArb, { minLength: 1, maxLength: 12 }), (sigs) => {
        const message = rowsPage(sigs.map((sig, i) => ({ ...upsert(i + 1), sig })));
        expect(decodeMessage(jsonCodec, jsonCodec.encode(message), LIB)).toStrictEqual(parseSyncMessage(message, LIB));
      }),
      { numRuns: 500, seed: 0x5eed06 },
    );
  });

  it('refuses a message whose lines do not match the announced count, or whose first line counts nothing', () => {
    const message = { ...examples['state-batch'], changes: [upsert(1), upsert(2)] } as SyncMessage;
    const whole = text(jsonCodec.encode(message));
    const cut = whole.slice(0, whole.lastIndexOf('\n')); // a whole line fewer
    expect(refusal(() => decodeMessage(jsonCodec, utf8(cut), LIB)).code).toBe('HW_PROTOCOL_DECODE');
    expect(refusal(() => decodeMessage(jsonCodec, utf8(`${whole}\n${JSON.stringify(upsert(3))}`), LIB)).code).toBe('HW_PROTOCOL_DECODE');
    expect(refusal(() => decodeMessage(jsonCodec, utf8(whole.replace('"changes":2', '"changes":[]')), LIB)).code).toBe('HW_PROTOCOL_DECODE');
    expect(refusal(() => decodeMessage(jsonCodec, utf8(`[1]\n${JSON.stringify(upsert(1))}`), LIB)).code).toBe('HW_PROTOCOL_DECODE');
    expect(refusal(() => decodeMessage(jsonCodec, utf8(`${whole}\n`), LIB)).code).toBe('HW_PROTOCOL_DECODE');
  });
});

describe('stream digests (scrub)', () => {
  const hlc = formatHlc({ time: 1_790_000_000_000, counter: 0, deviceId: 'device-a' });
  const point = { owner: 'device-a', resource: 'location', upTo: hlc };

  it('parses a request and a response', () => {
    expect(parseSyncMessage({ ...envelope, type: 'stream-digest-request', requestId: 'r1', streams: [point] }, LIB)).toMatchObject({ streams: [point] });
    const digest = { ...point, count: 3, digest: Buffer.alloc(32, 7).toString('base64url') };
    expect(parseSyncMessage({ ...envelope, type: 'stream-digest-response', requestId: 'r1', digests: [digest] }, LIB)).toMatchObject({ digests: [digest] });
  });

  it('refuses a digest that is not 32 bytes, a negative count and a bad HLC', () => {
    const bad = [
      { ...point, count: 3, digest: 'short' },
      { ...point, count: -1, digest: Buffer.alloc(32).toString('base64url') },
      { ...point, upTo: 'yesterday', count: 1, digest: Buffer.alloc(32).toString('base64url') },
    ];
    for (const digest of bad) {
      expect(() => parseSyncMessage({ ...envelope, type: 'stream-digest-response', requestId: 'r1', digests: [digest] }, LIB)).toThrow(ProtocolError);
    }
  });
});
