/** Port: metrics snapshots, so a node's metrics survive a restart. */
export interface MetricsSnapshotStore {
  /** Stores a snapshot; one taken at the same `takenAt` replaces it. */
  saveMetricsSnapshot(snapshot: MetricsSnapshot): Promise<void>;
  /** The newest `limit` snapshots, newest first. */
  listMetricsSnapshots(limit: number): Promise<MetricsSnapshot[]>;
  /** Keeps the newest `keep` snapshots; returns how many were removed. */
  pruneMetricsSnapshots(keep: number): Promise<number>;
}

export interface MetricsSnapshot {
  /** Wall time (ms) the snapshot was taken; unique per store. */
  readonly takenAt: number;
  readonly libraryId: string;
  readonly metrics: Readonly<Record<string, unknown>>;
}
