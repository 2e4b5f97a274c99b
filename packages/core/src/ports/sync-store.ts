import type { Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';
import type { RecordCursor } from './record-store.js';

/**
 * Port: sync metadata (never domain data), `sync.db` in the SQLite adapter. Every write that
 * records progress (watermarks, acks) only moves forward, so a late or repeated write can
 * never make a node forget what it already has.
 */
export interface SyncStore {
  // --- per-resource watermarks (the watermark-fix plan: never one global watermark) ---
  /** Highest HLC applied for records of `resourceType` owned by `ownerDeviceId`. */
  getWatermark(ownerDeviceId: string, resourceType: string): Promise<Hlc | null>;
  /** Moves the watermark to `hlc` if that is ahead of it; returns whether it moved. */
  advanceWatermark(ownerDeviceId: string, resourceType: string, hlc: Hlc): Promise<boolean>;
  /** All watermarks, ordered by (owner, resource). */
  listWatermarks(): Promise<ResourceWatermark[]>;

  // --- backfill checkpoints (saved only after the page they cover is durable) ---
  saveCheckpoint(checkpoint: BackfillCheckpointInput): Promise<void>;
  loadCheckpoint(ownerDeviceId: string, resourceType: string): Promise<BackfillCheckpoint | null>;
  /** All checkpoints, ordered by (owner, resource). */
  listCheckpoints(): Promise<BackfillCheckpoint[]>;
  /** Removes one checkpoint, or all when called without arguments. */
  clearCheckpoints(ownerDeviceId?: string, resourceType?: string): Promise<void>;

  // --- node-level sync state (e.g. "backfill finished"), small string values ---
  getSyncState(key: string): Promise<string | null>;
  setSyncState(key: string, value: string): Promise<void>;

  // --- shared-change log (HLC is the primary key, so appends are idempotent) ---
  /** Appends changes whose HLC is not yet stored; returns how many were new. */
  appendSharedChanges(changes: readonly SharedChange[]): Promise<number>;
  /** Changes with HLC > `query.after` in HLC order, optionally of one origin device and model. */
  sharedChangesSince(query: SharedChangeQuery): Promise<SharedChange[]>;
  /** Deletes changes with HLC <= `upTo`; returns how many. */
  pruneSharedChanges(upTo: Hlc): Promise<number>;
  countSharedChanges(): Promise<number>;

  // --- peer acks of the shared log ---
  /** Records that `peerDeviceId` has applied the shared log up to `hlc` (forward only). */
  recordAck(peerDeviceId: string, hlc: Hlc): Promise<boolean>;
  /** All acks, ordered by peer. */
  listAcks(): Promise<PeerAck[]>;

  // --- tombstones of deleted records ---
  /** Stores tombstones, keeping the highest HLC per (model, record id). */
  putTombstones(tombstones: readonly Tombstone[]): Promise<void>;
  /** Tombstones among `recordIds` of `model`, keyed by record id. */
  getTombstones(model: string, recordIds: readonly string[]): Promise<Map<string, Tombstone>>;
  /** Keyset page of one model's tombstones in (HLC, record id) order, optionally for one owner. */
  tombstonesAfter(model: string, query: TombstoneQuery): Promise<Tombstone[]>;
  /** Deletes tombstones with HLC <= `upTo`; returns how many. */
  pruneTombstones(upTo: Hlc): Promise<number>;

  // --- parked changes: received, waiting for a record they reference (see DependencyParking) ---
  /**
   * Stores changes that wait for a record they reference, keyed by (model, record id, HLC):
   * parking one again changes nothing. Durable, so a watermark may cover a change that waits.
   */
  parkChanges(changes: readonly ParkedChange[]): Promise<void>;
  /** Removes parked changes (applied, or superseded by a newer version of their record). */
  unparkChanges(keys: readonly ParkedChangeKey[]): Promise<void>;
  /** Every parked change, in (HLC, record id, model) order (there are few: they wait for a dependency). */
  listParkedChanges(): Promise<ParkedChange[]>;

  // --- metrics snapshots (so metrics survive a restart) ---
  saveMetricsSnapshot(snapshot: MetricsSnapshot): Promise<void>;
  /** Newest first. */
  listMetricsSnapshots(limit: number): Promise<MetricsSnapshot[]>;
  /** Keeps the newest `keep` snapshots; returns how many were removed. */
  pruneMetricsSnapshots(keep: number): Promise<number>;

  close(): Promise<void>;
}

export interface ResourceWatermark {
  readonly ownerDeviceId: string;
  readonly resourceType: string;
  readonly watermark: Hlc;
  /** Wall time (ms) of the last move. */
  readonly updatedAt: number;
}

export interface BackfillCheckpointInput {
  readonly ownerDeviceId: string;
  readonly resourceType: string;
  /** Last record durably applied, or null before the first page. Portable between peers. */
  readonly cursor: RecordCursor | null;
  readonly completed: boolean;
  readonly recordsApplied: number;
  /** Records the serving peer announced for this resource, when known. */
  readonly recordsTotal: number | null;
}

export interface BackfillCheckpoint extends BackfillCheckpointInput {
  readonly updatedAt: number;
}

/** One change of a shared (log-based) record. The origin device is `hlc.deviceId`. */
export interface SharedChange {
  readonly hlc: Hlc;
  readonly model: string;
  readonly recordId: string;
  readonly op: 'upsert' | 'delete';
  /** Field values for an upsert; null for a delete. */
  readonly data: RecordData | null;
}

export interface PeerAck {
  readonly peerDeviceId: string;
  readonly hlc: Hlc;
  readonly updatedAt: number;
}

export interface Tombstone {
  readonly model: string;
  readonly recordId: string;
  readonly ownerDeviceId: string;
  readonly hlc: Hlc;
}

/** An upsert received before a record it references; applied once that record is stored. */
export interface ParkedChange {
  readonly model: string;
  readonly recordId: string;
  /** Owner (device-owned models) or origin (shared models): `hlc.deviceId`. */
  readonly ownerDeviceId: string;
  readonly hlc: Hlc;
  readonly data: RecordData;
}

export type ParkedChangeKey = Pick<ParkedChange, 'model' | 'recordId' | 'hlc'>;

export interface SharedChangeQuery {
  readonly after: Hlc | null;
  readonly limit: number;
  readonly originDeviceId?: string;
  readonly model?: string;
}

export interface TombstoneQuery {
  readonly owner?: string;
  /** Exclusive (HLC, record id) lower bound. */
  readonly after?: RecordCursor | null;
  /** Exclusive lower bound on the HLC alone; used only when `after` is absent. */
  readonly afterHlc?: Hlc | null;
  readonly limit: number;
}

export interface MetricsSnapshot {
  /** Wall time (ms) the snapshot was taken; unique per store. */
  readonly takenAt: number;
  readonly libraryId: string;
  readonly metrics: Readonly<Record<string, unknown>>;
}
