import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DeviceKey, PAIRING_MAX_BYTES, type PairingHandler, type PeerEvent } from '@highwater/core';
import { createHttpTransport, HttpTransportConfigError, HttpTransportError, MAX_CONCURRENT_PAIRINGS, PAIR_PATH, type HttpTransport } from '../src/index.js';
import { TestNodes, bytes, text, waitFor, closeServer } from './helpers.js';
import { rawCall, rawKey, signedRequest } from './raw-http.js';

/** Every byte value, so an answer that is re-encoded anywhere on the way shows. */
const allBytes = (length: number, seed = 0): Uint8Array => new Uint8Array(length).map((_, i) => (i * 7 + seed) & 0xff);

/** A pairing handler that records what it saw and answers with fixed bytes (or what `answer` makes). */
function recordingHandler(answer: (payload: Uint8Array) => Uint8Array | Promise<Uint8Array>): { handler: PairingHandler; seen: Uint8Array[] } {
  const seen: Uint8Array[] = [];
  return {
    seen,
    handler: async (payload) => {
      seen.push(Uint8Array.from(payload));
      return answer(payload);
    },
  };
}

/** A chunked POST (no Content-Length) of `total` bytes to the pairing endpoint; resolves with the status once answered. */
function streamPairing(baseUrl: string, total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(new URL(PAIR_PATH, baseUrl), { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    // Once answered, the server closes the connection: a reset while writing is expected then.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = new Uint8Array(8 * 1024);
    let written = 0;
    const next = (): void => {
      if (answered || req.destroyed) return;
      if (written >= total) {
        req.end();
        return;
      }
      written += chunk.byteLength;
      req.write(chunk, () => setImmediate(next));
    };
    next();
  });
}

