import { TransportError } from '@highwater/core';
import type { Connection, Stream } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import { FrameKind, MIN_MAX_MESSAGE_BYTES, ResponseStatus, SESSION_HEADER_BYTES } from './constants.js';
import type { Deadline } from './deadline.js';
import { decodeReason, encodeHello, encodeSessionFrame, frameStreamOptions, helloLimit, parseResponseFrame, parseSessionFrame } from './frames.js';
import { asError, untilAborted } from './stream-utils.js';

export interface SyncSessionInit {
  readonly protocol: string;
  readonly maxMessageBytes: number;
  readonly maxConcurrentStreams: number;
}

interface Waiter {
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

const RESPONSE_HEADERS = [ResponseStatus.Ok, ResponseStatus.HandlerError, ResponseStatus.TooLarge, ResponseStatus.Delivered];
const MAX_ID = 0xffffffff;

/**
 * The requester side of a session: one long-lived stream to a peer that carries every request
 * and one-way message to it, each frame tagged with an id, responses matched by id.
 *
 * Opening a libp2p stream costs a protocol negotiation and peer-store bookkeeping that need
 * the event loop, and several small writes: per request, on each side. A request issued just
 * before a long synchronous task (applying a page) would leave only after it. On a session a
 * request is one frame, written at once.
 * Guarded by the bench's libp2p backfill rows (sender CPU per 1000 records).
 *
 * The hello exchange tells each side the other's frame limit, so an oversized request is
 * refused here and an oversized response is answered with a TooLarge frame: the stream never
 * has to carry a frame the other side would refuse, which it could not skip. Frames up to the
 * smallest limit any node accepts go out right behind the hello, without waiting for its reply:
 * the first request on a new connection (a catch-up's watermark exchange) saves a round trip.
 */
export class SyncSession {
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** The peer's frame limit, once its hello arrived. */
  private peerLimit: number | undefined;
  private readonly helloReceived: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void };

  private constructor(
    private readonly stream: Stream,
    private readonly lp: LengthPrefixedStream,
    private readonly peerId: string,
    private readonly onEnd: (session: SyncSession) => void,
  ) {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined);
    this.helloReceived = { promise, resolve, reject };
    void this.readResponses();
  }

  /** Opens a session stream on `connection` and sends the hello (its reply is read with the responses). */
  static async open(connection: Connection, init: SyncSessionInit, signal: AbortSignal, onEnd: (session: SyncSession) => void): Promise<SyncSession> {
    const stream = await connection.newStream(init.protocol, { signal, maxOutboundStreams: init.maxConcurrentStreams });
    try {
      const lp = lpStream(stream, frameStreamOptions(init.maxMessageBytes, SESSION_HEADER_BYTES));
      await lp.write(encodeHello(FrameKind.Session, init.maxMessageBytes), { signal });
      return new SyncSession(stream, lp, connection.remotePeer.toString(), onEnd);
    } catch (error) {
      stream.abort(asError(error));
      throw error;
    }
  }

  /** Resolves once the peer answered the hello (it accepted this node); rejects if the session failed first. */
  ready(): Promise<void> {
    return this.helloReceived.promise;
  }

  /** False once the stream failed or closed; a new session is needed then. */
  get alive(): boolean {
    return this.failure === undefined && this.stream.status === 'open';
  }

  /** Resolves with the response payload. */
  request(payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    return this.exchange(FrameKind.Request, payload, deadline);
  }

  /** Resolves once the peer's handler has the message (messages are handled in the order sent). */
  async send(payload: Uint8Array, deadline: Deadline): Promise<void> {
    await this.exchange(FrameKind.OneWay, payload, deadline);
  }

  /** Ends the session; whatever is waiting fails with `reason`. */
  close(reason: Error): void {
    this.fail(reason);
  }

  private async exchange(kind: FrameKind, payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    // A frame every node takes goes at once; a larger one waits to learn the peer's limit.
    if (payload.byteLength > MIN_MAX_MESSAGE_BYTES && this.peerLimit === undefined) await untilAborted(this.helloReceived.promise, deadline.signal);
    if (!this.alive) throw this.failure ?? new Error(`session stream is ${this.stream.status}`);
    if (this.peerLimit !== undefined && payload.byteLength > this.peerLimit) {
      throw new TransportError('HW_FRAME_TOO_LARGE', `Payload of ${payload.byteLength} bytes exceeds the limit of ${this.peerLimit} bytes of peer ${this.peerId}`);
    }
    return this.roundTrip(kind, payload, deadline);
  }

  private roundTrip(kind: FrameKind, payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    const id = this.nextId;
    this.nextId = id >= MAX_ID ? 1 : id + 1;
    const { signal } = deadline;
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(id);
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(id, {
        resolve: (response) => {
          signal.removeEventListener('abort', onAbort);
          resolve(response);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      const frame = encodeSessionFrame(kind, id, payload);
      // Frames go out whole and in call order; one that waited past its deadline is skipped.
      this.writing = this.writing
        .then(() => (this.waiters.has(id) ? this.lp.write(frame) : undefined))
        .catch((error: unknown) => this.fail(asError(error)));
    });
  }

  private async readResponses(): Promise<void> {
    try {
      const hello = parseResponseFrame(await this.lp.read());
      if (hello.status !== ResponseStatus.Ok) {
        throw new TransportError('HW_PEER_UNREACHABLE', `Peer ${this.peerId} refused a session: ${decodeReason(hello.payload)}`);
      }
      this.peerLimit = helloLimit(hello.payload);
      this.helloReceived.resolve();
      for (;;) {
        const frame = parseSessionFrame(await this.lp.read(), RESPONSE_HEADERS);
        const waiter = this.waiters.get(frame.id);
        if (!waiter) continue; // its request gave up (deadline) before the answer came
        this.waiters.delete(frame.id);
        switch (frame.header) {
          case ResponseStatus.Ok:
          case ResponseStatus.Delivered:
            waiter.resolve(frame.payload);
            break;
          case ResponseStatus.TooLarge:
            waiter.reject(new TransportError('HW_FRAME_TOO_LARGE', `Peer ${this.peerId} refused the exchange: ${decodeReason(frame.payload)}`));
            break;
          default:
            waiter.reject(new TransportError('HW_PEER_UNREACHABLE', `Peer ${this.peerId} could not answer: ${decodeReason(frame.payload)}`));
        }
      }
    } catch (error) {
      this.fail(asError(error));
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.helloReceived.reject(error);
    for (const waiter of this.waiters.values()) waiter.reject(error);
    this.waiters.clear();
    this.stream.abort(error);
    this.onEnd(this);
  }
}

