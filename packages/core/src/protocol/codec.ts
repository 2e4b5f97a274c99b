/**
 * The byte encoding of wire messages, behind a seam: a codec only turns messages into bytes and
 * bytes into an untrusted value; validation is `parseSyncMessage`'s, whatever the codec. JSON
 * today; a binary codec (msgpackr, cbor-x) can replace it without anything else assuming JSON.
 */
import { ProtocolError } from '../errors.js';
import type { SyncMessage } from './messages.js';
import { parseSyncMessage } from './schemas.js';

export interface MessageCodec {
  /** Short name, e.g. for protocol negotiation and logs ("json"). */
  readonly name: string;
  encode(message: SyncMessage): Uint8Array;
  /**
   * The decoded value, not yet validated. Throws `ProtocolError('HW_PROTOCOL_DECODE')` when the
   * bytes are not a value of this encoding.
   */
  decode(bytes: Uint8Array): unknown;
}

const encoder = new TextEncoder();
/** `fatal`: invalid UTF-8 throws instead of decoding to U+FFFD. Stateless without `stream`. */
const decoder = new TextDecoder('utf-8', { fatal: true });

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);
}

/** UTF-8 JSON. */
export const jsonCodec: MessageCodec = {
  name: 'json',
  encode(message: SyncMessage): Uint8Array {
    return encoder.encode(JSON.stringify(message));
  },
  decode(bytes: Uint8Array): unknown {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch (error) {
      throw new ProtocolError('HW_PROTOCOL_DECODE', 'Cannot decode message: not valid UTF-8', reasonOf(error));
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new ProtocolError('HW_PROTOCOL_DECODE', `Cannot decode message: not valid JSON (${reasonOf(error)})`, reasonOf(error));
    }
  },
};

/**
 * Decodes and validates an inbound message of library `expectedLibraryId`. Throws only
 * `ProtocolError`: HW_PROTOCOL_DECODE for undecodable bytes, else `parseSyncMessage`'s codes.
 */
export function decodeMessage(codec: MessageCodec, bytes: Uint8Array, expectedLibraryId: string): SyncMessage {
  let value: unknown;
  try {
    value = codec.decode(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    // A codec that lets its library's error escape still yields a protocol refusal.
    throw new ProtocolError('HW_PROTOCOL_DECODE', `Cannot decode message with codec ${codec.name}: ${reasonOf(error)}`, reasonOf(error));
  }
  return parseSyncMessage(value, expectedLibraryId);
}

/** Encodes an outbound message. Not validated here: outbound messages are built by this node. */
export function encodeMessage(codec: MessageCodec, message: SyncMessage): Uint8Array {
  return codec.encode(message);
}