describe('pairing over HTTP (acceptPairing, pair, listenAddresses, reach)', () => {
  let nodes: TestNodes;
  let fake: Server | undefined;
  const keyInviter = DeviceKey.generate();

  beforeEach(() => {
    nodes = new TestNodes();
  });

  afterEach(async () => {
    const server = fake;
    fake = undefined;
    await closeServer(server);
    await nodes.cleanup();
  });

  /** An inviter whose library holds only itself, with an inbound handler and peer events that count what reaches them. */
  async function inviterNode(): Promise<{ inviter: HttpTransport; inbound: string[]; events: PeerEvent[] }> {
    const inviter = await nodes.create({ deviceKey: keyInviter });
    inviter.setMembers([keyInviter.publicKey]);
    const inbound: string[] = [];
    inviter.handle(async (m) => {
      inbound.push(m.from);
      return m.expectsResponse ? bytes(`inviter got ${text(m.payload)}`) : undefined;
    });
    const events: PeerEvent[] = [];
    inviter.peers$.subscribe((e) => events.push(e));
    return { inviter, inbound, events };
  }

  it('a non-member joiner pairs with an inviter whose door is open: each side gets exactly the other\'s bytes, and nothing else changes', async () => {
    const { inviter, inbound, events } = await inviterNode();
    const joiner = await nodes.create();
    const request = allBytes(1_000);
    const answer = allBytes(700, 3);
    const { handler, seen } = recordingHandler(() => answer);
    inviter.acceptPairing(handler);

    const got = await joiner.pair(inviter.listenAddresses()[0]!, keyInviter.publicKey, request);

    expect(Buffer.from(got).equals(Buffer.from(answer))).toBe(true);
    expect(seen).toHaveLength(1);
    expect(Buffer.from(seen[0]!).equals(Buffer.from(request))).toBe(true);
    // A pairing is no membership: no peer, no event, no inbound message on either side.
    expect(inviter.peers()).toEqual([]);
    expect(inviter.connectedPeers()).toEqual([]);
    expect(joiner.peers()).toEqual([]);
    expect(events).toEqual([]);
    expect(inbound).toEqual([]);
    // The largest payload and answer the port allows cross too.
    inviter.acceptPairing(async (payload) => payload);
    const largest = allBytes(PAIRING_MAX_BYTES, 5);
    expect(Buffer.from(await joiner.pair(inviter.url, keyInviter.publicKey, largest)).equals(Buffer.from(largest))).toBe(true);
  });

  it('keeps the path prefix of the inviter\'s url (a reverse proxy that strips it)', async () => {
    const joiner = await nodes.create();
    const paths: string[] = [];
    fake = createServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from('proxied')));
    });
    await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/hw/`;
    expect(text(await joiner.pair(base, keyInviter.publicKey, bytes('hello')))).toBe('proxied');
    expect(paths).toEqual([`POST /hw${PAIR_PATH}`]);
  });

  it('refuses while no door is open — never opened, and closed again — without calling the handler', async () => {
    const { inviter } = await inviterNode();
    const joiner = await nodes.create();
    const closedDoor = { code: 'HW_PEER_UNREACHABLE', status: 404, remoteCode: 'HW_NOT_FOUND' };

    const never = await joiner.pair(inviter.url, keyInviter.publicKey, bytes('anyone?')).catch((e: unknown) => e);
    expect(never).toBeInstanceOf(HttpTransportError);
    expect(never).toMatchObject(closedDoor);
    expect((never as Error).message).toMatch(/not accepting pairings/);

    const { handler, seen } = recordingHandler(() => bytes('welcome'));
    inviter.acceptPairing(handler);
    expect(text(await joiner.pair(inviter.url, keyInviter.publicKey, bytes('first')))).toBe('welcome');
    inviter.acceptPairing(null);
    await expect(joiner.pair(inviter.url, keyInviter.publicKey, bytes('second'))).rejects.toMatchObject(closedDoor);
    const raw = await rawCall(inviter.url, { path: PAIR_PATH, body: bytes('raw') });
    expect([raw.status, raw.code]).toEqual([404, 'HW_NOT_FOUND']);
    expect(seen.map(text)).toEqual(['first']);
  });

  it('closing the door hangs up a pairing request whose body is still arriving, without calling the handler', async () => {
    const { inviter } = await inviterNode();
    const { handler, seen } = recordingHandler(() => bytes('too late'));
    inviter.acceptPairing(handler);
    let status: number | undefined;
    const req = request(
      new URL(PAIR_PATH, inviter.url),
      { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': '100' } },
      (res) => {
        status = res.statusCode;
        res.resume();
      },
    );
    req.on('error', () => undefined);
    // 10 of the 100 announced bytes: the inviter waits for the rest.
    req.write(new Uint8Array(10));
    // Closed and opened again in one go, so the door is open whenever the request arrives:
    // only hanging up the body that is still arriving can answer it.
    await waitFor(() => {
      inviter.acceptPairing(null);
      inviter.acceptPairing(handler);
      return status !== undefined;
    }, 'the half-sent pairing request to be hung up');
    req.destroy();
    expect(status).toBe(404);
    expect(seen).toEqual([]);
  });

  it('leaves the joiner a non-member: its signed sync calls are refused (401) and never reach the inviter\'s handler', async () => {
    const { inviter, inbound, events } = await inviterNode();
    const joinerKeyPath = nodes.keyPath();
    const joinerKey = rawKey(joinerKeyPath);
    const joiner = await nodes.create({ keyPath: joinerKeyPath });
    inviter.acceptPairing(async () => bytes('paired'));
    expect(text(await joiner.pair(inviter.url, keyInviter.publicKey, bytes('join')))).toBe('paired');

    // A correctly signed request with the joiner's own key, for the inviter's current session.
    const body = bytes('sync please');
    const { headers } = signedRequest({ key: joinerKey, to: inviter.localPeerId, session: inviter.session, body });
    const refused = await rawCall(inviter.url, { headers, body });
    expect([refused.status, refused.code]).toEqual([401, 'HW_UNAUTHORIZED']);
    // A signed ping neither.
    const ping = signedRequest({ key: joinerKey, to: inviter.localPeerId, session: inviter.session, kind: 'ping', method: 'GET', path: '/highwater/v1/ping' });
    expect((await rawCall(inviter.url, { method: 'GET', path: '/highwater/v1/ping', headers: ping.headers })).status).toBe(401);
    // Through the transport too: the joiner can configure the inviter, but the inviter never answers it as a member.
    joiner.addPeer({ publicKey: keyInviter.publicKey, url: inviter.url });
    await expect(joiner.request(inviter.localPeerId, bytes('hi'))).rejects.toBeInstanceOf(HttpTransportError);
    expect(inbound).toEqual([]);
    expect(inviter.peers()).toEqual([]);
    expect(events).toEqual([]);
  });

  it('bounds the body by PAIRING_MAX_BYTES: the joiner refuses before sending, the inviter answers 413 without calling the handler', async () => {
    const { inviter } = await inviterNode();
    const joiner = await nodes.create();
    const { handler, seen } = recordingHandler(() => bytes('ok'));
    inviter.acceptPairing(handler);

    const tooLarge = new Uint8Array(PAIRING_MAX_BYTES + 1);
    const error = await joiner.pair(inviter.url, keyInviter.publicKey, tooLarge).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect(error).toMatchObject({ code: 'HW_FRAME_TOO_LARGE', status: undefined });

    // Announced by Content-Length: refused before a byte is read.
    const raw = await rawCall(inviter.url, { path: PAIR_PATH, body: tooLarge });
    expect([raw.status, raw.code]).toEqual([413, 'HW_FRAME_TOO_LARGE']);
    // Chunked, without a length: refused once it passes the limit.
    expect(await streamPairing(inviter.url, PAIRING_MAX_BYTES + 16 * 1024)).toBe(413);
    expect(seen).toEqual([]);

    // An answer over the limit is refused by the inviter (500 HW_RESPONSE_TOO_LARGE), typed for the joiner.
    inviter.acceptPairing(async () => new Uint8Array(PAIRING_MAX_BYTES + 1));
    await expect(joiner.pair(inviter.url, keyInviter.publicKey, bytes('big answer?'))).rejects.toMatchObject({
      code: 'HW_FRAME_TOO_LARGE',
      status: 500,
      remoteCode: 'HW_RESPONSE_TOO_LARGE',
    });
    // And the joiner reads no more than the limit from a server that sends it anyway.
    fake = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.alloc(PAIRING_MAX_BYTES + 1));
    });
    await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
    await expect(joiner.pair(`http://127.0.0.1:${(fake.address() as AddressInfo).port}`, keyInviter.publicKey, bytes('x'))).rejects.toMatchObject({
      code: 'HW_FRAME_TOO_LARGE',
      status: 200,
    });

    // The inviter keeps serving.
    inviter.acceptPairing(handler);
    expect(text(await joiner.pair(inviter.url, keyInviter.publicKey, bytes('small')))).toBe('ok');
    expect(seen.map(text)).toEqual(['small']);
  });

  it('answers another method with 405, and a handler that throws with a typed 500 while the inviter keeps serving', async () => {
    const { inviter } = await inviterNode();
    const joiner = await nodes.create();
    const { handler, seen } = recordingHandler(() => bytes('ok'));
    inviter.acceptPairing(handler);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await rawCall(inviter.url, { method, path: PAIR_PATH, body: bytes('x') });
      expect([method, res.status, res.code]).toEqual([method, 405, 'HW_METHOD_NOT_ALLOWED']);
    }
    expect(seen).toEqual([]);

    let calls = 0;
    inviter.acceptPairing(async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('secret internals'), { code: 'HW_SOMETHING_BROKE' });
      return bytes('second time lucky');
    });
    const error = await joiner.pair(inviter.url, keyInviter.publicKey, bytes('one')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect(error).toMatchObject({ code: 'HW_PEER_UNREACHABLE', status: 500, remoteCode: 'HW_HANDLER_FAILED' });
    expect((error as Error).message).toMatch(/HW_SOMETHING_BROKE/);
    // A stranger learns that it failed, not how.
    expect((error as Error).message).not.toMatch(/secret internals/);
    expect(text(await joiner.pair(inviter.url, keyInviter.publicKey, bytes('two')))).toBe('second time lucky');
    expect(calls).toBe(2);
  });

  it(`serves at most ${MAX_CONCURRENT_PAIRINGS} pairings at once (503 beyond), then serves again`, async () => {
    const { inviter } = await inviterNode();
    const joiner = await nodes.create();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    inviter.acceptPairing(async (payload) => {
      started++;
      await released;
      return payload;
    });
    const waiting = Array.from({ length: MAX_CONCURRENT_PAIRINGS }, (_, i) => joiner.pair(inviter.url, keyInviter.publicKey, bytes(`p${i}`)));
    await waitFor(() => started === MAX_CONCURRENT_PAIRINGS, 'every admitted pairing to reach the handler');
    await expect(joiner.pair(inviter.url, keyInviter.publicKey, bytes('one too many'))).rejects.toMatchObject({
      code: 'HW_PEER_UNREACHABLE',
      status: 503,
      remoteCode: 'HW_PAIRING_BUSY',
    });
    // Closing the door meanwhile does not lose the answers the handler is working on.
    inviter.acceptPairing(null);
    release();
    expect((await Promise.all(waiting)).map(text)).toEqual(Array.from({ length: MAX_CONCURRENT_PAIRINGS }, (_, i) => `p${i}`));
    expect(started).toBe(MAX_CONCURRENT_PAIRINGS);
    inviter.acceptPairing(async () => bytes('free again'));
    expect(text(await joiner.pair(inviter.url, keyInviter.publicKey, bytes('later')))).toBe('free again');
  });

  it('reach: the inviter adds the joiner it listed as a member, the joiner the inviter, and they exchange requests', async () => {
    const { inviter, inbound } = await inviterNode();
    const keyJoiner = DeviceKey.generate();
    const joiner = await nodes.create({ deviceKey: keyJoiner });
    joiner.handle(async (m) => (m.expectsResponse ? bytes(`joiner got ${text(m.payload)}`) : undefined));

    // Not listed yet: refused as addPeer refuses it; no address: nothing to do.
    await expect(inviter.reach(keyJoiner.publicKey, joiner.listenAddresses())).rejects.toBeInstanceOf(HttpTransportConfigError);
    await expect(inviter.reach(keyJoiner.publicKey, [])).resolves.toBeUndefined();
    expect(inviter.peers()).toEqual([]);

    inviter.setMembers([keyInviter.publicKey, keyJoiner.publicKey]);
    // A non-http address (another transport's) is skipped.
    await inviter.reach(keyJoiner.publicKey, ['/ip4/127.0.0.1/tcp/1', ...joiner.listenAddresses()]);
    expect(inviter.peers()).toEqual([{ peerId: joiner.localPeerId, publicKey: keyJoiner.publicKey, url: joiner.url }]);
    await joiner.reach(keyInviter.publicKey, inviter.listenAddresses());
    await waitFor(
      () => inviter.connectedPeers().includes(joiner.localPeerId) && joiner.connectedPeers().includes(inviter.localPeerId),
      'inviter and joiner to see each other',
    );
    expect(text(await joiner.request(inviter.localPeerId, bytes('hello')))).toBe('inviter got hello');
    expect(text(await inviter.request(joiner.localPeerId, bytes('welcome')))).toBe('joiner got welcome');
    expect(inbound).toEqual([joiner.localPeerId]);

    // Reaching it again at the same url changes nothing (it stays connected).
    const events: PeerEvent[] = [];
    const sub = inviter.peers$.subscribe((e) => events.push(e));
    await inviter.reach(keyJoiner.publicKey, joiner.listenAddresses());
    sub.unsubscribe();
    expect(events).toEqual([]);
    expect(inviter.connectedPeers()).toEqual([joiner.localPeerId]);
    await expect(inviter.reach(keyJoiner.publicKey, ['/ip4/127.0.0.1/tcp/1'])).rejects.toBeInstanceOf(HttpTransportConfigError);
  });

  it('listenAddresses is publicUrl when one is given (behind a proxy or NAT); a bad one is a config error', async () => {
    const proxied = await nodes.create({ publicUrl: 'https://sync.example.org/hw/' });
    expect(proxied.listenAddresses()).toEqual(['https://sync.example.org/hw']);
    await proxied.stop();
    expect(proxied.listenAddresses()).toEqual([]);
    for (const publicUrl of ['not a url', 'ftp://example.org', 'https://example.org/?q=1', 'https://u:p@example.org']) {
      expect(() => createHttpTransport({ deviceKey: DeviceKey.generate(), publicUrl })).toThrow(HttpTransportConfigError);
    }
  });

  it('listenAddresses is the base url while running and empty when stopped; pair checks its inputs and fails typed', async () => {
    const { inviter } = await inviterNode();
    inviter.acceptPairing(async () => bytes('ok'));
    const joiner = await nodes.create();
    expect(inviter.listenAddresses()).toEqual([inviter.url]);

    for (const url of ['not a url', 'ftp://127.0.0.1/', `${inviter.url}/?q=1`, 'http://user:pw@127.0.0.1:1/']) {
      await expect(joiner.pair(url, keyInviter.publicKey, bytes('x'))).rejects.toBeInstanceOf(HttpTransportConfigError);
    }
    await expect(joiner.pair(inviter.url, 'not a key', bytes('x'))).rejects.toBeInstanceOf(HttpTransportConfigError);
    const aborted = new AbortController();
    aborted.abort(new Error('changed my mind'));
    await expect(joiner.pair(inviter.url, keyInviter.publicKey, bytes('x'), { signal: aborted.signal })).rejects.toThrow('changed my mind');

    // Nobody listening there any more: a network failure.
    const url = inviter.url;
    await inviter.stop();
    expect(inviter.listenAddresses()).toEqual([]);
    const gone = await joiner.pair(url, keyInviter.publicKey, bytes('x')).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(HttpTransportError);
    expect(gone).toMatchObject({ code: 'HW_PEER_UNREACHABLE', isNetworkFailure: true });

    // A stopped joiner does not pair; a stop while pairing fails the exchange.
    await joiner.stop();
    await expect(joiner.pair(url, keyInviter.publicKey, bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
    await joiner.start();
    await inviter.start();
    let arrived!: () => void;
    const inHandler = new Promise<void>((resolve) => (arrived = resolve));
    inviter.acceptPairing(() => {
      arrived();
      return new Promise<Uint8Array>(() => undefined);
    });
    const pending = joiner.pair(inviter.url, keyInviter.publicKey, bytes('x')).catch((e: unknown) => e);
    await inHandler;
    await joiner.stop();
    expect(await pending).toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
  });

  it('a node listening on a wildcard host lists its interfaces\' addresses, not the wildcard, and is paired with at one of them', async () => {
    const inviter = await nodes.create({ deviceKey: keyInviter, listen: { host: '0.0.0.0', port: 0 } });
    inviter.acceptPairing(async () => bytes('reached'));
    const joiner = await nodes.create();
    const addresses = inviter.listenAddresses();
    const port = inviter.address!.port;
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses.every((a) => a.startsWith('http://') && a.endsWith(`:${port}`) && !a.includes('0.0.0.0'))).toBe(true);
    expect(addresses).toContain(`http://127.0.0.1:${port}`);
    expect(text(await joiner.pair(`http://127.0.0.1:${port}`, keyInviter.publicKey, bytes('hi')))).toBe('reached');
  });
});

