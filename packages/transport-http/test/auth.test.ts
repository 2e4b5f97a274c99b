import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransportError } from '@highwater/core';
import type { HttpTransport } from '../src/index.js';
import { TestNodes, bytes, text, waitFor, closeServer } from './helpers.js';
import {
  headersOf,
  rawCall,
  rawKey,
  responseIsSigned,
  sha256,
  signatureOf,
  signedRequest,
  streamUntilAnswered,
  type RawKey,
} from './raw-http.js';

const MAX_BODY = 64 * 1024;

describe('HTTP transport authentication and limits (raw HTTP client)', () => {
  let nodes: TestNodes;
  let server: HttpTransport;
  let member: RawKey;
  let handled: string[];

  beforeEach(async () => {
    nodes = new TestNodes();
    member = rawKey(nodes.keyPath());
    server = await nodes.create({ maxBodyBytes: MAX_BODY });
    // The member has no server of its own here; the server's heartbeats to it just fail.
    server.addPeer({ peerId: member.peerId, publicKey: member.publicKey, url: 'http://127.0.0.1:9' });
    handled = [];
    server.handle(async (m) => {
      handled.push(text(m.payload));
      return m.expectsResponse ? bytes(`ok:${m.from}`) : undefined;
    });
  });

  afterEach(async () => {
    await nodes.cleanup();
  });

  const valid = (body: Uint8Array, extra: Partial<Parameters<typeof signedRequest>[0]> = {}) =>
    signedRequest({ key: member, to: server.localPeerId, session: server.session, body, ...extra });

  it('answers a correctly signed request with a response signed by the server', async () => {
    const body = bytes('hello');
    const { headers, fields } = valid(body);
    const res = await rawCall(server.url, { headers, body });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`ok:${member.peerId}`);
    expect(handled).toEqual(['hello']);
    const { publicKey } = server.publicIdentity;
    const check = { signerId: server.localPeerId, signerPublicKey: publicKey, to: member.peerId, method: 'POST', path: '/highwater/v1/message', status: 200 };
    expect(responseIsSigned(res.headers, res.body, { ...check, requestNonce: fields.nonce })).toBe(true);
    // Bound to its request: the same response does not verify as the answer to another nonce.
    expect(responseIsSigned(res.headers, res.body, { ...check, requestNonce: 'AAAAAAAAAAAAAAAAAAAAAA' })).toBe(false);
  });

  it('refuses an unsigned request with 401 HW_UNAUTHORIZED and never calls the handler', async () => {
    const res = await rawCall(server.url, { body: bytes('unsigned') });
    expect(res.status).toBe(401);
    expect(res.code).toBe('HW_UNAUTHORIZED');
    expect(handled).toEqual([]);
  });

  it('refuses a bad signature', async () => {
    const body = bytes('forged');
    const { fields } = valid(body);
    const other = rawKey(nodes.keyPath());
    // Well-formed, but made with a key that is not the member's.
    const res = await rawCall(server.url, { headers: headersOf(fields, signatureOf(fields, other.privateKey)), body });
    expect(res.status).toBe(401);
    expect(res.code).toBe('HW_UNAUTHORIZED');
    expect(handled).toEqual([]);
  });

  it('refuses a signature in a non-canonical base64url spelling', async () => {
    const body = bytes('same signature, other spelling');
    const { headers } = valid(body);
    const signature = headers['x-hw-signature']!;
    // 64 bytes in 86 characters leave 4 spare bits in the last one: flipping one decodes to the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(signature.at(-1)!);
    const respelled = signature.slice(0, -1) + alphabet[last ^ 1]!;
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(signature, 'base64url'))).toBe(true);
    const res = await rawCall(server.url, { headers: { ...headers, 'x-hw-signature': respelled }, body });
    expect(res.status).toBe(401);
    expect(handled).toEqual([]);
  });

  it('refuses a replayed request (same nonce) the second time', async () => {
    const body = bytes('once');
    const { headers } = valid(body);
    expect((await rawCall(server.url, { headers, body })).status).toBe(200);
    const replay = await rawCall(server.url, { headers, body });
    expect(replay.status).toBe(401);
    expect(replay.code).toBe('HW_UNAUTHORIZED');
    expect(handled).toEqual(['once']);
  });

  it('refuses a call captured before the node restarted: its session is gone, though its nonce is forgotten', async () => {
    const body = bytes('pay once');
    const captured = valid(body).headers;
    expect((await rawCall(server.url, { headers: captured, body })).status).toBe(200);
    const before = server.session;
    // A new process on the same key and port: nothing of the old one's memory survives.
    const port = new URL(server.url).port;
    const keyPath = nodes.keyPathOf(server);
    await server.stop();
    const restarted = await nodes.create({ keyPath, listen: { host: '127.0.0.1', port: Number(port) }, maxBodyBytes: MAX_BODY });
    restarted.addPeer({ peerId: member.peerId, publicKey: member.publicKey, url: 'http://127.0.0.1:9' });
    restarted.handle(async (m) => {
      handled.push(text(m.payload));
      return bytes('ok');
    });
    expect(restarted.localPeerId).toBe(server.localPeerId);
    expect(restarted.session).not.toBe(before);

    const replay = await rawCall(restarted.url, { headers: captured, body });
    expect(replay.status).toBe(401);
    expect(replay.code).toBe('HW_STALE_SESSION');
    expect(replay.headers['x-hw-session']).toBe(restarted.session);
    expect(handled).toEqual(['pay once']);
    // The member, told the new session, signs for it and is served.
    const fresh = signedRequest({ key: member, to: restarted.localPeerId, session: String(replay.headers['x-hw-session']), body: bytes('again') });
    expect((await rawCall(restarted.url, { headers: fresh.headers, body: bytes('again') })).status).toBe(200);
    expect(handled).toEqual(['pay once', 'again']);
  });

  it('refuses a call that names no session or another one, before reading its body; a ping too', async () => {
    const body = bytes('who are you');
    for (const session of ['', 'AAAAAAAAAAAAAAAAAAAAAA']) {
      const res = await rawCall(server.url, { headers: valid(body, { session }).headers, body });
      expect(res.status).toBe(401);
      expect(res.code).toBe('HW_STALE_SESSION');
      expect(res.headers['x-hw-session']).toBe(server.session);
    }
    const ping = signedRequest({ key: member, to: server.localPeerId, session: '', kind: 'ping', method: 'GET', path: '/highwater/v1/ping' });
    expect((await rawCall(server.url, { method: 'GET', path: '/highwater/v1/ping', headers: ping.headers })).code).toBe('HW_STALE_SESSION');
    // A session header that is not a session id is malformed, like any other x-hw-* header.
    const malformed = await rawCall(server.url, { headers: { ...valid(body).headers, 'x-hw-session': 'not a session' }, body });
    expect(malformed.status).toBe(401);
    expect(malformed.code).toBe('HW_UNAUTHORIZED');
    expect(handled).toEqual([]);
  });

  it('refuses a timestamp outside the replay window, in the past or the future', async () => {
    const body = bytes('stale');
    for (const offset of [-61_000, 61_000]) {
      const { headers } = valid(body, { timestamp: Date.now() + offset });
      const res = await rawCall(server.url, { headers, body });
      expect(res.status).toBe(401);
      expect(res.code).toBe('HW_UNAUTHORIZED');
    }
    expect(handled).toEqual([]);
  });

  it('refuses a correctly signed request from a key that is not a member', async () => {
    const stranger = rawKey(nodes.keyPath());
    const body = bytes('let me in');
    const { headers } = signedRequest({ key: stranger, to: server.localPeerId, session: server.session, body });
    const res = await rawCall(server.url, { headers, body });
    expect(res.status).toBe(401);
    expect(res.code).toBe('HW_UNAUTHORIZED');
    expect(handled).toEqual([]);
  });

  it('refuses a request signed for another recipient (no cross-member replay)', async () => {
    const other = rawKey(nodes.keyPath());
    const body = bytes('for someone else');
    const { headers } = signedRequest({ key: member, to: other.peerId, session: server.session, body });
    const res = await rawCall(server.url, { headers, body });
    expect(res.status).toBe(401);
    expect(handled).toEqual([]);
  });

  it('refuses a body whose bytes do not match the signed digest', async () => {
    const { headers } = valid(bytes('original'));
    const res = await rawCall(server.url, { headers, body: bytes('tampered') });
    expect(res.status).toBe(401);
    expect(handled).toEqual([]);
  });

  it('refuses a declared Content-Length over maxBodyBytes with 413, then keeps serving', async () => {
    const big = new Uint8Array(MAX_BODY + 1);
    const { headers } = valid(big);
    const res = await rawCall(server.url, { headers, body: big });
    expect(res.status).toBe(413);
    expect(res.code).toBe('HW_FRAME_TOO_LARGE');
    expect(handled).toEqual([]);
    const body = bytes('still here');
    expect((await rawCall(server.url, { headers: valid(body).headers, body })).status).toBe(200);
  });

  it('stops reading a chunked body as soon as it passes maxBodyBytes (413), then keeps serving', async () => {
    const chunk = new Uint8Array(16 * 1024).fill(7);
    const maxChunks = 1024; // 16 MiB if the server read it all
    const whole = Buffer.alloc(chunk.byteLength * maxChunks, 7);
    const { headers } = valid(whole);
    const { status, bytesWritten } = await streamUntilAnswered(server.url, { ...headers, 'content-type': 'application/octet-stream' }, chunk, maxChunks);
    expect(status).toBe(413);
    // The answer came long before the whole body was offered: the server did not wait for it.
    expect(bytesWritten).toBeLessThan(whole.byteLength);
    expect(handled).toEqual([]);
    const body = bytes('still here');
    expect((await rawCall(server.url, { headers: valid(body).headers, body })).status).toBe(200);
  });

  it('rejects the wrong endpoint and method without calling the handler', async () => {
    const body = bytes('x');
    expect((await rawCall(server.url, { path: '/elsewhere', headers: valid(body).headers, body })).status).toBe(404);
    expect((await rawCall(server.url, { method: 'PUT', headers: valid(body, { method: 'PUT' }).headers, body })).status).toBe(405);
    // A ping signature does not open the message endpoint.
    expect((await rawCall(server.url, { headers: valid(body, { kind: 'ping' }).headers, body })).status).toBe(401);
    expect(handled).toEqual([]);
  });

  it('answers a signed ping with a signed 204', async () => {
    const { headers, fields } = signedRequest({ key: member, to: server.localPeerId, session: server.session, kind: 'ping', method: 'GET', path: '/highwater/v1/ping' });
    const res = await rawCall(server.url, { method: 'GET', path: '/highwater/v1/ping', headers });
    expect(res.status).toBe(204);
    const check = { signerId: server.localPeerId, signerPublicKey: server.publicIdentity.publicKey, to: member.peerId, method: 'GET', path: '/highwater/v1/ping', status: 204 };
    expect(responseIsSigned(res.headers, new Uint8Array(0), { ...check, requestNonce: fields.nonce })).toBe(true);
  });
});

