import type { LengthPrefixedStream, LengthPrefixedStreamOpts } from '@libp2p/utils';
import {
  FRAME_BUFFER_SLACK_BYTES,
  FRAME_HEADER_BYTES,
  FrameKind,
  MAX_REASON_BYTES,
  ResponseStatus,
  SESSION_HEADER_BYTES,
  SESSION_HELLO_BYTES,
} from './constants.js';
import { FrameLengthError, MalformedFrameError } from './errors.js';

/**
 * The frame layout of a sync stream (all frames varint-length-prefixed by lpStream):
 *
 *   requester → responder: [kind: 1 byte (1 request, 2 one-way)] [payload]
 *   responder → requester: [status: 1 byte (0 ok, 1 handler error, 2 too large)] [payload or UTF-8 reason]
 *
 * One request per stream, so no request ids: the stream is the correlation. A stream whose first
 * frame is a session hello ([3] [limit: u32]) is a session instead: the responder answers
 * [0] [limit: u32], and every later frame, both ways, is
 *
 *   [kind or status: 1 byte] [id: u32, big-endian] [payload]
 *
 * with responses matched to requests by id (they may come in any order), and one-way messages
 * acknowledged with status 3 (delivered) once the handler has them, in the order sent.
 */

/** What a frame read off the wire holds. `slice` copies, so the caller owns the payload. */
type FrameBytes = Awaited<ReturnType<LengthPrefixedStream['read']>>;

/** Bytes of the varint that encodes `value`. */
function varintLength(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

/**
 * Decodes a frame's varint length prefix. lpStream's default decoder answers an unfinished
 * varint with a RangeError, which lpStream takes as "read one more byte" — forever: a peer
 * sending 0x80 bytes without end would grow the prefix buffer without bound. This one gives up
 * once the prefix is longer than any allowed length needs.
 */
function lengthDecoder(maxLengthLength: number): (data: FrameBytes) => number {
  return (data) => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < data.byteLength; i++) {
      const byte = data.get(i);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    if (data.byteLength >= maxLengthLength) {
      throw new FrameLengthError(`frame length prefix longer than ${maxLengthLength} bytes: the frame exceeds the limit`);
    }
    throw new RangeError('incomplete varint'); // lpStream reads another byte
  };
}

/**
 * Options that bound what lpStream buffers to one frame of at most `maxMessageBytes` of payload
 * (plus `headerBytes`: one for single exchanges, five in a session).
 */
export function frameStreamOptions(maxMessageBytes: number, headerBytes: number = FRAME_HEADER_BYTES): Partial<LengthPrefixedStreamOpts> {
  const maxDataLength = maxMessageBytes + headerBytes;
  const maxLengthLength = varintLength(maxDataLength);
  return {
    maxDataLength,
    maxLengthLength,
    lengthDecoder: lengthDecoder(maxLengthLength),
    // The byte buffer must hold one whole frame (and its prefix) or lpStream aborts the stream
    // mid-frame; a longer frame is refused by its announced length before it is buffered.
    maxBufferSize: maxDataLength + maxLengthLength + FRAME_BUFFER_SLACK_BYTES,
  };
}

