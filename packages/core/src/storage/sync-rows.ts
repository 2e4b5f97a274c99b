import { compareHlc, formatHlc, parseHlc, type Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';
import type { BackfillCheckpoint, BackfillCheckpointInput } from '../ports/checkpoint-store.js';
import type { MetricsSnapshot } from '../ports/metrics-snapshot-store.js';
import type { ParkedChange, ParkedChangeKey } from '../ports/parked-change-store.js';
import type { PeerAck, StreamAck } from '../ports/ack-store.js';
import type { SharedChange } from '../ports/shared-log-store.js';
import type { Tombstone } from '../ports/tombstone-store.js';
import type { ResourceWatermark } from '../ports/watermark-store.js';
import type { SqlValueKinds } from './sql-values.js';

/**
 * The sync metadata tables' columns, in the order the codec's `…Values` functions lay out a
 * row: an adapter's INSERT lists them so, and its SELECT reads them by these names. Both
 * adapters use these table and column names (`device_resource_watermarks`,
 * `backfill_checkpoints`, `shared_changes`, `peer_acks`, `tombstones`, `parked_changes`,
 * `sync_metrics_snapshots`); HLCs are stored in their text form. `sig` is the owner's (origin's)
 * signature of the change as it came (NULL when unsigned; read back as an absent `sig`).
 */
export const SYNC_COLUMNS = {
  watermarks: 'owner_device_id, resource_type, last_watermark, updated_at',
  checkpoints: 'owner_device_id, resource_type, resume_hlc, resume_id, completed, records_applied, records_total, updated_at',
  sharedChanges: 'hlc, origin_device_id, model, record_id, op, data, sig',
  acks: 'peer_device_id, owner_device_id, resource_type, last_acked_hlc, updated_at',
  tombstones: 'model, record_id, owner_device_id, hlc, sig',
  parkedChanges: 'model, record_id, hlc, owner_device_id, data, sig',
  parkedChangeKeys: 'model, record_id, hlc',
  metricsSnapshots: 'taken_at, library_id, snapshot_json',
} as const;

export interface WatermarkRow {
  readonly owner_device_id: string;
  readonly resource_type: string;
  readonly last_watermark: string;
  readonly updated_at: number;
}

export interface CheckpointRow {
  readonly owner_device_id: string;
  readonly resource_type: string;
  readonly resume_hlc: string | null;
  readonly resume_id: string | null;
  /** A boolean, or 1 / 0 where booleans are integers. */
  readonly completed: boolean | number;
  readonly records_applied: number;
  readonly records_total: number | null;
  readonly updated_at: number;
}

/** JSON columns hold text or the parsed value, as the driver returns them (`SqlValueKinds.json`). */
export interface SharedChangeRow {
  readonly hlc: string;
  readonly model: string;
  readonly record_id: string;
  readonly op: 'upsert' | 'delete';
  readonly data: unknown;
  /** NULL (or, from a row built by hand, absent) when the change is unsigned. */
  readonly sig?: string | null;
}

export interface AckRow {
  readonly peer_device_id: string;
  readonly owner_device_id: string;
  readonly resource_type: string;
  readonly last_acked_hlc: string;
  readonly updated_at: number;
}

export interface TombstoneRow {
  readonly model: string;
  readonly record_id: string;
  readonly owner_device_id: string;
  readonly hlc: string;
  readonly sig?: string | null;
}

export interface ParkedChangeRow {
  readonly model: string;
  readonly record_id: string;
  readonly hlc: string;
  readonly owner_device_id: string;
  readonly data: unknown;
  readonly sig?: string | null;
}

export interface MetricsSnapshotRow {
  readonly taken_at: number;
  readonly library_id: string;
  readonly snapshot_json: unknown;
}

const parseJsonText = (stored: unknown): unknown => (stored === null ? null : JSON.parse(stored as string));
const asParsed = (stored: unknown): unknown => stored;
const booleanAsInteger = (value: boolean): number => (value ? 1 : 0);
const booleanAsBoolean = (value: boolean): boolean => value;

/**
 * Rows of the sync metadata tables to port objects and back, for one driver's value kinds.
 * `…Values` give the values of one row in `SYNC_COLUMNS` order; `…FromRow` read a row by
 * column name. Every member is a bound function, so it can be passed to `map` as it is.
 */
export class SyncRowCodec {
  private readonly json: (stored: unknown) => unknown;
  private readonly boolean: (value: boolean) => boolean | number;

  constructor(kinds: SqlValueKinds) {
    this.json = kinds.json === 'text' ? parseJsonText : asParsed;
    this.boolean = kinds.booleans === 'integer' ? booleanAsInteger : booleanAsBoolean;
  }

  readonly watermarkValues = (ownerDeviceId: string, resourceType: string, hlc: Hlc, updatedAt: number): unknown[] => [
    ownerDeviceId,
    resourceType,
    formatHlc(hlc),
    updatedAt,
  ];

  readonly watermarkFromRow = (r: WatermarkRow): ResourceWatermark => ({
    ownerDeviceId: r.owner_device_id,
    resourceType: r.resource_type,
    watermark: parseHlc(r.last_watermark),
    updatedAt: r.updated_at,
  });

  readonly checkpointValues = (c: BackfillCheckpointInput, updatedAt: number): unknown[] => [
    c.ownerDeviceId,
    c.resourceType,
    c.cursor ? formatHlc(c.cursor.hlc) : null,
    c.cursor ? c.cursor.id : null,
    this.boolean(c.completed),
    c.recordsApplied,
    c.recordsTotal,
    updatedAt,
  ];

  readonly checkpointFromRow = (r: CheckpointRow): BackfillCheckpoint => ({
    ownerDeviceId: r.owner_device_id,
    resourceType: r.resource_type,
    cursor: r.resume_hlc !== null && r.resume_id !== null ? { hlc: parseHlc(r.resume_hlc), id: r.resume_id } : null,
    completed: r.completed === true || r.completed === 1,
    recordsApplied: r.records_applied,
    recordsTotal: r.records_total,
    updatedAt: r.updated_at,
  });

  readonly sharedChangeValues = (c: SharedChange): unknown[] => [
    formatHlc(c.hlc),
    c.hlc.deviceId,
    c.model,
    c.recordId,
    c.op,
    c.data === null ? null : JSON.stringify(c.data),
    c.sig ?? null,
  ];

  readonly sharedChangeFromRow = (r: SharedChangeRow): SharedChange => {
    const hlc = parseHlc(r.hlc);
    const data = this.json(r.data) as RecordData | null;
    return r.sig === null || r.sig === undefined
      ? { hlc, model: r.model, recordId: r.record_id, op: r.op, data }
      : { hlc, model: r.model, recordId: r.record_id, op: r.op, data, sig: r.sig };
  };

  readonly ackValues = (peerDeviceId: string, ack: StreamAck, updatedAt: number): unknown[] => [
    peerDeviceId,
    ack.owner,
    ack.resource,
    formatHlc(ack.hlc),
    updatedAt,
  ];

  readonly ackFromRow = (r: AckRow): PeerAck => ({
    peerDeviceId: r.peer_device_id,
    owner: r.owner_device_id,
    resource: r.resource_type,
    hlc: parseHlc(r.last_acked_hlc),
    updatedAt: r.updated_at,
  });

  readonly tombstoneValues = (t: Tombstone): unknown[] => [t.model, t.recordId, t.ownerDeviceId, formatHlc(t.hlc), t.sig ?? null];

  readonly tombstoneFromRow = (r: TombstoneRow): Tombstone => {
    const hlc = parseHlc(r.hlc);
    return r.sig === null || r.sig === undefined
      ? { model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc }
      : { model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc, sig: r.sig };
  };

  readonly parkedChangeValues = (c: ParkedChange): unknown[] => [
    c.model,
    c.recordId,
    formatHlc(c.hlc),
    c.ownerDeviceId,
    JSON.stringify(c.data),
    c.sig ?? null,
  ];

  readonly parkedChangeKeyValues = (k: ParkedChangeKey): unknown[] => [k.model, k.recordId, formatHlc(k.hlc)];

  readonly parkedChangeFromRow = (r: ParkedChangeRow): ParkedChange => {
    const hlc = parseHlc(r.hlc);
    const data = this.json(r.data) as RecordData;
    return r.sig === null || r.sig === undefined
      ? { model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc, data }
      : { model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc, data, sig: r.sig };
  };

  readonly metricsSnapshotValues = (s: MetricsSnapshot): unknown[] => [s.takenAt, s.libraryId, JSON.stringify(s.metrics)];

  readonly metricsSnapshotFromRow = (r: MetricsSnapshotRow): MetricsSnapshot => ({
    takenAt: r.taken_at,
    libraryId: r.library_id,
    metrics: this.json(r.snapshot_json) as Record<string, unknown>,
  });
}

/**
 * The acks of one `recordAcks` call with each (owner, resource) stream once, at its highest
 * HLC (what recording them one by one would leave), sorted by owner then resource. Adapters
 * write these: one statement may not update a row twice (PostgreSQL), the sorted order fixes
 * the lock order, and "how many acks moved" counts each stream at most once.
 */
export function highestAckPerStream(acks: readonly StreamAck[]): StreamAck[] {
  const highest = new Map<string, StreamAck>();
  for (const ack of acks) {
    const key = `${ack.owner}\u0000${ack.resource}`;
    const kept = highest.get(key);
    if (!kept || compareHlc(ack.hlc, kept.hlc) > 0) highest.set(key, ack);
  }
  return [...highest.values()].sort((a, b) => compareKeys(a.owner, b.owner) || compareKeys(a.resource, b.resource));
}

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