describe('HTTP transport: the client verifies who answers', () => {
  let nodes: TestNodes;
  let fake: Server | undefined;

  beforeEach(() => {
    nodes = new TestNodes();
  });

  afterEach(async () => {
    const server = fake;
    fake = undefined;
    await closeServer(server);
    await nodes.cleanup();
  });

  /**
   * A server at the url configured for `real`. It signs pings with `pingKey` and message
   * responses with `messageKey`; the x-hw-peer header always claims to be `real`.
   */
  async function impostor(real: RawKey, pingKey: RawKey, messageKey: RawKey, seen: { pings: number; messages: number }): Promise<string> {
    fake = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const isPing = req.url === '/highwater/v1/ping';
        if (isPing) seen.pings++;
        else seen.messages++;
        const status = isPing ? 204 : 200;
        const body = isPing ? new Uint8Array(0) : bytes('trust me');
        const fields = {
          kind: 'response',
          method: req.method ?? '',
          path: req.url ?? '',
          from: real.peerId,
          to: String(req.headers['x-hw-peer']),
          timestamp: String(Date.now()),
          session: 'DDDDDDDDDDDDDDDDDDDDDA', // the answerer's session, as a real node sends it
          nonce: 'BBBBBBBBBBBBBBBBBBBBBA',
          contentSha256: sha256(body),
          status: String(status),
          inReplyTo: String(req.headers['x-hw-nonce']),
        };
        res.writeHead(status, headersOf(fields, signatureOf(fields, (isPing ? pingKey : messageKey).privateKey)));
        res.end(isPing ? undefined : body);
      });
    });
    await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(fake!.address() as AddressInfo).port}`;
  }

  it('rejects a response signed with the wrong key with HW_UNAUTHORIZED', async () => {
    const real = rawKey(nodes.keyPath());
    const wrong = rawKey(nodes.keyPath());
    const seen = { pings: 0, messages: 0 };
    const url = await impostor(real, real, wrong, seen);
    const client = await nodes.create();
    client.addPeer({ peerId: real.peerId, publicKey: real.publicKey, url });
    await waitFor(() => client.connectedPeers().includes(real.peerId), 'the correctly signed heartbeat to connect');
    const error = await client.request(real.peerId, bytes('hello')).catch((e: unknown) => e);
    expect(seen.messages).toBe(1);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('HW_UNAUTHORIZED');
  });

  it('never reports a server that cannot sign as the peer as connected', async () => {
    const real = rawKey(nodes.keyPath());
    const wrong = rawKey(nodes.keyPath());
    const seen = { pings: 0, messages: 0 };
    const url = await impostor(real, wrong, wrong, seen);
    const client = await nodes.create();
    client.addPeer({ peerId: real.peerId, publicKey: real.publicKey, url });
    await waitFor(() => seen.pings >= 3, 'three heartbeats to reach the impostor');
    expect(client.connectedPeers()).not.toContain(real.peerId);
    await expect(client.request(real.peerId, bytes('hello'))).rejects.toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    expect(seen.messages).toBe(0);
  });
});
