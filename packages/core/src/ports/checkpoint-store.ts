import type { RecordCursor } from './record-store.js';

/**
 * Port: backfill checkpoints, one per (owner, resource): where a backfill resumes after a
 * restart. Saved only after the page they cover is durable.
 */
export interface CheckpointStore {
  /**
   * Replaces the checkpoint of `(ownerDeviceId, resourceType)` as a whole (never a mix of two
   * saves). Not forward-only: clearing and restarting a backfill may move it back.
   */
  saveCheckpoint(checkpoint: BackfillCheckpointInput): Promise<void>;
  /** The checkpoint as last saved, or null when none is saved (or it was cleared). */
  loadCheckpoint(ownerDeviceId: string, resourceType: string): Promise<BackfillCheckpoint | null>;
  /** All checkpoints, ordered by (owner, resource). */
  listCheckpoints(): Promise<BackfillCheckpoint[]>;
  /** Removes one checkpoint, every checkpoint of one owner, or all when called without arguments. */
  clearCheckpoints(ownerDeviceId?: string, resourceType?: string): Promise<void>;
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
  /** Wall time (ms) of the save. */
  readonly updatedAt: number;
}
