/**
 * Highwater wire protocol, version 1: the messages peers exchange, as plain data. Every
 * message carries the protocol version, the library id and the sending device, so a node can
 * refuse messages of another library before looking further. HLCs travel in their text form.
 *
 * Request/response pairs: StateRequest → StateResponse, SharedChangeRequest →
 * SharedChangeResponse, WatermarkExchangeRequest → WatermarkExchangeResponse; any request may
 * instead be answered by an Error. One-way: StateChange, StateBatch, SharedChange,
 * StreamAcks, HeadsAnnounce, Error.
 */

/** The newest protocol version this node speaks; it writes every message in it. */
export const PROTOCOL_VERSION = 1;
/** The oldest protocol version this node still reads. */
export const MIN_PROTOCOL_VERSION = 1;

/** Limits enforced by validation; a message beyond them is refused, not truncated. */
export const PROTOCOL_LIMITS = {
  /** Changes in one StateBatch / StateResponse / SharedChange / SharedChangeResponse. */
  maxChangesPerMessage: 10_000,
  /** Page size a requester may ask for. */
  maxPageSize: 10_000,
  /** Field names a state-response may list for its rows. */
  maxFields: 1_000,
  /** Heads in a watermark exchange or announce, spans in a live message. */
  maxHeads: 100_000,
  maxIdLength: 256,
  maxNameLength: 128,
  maxMessageLength: 1_000,
} as const;

export interface MessageEnvelope {
  readonly v: typeof PROTOCOL_VERSION;
  readonly libraryId: string;
  /** The sending device (not necessarily the owner of the changes it carries). */
  readonly deviceId: string;
}

/** One change of one record, device-owned or shared. `hlc.deviceId` must equal `owner`. */
export interface WireChange {
  readonly model: string;
  readonly id: string;
  /** Owner device (device-owned models) or origin device (shared models). */
  readonly owner: string;
  /** HLC text of the write. */
  readonly hlc: string;
  readonly op: 'upsert' | 'delete';
  /** Field values for an upsert (validated against the model); absent for a delete. */
  readonly data?: Record<string, unknown>;
  /** The owner's Ed25519 signature of the change (see `changeSigningBytes`), base64url. */
  readonly sig?: string;
}

/** Keyset position (HLC text, record id): a portable resume token. */
export interface WireCursor {
  readonly hlc: string;
  readonly id: string;
}

/** What a node holds of one (owner, resource): its watermark and how many records. */
export interface WireHead {
  readonly owner: string;
  readonly resource: string;
  readonly hlc: string;
  /**
   * In a response: how many records of this (owner, resource) the responder holds after the
   * requester's watermark for it (all of them when the requester has none) — what a pull of
   * it will bring, for honest progress. Absent in requests.
   */
  readonly count?: number;
  /**
   * In a response: every change of this (owner, resource) after the requester's watermark is
   * in the response's `changes`, so a catch-up of it needs no state request. Absent in requests.
   */
  readonly inline?: boolean;
  /** The newest head of this stream its owner signed that the sender knows (see SignedHeads). */
  readonly signed?: SignedHead;
}

/**
 * What a live message's changes complete of one (owner, resource) stream: together with every
 * change of the stream up to `from` (from its beginning when null), they are every change of it
 * up to `to`, as the sender holds it. A receiver whose watermark is at least `from` may move it
 * to `to`; one that is behind has a gap, keeps its watermark and catches up instead. Changes of
 * a stream no span names never move its watermark.
 */
export interface WireSpan {
  readonly owner: string;
  readonly resource: string;
  readonly from: string | null;
  readonly to: string;
  /** As in WireHead: the owner's signature that its stream reaches at least this far. */
  readonly signed?: SignedHead;
}

/** An owner's Ed25519 signature (base64url) that its (owner, resource) stream reached `hlc`. */
export interface SignedHead {
  readonly hlc: string;
  readonly sig: string;
}

