import type { Hlc } from '../clock/hlc.js';

/**
 * Port: per-(owner, resource) watermarks, the highest HLC a node has applied of each stream.
 * Never one global watermark: advancing entries must not skip older locations.
 */
export interface WatermarkStore {
  /** Highest HLC applied for records of `resourceType` owned by `ownerDeviceId`, or null before the first. */
  getWatermark(ownerDeviceId: string, resourceType: string): Promise<Hlc | null>;
  /**
   * Moves the watermark to `hlc` if that is ahead of it, and returns whether it moved. Forward
   * only, also under concurrent calls and across processes: a late or repeated advance never
   * moves it back. Durable once the promise resolves (an adapter may defer the fsync: losing
   * the last advance only re-fetches a page).
   */
  advanceWatermark(ownerDeviceId: string, resourceType: string, hlc: Hlc): Promise<boolean>;
  /** All watermarks, ordered by (owner, resource). */
  listWatermarks(): Promise<ResourceWatermark[]>;
}

export interface ResourceWatermark {
  readonly ownerDeviceId: string;
  readonly resourceType: string;
  readonly watermark: Hlc;
  /** Wall time (ms) of the last move. */
  readonly updatedAt: number;
}
