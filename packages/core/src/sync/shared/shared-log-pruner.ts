import type { Logger } from 'pino';
import { compareHlc, formatHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';

/** sync_state key: every shared change with an HLC up to this one may be gone from the log. */
export const SHARED_LOG_PRUNED_UP_TO = 'shared_log.pruned_up_to';

/**
 * Acks and pruning of the shared-change log. A peer acks the highest shared HLC it has
 * applied; the log is pruned only up to the lowest ack of **every** library member, so a
 * member that never acked blocks pruning. A requester behind the prune point is told the log
 * is incomplete and fetches that origin's state instead. The winning HLC per record lives in
 * the record store (and tombstones), outside the log, so a stale change arriving after
 * pruning still loses.
 */
export class SharedLogPruner implements Startable {
  private prunedUpTo: Hlc | null = null;
  private readonly registry: ModelRegistry;
  private readonly syncStore: SyncStore;
  private readonly watermarks: WatermarkCache;
  private readonly members: readonly string[];
  private readonly selfDeviceId: string;
  private readonly metrics: SyncMetrics;
  private readonly logger: Logger;

  constructor(components: Pick<NodeComponents, 'modelRegistry' | 'syncStore' | 'watermarks' | 'settings' | 'identity' | 'metrics' | 'logger'>) {
    this.registry = components.modelRegistry;
    this.syncStore = components.syncStore;
    this.watermarks = components.watermarks;
    this.members = components.settings.members;
    this.selfDeviceId = components.identity.deviceId;
    this.metrics = components.metrics;
    this.logger = components.logger;
  }

  async load(): Promise<void> {
    const text = await this.syncStore.getSyncState(SHARED_LOG_PRUNED_UP_TO);
    this.prunedUpTo = text ? parseHlc(text) : null;
  }

  /** Whether the log still holds every change after `after`. */
  covers(after: Hlc | null): boolean {
    if (!this.prunedUpTo) return true;
    return after !== null && compareHlc(after, this.prunedUpTo) >= 0;
  }

  /** What this node acks: the highest shared HLC it has applied (null if none). */
  ackPosition(): Hlc | null {
    let max: Hlc | null = null;
    const shared = new Set(this.registry.shared().map((m) => m.name));
    for (const w of this.watermarks.all()) if (shared.has(w.resource) && (!max || compareHlc(w.hlc, max) > 0)) max = w.hlc;
    return max;
  }

  async onAck(peerDeviceId: string, upTo: Hlc): Promise<void> {
    await this.syncStore.recordAck(peerDeviceId, upTo);
    await this.pruneIfAllAcked();
  }

  /** Prunes up to the minimum ack over every other member; returns how many were removed. */
  async pruneIfAllAcked(): Promise<number> {
    const others = this.members.filter((m) => m !== this.selfDeviceId);
    if (others.length === 0) return 0;
    const acks = new Map((await this.syncStore.listAcks()).map((a) => [a.peerDeviceId, a.hlc]));
    let min: Hlc | null = null;
    for (const m of others) {
      const ack = acks.get(m);
      if (!ack) return 0;
      if (!min || compareHlc(ack, min) < 0) min = ack;
    }
    if (!min || (this.prunedUpTo && compareHlc(min, this.prunedUpTo) <= 0)) return 0;
    // Record the prune point first: a crash between the two leaves the log longer, never
    // shorter, than what the point says.
    await this.syncStore.setSyncState(SHARED_LOG_PRUNED_UP_TO, formatHlc(min));
    this.prunedUpTo = min;
    const removed = await this.syncStore.pruneSharedChanges(min);
    this.metrics.add('sharedChangesPruned', removed);
    this.logger.debug({ upTo: formatHlc(min), removed }, 'pruned shared log');
    return removed;
  }
}
