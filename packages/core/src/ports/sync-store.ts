import type { AckStore } from './ack-store.js';
import type { BatchProofStore } from './batch-proof-store.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { MetricsSnapshotStore } from './metrics-snapshot-store.js';
import type { ParkedChangeStore } from './parked-change-store.js';
import type { SharedLogStore } from './shared-log-store.js';
import type { SyncStateStore } from './sync-state-store.js';
import type { TombstoneStore } from './tombstone-store.js';
import type { WatermarkStore } from './watermark-store.js';

export type * from './ack-store.js';
export type * from './batch-proof-store.js';
export type * from './checkpoint-store.js';
export type * from './metrics-snapshot-store.js';
export type * from './parked-change-store.js';
export type * from './shared-log-store.js';
export type * from './sync-state-store.js';
export type * from './tombstone-store.js';
export type * from './watermark-store.js';

/**
 * Port: sync metadata (never domain data), `sync.db` in the SQLite adapter. The aggregate of
 * the small ports one storage adapter provides over one database; the engine's parts each
 * need only some of them. Every write that records progress (watermarks, acks, tombstones)
 * only moves forward, so a late or repeated write can never make a node forget what it has.
 */
export interface SyncStore
  extends WatermarkStore,
    CheckpointStore,
    SyncStateStore,
    SharedLogStore,
    AckStore,
    TombstoneStore,
    ParkedChangeStore,
    MetricsSnapshotStore,
    BatchProofStore {
  /**
   * Gives the space that prunes freed back to the file system where the store keeps files
   * (the SQLite adapter writes its WAL back and truncates both files); the garbage collector
   * calls it once after a collection that pruned something. Changes nothing a read returns.
   */
  compact(): Promise<void>;
  /** Releases the store's connections; later calls fail. */
  close(): Promise<void>;
}
