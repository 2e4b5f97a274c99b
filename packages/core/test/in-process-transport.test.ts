import { afterEach, describe, expect, it } from '@jest/globals';
import type { PeerEvent } from '../src/ports/transport.js';
import { TransportError } from '../src/errors.js';
import {
  createInProcessNetwork,
  InProcessNetwork,
  InProcessTransport,
  type WireEvent,
} from '../src/transport/in-process-transport.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (text: string): Uint8Array => enc.encode(text);
const text = (payload: Uint8Array): string => dec.decode(payload);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `predicate` holds, polling on macrotasks (fails the test after ~2 s). */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (predicate()) return;
    await sleep(5);
  }
  throw new Error('condition not reached');
}

async function expectTransportError(promise: Promise<unknown>, code: string): Promise<TransportError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a rejection with ${code}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransportError);
  expect((error as TransportError).code).toBe(code);
  return error as TransportError;
}

const started: InProcessTransport[] = [];

async function pair(network: InProcessNetwork = createInProcessNetwork()) {
  const a = network.transport('a');
  const b = network.transport('b');
  await a.start();
  await b.start();
  started.push(a, b);
  network.connect('a', 'b');
  return { network, a, b };
}

afterEach(async () => {
  for (const transport of started.splice(0)) await transport.stop();
});

