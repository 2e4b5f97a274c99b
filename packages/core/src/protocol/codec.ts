/**
 * The byte encoding of wire messages, behind a seam: a codec only turns messages into bytes and
 * bytes into an untrusted value; validation is `parseSyncMessage`'s, whatever the codec. JSON
 * today; a binary codec (msgpackr, cbor-x) can replace it without anything else assuming JSON.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors.js';
import { PROTOCOL_LIMITS, type SyncMessage, type WireChange } from './messages.js';
import { BATCH_ID_LENGTH, PlaceScan } from './batch-place.js';
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
 * Lines, not one JSON text per page: small strings that die young keep memory flat (bench: peak
 * RSS at 100k and 1M).
 *
 * Rows: a state-response that lists its model's `fields` (the requester asked for rows) counts
 * `"rows"` instead, and each change is a line `[id, hlc]` (delete) or `[id, hlc, ...values in
 * fields order]` (upsert); model and owner are the envelope's, and the keys are not repeated per
 * change (bench stage "decode"). When every change is signed the envelope says `"signed": true`
 * and each row has the signature third: `[id, hlc, sig]`, `[id, hlc, sig, ...values]`; a sig
 * that is the next place of the previous row's batch (`<batch id>.<index + 1>.<size>`, no proof)
 * is sent as `"+"` (4 bytes for 26: most rows of a bulk write's pages; bench "relayed"). Decoding rebuilds the very change objects the object lines
 * would have given. Only a page every change of which a row carries exactly is sent so (see
 * `rowOf`).
 */
export const jsonCodec: MessageCodec = {
  name: 'json',
  encode(message: SyncMessage): Uint8Array {
    const changes = (message as { changes?: unknown }).changes;
    if (!Array.isArray(changes) || changes.length === 0) return encoder.encode(JSON.stringify(message));
    const rows = rowsOf(message, changes as readonly WireChange[]);
    // Per-change loops live in small helpers, so hot loops do not recompile this function (bench: first pages of a backfill).
    return rows
      ? joinLines(JSON.stringify({ ...message, changes: undefined, rows: rows.length, ...((changes[0] as WireChange).sig !== undefined ? { signed: true } : {}) }), rows)
      : joinLines(JSON.stringify({ ...message, changes: changes.length }), changes);
  },
  decode(bytes: Uint8Array): unknown {
    if (!isUtf8(bytes)) throw decodeError('not valid UTF-8');
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = text.indexOf(NEWLINE);
    if (end < 0) return parseJson(text.toString('utf8'), '');
    const head = parseJson(text.toString('utf8', 0, end), ' on line 1') as Record<string, unknown> | null;
    const asRows = typeof head === 'object' && head !== null && !Array.isArray(head) && Object.hasOwn(head, 'rows');
    const count = asRows ? head['rows'] : (head as { changes?: unknown } | null)?.changes;
    if (typeof head !== 'object' || head === null || !Number.isSafeInteger(count) || (count as number) < 1 || (asRows && Object.hasOwn(head, 'changes'))) {
      throw decodeError('a message of several lines must start with an object whose "changes" (or "rows") counts the lines after it');
    }
    const lines = parseLines(text, end + 1, count as number);
    if (asRows) {
      head['changes'] = changesOfRows(head, lines);
      delete head['rows'];
      delete head['signed'];
    } else {
      head['changes'] = lines;
    }
    return head;
  },
};

/** The `count` JSON lines of `text` from `start` on (a helper for the reason `joinLines` is). */
function parseLines(text: Buffer, start: number, count: number): unknown[] {
  const lines: unknown[] = [];
  for (let end = start - 1; end >= 0; start = end + 1) {
    if (lines.length === count) throw decodeError(`more lines than the ${count} announced`);
    end = text.indexOf(NEWLINE, start);
    lines.push(parseJson(text.toString('utf8', start, end < 0 ? text.length : end), ` on line ${lines.length + 2}`));
  }
  if (lines.length !== count) throw decodeError(`${lines.length} lines of changes, ${String(count)} announced`);
  return lines;
}

/** `head`, then each of `values` as JSON, a line each, as UTF-8. */
function joinLines(head: string, values: readonly unknown[]): Uint8Array {
  const lines = new Array<string>(values.length);
  let size = Buffer.byteLength(head) + values.length;
  for (let i = 0; i < values.length; i++) {
    const line = JSON.stringify(values[i]);
    lines[i] = line;
    size += Buffer.byteLength(line);
  }
  const bytes = Buffer.allocUnsafe(size);
  let offset = bytes.write(head, 0);
  for (const line of lines) {
    bytes[offset++] = NEWLINE;
    offset += bytes.write(line, offset);
  }
  return bytes;
}

/**
 * The rows of a state-response's changes, or null when it lists no usable `fields` or some
 * change a row cannot carry exactly: another model or owner than the envelope's, or upsert
 * data whose own keys are not exactly `fields`, each with a defined value.
 */
