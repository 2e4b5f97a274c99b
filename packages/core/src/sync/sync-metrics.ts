import { BehaviorSubject, type Observable } from 'rxjs';
import type { WallClock } from '../ports/wall-clock.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { NodeComponents } from '../wiring/components.js';
import type { Startable } from '../wiring/lifecycle.js';

/** Counters a node keeps; persisted as snapshots so they survive restarts. */
export interface SyncMetricsSnapshot {
  changesApplied: number;
  changesStale: number;
  changesParked: number;
  changesSentLive: number;
  /** Changes that arrived in pulled pages (backfill, catch-up): what crossed the wire. */
  changesFetched: number;
  /** Changes that arrived pushed live. */
  changesReceivedLive: number;
  messagesSent: number;
  messagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Pages of pulled changes received (`pageSize` changes each; one response may hold several). */
  pagesFetched: number;
  /** Pull requests answered (state pages and shared-log pages). */
  pagesServed: number;
  backfillsCompleted: number;
  catchUpsCompleted: number;
  messagesRefused: number;
  liveOverflows: number;
  sharedChangesPruned: number;
  tombstonesPruned: number;
  /** Streams pulled again from their beginning because a source had collected deletes past this node's position. */
  streamsReconciled: number;
  appliedByModel: Record<string, number>;
  /** Smoothed round trip to each peer this node exchanged with (ms), by transport peer id. */
  peerRttMs: Record<string, number>;
}

export type CounterName = Exclude<keyof SyncMetricsSnapshot, 'appliedByModel' | 'peerRttMs'>;

function empty(): SyncMetricsSnapshot {
  return {
    changesApplied: 0,
    changesStale: 0,
    changesParked: 0,
    changesSentLive: 0,
    changesFetched: 0,
    changesReceivedLive: 0,
    messagesSent: 0,
    messagesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    pagesFetched: 0,
    pagesServed: 0,
    backfillsCompleted: 0,
    catchUpsCompleted: 0,
    messagesRefused: 0,
    liveOverflows: 0,
    sharedChangesPruned: 0,
    tombstonesPruned: 0,
    streamsReconciled: 0,
    appliedByModel: {},
    peerRttMs: {},
  };
}

/**
 * Counters of one node. `metrics$` emits at most once per `publish()` (the node publishes
 * after each applied batch and on a timer), so the hot path only bumps numbers. Persisted every
 * `metricsIntervalMs` and when the node stops; a node continues from the newest snapshot.
 */
export class SyncMetrics implements Startable {
  private current = empty();
  private readonly subject = new BehaviorSubject<SyncMetricsSnapshot>(empty());
  readonly metrics$: Observable<SyncMetricsSnapshot> = this.subject.asObservable();
  private readonly store: SyncStore;
  private readonly libraryId: string;
  private readonly wallClock: WallClock;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(components: Pick<NodeComponents, 'syncStore' | 'identity' | 'wallClock' | 'settings'>) {
    this.store = components.syncStore;
    this.libraryId = components.identity.libraryId;
    this.wallClock = components.wallClock;
    this.intervalMs = components.settings.metricsIntervalMs;
  }

  /** Continues from the newest persisted snapshot. */
  async load(): Promise<void> {
    const [latest] = await this.store.listMetricsSnapshots(1);
    if (latest) this.current = { ...empty(), ...(latest.metrics as Partial<SyncMetricsSnapshot>) };
    this.publish();
  }

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.persist().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.persist();
  }

  add(counter: CounterName, n = 1): void {
    this.current[counter] += n;
  }

  addApplied(model: string, n: number): void {
    this.current.changesApplied += n;
    this.current.appliedByModel[model] = (this.current.appliedByModel[model] ?? 0) + n;
  }

  setPeerRtt(peerId: string, ms: number): void {
    this.current.peerRttMs[peerId] = Math.round(ms * 100) / 100;
  }

  snapshot(): SyncMetricsSnapshot {
    return structuredClone(this.current);
  }

  publish(): void {
    this.subject.next(this.snapshot());
  }

  /** Persists a snapshot and keeps the newest 100. */
  async persist(): Promise<void> {
    // takenAt is the snapshot's key: keep it unique even when two persists share a millisecond.
    const last = (await this.store.listMetricsSnapshots(1))[0]?.takenAt ?? 0;
    const takenAt = Math.max(this.wallClock.now(), last + 1);
    await this.store.saveMetricsSnapshot({ takenAt, libraryId: this.libraryId, metrics: this.snapshot() as unknown as Record<string, unknown> });
    await this.store.pruneMetricsSnapshots(100);
  }

  complete(): void {
    this.subject.complete();
  }
}
