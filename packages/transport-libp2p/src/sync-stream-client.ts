import { TransportError } from '@highwater/core';
import type { Connection, Stream } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStreamOpts } from '@libp2p/utils';
import { FrameKind, ResponseStatus } from './constants.js';
import type { Deadline } from './deadline.js';
import { decodeReason, encodeFrame, frameStreamOptions, parseResponseFrame } from './frames.js';
import { asError, closeWithin, whenClosed } from './stream-utils.js';

export interface SyncStreamClientInit {
  readonly protocol: string;
  readonly maxMessageBytes: number;
  readonly maxConcurrentStreams: number;
  /** Grace for the responder to close a stream after its last frame. */
  readonly closeGraceMs: number;
  /** A measured round trip of a request (from opening the stream to the response). */
  readonly onRoundTrip: (peerId: string, ms: number) => void;
  /** A spare stream older than this is not used (the responder drops idle streams). */
  readonly spareMaxAgeMs: number;
}

/** A spare stream was closed by the responder before the request went out on it. */
class SpareStreamGoneError extends Error {
  constructor(cause?: unknown) {
    super('spare stream was closed', { cause });
  }
}

/**
 * The requester side of the sync protocol: one stream per request or one-way message, opened
 * on an existing connection (never a new dial); a request goes out on a spare stream opened
 * in advance, so it leaves at once. Errors surface as thrown; the transport maps
 * them to TransportErrors, knowing whether its deadline or a stop caused them.
 */
export class SyncStreamClient {
  private readonly frameOptions: Partial<LengthPrefixedStreamOpts>;
  /** One spare request stream per connection (by connection id). */
  private readonly spares = new Map<string, { connection: Connection; stream: Promise<Stream>; openedAt: number }>();

  constructor(private readonly init: SyncStreamClientInit) {
    this.frameOptions = frameStreamOptions(init.maxMessageBytes);
  }

  async request(connection: Connection, payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    const { signal } = deadline;
    const spare = this.takeSpare(connection);
    if (spare) {
      try {
        return await this.exchange(connection, spare, payload, deadline);
      } catch (error) {
        // The responder drops a stream that carried no frame for its frame timeout, and may have
        // just done so to this spare: it never saw the request, so it goes once more on a fresh
        // stream. Anything else (our deadline, a stop, a refusal) is final.
        if (signal.aborted || !(error instanceof SpareStreamGoneError)) throw error;
      }
    }
    return this.exchange(connection, await this.open(connection, signal), payload, deadline);
  }

  /** Aborts every spare stream (the transport is stopping). */
  dropSpares(): void {
    for (const { stream } of this.spares.values()) void stream.then((s) => s.abort(new Error('transport stopping')), () => undefined);
    this.spares.clear();
  }

  /**
   * A negotiated stream to the peer, opened while the previous request was under way, or null.
   * Opening a stream costs a protocol negotiation and peer-store bookkeeping that need the event
   * loop; a requester that asks for the next page and then applies the current one (blocking
   * its event loop) would otherwise send that request only after applying. Taking a spare also
   * starts opening the next one.
   */
  private takeSpare(connection: Connection): Promise<Stream> | null {
    for (const [id, entry] of this.spares) if (entry.connection.status !== 'open') this.spares.delete(id);
    const entry = this.spares.get(connection.id);
    this.spares.delete(connection.id);
    if (connection.status === 'open') {
      const opening = this.open(connection, AbortSignal.timeout(this.init.closeGraceMs));
      opening.catch(() => this.spares.delete(connection.id));
      this.spares.set(connection.id, { connection, stream: opening, openedAt: performance.now() });
    }
    if (!entry || performance.now() - entry.openedAt > this.init.spareMaxAgeMs) {
      if (entry) void entry.stream.then((s) => s.abort(new Error('spare stream expired')), () => undefined);
      return null;
    }
    return entry.stream.then(
      (stream) => {
        if (stream.status !== 'open' || stream.writeStatus !== 'writable' || stream.remoteReadStatus !== 'readable') throw new SpareStreamGoneError();
        return stream;
      },
      () => Promise.reject(new SpareStreamGoneError()),
    );
  }

  private async exchange(connection: Connection, opening: Stream | Promise<Stream>, payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    const peerId = connection.remotePeer.toString();
    const { signal } = deadline;
    const started = performance.now();
    const stream = await opening;
    let sent = false;
    try {
      const lp = lpStream(stream, this.frameOptions);
      await lp.write(encodeFrame(FrameKind.Request, payload), { signal });
      // Half-close: the request is complete; the responder's close ends the stream.
      await stream.close({ signal });
      sent = true;
      const response = parseResponseFrame(await lp.read({ signal }));
      const elapsed = performance.now() - started;
      closeWithin(stream, this.init.closeGraceMs);
      switch (response.status) {
        case ResponseStatus.Ok:
          this.init.onRoundTrip(peerId, elapsed);
          return response.payload;
        case ResponseStatus.TooLarge:
          throw new TransportError('HW_FRAME_TOO_LARGE', `Peer ${peerId} refused the exchange: ${decodeReason(response.payload)}`);
        case ResponseStatus.HandlerError:
          throw new TransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} could not answer: ${decodeReason(response.payload)}`);
      }
    } catch (error) {
      stream.abort(asError(error));
      // A spare the responder had already dropped fails before the request is out.
      if (!sent && !signal.aborted && stream.status !== 'open' && opening instanceof Promise) throw new SpareStreamGoneError(error);
      throw error;
    }
  }

  /**
   * Resolves once the receiver has the message: it closes the stream after handing the frame
   * to its handler, and the transport sends a peer's messages one after the other, so they are
   * handled in the order sent.
   */
  async send(connection: Connection, payload: Uint8Array, deadline: Deadline): Promise<void> {
    const { signal } = deadline;
    const stream = await this.open(connection, signal);
    try {
      const lp = lpStream(stream, this.frameOptions);
      await lp.write(encodeFrame(FrameKind.OneWay, payload), { signal });
      await stream.close({ signal });
      await whenClosed(stream, signal);
    } catch (error) {
      stream.abort(asError(error));
      throw error;
    }
  }

  private open(connection: Connection, signal: AbortSignal): Promise<Stream> {
    return connection.newStream(this.init.protocol, { signal, maxOutboundStreams: this.init.maxConcurrentStreams });
  }
}