/** node:crypto cannot make X.509 certificates, so the openssl CLI makes a self-signed one for 127.0.0.1 (as in https.test.ts). */
function selfSignedCertificate(dir: string): { key: string; cert: string } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=inviter',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`The https pairing test needs the openssl CLI: ${made.stderr ?? made.error?.message}`);
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

describe('pairing over HTTPS', () => {
  let nodes: TestNodes;

  beforeEach(() => {
    nodes = new TestNodes();
  });
  afterEach(async () => nodes.cleanup());

  it('pairs with the transport\'s ca trusted, and fails typed (HW_PEER_UNREACHABLE) without it', async () => {
    const cert = selfSignedCertificate(nodes.tempDir());
    const keyInviter = DeviceKey.generate();
    const inviter = await nodes.create({ deviceKey: keyInviter, tls: { ...cert, ca: cert.cert } });
    let calls = 0;
    inviter.acceptPairing(async (payload) => {
      calls++;
      return bytes(`tls:${text(payload)}`);
    });
    expect(inviter.listenAddresses()).toEqual([inviter.url]);
    expect(inviter.url.startsWith('https://')).toBe(true);

    const trusting = await nodes.create({ tls: { ...selfSignedCertificate(nodes.tempDir()), ca: cert.cert } });
    expect(text(await trusting.pair(inviter.url, keyInviter.publicKey, bytes('hello')))).toBe('tls:hello');

    const untrusting = await nodes.create();
    const error = await untrusting.pair(inviter.url, keyInviter.publicKey, bytes('hello')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect(error).toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    expect((error as Error).message).toMatch(/certificate/);
    expect(calls).toBe(1);
  });
});
