import { TransportError, type PairingHandler } from '@highwater/core';
import type { Connection, Logger, Stream } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import { FrameKind, MAX_CONCURRENT_PAIRINGS, PAIR_PROTOCOL, PAIR_STREAMS_PER_CONNECTION, PAIRING_MAX_BYTES, ResponseStatus } from './constants.js';
import { decodeReason, encodeFrame, encodeReason, frameStreamOptions, isFrameTooLargeError, parseInboundFrame, parseResponseFrame } from './frames.js';
import { asError, closeWithin, errorMessage, untilStreamCloses } from './stream-utils.js';

/**
 * The pairing protocol (`/highwater/pair/1.0.0`): one exchange per stream, in the single-exchange
 * frame layout of the sync protocol, bounded by PAIRING_MAX_BYTES both ways:
 *
 *   joiner  → inviter: [1 (request)] [payload]          then the joiner half-closes
 *   inviter → joiner:  [status: 0 ok, 1 handler error, 2 too large] [answer or UTF-8 reason]
 *
 * Only the inviter's pairing handler is behind it: a stranger admitted through the open door
 * reaches nothing else, and the payloads authenticate themselves a layer up (core's pairing).
 */

/** Bounds what lpStream buffers for one pairing frame: PAIRING_MAX_BYTES and the header byte. */
const PAIR_FRAME_OPTIONS = frameStreamOptions(PAIRING_MAX_BYTES);

/** Options for `node.handle(PAIR_PROTOCOL, …)`. */
export const PAIR_STREAM_LIMITS = {
  maxInboundStreams: PAIR_STREAMS_PER_CONNECTION,
  maxOutboundStreams: PAIR_STREAMS_PER_CONNECTION,
} as const;

export interface PairStreamHandlerInit {
  /** The pairing handler set now (`acceptPairing`), looked up per stream: `null` when the door is closed. */
  readonly handler: () => PairingHandler | null;
  /** How long a joiner may take to deliver its request once it opened a stream. */
  readonly frameTimeoutMs: number;
  readonly log: Logger;
}

/**
 * The inviter's side: answers a pairing request with the handler's bytes while a handler is
 * set, and resets the stream otherwise. Like the sync handler, nothing here throws into libp2p
 * and nothing larger than one permitted frame is buffered.
 */
export class PairStreamHandler {
  /** Exchanges being served, so a stop can end them and their number stays bounded. */
  private readonly active = new Set<Stream>();

  constructor(private readonly init: PairStreamHandlerInit) {}