describe('InProcessTransport', () => {
  it('authenticates senders by device key only when created with one: peerIdOf maps each registered key to its peer', () => {
    const keyed = createInProcessNetwork();
    const a = keyed.transport('peer-a', { publicKey: 'key-a' });
    const b = keyed.transport('peer-b', { publicKey: 'key-b' });
    expect(a.peerIdOf?.('key-b')).toBe('peer-b');
    expect(b.peerIdOf?.('key-a')).toBe('peer-a');
    // A key no transport registered has no peer: no message can come from it.
    expect(a.peerIdOf?.('key-z')).toBe('unregistered-key/key-z');
    expect(keyed.transport('peer-c').peerIdOf).toBeUndefined();
  });

  it('round-trips request and response bytes', async () => {
    const { a, b } = await pair();
    const seen: { from: string; payload: string; expectsResponse: boolean }[] = [];
    b.handle(async (message) => {
      seen.push({ from: message.from, payload: text(message.payload), expectsResponse: message.expectsResponse });
      return bytes(`pong:${text(message.payload)}`);
    });
    const response = await a.request('b', bytes('ping'));
    expect(response).toBeInstanceOf(Uint8Array);
    expect(text(response)).toBe('pong:ping');
    expect(seen).toEqual([{ from: 'a', payload: 'ping', expectsResponse: true }]);
  });

  it('delivers one-way sends and ignores their handler result', async () => {
    const { a, b } = await pair();
    const seen: { from: string; payload: string; expectsResponse: boolean }[] = [];
    b.handle(async (message) => {
      seen.push({ from: message.from, payload: text(message.payload), expectsResponse: message.expectsResponse });
      return bytes('ignored');
    });
    await a.send('b', bytes('hello'));
    expect(seen).toEqual([]); // asynchronous delivery
    await until(() => seen.length === 1);
    expect(seen).toEqual([{ from: 'a', payload: 'hello', expectsResponse: false }]);
  });

  it('gives each of 50 concurrent requests its own response', async () => {
    const { a, b } = await pair();
    b.handle(async (message) => {
      const n = Number(text(message.payload));
      await sleep((n * 7) % 23); // later requests often finish first
      return bytes(`echo-${n}`);
    });
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, n) => a.request('b', bytes(String(n))).then(text)),
    );
    expect(responses).toEqual(Array.from({ length: 50 }, (_, n) => `echo-${n}`));
  });

  it('keeps FIFO order for 100 sends', async () => {
    const { a, b } = await pair(createInProcessNetwork({ latencyMs: 1 }));
    const received: number[] = [];
    b.handle(async (message) => {
      received.push(Number(text(message.payload)));
      return undefined;
    });
    for (let n = 0; n < 100; n++) await a.send('b', bytes(String(n)));
    await until(() => received.length === 100);
    expect(received).toEqual(Array.from({ length: 100 }, (_, n) => n));
  });

  it('keeps FIFO order between sends and requests in one direction', async () => {
    const { a, b } = await pair();
    const received: string[] = [];
    b.handle(async (message) => {
      received.push(text(message.payload));
      return bytes('ok');
    });
    const sends = [a.send('b', bytes('s1')), a.send('b', bytes('s2'))];
    const request = a.request('b', bytes('r3'));
    await a.send('b', bytes('s4'));
    await Promise.all([...sends, request]);
    await until(() => received.length === 4);
    expect(received).toEqual(['s1', 's2', 'r3', 's4']);
  });

  it('reports every delivered payload on wire$ with exact kinds and byte counts', async () => {
    const { network, a, b } = await pair();
    const wire: WireEvent[] = [];
    const subscription = network.wire$.subscribe((event) => wire.push(event));
    b.handle(async (message) => (message.expectsResponse ? new Uint8Array(7) : undefined));
    await a.request('b', new Uint8Array(3));
    await b.send('a', new Uint8Array(11));
    await until(() => wire.length === 3);
    await sleep(10);
    subscription.unsubscribe();
    expect(wire.map(({ from, to, kind, bytes }) => ({ from, to, kind, bytes }))).toEqual([
      { from: 'a', to: 'b', kind: 'request', bytes: 3 },
      { from: 'b', to: 'a', kind: 'response', bytes: 7 },
      { from: 'b', to: 'a', kind: 'send', bytes: 11 },
    ]);
    expect(wire.reduce((sum, event) => sum + event.bytes, 0)).toBe(21);
    expect(wire.every((event) => event.payload.byteLength === event.bytes)).toBe(true);
  });

  it('emits peers$ events on connect, disconnect and stop, each side seeing the other', async () => {
    const network = createInProcessNetwork();
    const a = network.transport('a');
    const b = network.transport('b');
    const c = network.transport('c');
    for (const t of [a, b, c]) {
      await t.start();
      started.push(t);
    }
    const events: Record<string, Pick<PeerEvent, 'type' | 'peerId'>[]> = { a: [], b: [], c: [] };
    for (const t of [a, b, c]) {
      t.peers$.subscribe((event) => {
        expect(typeof event.at).toBe('number');
        events[t.localPeerId]!.push({ type: event.type, peerId: event.peerId });
      });
    }

    network.connect('a', 'b');
    network.connect('a', 'b'); // already linked: no second event
    network.connect('c', 'a');
    expect(network.isConnected('b', 'a')).toBe(true);
    expect([...a.connectedPeers()].sort()).toEqual(['b', 'c']);
    expect(b.connectedPeers()).toEqual(['a']);

    network.disconnect('b', 'a');
    expect(network.isConnected('a', 'b')).toBe(false);
    expect(a.connectedPeers()).toEqual(['c']);
    expect(b.connectedPeers()).toEqual([]);

    await a.stop();
    expect(network.isConnected('a', 'c')).toBe(false);
    expect(c.connectedPeers()).toEqual([]);

    expect(events).toEqual({
      a: [
        { type: 'connected', peerId: 'b' },
        { type: 'connected', peerId: 'c' },
        { type: 'disconnected', peerId: 'b' },
        { type: 'disconnected', peerId: 'c' },
      ],
      b: [
        { type: 'connected', peerId: 'a' },
        { type: 'disconnected', peerId: 'a' },
      ],
      c: [
        { type: 'connected', peerId: 'a' },
        { type: 'disconnected', peerId: 'a' },
      ],
    });
  });

  it('rejects a pending request with HW_PEER_UNREACHABLE when the link is cut', async () => {
    const { network, a, b } = await pair();
    let handled = false;
    b.handle(async () => {
      handled = true;
      await sleep(30);
      return bytes('too late');
    });
    const request = a.request('b', bytes('x'));
    await until(() => handled);
    network.disconnect('a', 'b');
    await expectTransportError(request, 'HW_PEER_UNREACHABLE');
  });

  it('drops messages in flight when the link is cut', async () => {
    const { network, a, b } = await pair(createInProcessNetwork({ latencyMs: 20 }));
    const received: string[] = [];
    b.handle(async (message) => {
      received.push(text(message.payload));
      return undefined;
    });
    const wire: WireEvent[] = [];
    const subscription = network.wire$.subscribe((event) => wire.push(event));
    await a.send('b', bytes('lost'));
    const request = a.request('b', bytes('lost too'));
    network.disconnect('a', 'b');
    await expectTransportError(request, 'HW_PEER_UNREACHABLE');
    await sleep(50);
    subscription.unsubscribe();
    expect(received).toEqual([]);
    expect(wire).toEqual([]);
  });

  it('rejects with HW_REQUEST_TIMEOUT after timeoutMs', async () => {
    const { a, b } = await pair();
    b.handle(() => new Promise<Uint8Array>(() => undefined)); // never answers
    const begin = Date.now();
    const error = await expectTransportError(a.request('b', bytes('x'), { timeoutMs: 50 }), 'HW_REQUEST_TIMEOUT');
    expect(Date.now() - begin).toBeGreaterThanOrEqual(45);
    expect(error.message).toContain('50 ms');
    expect(a.rttMs('b')).toBeUndefined();
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    const { a, b } = await pair();
    b.handle(() => new Promise<Uint8Array>(() => undefined));
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const request = a.request('b', bytes('x'), { signal: controller.signal });
    controller.abort(reason);
    await expect(request).rejects.toBe(reason);
    await expect(a.request('b', bytes('x'), { signal: controller.signal })).rejects.toBe(reason);
  });

  it('rejects a request or send to an unconnected peer with HW_PEER_UNREACHABLE', async () => {
    const network = createInProcessNetwork();
    const a = network.transport('a');
    const b = network.transport('b');
    await a.start();
    await b.start();
    started.push(a, b);
    b.handle(async () => bytes('never'));
    await expectTransportError(a.request('b', bytes('x')), 'HW_PEER_UNREACHABLE');
    await expectTransportError(a.request('nobody', bytes('x')), 'HW_PEER_UNREACHABLE');
    await expectTransportError(a.send('b', bytes('x')), 'HW_PEER_UNREACHABLE');
  });

  it('rejects requests of a stopped transport with HW_TRANSPORT_STOPPED, including pending ones', async () => {
    const { network, a, b } = await pair();
    let handled = false;
    b.handle(() => {
      handled = true;
      return new Promise<Uint8Array>(() => undefined);
    });
    const pending = a.request('b', bytes('x'));
    await until(() => handled);
    await a.stop();
    await expectTransportError(pending, 'HW_TRANSPORT_STOPPED');
    await expectTransportError(a.request('b', bytes('x')), 'HW_TRANSPORT_STOPPED');
    await expectTransportError(a.send('b', bytes('x')), 'HW_TRANSPORT_STOPPED');
    expect(network.isConnected('a', 'b')).toBe(false);
    expect(a.connectedPeers()).toEqual([]);
  });

  it('rejects the request when the remote handler throws and keeps serving', async () => {
    const { a, b } = await pair();
    b.handle(async (message) => {
      const body = text(message.payload);
      if (body === 'boom') throw new Error('handler exploded');
      if (body === 'nothing') return undefined;
      return bytes(`ok:${body}`);
    });
    const error = await expectTransportError(a.request('b', bytes('boom')), 'HW_PEER_UNREACHABLE');
    expect(error.message).toContain('handler exploded');
    await expectTransportError(a.request('b', bytes('nothing')), 'HW_PEER_UNREACHABLE');
    expect(text(await a.request('b', bytes('next')))).toBe('ok:next');
  });

  it('rejects requests that arrive with no handler installed', async () => {
    const { a } = await pair();
    await expectTransportError(a.request('b', bytes('x')), 'HW_PEER_UNREACHABLE');
  });

  it('swallows failures of one-way handlers', async () => {
    const { a, b } = await pair();
    let calls = 0;
    b.handle((message) => {
      calls++;
      if (text(message.payload) === 'sync-throw') throw new Error('sync failure');
      return Promise.reject(new Error('async failure'));
    });
    await a.send('b', bytes('sync-throw'));
    await a.send('b', bytes('async-throw'));
    await until(() => calls === 2);
    await sleep(10); // an unhandled rejection would fail the test run here
    b.handle(async () => bytes('alive'));
    expect(text(await a.request('b', bytes('x')))).toBe('alive');
  });

  it('hands the receiver a copy of the payload', async () => {
    const { a, b } = await pair();
    const received: Uint8Array[] = [];
    b.handle(async (message) => {
      received.push(message.payload);
      return message.payload;
    });
    const sent = bytes('original');
    const sendDone = a.send('b', sent);
    sent.fill(0x21); // mutate right after handing it over
    await sendDone;
    await until(() => received.length === 1);
    expect(text(received[0]!)).toBe('original');

    const requestBuffer = bytes('request');
    const responsePromise = a.request('b', requestBuffer);
    requestBuffer.fill(0x21);
    const response = await responsePromise;
    expect(text(response)).toBe('request');
    expect(response).not.toBe(received[1]); // the response is a copy of the handler's buffer too
    response.fill(0);
    expect(text(received[1]!)).toBe('request');
  });

  it('measures rttMs after a completed request', async () => {
    const { a, b } = await pair(createInProcessNetwork({ latencyMs: 5 }));
    b.handle(async () => bytes('pong'));
    expect(a.rttMs('b')).toBeUndefined();
    await a.request('b', bytes('ping'));
    const rtt = a.rttMs('b');
    expect(typeof rtt).toBe('number');
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeGreaterThanOrEqual(8); // two hops of 5 ms, with timer slack
    expect(b.rttMs('a')).toBeUndefined();
  });

  it('serves requests again after stop, start and a new connect', async () => {
    const { network, a, b } = await pair();
    b.handle(async (message) => bytes(`b:${text(message.payload)}`));
    expect(text(await a.request('b', bytes('1')))).toBe('b:1');

    await b.stop();
    await expectTransportError(a.request('b', bytes('2')), 'HW_PEER_UNREACHABLE');
    await b.start();
    expect(network.isConnected('a', 'b')).toBe(false);
    network.connect('a', 'b');
    expect(text(await a.request('b', bytes('3')))).toBe('b:3');
    expect(a.rttMs('b')).toBeGreaterThan(0);
  });

  it('allows one running transport per peer id', async () => {
    const network = createInProcessNetwork();
    const first = network.transport('a');
    await first.start();
    started.push(first);
    expect(() => network.transport('a')).toThrow(/taken/);
    await first.stop();
    const second = network.transport('a');
    await second.start();
    started.push(second);
    await expect(first.start()).rejects.toThrow(/taken/);
  });

  it('refuses to connect peers that are not started', async () => {
    const network = createInProcessNetwork();
    const a = network.transport('a');
    network.transport('b');
    await a.start();
    started.push(a);
    expect(() => network.connect('a', 'b')).toThrow(TransportError);
    expect(() => network.connect('a', 'unknown')).toThrow(/Unknown peer/);
    expect(() => network.connect('a', 'a')).toThrow(/itself/);
    expect(() => createInProcessNetwork({ latencyMs: -1 })).toThrow(RangeError);
  });
});

