import type { InboundDelivery } from '@highwater/core';
import type { Connection, Logger, Stream } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStream, type LengthPrefixedStreamOpts } from '@libp2p/utils';
import { FrameKind, ResponseStatus, SESSION_HEADER_BYTES } from './constants.js';
import {
  encodeFrame,
  encodeHello,
  encodeReason,
  encodeSessionFrame,
  encodeSessionReason,
  frameStreamOptions,
  helloLimit,
  isFrameTooLargeError,
  parseInboundFrame,
  parseSessionFrame,
} from './frames.js';
import type { Membership } from './membership.js';
import { asError, closeWithin, errorMessage, untilStreamCloses } from './stream-utils.js';

export interface SyncStreamHandlerInit {
  readonly membership: Membership;
  readonly maxMessageBytes: number;
  /** How long a peer may take to deliver its frame once it opened a stream. */
  readonly frameTimeoutMs: number;
  /** Requests of one session handled at once; further frames wait to be read. */
  readonly maxConcurrentRequests: number;
  /** The transport's inbound handler, looked up per message. */
  readonly deliver: InboundDelivery;
  /**
   * A stream from a peer that is not a member (any more): close its connection, unless the
   * transport admits it for a pairing exchange (its streams are refused all the same).
   */
  readonly onNonMember: (connection: Connection) => void;
  readonly log: Logger;
}

/**
 * The responder side of the sync protocol: reads one frame per stream, checks it, hands it to
 * the inbound handler and, for requests, writes one response frame. Whatever a peer sends, the
 * worst outcome is that its stream is dropped: nothing here throws into libp2p, and no buffer
 * larger than one permitted frame is ever allocated (lengths are checked before reading).
 */
export class SyncStreamHandler {
  private readonly frameOptions: Partial<LengthPrefixedStreamOpts>;
  private readonly sessionFrameOptions: Partial<LengthPrefixedStreamOpts>;
  /** Streams being served, so a stop can end them instead of waiting for their handlers. */
  private readonly active = new Set<Stream>();

  constructor(private readonly init: SyncStreamHandlerInit) {
    this.frameOptions = frameStreamOptions(init.maxMessageBytes);
    this.sessionFrameOptions = frameStreamOptions(init.maxMessageBytes, SESSION_HEADER_BYTES);
  }

