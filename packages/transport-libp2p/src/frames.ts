import type { LengthPrefixedStream, LengthPrefixedStreamOpts } from '@libp2p/utils';
import { FRAME_BUFFER_SLACK_BYTES, FRAME_HEADER_BYTES, FrameKind, MAX_REASON_BYTES, ResponseStatus } from './constants.js';
import { FrameLengthError, MalformedFrameError } from './errors.js';

/**
 * The frame layout of a sync stream (all frames varint-length-prefixed by lpStream):
 *
 *   requester → responder: [kind: 1 byte (1 request, 2 one-way)] [payload]
 *   responder → requester: [status: 1 byte (0 ok, 1 handler error, 2 too large)] [payload or UTF-8 reason]
 *
 * One request per stream, so no request ids: the stream is the correlation.
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

/** Options that bound what lpStream buffers to one frame of at most `maxMessageBytes` of payload. */
export function frameStreamOptions(maxMessageBytes: number): Partial<LengthPrefixedStreamOpts> {
  const maxDataLength = maxMessageBytes + FRAME_HEADER_BYTES;
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
  const bytes = new TextEncoder().encode(reason);
  return encodeFrame(status, bytes.byteLength > MAX_REASON_BYTES ? bytes.subarray(0, MAX_REASON_BYTES) : bytes);
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
  if (kind !== FrameKind.Request && kind !== FrameKind.OneWay) {
    throw new MalformedFrameError(`unknown frame kind ${kind}`);
  }
  return { kind, payload: frame.slice(FRAME_HEADER_BYTES) };
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
