import type { Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';

/**
 * Port: the library's own domain data (`database.db` in the SQLite adapter), one table per
 * registered model, each row carrying its owner device and the HLC of its last write.
 *
 * Writes are last-writer-wins by HLC at the storage level: an upsert or delete older than
 * (or equal to) what is stored changes nothing. That makes applying a batch idempotent and
 * order-independent, so a page applied twice after a crash is harmless.
 */
export interface RecordStore {
  /**
   * Applies upserts then deletes for one model in a single transaction (all or nothing).
   * An upsert replaces the stored row only if its HLC is greater; a delete removes the row
   * only if the stored HLC is smaller. For device-owned models the owner of a stored record
   * never changes: an upsert naming another owner changes nothing. Tombstones are the
   * caller's business (SyncStore).
   */
  applyBatch(model: string, batch: RecordBatch, options?: ApplyOptions): Promise<ApplyResult>;
  /** Keyset page of one model in (HLC, id) order strictly after `after`, optionally for one owner. */
  page(model: string, query: PageQuery): Promise<SyncRecord[]>;
  /** The stored records among `ids` (any order; missing ids are absent). */
  getMany(model: string, ids: readonly string[]): Promise<SyncRecord[]>;
  /** Number of records of a model, optionally of one owner and with an HLC after `afterHlc`. */
  count(model: string, owner?: string, afterHlc?: Hlc | null): Promise<number>;
  close(): Promise<void>;
}

/** A record as it syncs: key, owner, HLC of its last write, field values (key excluded). */
export interface SyncRecord {
  readonly id: string;
  readonly ownerDeviceId: string;
  readonly hlc: Hlc;
  readonly data: RecordData;
  /**
   * The owner's (origin's) Ed25519 signature of the change, base64url (86 characters); absent
   * for changes written by a node without a device key. Stored and handed on as it came.
   */
  readonly sig?: string;
}

/** A delete as it syncs; `hlc` is the deleting write's clock. */
export interface RecordDeletion {
  readonly id: string;
  readonly ownerDeviceId: string;
  readonly hlc: Hlc;
}

export interface RecordBatch {
  readonly upserts?: readonly SyncRecord[];
  readonly deletes?: readonly RecordDeletion[];
}

export interface ApplyOptions {
  /**
   * Each upsert replaces the stored row and each delete removes it, whatever HLC is stored: the
   * versions a ConflictResolver chose (shared models), or a scrub's repair of rows the store
   * lost or altered. Default false: last writer wins by HLC.
   */
  readonly resolved?: boolean;
}

export interface ApplyResult {
  /**
   * Rows inserted or replaced. A record named more than once in one batch ends as if its writes
   * came one by one; a write that a later one of the same batch superseded may count here or
   * under `unchanged` (an adapter may drop it before writing).
   */
  readonly upserted: number;
  /** Rows removed. */
  readonly deleted: number;
  /** Upserts and deletes that lost to a newer or equal stored HLC (or deleted a missing row). */
  readonly unchanged: number;
}

/** Keyset position: the (HLC, record id) of the last record seen. Portable between peers. */
export interface RecordCursor {
  readonly hlc: Hlc;
  readonly id: string;
}

export interface PageQuery {
  /** Only records of this owner device. */
  readonly owner?: string;
  /** Exclusive lower bound (a resume token); omit or null to start from the beginning. */
  readonly after?: RecordCursor | null;
  /**
   * Exclusive lower bound on the HLC alone (a watermark): records with a greater HLC. Used
   * only when `after` is absent.
   */
  readonly afterHlc?: Hlc | null;
  readonly limit: number;
}
