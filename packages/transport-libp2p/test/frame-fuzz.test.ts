import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { FrameKind, ResponseStatus, SYNC_PROTOCOL, type Libp2pTransport } from '../src/index.js';
import type { Connection, Libp2p } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { lpStream } from '@libp2p/utils';
import { bytes, createRawNode, rawExchange, TestNetwork, text, waitFor, type RawOutcome } from './support.js';

/**
 * A member that speaks raw bytes on the sync protocol: random bytes, truncated frames, length
 * prefixes far beyond the limit, prefixes that never end, well-formed frames with random
 * contents. Whatever it sends, its stream ends in a response frame or a drop (never a hang),
 * the transport neither crashes nor buffers what a prefix announces, and it keeps serving.
 */

const MAX_MESSAGE_BYTES = 64 * 1024;
const RUNS = 200;
const SEED = 0x5eed;

function varint(value: number): Uint8Array {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return new Uint8Array(out);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function frame(kind: number, payload: Uint8Array): Uint8Array {
  return concat(varint(payload.byteLength + 1), new Uint8Array([kind]), payload);
}

/** Not our own 10 s guard: a stream the transport neither answered nor dropped. */
function expectEnded(outcome: RawOutcome): void {
  if (outcome.kind === 'dropped') expect(outcome.error.name).not.toBe('TimeoutError');
}

describe('frame fuzzing', () => {
  const network = new TestNetwork();
  let server: Libp2pTransport;
  let client: Libp2p;
  let connection: Connection;
  let handled = 0;
  let rssBefore = 0;

  beforeAll(async () => {
    server = await network.create({ maxMessageBytes: MAX_MESSAGE_BYTES, requestTimeoutMs: 5_000 });
    server.handle(async (message) => {
      handled++;
      return message.expectsResponse ? message.payload : undefined;
    });
    client = await createRawNode();
    network.members.add(client.peerId.toString());
    connection = await client.dial(multiaddr(server.addresses()[0]!));
    await waitFor('the server to list the fuzzing member', () => server.connectedPeers().includes(client.peerId.toString()));
    rssBefore = process.memoryUsage().rss;
  });

  afterAll(async () => {
    await client?.stop();
    await network.cleanup();
  });

  const send = (raw: Uint8Array): Promise<RawOutcome> => rawExchange(connection, SYNC_PROTOCOL, raw);

  it('answers a length prefix of 2^31 with TooLarge, without buffering it', async () => {
    const outcome = await send(concat(varint(2 ** 31), new Uint8Array(1024).fill(7)));
    expect(outcome).toMatchObject({ kind: 'response', status: ResponseStatus.TooLarge });
  });

  it('survives random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 2_048 }), async (raw) => {
        expectEnded(await send(raw));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('drops truncated frames without calling the handler', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(FrameKind.Request, FrameKind.OneWay),
        fc.uint8Array({ minLength: 1, maxLength: 4_096 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        async (kind, payload, cut) => {
          const whole = frame(kind, payload);
          const before = handled;
          const outcome = await send(whole.subarray(0, Math.floor(cut * whole.byteLength)));
          expect(outcome.kind).toBe('dropped');
          expectEnded(outcome);
          expect(handled).toBe(before);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('refuses every prefix announcing more than the limit, however long, with TooLarge', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MAX_MESSAGE_BYTES + 2, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 0, maxLength: 1_024 }),
        async (declared, tail) => {
          const before = handled;
          const outcome = await send(concat(varint(declared), tail));
          expect(outcome).toMatchObject({ kind: 'response', status: ResponseStatus.TooLarge });
          expect(handled).toBe(before);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('refuses a prefix that never ends (continuation bit on every byte)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 8, maxLength: 65_536 }).map((raw) => raw.map((b) => b | 0x80)), async (raw) => {
        const outcome = await send(raw);
        expect(outcome).toMatchObject({ kind: 'response', status: ResponseStatus.TooLarge });
      }),
      { seed: SEED, numRuns: RUNS / 4 },
    );
  });

  it('handles well-formed frames with random kinds and payloads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 8_192 }), async (kind, payload) => {
        const before = handled;
        const outcome = await send(frame(kind, payload));
        expectEnded(outcome);
        if (kind === FrameKind.Request) {
          expect(outcome).toMatchObject({ kind: 'response', status: ResponseStatus.Ok });
          expect(Buffer.from((outcome as { payload: Uint8Array }).payload).equals(Buffer.from(payload))).toBe(true);
          expect(handled).toBe(before + 1);
        } else if (kind === FrameKind.OneWay) {
          // Closed without a response frame once the handler has it.
          expect(outcome.kind).toBe('dropped');
          await waitFor('the one-way handler', () => handled === before + 1);
        } else if (kind === FrameKind.Session && payload.byteLength === 4 && new DataView(payload.buffer, payload.byteOffset).getUint32(0) > 0) {
          // A session hello is answered with the server's own limit.
          expect(outcome).toMatchObject({ kind: 'response', status: ResponseStatus.Ok });
          const reply = (outcome as { payload: Uint8Array }).payload;
          expect(new DataView(reply.buffer, reply.byteOffset, reply.byteLength).getUint32(0)).toBe(MAX_MESSAGE_BYTES);
          expect(handled).toBe(before);
        } else {
          expect(outcome.kind).toBe('dropped');
          expect(handled).toBe(before);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  /** Opens a session announcing `limit`, sends `frames`, and reads up to `expected` frames back. */
  async function session(
    limit: number,
    frames: Uint8Array[],
    expected: number,
    pipelined = false,
  ): Promise<{ replies: Array<{ header: number; id: number; payload: Uint8Array }>; ended: boolean }> {
    const signal = AbortSignal.timeout(10_000);
    const stream = await connection.newStream(SYNC_PROTOCOL, { signal });
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024, maxBufferSize: 1024 * 1024 + 16 });
    const hello = new Uint8Array(5);
    hello[0] = FrameKind.Session;
    new DataView(hello.buffer).setUint32(1, limit);
    await lp.write(hello, { signal });
    // Pipelined: the frames go right behind the hello, before its reply (as a requester does with small frames).
    if (pipelined) for (const f of frames) await lp.write(f, { signal });
    const helloReply = await lp.read({ signal });
    expect(helloReply.get(0)).toBe(ResponseStatus.Ok);
    if (!pipelined) for (const f of frames) await lp.write(f, { signal });
    const replies: Array<{ header: number; id: number; payload: Uint8Array }> = [];
    let ended = false;
    try {
      while (replies.length < expected) {
        const r = (await lp.read({ signal })).slice();
        replies.push({ header: r[0]!, id: new DataView(r.buffer, r.byteOffset).getUint32(1), payload: r.subarray(5) });
      }
      if (expected === 0) await lp.read({ signal }); // only an end can come
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw error;
      ended = true;
    }
    stream.abort(new Error('done'));
    return { replies, ended };
  }

  function sessionFrame(kind: number, id: number, payload: Uint8Array): Uint8Array {
    const body = new Uint8Array(5 + payload.byteLength);
    body[0] = kind;
    new DataView(body.buffer).setUint32(1, id);
    body.set(payload, 5);
    return body;
  }

  it('answers session requests by id, honours the requester\'s limit, acknowledges one-way messages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10_000 }),
        // Ids are unique among frames in flight, as a requester keeps them.
        fc.uniqueArray(fc.tuple(fc.constantFrom(FrameKind.Request, FrameKind.OneWay), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 8_192 })), {
          minLength: 1,
          maxLength: 6,
          selector: ([, id]) => id,
        }),
        fc.boolean(),
        async (limit, sent, pipelined) => {
          const before = handled;
          const { replies } = await session(limit, sent.map(([kind, id, payload]) => sessionFrame(kind, id, payload)), sent.length, pipelined);
          expect(replies).toHaveLength(sent.length);
          // One-way acks come in the order sent; responses are matched by id.
          const acks = replies.filter((r) => r.header === ResponseStatus.Delivered).map((r) => r.id);
          expect(acks).toEqual(sent.filter(([kind]) => kind === FrameKind.OneWay).map(([, id]) => id));
          for (const [, id, payload] of sent.filter(([kind]) => kind === FrameKind.Request)) {
            const reply = replies.find((r) => r.id === id && r.header !== ResponseStatus.Delivered)!;
            if (payload.byteLength > limit) {
              expect(reply.header).toBe(ResponseStatus.TooLarge);
            } else {
              expect(reply.header).toBe(ResponseStatus.Ok);
              expect(Buffer.from(reply.payload).equals(Buffer.from(payload))).toBe(true);
            }
          }
          expect(handled).toBe(before + sent.length);
        },
      ),
      { seed: SEED, numRuns: RUNS / 4 },
    );
  });

  it('ends a session at a malformed or oversized frame, without calling the handler', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.integer({ min: 0, max: 255 }).filter((k) => k !== FrameKind.Request && k !== FrameKind.OneWay), fc.uint8Array({ maxLength: 64 })).map(([kind, payload]) => sessionFrame(kind, 1, payload)),
          fc.uint8Array({ maxLength: 4 }), // shorter than a session header
          fc.constant(sessionFrame(FrameKind.Request, 1, new Uint8Array(MAX_MESSAGE_BYTES + 1))),
        ),
        async (body) => {
          const before = handled;
          const { replies, ended } = await session(1024, [body], 0);
          expect(replies).toHaveLength(0);
          expect(ended).toBe(true);
          expect(handled).toBe(before);
        },
      ),
      { seed: SEED, numRuns: RUNS / 4 },
    );
  });

  it('is still serving members afterwards, and never allocated what the prefixes announced', async () => {
    const member = await network.create();
    await network.connect(member, server);
    const reply = await member.request(server.localPeerId, bytes('after the storm'));
    expect(text(reply)).toBe('after the storm');
    expect(server.connectedPeers()).toContain(client.peerId.toString());
    const grownMb = (process.memoryUsage().rss - rssBefore) / (1024 * 1024);
    expect(grownMb).toBeLessThan(100);
  });
});
