import type { SyncEvents } from '../events/sync-events.js';
import type { Transport } from '../ports/transport.js';
import type { NodeComponents } from '../wiring/components.js';
import type { SyncMetrics } from './sync-metrics.js';

/** Weight of a new round trip in the smoothed one. */
const SMOOTHING = 0.3;
/** A smoothed round trip that moves by more than this share is reported again on `peers$`. */
const REPORT_CHANGE = 0.2;

/**
 * Round trips to each peer, smoothed (an exponentially weighted moving average), as this node
 * measures them: from sending a watermark exchange to its answer, so a peer that answers slowly
 * — a slow link, or a busy disk — counts as far. Before its first exchange a peer counts at the
 * transport's own figure. What the planner ranks sources by; reported on `peers$` when it moves
 * and kept in the metrics.
 */
export class PeerLatency {
  private readonly smoothed = new Map<string, number>();
  private readonly reported = new Map<string, number>();
  private readonly transport: Transport;
  private readonly events: SyncEvents;
  private readonly metrics: SyncMetrics;

  constructor(components: Pick<NodeComponents, 'transport' | 'syncEvents' | 'metrics'>) {
    this.transport = components.transport;
    this.events = components.syncEvents;
    this.metrics = components.metrics;
  }

  /** One measured round trip to `peerId` (the device behind it, for `peers$`). */
  record(peerId: string, deviceId: string | null, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const previous = this.smoothed.get(peerId);
    const next = previous === undefined ? ms : previous + SMOOTHING * (ms - previous);
    this.smoothed.set(peerId, next);
    this.metrics.setPeerRtt(peerId, next);
    const last = this.reported.get(peerId);
    if (last === undefined || Math.abs(next - last) > REPORT_CHANGE * last) {
      this.reported.set(peerId, next);
      this.events.reportPeer({ peerId, deviceId, connected: true, rttMs: next });
    }
  }

  /** The smoothed round trip to `peerId`, else the transport's figure, else undefined. */
  rttMs(peerId: string): number | undefined {
    return this.smoothed.get(peerId) ?? this.transport.rttMs(peerId);
  }
}