/** A single live change of a device-owned record. */
export interface StateChangeMessage extends MessageEnvelope {
  readonly type: 'state-change';
  readonly change: WireChange;
  readonly spans?: readonly WireSpan[];
}

/** Live changes of device-owned records, batched over a short window, in write order. */
export interface StateBatchMessage extends MessageEnvelope {
  readonly type: 'state-batch';
  readonly changes: readonly WireChange[];
  /** The streams these changes complete (see WireSpan). */
  readonly spans?: readonly WireSpan[];
}

/**
 * Asks for one (owner, resource)'s changes in (HLC, id) order: after `after` (a resume
 * token from a checkpoint) or, when that is null, after `afterHlc` (a watermark), or from the
 * beginning when both are null.
 */
export interface StateRequestMessage extends MessageEnvelope {
  readonly type: 'state-request';
  readonly requestId: string;
  readonly model: string;
  readonly owner: string;
  readonly after: WireCursor | null;
  readonly afterHlc: string | null;
  readonly limit: number;
  /**
   * The requester reads the page as rows: the responder names the model's `fields` in its
   * response, and a codec may then send each change as a row of values in that order
   * (the JSON codec does). Responders that do not know it send changes as objects.
   */
  readonly rows?: boolean;
}

/** A page of upserts and deletes (tombstones) merged in (HLC, id) order. */
export interface StateResponseMessage extends MessageEnvelope {
  readonly type: 'state-response';
  readonly requestId: string;
  readonly model: string;
  readonly owner: string;
  readonly changes: readonly WireChange[];
  /**
   * The model's fields in the order of the page's rows, when the request asked for rows. On the
   * wire the JSON codec then writes each change of this model and owner as a row — `[id, hlc]`
   * for a delete, `[id, hlc, ...values]` for an upsert — and decoding restores the change
   * objects, so validation sees what it would have seen. A change that a row cannot carry
   * exactly (another model or owner, data with other keys or an undefined value) makes the
   * codec send the whole page as objects.
   */
  readonly fields?: readonly string[];
  /** Resume token after this page (the last change), or null for an empty page. */
  readonly next: WireCursor | null;
  readonly hasMore: boolean;
  /**
   * Present when the request started below the responder's prune point of this stream (HLC
   * text): deletes up to it may be gone without a tombstone, so a requester holding records of
   * the stream must pull it from its beginning and drop what the pages do not hold.
   */
  readonly prunedUpTo?: string;
}

/** Live changes of shared records, in HLC order. */
export interface SharedChangeMessage extends MessageEnvelope {
  readonly type: 'shared-change';
  readonly changes: readonly WireChange[];
  /** The (origin, model) streams these changes complete (see WireSpan). */
  readonly spans?: readonly WireSpan[];
}

/** Asks for the shared log of one (origin, model) after an HLC. */
export interface SharedChangeRequestMessage extends MessageEnvelope {
  readonly type: 'shared-change-request';
  readonly requestId: string;
  readonly model: string;
  readonly origin: string;
  readonly afterHlc: string | null;
  readonly limit: number;
}

/**
 * A page of the shared log. `complete` is false when the log was pruned past `afterHlc`,
 * so the requester must fetch that origin's state instead (StateRequest).
 */
export interface SharedChangeResponseMessage extends MessageEnvelope {
  readonly type: 'shared-change-response';
  readonly requestId: string;
  readonly changes: readonly WireChange[];
  readonly hasMore: boolean;
  readonly complete: boolean;
}

/**
 * The sender's heads as acks: it holds every change of each stream up to its head. Receivers
 * prune a stream's tombstones and shared changes below every member's ack; unlike a heads
 * announcement, it never starts a catch-up.
 */
export interface StreamAcksMessage extends MessageEnvelope {
  readonly type: 'stream-acks';
  readonly heads: readonly WireHead[];
}

