/** Port: node-level sync state (e.g. "backfill finished"), small string values by key. */
export interface SyncStateStore {
  /** The value last set for `key`, or null. */
  getSyncState(key: string): Promise<string | null>;
  /** Sets `key` to `value`, replacing what was there. */
  setSyncState(key: string, value: string): Promise<void>;
}
