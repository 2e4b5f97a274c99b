/**
 * The byte encoding of wire messages, behind a seam: a codec only turns messages into bytes and
 * bytes into an untrusted value; validation is `parseSyncMessage`'s, whatever the codec. JSON
 * today; a binary codec (msgpackr, cbor-x) can replace it without anything else assuming JSON.
 */
import { Buffer, isUtf8 } from 'node:buffer';
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

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);
}

const NEWLINE = 0x0a;

function decodeError(what: string, error?: unknown): ProtocolError {
  const reason = error === undefined ? what : `${what} (${reasonOf(error)})`;
  return new ProtocolError('HW_PROTOCOL_DECODE', `Cannot decode message: ${reason}`, error === undefined ? what : reasonOf(error));
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw decodeError(`not valid JSON${where}`, error);
  }
}

/**
 * UTF-8 JSON, one line per change. A message that carries a non-empty `changes` array is sent as
 * its envelope on the first line with `"changes"` replaced by their number, then one change per
 * line; any other message is one line. (JSON.stringify never writes a raw line break, so a line
 * break always separates two values.) The count makes a cut-short message undecodable rather
 * than a shorter valid one.
 *
 * Why lines: a page of 1000 changes is ~290 KB of text, and one JSON string of that size is a
 * V8 large object, reclaimed only by a major GC; a backfill makes one per page on each side, and
 * peak RSS then rose and fell by ~100 MB with V8's major-GC schedule. Lines of one change each
 * stay small and die young. Decoding costs the same.
 */
export const jsonCodec: MessageCodec = {
  name: 'json',
  encode(message: SyncMessage): Uint8Array {
    const changes = (message as { changes?: unknown }).changes;
    if (!Array.isArray(changes) || changes.length === 0) return encoder.encode(JSON.stringify(message));
    const lines = [JSON.stringify({ ...message, changes: changes.length })];
    for (const change of changes) lines.push(JSON.stringify(change));
    let size = lines.length - 1;
    for (const line of lines) size += Buffer.byteLength(line);
    const bytes = Buffer.allocUnsafe(size);
    let offset = 0;
    for (const [i, line] of lines.entries()) {
      if (i > 0) bytes[offset++] = NEWLINE;
      offset += bytes.write(line, offset);
    }
    return bytes;
  },
  decode(bytes: Uint8Array): unknown {
    if (!isUtf8(bytes)) throw decodeError('not valid UTF-8');
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let end = text.indexOf(NEWLINE);
    if (end < 0) return parseJson(text.toString('utf8'), '');
    const head = parseJson(text.toString('utf8', 0, end), ' on line 1');
    const count = (head as { changes?: unknown } | null)?.changes;
    if (typeof head !== 'object' || head === null || !Number.isSafeInteger(count) || (count as number) < 1) {
      throw decodeError('a message of several lines must start with an object whose "changes" counts the lines after it');
    }
    const changes: unknown[] = [];
    for (let start = end + 1; end >= 0; start = end + 1) {
      if (changes.length === count) throw decodeError(`more lines than the ${count} changes announced`);
      end = text.indexOf(NEWLINE, start);
      changes.push(parseJson(text.toString('utf8', start, end < 0 ? text.length : end), ` on line ${changes.length + 2}`));
    }
    if (changes.length !== count) throw decodeError(`${changes.length} lines of changes, ${String(count)} announced`);
    (head as { changes: unknown }).changes = changes;
    return head;
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