/**
 * What a node speaks, sent both ways in the watermark exchange (the handshake): two nodes sync
 * only if their protocol ranges meet, and each learns which version of each model the other has
 * (a node absent from a peer's list, or a peer that sends no versions, is taken as version 1).
 */
export interface WireVersions {
  /** The oldest and newest protocol versions the sender speaks. */
  readonly protocol: readonly [number, number];
  /** Each of the sender's models and its version (`ModelDefinition.version`). */
  readonly models: Readonly<Record<string, number>>;
  /** Newer versions of its models the sender has heard of from its peers, so a relayed newer change is kept aside, not refused. */
  readonly seen?: Readonly<Record<string, number>>;
}

/** Sent on (re)connect: the requester's heads; the response carries the responder's. */
export interface WatermarkExchangeRequestMessage extends MessageEnvelope {
  readonly type: 'watermark-exchange-request';
  readonly requestId: string;
  readonly heads: readonly WireHead[];
  readonly versions?: WireVersions;
  /**
   * The most changes the requester takes inline in the response: the responder may send the
   * new changes of streams it owns whole, within this many in all. Absent or 0: none.
   */
  readonly inline?: number;
}

export interface WatermarkExchangeResponseMessage extends MessageEnvelope {
  readonly type: 'watermark-exchange-response';
  readonly requestId: string;
  readonly heads: readonly WireHead[];
  readonly versions?: WireVersions;
  /** The changes of the heads marked `inline`, each stream in (HLC, id) order. */
  readonly changes?: readonly WireChange[];
}

/**
 * The sender's heads, sent when its watermarks moved by something its peers did not get live
 * (a pull, a gap closed) and periodically: a peer that is behind on a stream catches up.
 */
export interface HeadsAnnounceMessage extends MessageEnvelope {
  readonly type: 'heads-announce';
  readonly heads: readonly WireHead[];
}

/** A stream the requester holds up to `upTo` (its watermark of it), to compare. */
export interface WireStreamPoint {
  readonly owner: string;
  readonly resource: string;
  readonly upTo: string;
}

/** What the responder holds of a stream up to `upTo`: its live records, counted and hashed (see StreamDigests). */
export interface WireStreamDigest extends WireStreamPoint {
  readonly count: number;
  /** 32 bytes, base64url: the XOR of each record's SHA-256 over its signed form. */
  readonly digest: string;
}

/**
 * Asks for digests of streams, to find records a store lost or damaged (a scrub). The responder
 * answers only for streams whose watermark it has at exactly `upTo` and that hold nothing
 * waiting (parked): only then must both hold the very same records.
 */
export interface StreamDigestRequestMessage extends MessageEnvelope {
  readonly type: 'stream-digest-request';
  readonly requestId: string;
  readonly streams: readonly WireStreamPoint[];
}

export interface StreamDigestResponseMessage extends MessageEnvelope {
  readonly type: 'stream-digest-response';
  readonly requestId: string;
  readonly digests: readonly WireStreamDigest[];
}

/** A refused message or failed request; `code` is a HighwaterError code. */
export interface ErrorMessage extends MessageEnvelope {
  readonly type: 'error';
  /** The request this answers, if it answers one. */
  readonly requestId: string | null;
  readonly code: string;
  readonly message: string;
}

export type SyncMessage =
  | StateChangeMessage
  | StateBatchMessage
  | StateRequestMessage
  | StateResponseMessage
  | SharedChangeMessage
  | SharedChangeRequestMessage
  | SharedChangeResponseMessage
  | StreamAcksMessage
  | WatermarkExchangeRequestMessage
  | WatermarkExchangeResponseMessage
  | HeadsAnnounceMessage
  | StreamDigestRequestMessage
  | StreamDigestResponseMessage
  | ErrorMessage;

export type SyncMessageType = SyncMessage['type'];

/** Distributes Omit over the union, so each variant keeps its own fields. */
export type MessageBody<M extends SyncMessage = SyncMessage> = M extends SyncMessage ? Omit<M, keyof MessageEnvelope> : never;
