import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { HttpTransport } from '../src/index.js';
import { TestNodes, bytes, text } from './helpers.js';
import { rawCall, rawKey, signedRequest, type RawKey, type WireFields } from './raw-http.js';

const HEADER_OF: Record<string, keyof WireFields | 'signature'> = {
  'x-hw-peer': 'from',
  'x-hw-kind': 'kind',
  'x-hw-timestamp': 'timestamp',
  'x-hw-nonce': 'nonce',
  'x-hw-content-sha256': 'contentSha256',
  'x-hw-signature': 'signature',
};
const HEADER_NAMES = Object.keys(HEADER_OF);
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Header values a client can send (visible ASCII and space). */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 120 });

/** How one valid signed request is damaged. Every mutation must make it invalid. */
type Mutation =
  | { type: 'flip-body-bit'; index: number; bit: number }
  | { type: 'append-body'; extra: Uint8Array }
  | { type: 'replace-char'; header: string; index: number; shift: number }
  | { type: 'set-header'; header: string; value: string }
  | { type: 'drop-header'; header: string }
  | { type: 'shift-timestamp'; deltaMs: number }
  | { type: 'other-peer'; which: 'member' | 'stranger' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ type: fc.constant('flip-body-bit' as const), index: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ type: fc.constant('append-body' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ type: fc.constant('replace-char' as const), header: fc.constantFrom(...HEADER_NAMES), index: fc.nat(), shift: fc.integer({ min: 1, max: 63 }) }),
  fc.record({ type: fc.constant('set-header' as const), header: fc.constantFrom(...HEADER_NAMES), value: headerValue }),
  fc.record({ type: fc.constant('drop-header' as const), header: fc.constantFrom(...HEADER_NAMES) }),
  fc.record({ type: fc.constant('shift-timestamp' as const), deltaMs: fc.integer({ min: -10_000_000, max: 10_000_000 }).filter((d) => d !== 0) }),
  fc.record({ type: fc.constant('other-peer' as const), which: fc.constantFrom('member' as const, 'stranger' as const) }),
);

/** Replaces one character by another one (of the base64url alphabet when it is one, else any digit). */
function replaceChar(value: string, index: number, shift: number): string {
  if (value.length === 0) return 'x';
  const i = index % value.length;
  const c = value[i]!;
  const pos = B64URL.indexOf(c);
  const replacement = pos >= 0 ? B64URL[(pos + shift) % 64]! : c === '0' ? '1' : '0';
  return value.slice(0, i) + replacement + value.slice(i + 1);
}

describe('HTTP transport fuzzing of signed requests', () => {
  let nodes: TestNodes;
  let server: HttpTransport;
  let member: RawKey;
  let otherMember: RawKey;
  let stranger: RawKey;
  let handled = 0;

  beforeAll(async () => {
    nodes = new TestNodes();
    member = rawKey(nodes.keyPath());
    otherMember = rawKey(nodes.keyPath());
    stranger = rawKey(nodes.keyPath());
    server = await nodes.create({ maxBodyBytes: 4096 });
    for (const m of [member, otherMember]) server.addPeer({ peerId: m.peerId, publicKey: m.publicKey, url: 'http://127.0.0.1:9' });
    server.handle(async (m) => {
      handled++;
      return m.expectsResponse ? bytes(`ok:${text(m.payload)}`) : undefined;
    });
  });

  afterAll(async () => nodes.cleanup());

  it('answers every damaged request with a 4xx, never calls the handler, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 2048 }),
        fc.constantFrom('request', 'send'),
        mutation,
        async (body, kind, m) => {
          const { headers } = signedRequest({ key: member, to: server.localPeerId, session: server.session, body, kind });
          let sentBody = body;
          const sent = { ...headers };
          switch (m.type) {
            case 'flip-body-bit': {
              sentBody = new Uint8Array(body);
              sentBody[m.index % body.length]! ^= 1 << m.bit;
              break;
            }
            case 'append-body':
              sentBody = new Uint8Array([...body, ...m.extra]);
              break;
            case 'replace-char':
              sent[m.header] = replaceChar(headers[m.header]!, m.index, m.shift);
              break;
            case 'set-header':
              // The server trims header values; a value that trims back to the original is no mutation.
              fc.pre(m.value.trim() !== headers[m.header]);
              sent[m.header] = m.value;
              break;
            case 'drop-header':
              delete sent[m.header];
              break;
            case 'shift-timestamp':
              sent['x-hw-timestamp'] = String(Number(headers['x-hw-timestamp']) + m.deltaMs);
              break;
            case 'other-peer':
              sent['x-hw-peer'] = (m.which === 'member' ? otherMember : stranger).peerId;
              break;
          }
          const before = handled;
          const res = await rawCall(server.url, { headers: sent, body: sentBody });
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(handled).toBe(before);
        },
      ),
      { seed: 20_240_601, numRuns: 300 },
    );
    expect(handled).toBe(0);
    // Still serving, and the fuzzing did not poison the nonce cache for fresh requests.
    const body = bytes('after the storm');
    const res = await rawCall(server.url, { headers: signedRequest({ key: member, to: server.localPeerId, session: server.session, body }).headers, body });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok:after the storm');
    expect(handled).toBe(1);
  });

  it('answers random x-hw-* headers and bodies with a 4xx and never calls the handler', async () => {
    const before = handled;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...HEADER_NAMES), headerValue),
        fc.uint8Array({ maxLength: 8192 }),
        async (headers, body) => {
          const res = await rawCall(server.url, { headers, body });
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
        },
      ),
      { seed: 7_654_321, numRuns: 200 },
    );
    expect(handled).toBe(before);
    const body = bytes('still fine');
    expect((await rawCall(server.url, { headers: signedRequest({ key: member, to: server.localPeerId, session: server.session, body }).headers, body })).status).toBe(200);
  });

  it('keeps a nonce replay refused even when the other fields are re-signed by another member', async () => {
    // Nonces are per member: another member may use the same nonce value, but the same member may not.
    const body = bytes('n');
    const nonce = 'DDDDDDDDDDDDDDDDDDDDDA';
    expect((await rawCall(server.url, { headers: signedRequest({ key: member, to: server.localPeerId, session: server.session, body, nonce }).headers, body })).status).toBe(200);
    expect((await rawCall(server.url, { headers: signedRequest({ key: otherMember, to: server.localPeerId, session: server.session, body, nonce }).headers, body })).status).toBe(200);
    expect((await rawCall(server.url, { headers: signedRequest({ key: member, to: server.localPeerId, session: server.session, body, nonce }).headers, body })).status).toBe(401);
  });
});
