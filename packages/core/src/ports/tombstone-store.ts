import type { Hlc } from '../clock/hlc.js';
import type { PageQuery } from './record-store.js';

/** Port: tombstones of deleted records, served to peers like records and pruned by HLC. */
export interface TombstoneStore {
  /**
   * Stores tombstones, keeping the highest HLC per (model, record id): a tombstone older than
   * the stored one changes nothing, so storing a page twice or out of order is harmless.
   */
  putTombstones(tombstones: readonly Tombstone[]): Promise<void>;
  /** Tombstones among `recordIds` of `model`, keyed by record id (ids without one are absent). */
  getTombstones(model: string, recordIds: readonly string[]): Promise<Map<string, Tombstone>>;
  /**
   * Keyset page of one model's tombstones in (HLC, record id) order after the query's bound,
   * optionally of one owner: paging with the last (HLC, id) seen misses and repeats nothing.
   */
  tombstonesAfter(model: string, query: TombstoneQuery): Promise<Tombstone[]>;
  /** Deletes the tombstones of one (owner, model) stream with HLC <= `upTo`; returns how many. */
  pruneTombstones(model: string, owner: string, upTo: Hlc): Promise<number>;
}

export interface Tombstone {
  readonly model: string;
  readonly recordId: string;
  readonly ownerDeviceId: string;
  /** The deleting write's clock. */
  readonly hlc: Hlc;
  /**
   * The owner's (origin's) Ed25519 signature of the change, base64url (86 characters); absent
   * for changes written by a node without a device key. Stored and handed on as it came.
   */
  readonly sig?: string;
}

/**
 * A keyset page of tombstones: the same query as a page of records (`PageQuery`), by owner,
 * after a resume token `(HLC, record id)` or after a watermark HLC, up to a limit.
 */
export type TombstoneQuery = PageQuery;
