import { compareHlc, formatHlc, parseHlc, type Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';
import { NewerVersionData, type ModelRegistry } from '../models/model-registry.js';
import type { RecordCursor, SyncRecord } from '../ports/record-store.js';
import type { SharedChange, Tombstone } from '../ports/sync-store.js';
import type { WireChange, WireCursor, WireSpan } from '../protocol/messages.js';

/**
 * One change of one record inside the engine: the decoded, validated form of a WireChange.
 * `owner` is the owner device (device-owned models) or the origin device (shared models), and
 * always equals `hlc.deviceId`.
 */
export interface Change {
  readonly model: string;
  readonly id: string;
  readonly owner: string;
  readonly hlc: Hlc;
  readonly op: 'upsert' | 'delete';
  readonly data: RecordData | null;
  /** The owner's signature (see trust/change-signature.ts); absent from nodes without a device key. */
  readonly sig?: string;
  /**
   * Fields of the data this node's version of the model lacks (see
   * `ModelRegistry.validateRemoteData`): the change is a newer version's, kept aside unapplied.
   */
  readonly newerFields?: readonly string[];
}

/** (HLC, id) order: the order of every stream the engine reads and applies. */
export function compareChanges(a: { hlc: Hlc; id: string }, b: { hlc: Hlc; id: string }): number {
  return compareHlc(a.hlc, b.hlc) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Decodes wire changes (already checked by the protocol schemas, HLC text included) and validates each
 * upsert's data against its model. Throws UnknownModelError / RecordValidationError: one bad
 * change refuses the whole message, so nothing of it is stored. An upsert of a newer version
 * of its model comes out marked with `newerFields`.
 */
export function changesFromWire(registry: ModelRegistry, wire: readonly WireChange[]): Change[] {
  return wire.map((w) => {
    const hlc = parseHlc(w.hlc);
    if (w.op === 'delete') {
      registry.get(w.model);
      return new DecodedChange(w.model, w.id, w.owner, hlc, null, w.sig);
    }
    const data = registry.validateRemoteData(w.model, w.id, w.data);
    return data instanceof NewerVersionData
      ? new DecodedChange(w.model, w.id, w.owner, hlc, data.data, w.sig, data.newerFields)
      : new DecodedChange(w.model, w.id, w.owner, hlc, data, w.sig);
  });
}

/** A change decoded from the wire (a delete has no data); a class rather than a literal for the reason ParsedHlc gives (clock/hlc.ts). */
class DecodedChange implements Change {
  readonly op: 'upsert' | 'delete';

  constructor(
    readonly model: string,
    readonly id: string,
    readonly owner: string,
    readonly hlc: Hlc,
    readonly data: RecordData | null,
    readonly sig: string | undefined,
    readonly newerFields: readonly string[] | undefined = undefined,
  ) {
    this.op = data === null ? 'delete' : 'upsert';
  }
}

export function changeToWire(c: Change): WireChange {
  const wire: WireChange =
    c.op === 'upsert'
      ? { model: c.model, id: c.id, owner: c.owner, hlc: formatHlc(c.hlc), op: 'upsert', data: c.data ?? {} }
      : { model: c.model, id: c.id, owner: c.owner, hlc: formatHlc(c.hlc), op: 'delete' };
  return c.sig === undefined ? wire : { ...wire, sig: c.sig };
}

/** `changeToWire(changeFromRecord(model, r))` without the change in between. */
export function recordToWire(model: string, r: SyncRecord): WireChange {
  return r.sig === undefined
    ? { model, id: r.id, owner: r.ownerDeviceId, hlc: formatHlc(r.hlc), op: 'upsert', data: r.data }
    : { model, id: r.id, owner: r.ownerDeviceId, hlc: formatHlc(r.hlc), op: 'upsert', data: r.data, sig: r.sig };
}

export function changeFromRecord(model: string, r: SyncRecord): Change {
  return withSig({ model, id: r.id, owner: r.ownerDeviceId, hlc: r.hlc, op: 'upsert', data: r.data }, r.sig);
}

export function changeFromTombstone(t: Tombstone): Change {
  return withSig({ model: t.model, id: t.recordId, owner: t.ownerDeviceId, hlc: t.hlc, op: 'delete', data: null }, t.sig);
}

export function changeFromShared(s: SharedChange): Change {
  return withSig({ model: s.model, id: s.recordId, owner: s.hlc.deviceId, hlc: s.hlc, op: s.op, data: s.data }, s.sig);
}

export function changeToShared(c: Change): SharedChange {
  return withSig({ hlc: c.hlc, model: c.model, recordId: c.id, op: c.op, data: c.data }, c.sig);
}

/** `value` with `sig` when there is one (absent, not undefined, otherwise: stores and the wire tell the two apart). */
export function withSig<T extends object>(value: T, sig: string | undefined): T & { sig?: string } {
  return sig === undefined ? value : { ...value, sig };
}

export function cursorToWire(c: RecordCursor): WireCursor {
  return { hlc: formatHlc(c.hlc), id: c.id };
}

export function cursorFromWire(c: WireCursor): RecordCursor {
  return { hlc: parseHlc(c.hlc), id: c.id };
}

/**
 * A claim about one (owner, model) stream: the changes it comes with, together with every change
 * of the stream up to `from` (from its beginning when null), are every change of it up to `to`.
 * It is the only thing that moves a watermark (see ChangeApplier): a node whose watermark is at
 * least `from` may move it to `to`, and one that is behind has a gap it must catch up instead.
 */
export interface Span {
  readonly owner: string;
  readonly model: string;
  readonly from: Hlc | null;
  readonly to: Hlc;
}

export function spanToWire(s: Span): WireSpan {
  return { owner: s.owner, resource: s.model, from: s.from ? formatHlc(s.from) : null, to: formatHlc(s.to) };
}

export function spanFromWire(s: WireSpan): Span {
  return { owner: s.owner, model: s.resource, from: s.from === null ? null : parseHlc(s.from), to: parseHlc(s.to) };
}
