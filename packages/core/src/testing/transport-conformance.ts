import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { TransportError } from '../errors.js';
import type { PeerEvent, Transport } from '../ports/transport.js';

/** What the transport suite needs from an adapter. */
export interface TransportHarness {
  /** A new transport, started, with its own identity. */
  create(): Promise<Transport>;
  /** Connects two transports the adapter's way (dial, configured peers, …); resolves once both list each other. */
  connect(a: Transport, b: Transport): Promise<void>;
  /** Cuts the connection between a and b as a network failure would (not a clean stop of either). */
  disconnect(a: Transport, b: Transport): Promise<void>;
  /** Stops everything created; called after each test. */
  cleanup(): Promise<void>;
}

export interface TransportConformanceOptions {
  /** The adapter's maximum frame/body size; a larger response must fail with a typed error. */
  readonly maxMessageBytes: number;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

function peerEvent(t: Transport, type: PeerEvent['type'], peerId: string): Promise<PeerEvent> {
  return firstValueFrom(t.peers$.pipe(filter((e) => e.type === type && e.peerId === peerId), timeout(10_000)));
}

/** A payload whose every byte depends on its position, so truncation or reordering shows. */
function patterned(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >>> 8)) & 0xff;
  return out;
}

/**
 * The behaviour every Transport adapter must show. Runs against real connections of the
 * adapter (an in-process transport runs it too, as the reference).
 */
export function runTransportConformance(adapterName: string, newHarness: () => Promise<TransportHarness>, options: TransportConformanceOptions): void {
  describe(`Transport conformance: ${adapterName}`, () => {
    let harness: TransportHarness;
    let a: Transport;
    let b: Transport;

    beforeEach(async () => {
      harness = await newHarness();
      a = await harness.create();
      b = await harness.create();
      b.handle(async (m) => (m.expectsResponse ? bytes(`echo:${m.from}:${text(m.payload)}`) : undefined));
      await harness.connect(a, b);
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    it('has distinct, stable identities and lists the connected peer', () => {
      expect(a.localPeerId).not.toBe(b.localPeerId);
      expect(a.connectedPeers()).toContain(b.localPeerId);
      expect(b.connectedPeers()).toContain(a.localPeerId);
    });

    it('answers a request, naming the requester', async () => {
      const reply = await a.request(b.localPeerId, bytes('hello'));
      expect(text(reply)).toBe(`echo:${a.localPeerId}:hello`);
    });

    it('delivers one-way messages in order', async () => {
      const got: string[] = [];
      const all = new Promise<void>((resolve) =>
        b.handle(async (m) => {
          if (!m.expectsResponse) got.push(text(m.payload));
          if (got.length === 20) resolve();
          return undefined;
        }),
      );
      for (let i = 0; i < 20; i++) await a.send(b.localPeerId, bytes(`m${i}`));
      await all;
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    });

    it('keeps 50 concurrent requests apart', async () => {
      b.handle(async (m) => {
        const n = Number(text(m.payload));
        await new Promise((r) => setTimeout(r, (n * 7) % 23));
        return bytes(`r${n}`);
      });
      const replies = await Promise.all(Array.from({ length: 50 }, (_, n) => a.request(b.localPeerId, bytes(String(n)))));
      expect(replies.map(text)).toEqual(Array.from({ length: 50 }, (_, n) => `r${n}`));
    });

    it('carries an 8 MB response intact', async () => {
      const big = patterned(8 * 1024 * 1024);
      b.handle(async () => big);
      const reply = await a.request(b.localPeerId, bytes('big'), { timeoutMs: 60_000 });
      expect(reply.byteLength).toBe(big.byteLength);
      expect(Buffer.from(reply).equals(Buffer.from(big))).toBe(true);
    });

    it('refuses a response over the size limit with a typed error and keeps serving', async () => {
      b.handle(async (m) => (text(m.payload) === 'too big' ? new Uint8Array(options.maxMessageBytes + 1) : bytes('small')));
      const error = await a.request(b.localPeerId, bytes('too big'), { timeoutMs: 30_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      // The one code for "too large" on every transport: a puller asking for several pages backs off on it.
      expect(error).toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
      expect(text(await a.request(b.localPeerId, bytes('again')))).toBe('small');
    });

    it('rejects with a typed error when the handler fails, and keeps serving', async () => {
      b.handle(async (m) => {
        if (text(m.payload) === 'boom') throw new Error('handler failed');
        return bytes('fine');
      });
      await expect(a.request(b.localPeerId, bytes('boom'))).rejects.toBeInstanceOf(TransportError);
      expect(text(await a.request(b.localPeerId, bytes('next')))).toBe('fine');
    });

    it('times out with HW_REQUEST_TIMEOUT', async () => {
      b.handle(() => new Promise(() => undefined));
      await expect(a.request(b.localPeerId, bytes('slow'), { timeoutMs: 200 })).rejects.toMatchObject({ code: 'HW_REQUEST_TIMEOUT' });
    });

    it('measures the round-trip time', async () => {
      await a.request(b.localPeerId, bytes('ping'));
      const rtt = a.rttMs(b.localPeerId);
      expect(typeof rtt).toBe('number');
      expect(rtt!).toBeGreaterThan(0);
    });

    it('reports a disconnect on both sides and fails requests to the gone peer with a typed error', async () => {
      const goneOnA = peerEvent(a, 'disconnected', b.localPeerId);
      const goneOnB = peerEvent(b, 'disconnected', a.localPeerId);
      await harness.disconnect(a, b);
      await Promise.all([goneOnA, goneOnB]);
      expect(a.connectedPeers()).not.toContain(b.localPeerId);
      const error = await a.request(b.localPeerId, bytes('anyone?'), { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      expect(['HW_PEER_UNREACHABLE', 'HW_REQUEST_TIMEOUT']).toContain((error as TransportError).code);
      // And a reconnect works again.
      const back = peerEvent(a, 'connected', b.localPeerId);
      await harness.connect(a, b);
      await back;
      expect(text(await a.request(b.localPeerId, bytes('back')))).toBe(`echo:${a.localPeerId}:back`);
    });

    it('stops cleanly: the other side sees the disconnect, and the stopped side refuses to send', async () => {
      const gone = peerEvent(a, 'disconnected', b.localPeerId);
      await b.stop();
      await gone;
      await expect(b.request(a.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
    });
  });
}
