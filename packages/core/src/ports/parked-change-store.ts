import type { Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';

/**
 * Port: parked changes, received before a record they reference and waiting for it (see
 * DependencyParking). Durable, so a watermark may cover a change that still waits.
 */
export interface ParkedChangeStore {
  /** Stores changes keyed by (model, record id, HLC): parking one again changes nothing. */
  parkChanges(changes: readonly ParkedChange[]): Promise<void>;
  /** Removes exactly the parked changes with these keys (applied, or superseded); others stay. */
  unparkChanges(keys: readonly ParkedChangeKey[]): Promise<void>;
  /** Every parked change, in (HLC, record id, model) order (there are few: they wait for a dependency). */
  listParkedChanges(): Promise<ParkedChange[]>;
}

/** An upsert received before a record it references; applied once that record is stored. */
export interface ParkedChange {
  readonly model: string;
  readonly recordId: string;
  /** Owner (device-owned models) or origin (shared models): `hlc.deviceId`. */
  readonly ownerDeviceId: string;
  readonly hlc: Hlc;
  readonly data: RecordData;
  /**
   * The owner's (origin's) Ed25519 signature of the change, base64url (86 characters); absent
   * for changes written by a node without a device key. Stored and handed on as it came.
   */
  readonly sig?: string;
}

export type ParkedChangeKey = Pick<ParkedChange, 'model' | 'recordId' | 'hlc'>;
