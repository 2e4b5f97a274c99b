import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { statSync } from 'node:fs';
import { firstValueFrom, filter, timeout, toArray, take } from 'rxjs';
import { TransportError, type PeerEvent } from '@highwater/core';
import { HttpTransportConfigError, HttpTransportError, createHttpTransport, loadOrCreateHttpIdentity, type HttpTransport } from '../src/index.js';
import { TestNodes, bytes, connect, text, waitFor } from './helpers.js';

function nextEvent(t: HttpTransport, type: PeerEvent['type'], peerId: string): Promise<PeerEvent> {
  return firstValueFrom(t.peers$.pipe(filter((e) => e.type === type && e.peerId === peerId), timeout(10_000)));
}

describe('HTTP transport identity and configuration', () => {
  let nodes: TestNodes;
  beforeEach(() => {
    nodes = new TestNodes();
  });
  afterEach(async () => nodes.cleanup());

  it('creates the key file with mode 0600 and derives the same peer id on every load', () => {
    const keyPath = nodes.keyPath();
    const first = loadOrCreateHttpIdentity(keyPath);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(first.peerId).toMatch(/^hw1[A-Za-z0-9_-]{32}$/);
    expect(loadOrCreateHttpIdentity(keyPath)).toEqual(first);
    expect(createHttpTransport({ keyPath }).localPeerId).toBe(first.peerId);
    expect(loadOrCreateHttpIdentity(nodes.keyPath()).peerId).not.toBe(first.peerId);
  });

  it('refuses a peer whose id does not match its key, and a malformed url', () => {
    const t = createHttpTransport({ keyPath: nodes.keyPath() });
    const one = loadOrCreateHttpIdentity(nodes.keyPath());
    const two = loadOrCreateHttpIdentity(nodes.keyPath());
    expect(() => t.addPeer({ peerId: one.peerId, publicKey: two.publicKey, url: 'http://127.0.0.1:1' })).toThrow(HttpTransportConfigError);
    expect(() => t.addPeer({ peerId: one.peerId, publicKey: one.publicKey, url: 'ftp://127.0.0.1:1' })).toThrow(HttpTransportConfigError);
    // The PEM form of the key is accepted too.
    t.addPeer({ peerId: one.peerId, publicKey: one.publicKeyPem, url: 'http://127.0.0.1:1' });
    expect(t.peers().map((p) => p.peerId)).toEqual([one.peerId]);
  });

  it('refuses invalid options with a typed error', () => {
    expect(() => createHttpTransport({ keyPath: nodes.keyPath(), heartbeatMs: 0 })).toThrow(HttpTransportConfigError);
    expect(() => createHttpTransport({ keyPath: nodes.keyPath(), maxBodyBytes: -1 })).toThrow(HttpTransportConfigError);
  });
});