  /** The libp2p stream handler (bound, so it can be passed to `handle`). */
  readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString();
    try {
      if (this.init.handler() === null) {
        this.init.log('refused a pairing stream from %s: not accepting pairing requests', from);
        stream.abort(new Error('not accepting pairing requests'));
        return;
      }
      if (this.active.size >= MAX_CONCURRENT_PAIRINGS) {
        this.init.log('refused a pairing stream from %s: %d exchanges in progress', from, this.active.size);
        stream.abort(new Error('too many pairing requests at once'));
        return;
      }
      this.active.add(stream);
      await this.serve(stream, from);
    } catch (error) {
      this.init.log('pairing stream from %s failed: %s', from, errorMessage(error));
      stream.abort(asError(error));
    } finally {
      this.active.delete(stream);
    }
  };

  /** Aborts every exchange still being served (the transport is stopping). */
  abortAll(reason: Error): void {
    for (const stream of [...this.active]) stream.abort(reason);
    this.active.clear();
  }

  private async serve(stream: Stream, from: string): Promise<void> {
    const lp = lpStream(stream, PAIR_FRAME_OPTIONS);
    // A joiner that opens a stream and stalls must not hold one of the few pairing slots.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no complete frame within ${this.init.frameTimeoutMs} ms`)), this.init.frameTimeoutMs);
    let payload: Uint8Array;
    try {
      const frame = parseInboundFrame(await lp.read({ signal: timeout.signal }));
      if (frame.kind !== FrameKind.Request) throw new Error(`a pairing stream carries one request, not frame kind ${frame.kind}`);
      payload = frame.payload;
    } catch (error) {
      if (isFrameTooLargeError(error)) {
        await this.refuseTooLarge(stream, lp, from, errorMessage(error));
        return;
      }
      this.init.log('dropped a pairing stream from %s: %s', from, errorMessage(error));
      stream.abort(asError(error));
      return;
    } finally {
      clearTimeout(timer);
    }

    // Looked up again: the door may have closed while the request was arriving.
    const handler = this.init.handler();
    if (handler === null) {
      stream.abort(new Error('not accepting pairing requests'));
      return;
    }
    const work = Promise.resolve().then(() => handler(payload));
    const outcome = await untilStreamCloses(stream, work).catch((error: unknown) => ({ done: true as const, value: asError(error) }));
    if (!outcome.done) return; // the joiner gave up, or its connection was hung up
    await lp.write(this.replyFor(outcome.value, from));
    await stream.close();
    closeWithin(stream, this.init.frameTimeoutMs);
  }

  private replyFor(result: unknown, from: string): Uint8Array {
    if (result instanceof Error) {
      this.init.log('pairing handler failed for a request from %s: %s', from, result.message);
      return encodeReason(ResponseStatus.HandlerError, `pairing handler failed: ${result.message}`);
    }
    if (!(result instanceof Uint8Array)) return encodeReason(ResponseStatus.HandlerError, 'the pairing handler returned something other than bytes');
    if (result.byteLength > PAIRING_MAX_BYTES) {
      this.init.log('pairing answer of %d bytes to %s exceeds the %d byte limit', result.byteLength, from, PAIRING_MAX_BYTES);
      return encodeReason(ResponseStatus.TooLarge, `pairing answer of ${result.byteLength} bytes exceeds the limit of ${PAIRING_MAX_BYTES} bytes`);
    }
    return encodeFrame(ResponseStatus.Ok, result);
  }

  /** A request announced as longer than the limit: refused without buffering it (see SyncStreamHandler). */
  private async refuseTooLarge(stream: Stream, lp: LengthPrefixedStream, from: string, reason: string): Promise<void> {
    this.init.log('refused an oversized pairing request from %s: %s', from, reason);
    await stream.closeRead();
    await lp.write(encodeReason(ResponseStatus.TooLarge, `pairing request exceeds the limit of ${PAIRING_MAX_BYTES} bytes`));
    await stream.close();
    closeWithin(stream, this.init.frameTimeoutMs);
  }
}

/**
 * The joiner's side: one exchange on a new pairing stream over `connection`; resolves with the
 * inviter's answer. A refusal by the inviter's handler is HW_PEER_UNREACHABLE with its reason,
 * an oversized frame either way HW_FRAME_TOO_LARGE; other failures (a reset because the door is
 * closed, a dropped connection, `signal`) reject with what happened underneath, for the caller
 * to map.
 */
export async function requestPairing(connection: Connection, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  const peerId = connection.remotePeer.toString();
  const stream = await connection.newStream(PAIR_PROTOCOL, { signal, maxOutboundStreams: PAIR_STREAMS_PER_CONNECTION });
  try {
    const lp = lpStream(stream, PAIR_FRAME_OPTIONS);
    await lp.write(encodeFrame(FrameKind.Request, payload), { signal });
    await stream.close({ signal });
    const response = parseResponseFrame(await lp.read({ signal }));
    switch (response.status) {
      case ResponseStatus.Ok:
        return response.payload;
      case ResponseStatus.TooLarge:
        throw new TransportError('HW_FRAME_TOO_LARGE', `Peer ${peerId} refused the pairing exchange: ${decodeReason(response.payload)}`);
      default:
        throw new TransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} did not answer the pairing request: ${decodeReason(response.payload)}`);
    }
  } catch (error) {
    stream.abort(asError(error));
    throw error;
  }
}
