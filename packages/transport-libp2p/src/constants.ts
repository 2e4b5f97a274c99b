/**
 * Wire constants and defaults of the libp2p transport. The protocol id is versioned: a change
 * to the frame layout below gets a new id, so old and new nodes fail protocol negotiation
 * cleanly instead of misreading each other's frames.
 */

/** The request timeout, the timer limit and the pairing frame limit every Highwater transport shares. */
export { DEFAULT_REQUEST_TIMEOUT_MS, MAX_TIMER_MS, PAIRING_MAX_BYTES } from '@highwater/core';

/**
 * libp2p protocol id of Highwater sync streams: a stream carries one exchange, or, after a
 * session hello, any number of them (see README, "Wire format").
 */
export const SYNC_PROTOCOL = '/highwater/sync/2.0.0';

/**
 * libp2p protocol id of pairing exchanges (`pair` / `acceptPairing`): one request frame and one
 * response frame per stream, each at most PAIRING_MAX_BYTES of payload (see README, "Pairing").
 * A separate protocol, not a frame kind of the sync protocol: its handler is the only one a
 * non-member admitted through an open door can reach, and it answers nothing else.
 */
export const PAIR_PROTOCOL = '/highwater/pair/1.0.0';

/**
 * Pairing streams open at once per connection and direction. A joiner makes one exchange at a
 * time; two leave room for a retry while the previous stream is still closing.
 */
export const PAIR_STREAMS_PER_CONNECTION = 2;

/**
 * Pairing exchanges one node serves at once, over all connections: a door open to strangers
 * must not let them queue unbounded work (each holds a buffer of up to one frame) on the handler.
 * Further requests are reset; a genuine joiner retries.
 */
export const MAX_CONCURRENT_PAIRINGS = 8;

/** libp2p's ping protocol (answered by @libp2p/ping; used for RTT probes and by the connection monitor). */
export const PING_PROTOCOL = '/ipfs/ping/1.0.0';

/**
 * How long after a connect its first RTT probe waits: opening the ping stream at once would
 * compete for CPU, on both sides, with the connection's first sync exchanges. A request
 * answered in the meantime measures the round trip itself, and the probe is dropped.
 * Guarded by test/rtt-tracker.test.ts and the bench's libp2p catch-up rows.
 */
export const CONNECT_PROBE_DELAY_MS = 250;

/** Size of a ping probe, fixed by the ping protocol. */
export const PING_LENGTH = 32;

/** First byte of the first frame on a stream: what the sender expects. */
export const FrameKind = {
  /** A response frame follows from the responder. */
  Request: 1,
  /** No response; the responder closes the stream once the handler has the message. */
  OneWay: 2,
  /**
   * Session hello: the payload is the sender's frame limit (4 bytes, big-endian). Every later
   * frame on the stream, both ways, carries a 4-byte request id after its first byte.
   */
  Session: 3,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** First byte of a response frame. */
export const ResponseStatus = {
  Ok: 0,
  /** The handler failed or returned nothing; the payload is a UTF-8 reason. */
  HandlerError: 1,
  /** The request or the response exceeds the responder's frame limit; the payload is a UTF-8 reason. */
  TooLarge: 2,
  /** Sessions only: a one-way message was handed to the handler (empty payload). */
  Delivered: 3,
} as const;
export type ResponseStatus = (typeof ResponseStatus)[keyof typeof ResponseStatus];

/** Bytes a frame carries besides its payload (the kind or status byte). */
export const FRAME_HEADER_BYTES = 1;

/** Bytes a session frame carries besides its payload: the kind or status byte and a 4-byte id. */
export const SESSION_HEADER_BYTES = 5;

/** Bytes of a session hello's payload: the sender's frame limit as an unsigned 32-bit integer. */
export const SESSION_HELLO_BYTES = 4;

/**
 * The smallest `maxMessageBytes` a node accepts, so every node takes frames of this size: a
 * session sends frames up to it right after its hello, before the peer's limit is known.
 */
export const MIN_MAX_MESSAGE_BYTES = 1024;

/**
 * Read-buffer room beyond one whole frame. Bytes keep arriving (one TCP read can carry many
 * muxer frames) while the length prefix is still being parsed; without room for them, an
 * oversized frame would overflow the buffer and reset the stream before it could be refused
 * with a TooLarge answer. The buffer stays bounded: one frame plus this.
 */
export const FRAME_BUFFER_SLACK_BYTES = 1024 * 1024;

/** Longest reason text sent back in a HandlerError or TooLarge frame (it is for logs, not data). */
export const MAX_REASON_BYTES = 512;

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0'] as const;
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** A frame limit above this is refused: one frame is buffered whole in memory on both sides. */
export const MAX_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_BOOTSTRAP_INTERVAL_MS = 10_000;
export const DEFAULT_PING_INTERVAL_MS = 10_000;
/** How long an RTT probe may take before it is abandoned (the connection monitor judges liveness). */
export const PING_TIMEOUT_MS = 5_000;
/**
 * Concurrent sync streams per connection and direction. libp2p's default (32 inbound) is below
 * what the engine opens while it pulls from a peer in parallel, and a refused stream looks like
 * a broken peer, so the limit is generous.
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 256;