  /** The libp2p stream handler (bound, so it can be passed to `handle`). */
  readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString();
    try {
      // The gater refused non-members when they connected; this catches peers removed from a
      // dynamic members list since then, strangers the gater admitted for pairing (they may use
      // the pairing protocol only), and any connection a future libp2p lets past the gater.
      if (!this.init.membership.isMember(from)) {
        this.init.log('refused a sync stream from non-member %s', from);
        stream.abort(new Error('not a member of this library'));
        this.init.onNonMember(connection);
        return;
      }
      this.active.add(stream);
      await this.serve(stream, from);
    } catch (error) {
      // Usually the requester went away mid-answer; the stream is all that is lost.
      this.init.log('sync stream from %s failed: %s', from, errorMessage(error));
      stream.abort(asError(error));
    } finally {
      this.active.delete(stream);
    }
  };

  /** Aborts every stream still being served (the transport is stopping; their requesters get a reset). */
  abortAll(reason: Error): void {
    for (const stream of [...this.active]) stream.abort(reason);
    this.active.clear();
  }

  private async serve(stream: Stream, from: string): Promise<void> {
    const lp = lpStream(stream, this.frameOptions);
    // A peer that opens a stream and stalls must not hold it forever.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no complete frame within ${this.init.frameTimeoutMs} ms`)), this.init.frameTimeoutMs);
    let frame;
    try {
      frame = parseInboundFrame(await lp.read({ signal: timeout.signal }));
    } catch (error) {
      if (isFrameTooLargeError(error)) {
        await this.refuseTooLarge(stream, lp, from, errorMessage(error));
        return;
      }
      this.init.log('dropped a sync stream from %s: %s', from, errorMessage(error));
      stream.abort(asError(error));
      return;
    } finally {
      clearTimeout(timer);
    }

    // A stream may be opened well before its first frame arrives: membership is checked again
    // for what the frame asks, not only for the stream (sessions check every frame).
    if (!this.init.membership.isMember(from)) {
      stream.abort(new Error('not a member of this library'));
      return;
    }
    if (frame.kind === FrameKind.Session) {
      await this.serveSession(stream, lp, from, helloLimit(frame.payload));
      return;
    }
    if (frame.kind === FrameKind.OneWay) {
      // Delivered before the stream is closed: the sender waits for that close before its next
      // message to this peer, so one-way messages reach the handler in the order sent.
      this.init.deliver({ from, payload: frame.payload, expectsResponse: false })?.catch((error: unknown) => {
        this.init.log('one-way handler failed for a message from %s: %s', from, errorMessage(error));
      });
      await stream.close();
      closeWithin(stream, this.init.frameTimeoutMs); // a sender that never closes its side
      return;
    }

    let reply: Uint8Array;
    const delivery = this.init.deliver({ from, payload: frame.payload, expectsResponse: true });
    if (!delivery) {
      reply = encodeReason(ResponseStatus.HandlerError, 'no inbound handler is installed');
    } else {
      const outcome = await untilStreamCloses(stream, delivery).catch((error: unknown) => ({
        done: true as const,
        value: error instanceof Error ? error : new Error(String(error)),
      }));
      if (!outcome.done) return; // the requester gave up (timeout) or the connection dropped
      reply = this.replyFor(outcome.value, from);
    }
    await lp.write(reply);
    await stream.close();
    closeWithin(stream, this.init.frameTimeoutMs);
  }

  private replyFor(result: Uint8Array | undefined | Error, from: string): Uint8Array {
    const reply = this.checkReply(result, from, this.init.maxMessageBytes);
    return reply.ok ? encodeFrame(ResponseStatus.Ok, reply.payload) : encodeReason(reply.status, reply.reason);
  }

  /** What to answer with: the handler's bytes, or why not (a failure, or over `limit`). */
  private checkReply(
    result: Uint8Array | undefined | Error,
    from: string,
    limit: number,
  ): { ok: true; payload: Uint8Array } | { ok: false; status: ResponseStatus; reason: string } {
    if (result instanceof Error) {
      this.init.log('handler failed for a request from %s: %s', from, result.message);
      return { ok: false, status: ResponseStatus.HandlerError, reason: `handler failed: ${result.message}` };
    }
    if (result === undefined) return { ok: false, status: ResponseStatus.HandlerError, reason: 'the handler returned no response' };
    if (!(result instanceof Uint8Array)) return { ok: false, status: ResponseStatus.HandlerError, reason: 'the handler returned something other than bytes' };
    if (result.byteLength > limit) {
      this.init.log('response of %d bytes to %s exceeds the %d byte limit', result.byteLength, from, limit);
      return { ok: false, status: ResponseStatus.TooLarge, reason: `response of ${result.byteLength} bytes exceeds the limit of ${limit} bytes` };
    }
    return { ok: true, payload: result };
  }

  /**
   * A session: after the hello, frames with ids until the requester ends the stream. Requests
   * are handled concurrently (at most `maxConcurrentRequests` at once) and answered as they
   * finish; one-way messages reach the handler in the order sent and are acknowledged. A
   * response over the requester's announced limit is answered with TooLarge. A malformed or
   * oversized frame ends the session (its bytes cannot be skipped), and so does a frame from a
   * peer that is no longer a member.
   */
  private async serveSession(stream: Stream, helloStream: LengthPrefixedStream, from: string, peerLimit: number): Promise<void> {
    // A reader with the session's header size takes over; frames the requester sent right
    // behind its hello, already buffered by the first reader, are handed back to the stream.
    helloStream.unwrap();
    const lp = lpStream(stream, this.sessionFrameOptions);
    await lp.write(encodeHello(ResponseStatus.Ok, this.init.maxMessageBytes));
    const responseLimit = Math.min(peerLimit, this.init.maxMessageBytes);
    let writing: Promise<void> = Promise.resolve();
    const write = (frame: Uint8Array): void => {
      writing = writing.then(() => lp.write(frame)).catch((error: unknown) => stream.abort(asError(error)));
    };
    let inFlight = 0;
    let slotFreed: (() => void) | undefined;
    for (;;) {
      let frame;
      try {
        frame = parseSessionFrame(await lp.read(), [FrameKind.Request, FrameKind.OneWay]);
      } catch (error) {
        if (stream.status === 'open' && stream.readStatus !== 'closed') {
          this.init.log('ended a session from %s: %s', from, errorMessage(error));
          stream.abort(asError(error));
        }
        return;
      }
      if (!this.init.membership.isMember(from)) {
        stream.abort(new Error('not a member of this library'));
        return;
      }
      const id = frame.id;
      if (frame.header === FrameKind.OneWay) {
        this.init.deliver({ from, payload: frame.payload, expectsResponse: false })?.catch((error: unknown) => {
          this.init.log('one-way handler failed for a message from %s: %s', from, errorMessage(error));
        });
        write(encodeSessionFrame(ResponseStatus.Delivered, id, new Uint8Array(0)));
        continue;
      }
      while (inFlight >= this.init.maxConcurrentRequests) await new Promise<void>((resolve) => (slotFreed = resolve));
      inFlight++;
      const delivery = this.init.deliver({ from, payload: frame.payload, expectsResponse: true });
      const work = delivery
        ? delivery.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))
        : Promise.resolve(new Error('no inbound handler is installed'));
      void work.then((result) => {
        inFlight--;
        slotFreed?.();
        slotFreed = undefined;
        const reply = this.checkReply(result, from, responseLimit);
        write(reply.ok ? encodeSessionFrame(ResponseStatus.Ok, id, reply.payload) : encodeSessionReason(reply.status, id, reply.reason));
      });
    }
  }

  /**
   * A frame announced as longer than the limit: nothing of it is buffered. The requester learns
   * why (a TooLarge frame, so a peer configured with a larger limit gets HW_FRAME_TOO_LARGE
   * rather than a bare reset); whatever else it sends is discarded, and the stream is aborted if
   * it does not finish in time.
   */
  private async refuseTooLarge(stream: Stream, lp: LengthPrefixedStream, from: string, reason: string): Promise<void> {
    this.init.log('refused an oversized frame from %s: %s', from, reason);
    await stream.closeRead();
    await lp.write(encodeReason(ResponseStatus.TooLarge, `frame exceeds the limit of ${this.init.maxMessageBytes} bytes`));
    await stream.close();
    closeWithin(stream, this.init.frameTimeoutMs);
  }
}