describe('HTTP transport behaviour', () => {
  let nodes: TestNodes;
  let a: HttpTransport;
  let b: HttpTransport;

  beforeEach(async () => {
    nodes = new TestNodes();
    a = await nodes.create();
    b = await nodes.create();
    b.handle(async (m) => (m.expectsResponse ? bytes(`echo:${text(m.payload)}`) : undefined));
    await connect(a, b);
  });

  afterEach(async () => nodes.cleanup());

  it('keeps one-way messages in order even when they are not awaited one by one', async () => {
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      b.handle(async (m) => {
        got.push(text(m.payload));
        if (got.length === 50) resolve();
        return undefined;
      }),
    );
    // Early messages are the large ones: sent in parallel, the small later ones would overtake them.
    const message = (i: number): Uint8Array => {
      const label = bytes(`m${i}`);
      const out = new Uint8Array(label.byteLength + (i % 2 === 0 ? (50 - i) * 8 * 1024 : 0));
      out.set(label);
      return out;
    };
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.send(b.localPeerId, message(i))));
    await all;
    expect(got.map((m) => m.replace(/\0+$/, ''))).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it('measures the round trip from heartbeats alone', async () => {
    const fresh = await nodes.create();
    await connect(fresh, b);
    await waitFor(() => fresh.rttMs(b.localPeerId) !== undefined, 'a heartbeat round trip');
    expect(fresh.rttMs(b.localPeerId)!).toBeGreaterThan(0);
  });

  it('removePeer reports the peer disconnected and its calls fail', async () => {
    const gone = nextEvent(a, 'disconnected', b.localPeerId);
    expect(a.removePeer(b.localPeerId)).toBe(true);
    await gone;
    expect(a.connectedPeers()).toEqual([]);
    await expect(a.request(b.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    expect(a.removePeer(b.localPeerId)).toBe(false);
  });

  it('fails a request in flight when the transport stops, and refuses calls afterwards', async () => {
    b.handle(() => new Promise(() => undefined));
    const pending = a.request(b.localPeerId, bytes('hang'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await a.stop();
    await expect(pending).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
    await expect(a.send(b.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
    expect(a.connectedPeers()).toEqual([]);
  });

  it('fails a request in flight with HW_PEER_UNREACHABLE when the peer goes away', async () => {
    b.handle(() => new Promise(() => undefined));
    const pending = a.request(b.localPeerId, bytes('hang')).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await b.stop();
    const error = await pending;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('HW_PEER_UNREACHABLE');
  });

  it('honours an AbortSignal', async () => {
    b.handle(() => new Promise(() => undefined));
    const controller = new AbortController();
    const pending = a.request(b.localPeerId, bytes('hang'), { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
  });

  it('reports a peer without handler as a typed error carrying the remote code', async () => {
    const bare = await nodes.create();
    await connect(a, bare);
    const error = await a.request(bare.localPeerId, bytes('anyone?')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect(error).toMatchObject({ code: 'HW_PEER_UNREACHABLE', status: 503, remoteCode: 'HW_NO_HANDLER' });
    // The peer is up; only the call failed.
    expect(a.connectedPeers()).toContain(bare.localPeerId);
  });

  it('can be started again after stop()', async () => {
    await b.stop();
    await b.start();
    // Port 0 gave it a new port: the members learn the new url.
    a.removePeer(b.localPeerId);
    b.removePeer(a.localPeerId);
    await connect(a, b);
    expect(text(await a.request(b.localPeerId, bytes('again')))).toBe('echo:again');
  });

  it('calls a peer that restarted (new process, same key and port) without a failed call: one retry learns its new session', async () => {
    expect(text(await a.request(b.localPeerId, bytes('before')))).toBe('echo:before');
    const port = Number(new URL(b.url).port);
    const oldSession = b.session;
    await b.stop();
    const b2 = await nodes.create({ keyPath: nodes.keyPathOf(b), listen: { host: '127.0.0.1', port }, heartbeatMs: 60_000 });
    b2.addPeer({ ...a.publicIdentity, url: a.url });
    const seen: string[] = [];
    b2.handle(async (m) => {
      seen.push(text(m.payload));
      return m.expectsResponse ? bytes(`echo2:${text(m.payload)}`) : undefined;
    });
    expect(b2.session).not.toBe(oldSession);
    // a still signs for the old session: refused once (HW_STALE_SESSION), retried with the new one.
    expect(text(await a.request(b2.localPeerId, bytes('after')))).toBe('echo2:after');
    await a.send(b2.localPeerId, bytes('one-way'));
    expect(seen).toEqual(['after', 'one-way']);
  });

  it('emits connected and disconnected once per change', async () => {
    const events = firstValueFrom(a.peers$.pipe(filter((e) => e.peerId === b.localPeerId), take(2), toArray(), timeout(10_000)));
    a.removePeer(b.localPeerId);
    a.addPeer({ ...b.publicIdentity, url: b.url });
    expect((await events).map((e) => e.type)).toEqual(['disconnected', 'connected']);
  });
});

describe('HTTP transport reachability from inbound calls', () => {
  let nodes: TestNodes;
  beforeEach(() => {
    nodes = new TestNodes();
  });
  afterEach(async () => nodes.cleanup());

  it('sees a member promptly when it calls in, long before its own next heartbeat', async () => {
    // A's heartbeats are an hour apart: only B's authenticated calls can make A see B soon.
    const a = await nodes.create({ heartbeatMs: 3_600_000 });
    const b = await nodes.create();
    a.addPeer({ ...b.publicIdentity, url: b.url }); // A's first heartbeat is refused: B does not know A yet
    await new Promise((resolve) => setTimeout(resolve, 100));
    b.addPeer({ ...a.publicIdentity, url: a.url });
    await waitFor(() => a.connectedPeers().includes(b.localPeerId), 'A to see B after B called in');
  });

  it('does not report a member it cannot reach as connected just because that member calls in', async () => {
    const a = await nodes.create();
    const b = await nodes.create();
    // A has a wrong url for B; B can reach A.
    a.addPeer({ ...b.publicIdentity, url: 'http://127.0.0.1:9' });
    b.addPeer({ ...a.publicIdentity, url: a.url });
    await waitFor(() => b.connectedPeers().includes(a.localPeerId), 'B to reach A');
    const eventsOnA: PeerEvent[] = [];
    const sub = a.peers$.subscribe((e) => eventsOnA.push(e));
    // Several of B's heartbeats reach A meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    sub.unsubscribe();
    expect(a.connectedPeers()).not.toContain(b.localPeerId);
    expect(eventsOnA).toEqual([]);
  });
});