function rowsOf(message: SyncMessage, changes: readonly WireChange[]): unknown[][] | null {
  if (message.type !== 'state-response' || !usableFields(message.fields)) return null;
  const { model, owner, fields } = message;
  const signed = changes[0]!.sig !== undefined;
  const rows: unknown[][] = new Array(changes.length);
  const run = new BatchRun();
  for (let i = 0; i < changes.length; i++) {
    const row = rowOf(changes[i]!, model, owner, fields, signed);
    if (row === null) return null;
    if (signed) {
      const sig = row[2] as string;
      if (sig === run.next()) {
        row[2] = NEXT_IN_BATCH;
        run.advance();
      } else {
        run.follow(sig);
      }
    }
    rows[i] = row;
  }
  return rows;
}

/** A row's sig that stands for the place after the previous row's in the same batch. */
const NEXT_IN_BATCH = '+';
/**
 * The place after the previous row's in its batch: what a `"+"` row stands for. Made once per
 * row as one flat string (a concatenation would leave each stored sig a rope that every later
 * comparison and check flattens again; bench "relayed").
 */
class BatchRun {
  private readonly scan = new PlaceScan();
  /** `<batch id>.` of the previous row's place. */
  private head = '';
  /** The previous row's index in its batch; -1 when it is no batch member. */
  private index = -1;
  private size = 0;
  private sizeSuffix = '';
  private nextText: string | null = null;

  /** The sig a `"+"` stands for here; null after a row that is no batch member or the last of its batch. */
  next(): string | null {
    if (this.index < 0 || this.index + 1 >= this.size) return null;
    if (this.nextText === null) {
      const text = this.head + (this.index + 1) + this.sizeSuffix;
      text.charCodeAt(0); // flattens it
      this.nextText = text;
    }
    return this.nextText;
  }

  /** This row's sig was {@link next}. */
  advance(): void {
    this.index++;
    this.nextText = null;
  }

  /** This row's sig was `sig`, whatever its form. */
  follow(sig: unknown): void {
    this.nextText = null;
    if (typeof sig !== 'string' || !this.scan.read(sig)) {
      this.index = -1;
      return;
    }
    if (!sig.startsWith(this.head) || this.head.length === 0) this.head = sig.slice(0, BATCH_ID_LENGTH + 1);
    if (this.size !== this.scan.size) this.sizeSuffix = `.${this.scan.size}`;
    this.index = this.scan.index;
    this.size = this.scan.size;
  }
}

function rowOf(change: WireChange, model: string, owner: string, fields: readonly string[], signed: boolean): unknown[] | null {
  if (change.model !== model || change.owner !== owner || (change.sig !== undefined) !== signed) return null;
  const base = signed ? 3 : 2;
  if (change.op === 'delete') return change.data === undefined ? (signed ? [change.id, change.hlc, change.sig] : [change.id, change.hlc]) : null;
  const data = change.data;
  if (change.op !== 'upsert' || typeof data !== 'object' || data === null) return null;
  let keys = 0;
  for (const _ in data) keys++;
  if (keys !== fields.length) return null;
  const row = new Array<unknown>(fields.length + base);
  row[0] = change.id;
  row[1] = change.hlc;
  if (signed) row[2] = change.sig;
  for (let i = 0; i < fields.length; i++) {
    const value = data[fields[i]!];
    if (value === undefined || !Object.hasOwn(data, fields[i]!)) return null;
    row[i + base] = value;
  }
  return row;
}

/**
 * Field names rows can stand for: at least one (else an upsert's row would read as a delete's),
 * distinct, and never `__proto__` (assigning it would set the data object's prototype).
 */
function usableFields(fields: unknown): fields is readonly string[] {
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > PROTOCOL_LIMITS.maxFields) return false;
  const seen = new Set<string>();
  for (const f of fields) {
    if (typeof f !== 'string' || f === '__proto__' || seen.has(f)) return false;
    seen.add(f);
  }
  return true;
}

/** The change objects of decoded rows (model and owner from the envelope), for validation. */
function changesOfRows(head: Record<string, unknown>, rows: readonly unknown[]): unknown[] {
  const fields = head['fields'];
  if (!usableFields(fields)) {
    throw decodeError('rows need "fields": 1 to 1000 distinct field names, none "__proto__"');
  }
  const { model, owner } = head;
  const signed = head['signed'] === true;
  const base = signed ? 3 : 2;
  const upsertLength = fields.length + base;
  const changes = new Array<unknown>(rows.length);
  const run = new BatchRun();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row) || (row.length !== base && row.length !== upsertLength)) {
      throw decodeError(`row ${i + 1} is not [id, hlc${signed ? ', sig' : ''}] or [id, hlc${signed ? ', sig' : ''}, ...${fields.length} values]`);
    }
    if (signed) {
      if (row[2] === NEXT_IN_BATCH) {
        const next = run.next();
        if (next === null) throw decodeError(`row ${i + 1} has sig "+" but the row before it is no batch member with a place after it`);
        row[2] = next;
        run.advance();
      } else {
        run.follow(row[2]);
      }
    }
    if (row.length === base) {
      changes[i] = signed ? { model, id: row[0], owner, hlc: row[1], op: 'delete', sig: row[2] } : { model, id: row[0], owner, hlc: row[1], op: 'delete' };
      continue;
    }
    const data: Record<string, unknown> = {};
    for (let f = 0; f < fields.length; f++) data[fields[f]!] = row[f + base];
    changes[i] = signed ? { model, id: row[0], owner, hlc: row[1], op: 'upsert', data, sig: row[2] } : { model, id: row[0], owner, hlc: row[1], op: 'upsert', data };
  }
  return changes;
}

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
