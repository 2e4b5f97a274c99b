import type { Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';

/**
 * Port: the shared-change log, the changes of shared (log-based) records. The HLC is the
 * primary key, so appending a change twice stores it once.
 */
export interface SharedLogStore {
  /** Appends the changes whose HLC is not yet stored (idempotent); returns how many were new. */
  appendSharedChanges(changes: readonly SharedChange[]): Promise<number>;
  /**
   * Up to `query.limit` changes with HLC > `query.after`, in HLC order, optionally of one
   * origin device and one model. Paging with the last HLC seen misses and repeats nothing.
   */
  sharedChangesSince(query: SharedChangeQuery): Promise<SharedChange[]>;
  /** Deletes the changes of one origin device and model with HLC <= `upTo`; returns how many. */
  pruneSharedChanges(origin: string, model: string, upTo: Hlc): Promise<number>;
  /** How many changes are stored. */
  countSharedChanges(): Promise<number>;
}

/** One change of a shared (log-based) record. The origin device is `hlc.deviceId`. */
export interface SharedChange {
  readonly hlc: Hlc;
  readonly model: string;
  readonly recordId: string;
  readonly op: 'upsert' | 'delete';
  /** Field values for an upsert; null for a delete. */
  readonly data: RecordData | null;
  /**
   * The owner's (origin's) Ed25519 signature of the change, base64url (86 characters); absent
   * for changes written by a node without a device key. Stored and handed on as it came.
   */
  readonly sig?: string;
}

export interface SharedChangeQuery {
  /** Exclusive lower bound; null to start from the beginning. */
  readonly after: Hlc | null;
  readonly limit: number;
  readonly originDeviceId?: string;
  readonly model?: string;
}