describe('InProcessNetwork faults (for the simulation)', () => {
  /** Collects the one-way sends `b` receives, in arrival order. */
  function inbox(b: InProcessTransport): string[] {
    const got: string[] = [];
    b.handle(async (m) => {
      got.push(text(m.payload));
      return undefined;
    });
    return got;
  }

  it('drops, duplicates and delays messages as the hook decides, asking once per message with its kind and size', async () => {
    const asked: string[] = [];
    const network = createInProcessNetwork({
      faults: (ctx) => {
        asked.push(`${ctx.from}>${ctx.to} ${ctx.kind} ${ctx.bytes}`);
        return ctx.bytes === 4 ? { drop: true } : ctx.bytes === 3 ? { duplicate: true } : undefined;
      },
    });
    const { a, b } = await pair(network);
    const got = inbox(b);
    await a.send('b', bytes('one'));
    await a.send('b', bytes('lost'));
    await a.send('b', bytes('three'));
    await until(() => got.includes('three'));
    await sleep(10);
    expect(got).toEqual(['one', 'one', 'three']);
    expect(asked).toEqual(['a>b send 3', 'a>b send 4', 'a>b send 5']);

    // A lost request times out at the requester; the sender cannot tell otherwise.
    b.handle(async () => bytes('pong'));
    await expectTransportError(a.request('b', bytes('ping'), { timeoutMs: 50 }), 'HW_REQUEST_TIMEOUT');
  });

  it('keeps FIFO order behind a delayed message, unless the hook takes it out of order', async () => {
    let delayNext: { delayMs: number; reorder?: boolean } | undefined;
    const network = createInProcessNetwork({
      faults: () => {
        const decision = delayNext;
        delayNext = undefined;
        return decision;
      },
    });
    const { a, b } = await pair(network);
    const got = inbox(b);
    delayNext = { delayMs: 40 };
    await a.send('b', bytes('slow'));
    await a.send('b', bytes('behind'));
    await until(() => got.length === 2);
    expect(got).toEqual(['slow', 'behind']);

    delayNext = { delayMs: 40, reorder: true };
    await a.send('b', bytes('late'));
    await a.send('b', bytes('overtakes'));
    await until(() => got.length === 4);
    expect(got.slice(2)).toEqual(['overtakes', 'late']);

    // A message out of order is still cut with its link.
    delayNext = { delayMs: 40, reorder: true };
    await a.send('b', bytes('cut'));
    network.disconnect('a', 'b');
    await sleep(60);
    expect(got).toHaveLength(4);
  });

  it('crash(): the peer stops at once, its pending requests fail, peers see it leave, and its id can start again', async () => {
    const { network, a, b } = await pair();
    const aEvents: PeerEvent[] = [];
    a.peers$.subscribe((e) => aEvents.push(e));
    b.handle(() => new Promise<Uint8Array>(() => undefined)); // never answers
    const pending = a.request('b', bytes('hang'), { timeoutMs: 5_000 });
    const bGot = inbox(b);
    network.crash('a');
    await expectTransportError(pending, 'HW_TRANSPORT_STOPPED');
    expect(a.isRunning).toBe(false);
    expect(network.isConnected('a', 'b')).toBe(false);
    expect(aEvents.map((e) => `${e.type} ${e.peerId}`)).toEqual(['disconnected b']);
    await expectTransportError(a.send('b', bytes('from the dead')), 'HW_TRANSPORT_STOPPED');
    await sleep(10);
    expect(bGot).toEqual([]);

    const again = network.transport('a');
    await again.start();
    started.push(again);
    network.connect('a', 'b');
    await again.send('b', bytes('back'));
    await until(() => bGot.length === 1);
    expect(bGot).toEqual(['back']);
  });
});
