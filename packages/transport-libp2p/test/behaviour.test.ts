import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { TransportError } from '@highwater/core';
import type { Libp2pTransport } from '../src/index.js';
import { bytes, TestNetwork, text, waitFor } from './support.js';

/** What the conformance suite does not cover: limits that differ, stops mid-request, bootstrap, ordering, RTT probes. */
describe('libp2p transport behaviour', () => {
  let network: TestNetwork;

  beforeEach(() => {
    network = new TestNetwork();
  });

  afterEach(() => network.cleanup());

  async function pair(init: Parameters<TestNetwork['create']>[0] = {}): Promise<[Libp2pTransport, Libp2pTransport]> {
    const a = await network.create(init);
    const b = await network.create(init);
    b.handle(async (m) => (m.expectsResponse ? bytes(`echo:${text(m.payload)}`) : undefined));
    await network.connect(a, b);
    return [a, b];
  }

  it('fails fast and typed before touching the wire: not connected, too large, stopped', async () => {
    const [a, b] = await pair({ maxMessageBytes: 1024 });
    const loner = await network.create();
    await expect(a.request(loner.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    await expect(a.send(loner.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    await expect(a.request(b.localPeerId, new Uint8Array(1025))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    await expect(a.send(b.localPeerId, new Uint8Array(1025))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    b.handle(async (m) => m.payload); // exactly at the limit, both ways
    expect(text(await a.request(b.localPeerId, new Uint8Array(1024).fill(0x41)))).toBe('A'.repeat(1024));
    await a.stop();
    await expect(a.send(b.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
    await expect(a.dial(b.addresses()[0]!)).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
  });

  it('fails requests in flight with HW_TRANSPORT_STOPPED when it stops', async () => {
    const [a, b] = await pair();
    let arrived!: () => void;
    const atHandler = new Promise<void>((resolve) => (arrived = resolve));
    b.handle(() => {
      arrived();
      return new Promise(() => undefined);
    });
    const pending = a.request(b.localPeerId, bytes('hang'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await atHandler;
    await a.stop();
    expect(await pending).toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
  });

  it('fails a request with a typed error when the responder stops while its handler still works', async () => {
    const [a, b] = await pair();
    let arrived!: () => void;
    const atHandler = new Promise<void>((resolve) => (arrived = resolve));
    b.handle(() => {
      arrived();
      return new Promise(() => undefined);
    });
    const pending = a.request(b.localPeerId, bytes('hang'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await atHandler;
    await b.stop();
    const error = await pending;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('HW_PEER_UNREACHABLE');
  });

  it('gives the caller its own abort reason, and HW_REQUEST_TIMEOUT for a timeout signal', async () => {
    const [a, b] = await pair();
    b.handle(() => new Promise(() => undefined));
    const controller = new AbortController();
    const aborted = a.request(b.localPeerId, bytes('x'), { signal: controller.signal });
    const reason = new Error('caller changed its mind');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await expect(a.request(b.localPeerId, bytes('x'), { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ code: 'HW_REQUEST_TIMEOUT' });
  });

  it('reports HW_FRAME_TOO_LARGE both ways between peers with different limits, and both keep serving', async () => {
    const small = await network.create({ maxMessageBytes: 1024 });
    const big = await network.create({ maxMessageBytes: 64 * 1024 });
    const answer = (m: { payload: Uint8Array }): Uint8Array => (text(m.payload) === 'big please' ? new Uint8Array(2048) : bytes('small'));
    small.handle(async (m) => answer(m));
    big.handle(async (m) => answer(m));
    await network.connect(small, big);

    // A request over the responder's limit: the responder refuses it without reading it.
    const refused = await big.request(small.localPeerId, new Uint8Array(2048)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TransportError);
    expect((refused as TransportError).code).toBe('HW_FRAME_TOO_LARGE');
    // A response over the requester's limit: the requester refuses it by its announced length.
    const tooBig = await small.request(big.localPeerId, bytes('big please')).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(TransportError);
    expect((tooBig as TransportError).code).toBe('HW_FRAME_TOO_LARGE');

    expect(text(await big.request(small.localPeerId, bytes('hi')))).toBe('small');
    expect(text(await small.request(big.localPeerId, bytes('hi')))).toBe('small');
  });

  it('keeps a session idle longer than the request timeout, and refuses a member removed meanwhile', async () => {
    // The responder times out only a stream's first frame: a session may stay idle between requests.
    const a = await network.create({ requestTimeoutMs: 400 });
    const b = await network.create({ requestTimeoutMs: 400 });
    const seen: string[] = [];
    b.handle(async (m) => {
      seen.push(text(m.payload));
      return m.expectsResponse ? bytes(`echo:${text(m.payload)}`) : undefined;
    });
    await network.connect(a, b);
    expect(text(await a.request(b.localPeerId, bytes('first')))).toBe('echo:first');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(text(await a.request(b.localPeerId, bytes('after idle')))).toBe('echo:after idle');
    expect(text(await a.request(b.localPeerId, bytes('third')))).toBe('echo:third');
    expect(seen).toEqual(['first', 'after idle', 'third']);

    // A session opened while A was a member carries no right to be answered later.
    network.members.delete(a.localPeerId);
    await expect(a.request(b.localPeerId, bytes('after removal'), { timeoutMs: 2_000 })).rejects.toBeInstanceOf(TransportError);
    expect(seen).toEqual(['first', 'after idle', 'third']);
  });

  it('answers concurrent requests on one session by id, in the order they finish', async () => {
    const [a, b] = await pair();
    const release: Array<() => void> = [];
    b.handle(async (m) => {
      const body = text(m.payload);
      if (body.startsWith('slow')) await new Promise<void>((resolve) => release.push(resolve));
      return bytes(`echo:${body}`);
    });
    const finished: string[] = [];
    const slow = a.request(b.localPeerId, bytes('slow one')).then((r) => (finished.push(text(r)), text(r)));
    await waitFor('the slow request at the handler', () => release.length === 1);
    const fast = await Promise.all(['one', 'two', 'three'].map((x) => a.request(b.localPeerId, bytes(x)).then((r) => (finished.push(text(r)), text(r)))));
    expect(fast).toEqual(['echo:one', 'echo:two', 'echo:three']);
    release[0]!();
    expect(await slow).toBe('echo:slow one');
    expect(finished.at(-1)).toBe('echo:slow one');
  });

  it('drops the late answer of a timed-out request, and the session goes on serving', async () => {
    const [a, b] = await pair();
    let release!: () => void;
    b.handle(async (m) => {
      const body = text(m.payload);
      if (body === 'late') await new Promise<void>((resolve) => (release = resolve));
      return bytes(`echo:${body}`);
    });
    await expect(a.request(b.localPeerId, bytes('late'), { timeoutMs: 200 })).rejects.toMatchObject({ code: 'HW_REQUEST_TIMEOUT' });
    release();
    // The late answer arrives for an id nobody waits on any more; the next answer is this one's.
    expect(text(await a.request(b.localPeerId, bytes('next')))).toBe('echo:next');
    expect(text(await a.request(b.localPeerId, bytes('and next')))).toBe('echo:and next');
  });

  it('delivers one-way messages in call order even when sent without waiting', async () => {
    const [a, b] = await pair();
    const got: number[] = [];
    b.handle(async (m) => {
      got.push(m.payload[0]!);
      return undefined;
    });
    // Earlier messages are larger, so on parallel streams later ones would overtake them.
    const message = (i: number): Uint8Array => new Uint8Array((30 - i) * 20_000).fill(i);
    await Promise.all(Array.from({ length: 30 }, (_, i) => a.send(b.localPeerId, message(i))));
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('pings a peer on connect, so rttMs has a measurement before any request', async () => {
    const [a, b] = await pair();
    await waitFor('a ping measurement', () => a.rttMs(b.localPeerId) !== undefined && b.rttMs(a.localPeerId) !== undefined);
    expect(a.rttMs(b.localPeerId)!).toBeGreaterThan(0);
    expect(b.rttMs(a.localPeerId)!).toBeGreaterThan(0);
  });

  it('dials bootstrap peers on start and redials them after a disconnect', async () => {
    const hub = await network.create();
    const spoke = await network.create({ bootstrap: hub.addresses(), bootstrapIntervalMs: 200 });
    // The dialer is done with the handshake a moment before the listener: wait for both.
    await waitFor('the bootstrap connection', () => spoke.connectedPeers().includes(hub.localPeerId) && hub.connectedPeers().includes(spoke.localPeerId));
    let reconnected = false;
    spoke.peers$.subscribe((e) => {
      if (e.type === 'connected' && e.peerId === hub.localPeerId) reconnected = true;
    });
    await hub.hangUp(spoke.localPeerId);
    await waitFor('the redial', () => reconnected && spoke.connectedPeers().includes(hub.localPeerId));
  });

  it('finds and connects members on the local network with mDNS, without any dial', async () => {
    const a = await network.create({ mdns: true });
    const b = await network.create({ mdns: true });
    await waitFor('mDNS discovery and the dial that follows', () => a.connectedPeers().includes(b.localPeerId) && b.connectedPeers().includes(a.localPeerId));
    b.handle(async (m) => m.payload);
    expect(text(await a.request(b.localPeerId, bytes('found you')))).toBe('found you');
  });
});