/** One frame: the header byte, then the payload (copied once; the payload is never shared). */
export function encodeFrame(header: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  frame[0] = header;
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** A short UTF-8 reason for an error frame; it is for logs and error messages, so it is capped. */
export function encodeReason(status: ResponseStatus, reason: string): Uint8Array {
  return encodeFrame(status, reasonBytes(reason));
}

/** A reason as UTF-8, capped at MAX_REASON_BYTES. */
function reasonBytes(reason: string): Uint8Array {
  const bytes = new TextEncoder().encode(reason);
  return bytes.byteLength > MAX_REASON_BYTES ? bytes.subarray(0, MAX_REASON_BYTES) : bytes;
}

export function decodeReason(payload: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(payload.subarray(0, MAX_REASON_BYTES));
}

export interface InboundFrame {
  readonly kind: FrameKind;
  readonly payload: Uint8Array;
}

export function parseInboundFrame(frame: FrameBytes): InboundFrame {
  if (frame.byteLength < FRAME_HEADER_BYTES) throw new MalformedFrameError('empty frame: no kind byte');
  const kind = frame.get(0);
  if (kind !== FrameKind.Request && kind !== FrameKind.OneWay && kind !== FrameKind.Session) {
    throw new MalformedFrameError(`unknown frame kind ${kind}`);
  }
  if (kind === FrameKind.Session && frame.byteLength !== FRAME_HEADER_BYTES + SESSION_HELLO_BYTES) {
    throw new MalformedFrameError(`session hello of ${frame.byteLength - FRAME_HEADER_BYTES} bytes (expected ${SESSION_HELLO_BYTES})`);
  }
  return { kind, payload: frame.slice(FRAME_HEADER_BYTES) };
}

/** A session hello: the header byte and the sender's frame limit. */
export function encodeHello(header: number, maxMessageBytes: number): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + SESSION_HELLO_BYTES);
  frame[0] = header;
  new DataView(frame.buffer).setUint32(FRAME_HEADER_BYTES, maxMessageBytes);
  return frame;
}

/** The frame limit a session hello's payload announces; at least 1, or the hello is malformed. */
export function helloLimit(payload: Uint8Array): number {
  if (payload.byteLength !== SESSION_HELLO_BYTES) throw new MalformedFrameError(`session hello of ${payload.byteLength} bytes (expected ${SESSION_HELLO_BYTES})`);
  const limit = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (limit < 1) throw new MalformedFrameError('session hello announces a frame limit of 0');
  return limit;
}

/** One session frame: header byte, id, payload (copied once). */
export function encodeSessionFrame(header: number, id: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(SESSION_HEADER_BYTES + payload.byteLength);
  frame[0] = header;
  new DataView(frame.buffer).setUint32(1, id);
  frame.set(payload, SESSION_HEADER_BYTES);
  return frame;
}

/** A session frame whose payload is a capped UTF-8 reason. */
export function encodeSessionReason(status: ResponseStatus, id: number, reason: string): Uint8Array {
  return encodeSessionFrame(status, id, reasonBytes(reason));
}

export interface SessionFrame {
  /** The kind (requester → responder) or status (responder → requester). */
  readonly header: number;
  readonly id: number;
  readonly payload: Uint8Array;
}

/** Reads a session frame whose header must be one of `headers`. */
export function parseSessionFrame(frame: FrameBytes, headers: readonly number[]): SessionFrame {
  if (frame.byteLength < SESSION_HEADER_BYTES) throw new MalformedFrameError(`session frame of ${frame.byteLength} bytes: shorter than its header`);
  const header = frame.get(0);
  if (!headers.includes(header)) throw new MalformedFrameError(`unexpected session frame header ${header}`);
  const id = ((frame.get(1) << 24) >>> 0) + (frame.get(2) << 16) + (frame.get(3) << 8) + frame.get(4);
  return { header, id, payload: frame.slice(SESSION_HEADER_BYTES) };
}

export interface ResponseFrame {
  readonly status: ResponseStatus;
  readonly payload: Uint8Array;
}

export function parseResponseFrame(frame: FrameBytes): ResponseFrame {
  if (frame.byteLength < FRAME_HEADER_BYTES) throw new MalformedFrameError('empty response frame: no status byte');
  const status = frame.get(0);
  if (status !== ResponseStatus.Ok && status !== ResponseStatus.HandlerError && status !== ResponseStatus.TooLarge) {
    throw new MalformedFrameError(`unknown response status ${status}`);
  }
  return { status, payload: frame.slice(FRAME_HEADER_BYTES) };
}

/**
 * Whether a read failed because the peer sent more than one frame may hold: lpStream refused
 * the announced length, or the bytes overflowed the bounded read buffer before that.
 */
export function isFrameTooLargeError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return (
    name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'FrameLengthError' || name === 'StreamBufferError'
  );
}
