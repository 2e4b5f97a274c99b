import type { Hlc, RecordData, SyncNode, SyncProgress, WallClock } from '@highwater/core';
import type { SqliteStorage } from '@highwater/storage-sqlite';
import type { CrashSwitch } from './crash-switch.js';
import type { VirtualTime } from './virtual-time.js';

/** A write handed to a node and not yet acknowledged. */
export interface PendingWrite {
  readonly model: string;
  readonly op: 'upsert' | 'delete';
  readonly ids: readonly string[];
  /** The data of each upsert, by position in `ids`. */
  readonly data: readonly RecordData[];
  /** The version of each record the writer held when it wrote (a write must be newer). */
  readonly held: readonly (Hlc | null)[];
}

/**
 * One simulated device: its folder of SQLite files, which outlives its processes, and the
 * process now running on it (storage, node), if any. `absent` before it joins the library,
 * `down` after a crash until it restarts.
 */
export class SimPeer {
  status: 'absent' | 'up' | 'down' = 'absent';
  storage: SqliteStorage | null = null;
  crashSwitch: CrashSwitch | null = null;
  node: SyncNode | null = null;
  /** Processes started on this device so far. */
  generation = 0;
  /** Last progress event of the running process. */
  lastProgress: SyncProgress | null = null;
  /** Highest HLC of a change this device made durably (acknowledged or recovered). */
  lastIssued: Hlc | null = null;
  readonly inflight = new Set<PendingWrite>();
  /** Writes a crash interrupted: stored or not, the restart tells. */
  uncertain: PendingWrite[] = [];
  /** Records created so far, per model: new ids never repeat, even after a lost write. */
  readonly created = new Map<string, number>();
  /** Newest version seen per record and watermark per stream: neither may ever go back. */
  readonly seenVersions = new Map<string, Hlc>();
  readonly seenMarks = new Map<string, Hlc>();
  /** This device's wall clock: virtual time plus an offset that steps may move either way. */
  readonly wall: WallClock;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly directory: string,
    public offsetMs: number,
    time: VirtualTime,
  ) {
    this.wall = { now: () => time.now + this.offsetMs };
  }

  nextId(model: string): number {
    const n = (this.created.get(model) ?? 0) + 1;
    this.created.set(model, n);
    return n;
  }
}
