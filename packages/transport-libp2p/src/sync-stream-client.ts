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
}

/**
 * The requester side of the sync protocol: one stream per request or one-way message, opened
 * on an existing connection (never a new dial). Errors surface as thrown; the transport maps
 * them to TransportErrors, knowing whether its deadline or a stop caused them.
 */
export class SyncStreamClient {
  private readonly frameOptions: Partial<LengthPrefixedStreamOpts>;

  constructor(private readonly init: SyncStreamClientInit) {
    this.frameOptions = frameStreamOptions(init.maxMessageBytes);
  }

  async request(connection: Connection, payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    const peerId = connection.remotePeer.toString();
    const { signal } = deadline;
    const started = performance.now();
    const stream = await this.open(connection, signal);
    try {
      const lp = lpStream(stream, this.frameOptions);
      await lp.write(encodeFrame(FrameKind.Request, payload), { signal });
      // Half-close: the request is complete; the responder's close ends the stream.
      await stream.close({ signal });
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
