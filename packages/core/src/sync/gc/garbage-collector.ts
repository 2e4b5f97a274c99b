import type { Logger } from 'pino';
import { compareHlc, formatHlc, maxHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { NodeSettings } from '../../node/node-settings.js';
import type { StreamAck } from '../../ports/ack-store.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type { WallClock } from '../../ports/wall-clock.js';
import type { WireHead } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import { streamKey } from '../stream-key.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';

/** sync_state key: per stream, every tombstone up to this HLC may be gone (JSON: streamKey → HLC text). */
export const GC_PRUNED_UP_TO = 'gc.pruned_up_to';
/** sync_state key: per shared stream, every shared-log change up to this HLC may be gone. */
export const GC_LOG_PRUNED_UP_TO = 'gc.log_pruned_up_to';
/** sync_state key of the one shared-log prune point that stores kept before per-stream collection. */
const LEGACY_SHARED_LOG_PRUNED_UP_TO = 'shared_log.pruned_up_to';
/** sync_state key: when this node first collected; a member never heard from counts as seen then. */
const GC_SINCE = 'gc.since';
/** An unmoved ack is written again at most this often: enough to tell a member online from one beyond the horizon. */
const SEEN_REFRESH_MS = 60_000;
/** Acks gather this long before a collection. */
const COLLECT_DELAY_MS = 200;

/**
 * Garbage collection of tombstones and the shared log, per (owner, resource) stream. Each
 * member's ack of a stream is its watermark there, as its heads say (exchanges, announcements,
 * `stream-acks`): it holds every change of the stream up to it. A stream's tombstones and
 * shared changes at or below every member's ack — and this node's own watermark — are needed by
 * no member and are pruned. A member not heard from for `gcHorizonMs` stops holding back
 * device-owned tombstones and the shared log (not a shared model's tombstones: see
 * `sharedBound`); if it returns, the streams it missed deletes of are pruned past its
 * watermark, and it re-backfills them with reconciliation (see ResourcePuller) instead of
 * keeping, and serving, records deleted meanwhile. Each stream's prune point is recorded before
 * anything is pruned, served with state pages and counted in heads, so a requester behind it
 * knows.
 */
export class GarbageCollector implements Startable {
  private prunedUpTo = new Map<string, Hlc>();
  private logPrunedUpTo = new Map<string, Hlc>();
  /** Per member: per stream its ack, and when it was last written. */
  private readonly acks = new Map<string, { heads: Map<string, Hlc>; writtenAt: number }>();
  private since = 0;
  private timer: NodeJS.Timeout | null = null;
  private interval: NodeJS.Timeout | null = null;
  private collecting: Promise<number> | null = null;
  private readonly registry: ModelRegistry;
  private readonly syncStore: SyncStore;
  private readonly watermarks: WatermarkCache;
  private readonly settings: NodeSettings;
  private readonly selfDeviceId: string;
  private readonly wallClock: WallClock;
  private readonly metrics: SyncMetrics;
  private readonly logger: Logger;

  constructor(
    private readonly components: Pick<
      NodeComponents,
      'modelRegistry' | 'syncStore' | 'watermarks' | 'settings' | 'identity' | 'wallClock' | 'metrics' | 'logger' | 'applier' | 'syncEvents' | 'signatures'
    >,
  ) {
    this.registry = components.modelRegistry;
    this.syncStore = components.syncStore;
    this.watermarks = components.watermarks;
    this.settings = components.settings;
    this.selfDeviceId = components.identity.deviceId;
    this.wallClock = components.wallClock;
    this.metrics = components.metrics;
    this.logger = components.logger;
  }

  async load(): Promise<void> {
    this.prunedUpTo = await this.loadPoints(GC_PRUNED_UP_TO);
    this.logPrunedUpTo = await this.loadPoints(GC_LOG_PRUNED_UP_TO);
    if (this.logPrunedUpTo.size === 0) await this.fromSharedLogPoint();
    const since = await this.syncStore.getSyncState(GC_SINCE);
    this.since = since ? Number(since) : this.wallClock.now();
    if (!since) await this.syncStore.setSyncState(GC_SINCE, String(this.since));
    this.acks.clear();
    for (const a of await this.syncStore.listAcks()) {
      const member = this.acks.get(a.peerDeviceId) ?? { heads: new Map<string, Hlc>(), writtenAt: 0 };
      member.heads.set(streamKey(a.owner, a.resource), a.hlc);
      member.writtenAt = Math.max(member.writtenAt, a.updatedAt);
      this.acks.set(a.peerDeviceId, member);
    }
  }

  /** Collects now and then, so a member passing the horizon stops holding collection back. */
  start(): void {
    const every = this.settings.antiEntropyMs;
    if (every > 0) {
      this.interval = setInterval(() => {
        this.schedule();
        void this.releaseWaiting();
      }, every);
      this.interval.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.interval) clearInterval(this.interval);
    if (this.timer) clearTimeout(this.timer);
    this.interval = this.timer = null;
    await this.collecting?.catch(() => undefined);
  }

  /** Every tombstone and shared change of the stream up to this HLC may be gone here (null: none pruned). */
  prunedPoint(owner: string, resource: string): Hlc | null {
    return this.prunedUpTo.get(streamKey(owner, resource)) ?? null;
  }

  /** Whether a delete of some record of `resource` may have been collected here (any of its streams has a prune point). */
  hasCollected(resource: string): boolean {
    for (const k of this.prunedUpTo.keys()) if (k.endsWith(`\u0000${resource}`)) return true;
    return false;
  }

  /** Whether the shared log of (origin, model) lacks changes after `after` (a requester there pulls state instead). */
  isLogPrunedPast(origin: string, resource: string, after: Hlc | null): boolean {
    const point = this.logPrunedUpTo.get(streamKey(origin, resource));
    return point !== undefined && (after === null || compareHlc(after, point) < 0);
  }

  /** Whether a requester positioned at `after` in the stream would miss pruned deletes. */
  isPrunedPast(owner: string, resource: string, after: Hlc | null): boolean {
    const point = this.prunedPoint(owner, resource);
    return point !== null && (after === null || compareHlc(after, point) < 0);
  }

  /** The `members` option, or else, with signed changes, the devices not revoked (they follow `SyncNode.setDevices`). */
  private members(): readonly string[] {
    if (this.settings.members.length > 0 || !this.components.signatures.enabled) return this.settings.members;
    return this.components.signatures.activeDevices().map((d) => d.deviceId);
  }

  /** What `deviceId` said it holds (its heads): its acks. Only members' acks count. */
  async onHeads(deviceId: string, heads: readonly WireHead[]): Promise<void> {
    if (deviceId === this.selfDeviceId || !this.members().includes(deviceId)) return;
    const now = this.wallClock.now();
    const member = this.acks.get(deviceId) ?? { heads: new Map<string, Hlc>(), writtenAt: 0 };
    const moved: StreamAck[] = [];
    for (const h of heads) {
      const k = streamKey(h.owner, h.resource);
      const hlc = parseHlc(h.hlc);
      const before = member.heads.get(k);
      if (!before || compareHlc(hlc, before) > 0) moved.push({ owner: h.owner, resource: h.resource, hlc });
    }
    if (moved.length === 0 && now - member.writtenAt < SEEN_REFRESH_MS) return;
    // Unmoved acks are written too (with the moved ones, or every minute): they say the member is around.
    const acks = heads.map((h) => ({ owner: h.owner, resource: h.resource, hlc: parseHlc(h.hlc) }));
    await this.syncStore.recordAcks(deviceId, acks, now);
    for (const a of moved) member.heads.set(streamKey(a.owner, a.resource), a.hlc);
    member.writtenAt = now;
    this.acks.set(deviceId, member);
    if (moved.length > 0) this.schedule();
  }

  /** This node pruned its copy of a stream up to `point` (a reconciling pull dropped records without tombstones). */
  async adopt(owner: string, resource: string, point: Hlc): Promise<void> {
    const k = streamKey(owner, resource);
    const current = this.prunedUpTo.get(k);
    if (current && compareHlc(point, current) <= 0) return;
    await this.save(new Map(this.prunedUpTo).set(k, point), this.logPrunedUpTo);
  }

  /** Prunes every stream up to where all counted members and this node hold it; returns how many entries went. */
  collect(): Promise<number> {
    this.collecting ??= this.collectNow().finally(() => (this.collecting = null));
    return this.collecting;
  }

  /**
   * A node that is caught up with its peers and still has changes waiting for a dependency:
   * where that dependency's model had deletes collected, it may be a record deleted long ago
   * (its tombstone, which would have let the change in, is gone). Those changes go in.
   */
  private async releaseWaiting(): Promise<void> {
    const { applier, syncEvents } = this.components;
    if (syncEvents.state !== 'ready' || applier.parking.size === 0) return;
    try {
      await applier.releaseCollected((model) => this.hasCollected(model));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'releasing waiting changes failed');
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.collect().catch((error: unknown) => this.logger.warn({ err: (error as Error).message }, 'garbage collection failed'));
    }, COLLECT_DELAY_MS);
    this.timer.unref();
  }

  private async collectNow(): Promise<number> {
    const others = this.members().filter((m) => m !== this.selfDeviceId);
    if (others.length === 0) return 0;
    const counted = this.withinHorizon(others);
    const tombstonePoints = new Map(this.prunedUpTo);
    const logPoints = new Map(this.logPrunedUpTo);
    const tombstonesDue: { owner: string; resource: string; upTo: Hlc }[] = [];
    const logDue: { owner: string; resource: string; upTo: Hlc }[] = [];
    const sharedBounds = new Map<string, Hlc | null | undefined>();
    for (const w of this.watermarks.all()) {
      if (!this.registry.has(w.resource)) continue;
      const k = streamKey(w.owner, w.resource);
      const shared = this.registry.get(w.resource).ownership === 'shared';
      // Tombstones of a shared model wait for every member, however long away: another
      // member's older write of the record could otherwise come back after them.
      let tombstonesUpTo = this.lowestAck(k, w.hlc, shared ? others : counted);
      if (shared && tombstonesUpTo) {
        if (!sharedBounds.has(w.resource)) sharedBounds.set(w.resource, this.sharedBound(w.resource, others));
        const bound = sharedBounds.get(w.resource);
        tombstonesUpTo = bound === null ? null : bound && compareHlc(bound, tombstonesUpTo) < 0 ? bound : tombstonesUpTo;
      }
      if (movesOn(tombstonesUpTo, tombstonePoints.get(k))) {
        tombstonePoints.set(k, tombstonesUpTo!);
        tombstonesDue.push({ owner: w.owner, resource: w.resource, upTo: tombstonesUpTo! });
      }
      // The shared log only spares a round trip (a requester behind it pulls state instead): it waits for counted members alone.
      const logUpTo = shared ? this.lowestAck(k, w.hlc, counted) : null;
      if (movesOn(logUpTo, logPoints.get(k))) {
        logPoints.set(k, logUpTo!);
        logDue.push({ owner: w.owner, resource: w.resource, upTo: logUpTo! });
      }
    }
    if (tombstonesDue.length === 0 && logDue.length === 0) return 0;
    // Record the prune points first: a crash between the two leaves more stored, never less, than they say.
    await this.save(tombstonePoints, logPoints);
    let tombstones = 0;
    let shared = 0;
    for (const d of tombstonesDue) tombstones += await this.syncStore.pruneTombstones(d.resource, d.owner, d.upTo);
    for (const d of logDue) shared += await this.syncStore.pruneSharedChanges(d.owner, d.resource, d.upTo);
    if (tombstones + shared > 0) await this.syncStore.compact();
    this.metrics.add('tombstonesPruned', tombstones);
    this.metrics.add('sharedChangesPruned', shared);
    if (tombstones + shared > 0) this.logger.debug({ streams: tombstonesDue.length + logDue.length, tombstones, shared }, 'pruned tombstones and shared log');
    return tombstones + shared;
  }

  /** The lowest of `own` (this node's watermark of stream `k`) and the acks of `members`; null if one has none. */
  private lowestAck(k: string, own: Hlc, members: readonly string[]): Hlc | null {
    let low = own;
    for (const member of members) {
      const ack = this.acks.get(member)?.heads.get(k);
      if (!ack) return null;
      if (compareHlc(ack, low) < 0) low = ack;
    }
    return low;
  }

  /**
   * How far the tombstones of a shared model may go, whatever their stream: a shared record is
   * written by any member, so a version older than a delete may still travel in another
   * member's stream, and would come back where the tombstone is gone. Every stream of the model
   * that some counted member (or this node) does not hold whole — up to its writer's own head —
   * bounds collection to where all of them hold it. A stream all hold whole bounds nothing: its
   * writer's later writes come after everything it acked. Undefined: no bound; null: none may go.
   */
  private sharedBound(resource: string, counted: readonly string[]): Hlc | null | undefined {
    let bound: Hlc | undefined;
    for (const w of this.watermarks.all()) {
      if (w.resource !== resource) continue;
      const k = streamKey(w.owner, resource);
      const ackOf = (m: string): Hlc | undefined => (m === this.selfDeviceId ? w.hlc : this.acks.get(m)?.heads.get(k));
      const holders = [...counted, this.selfDeviceId];
      let head = w.owner === this.selfDeviceId || counted.includes(w.owner) ? ackOf(w.owner) : undefined;
      if (!head) {
        for (const m of holders) {
          const ack = ackOf(m);
          if (ack) head = head ? maxHlc(head, ack) : ack;
        }
      }
      if (!head) return null;
      let low: Hlc | undefined;
      for (const m of holders) {
        const ack = ackOf(m);
        if (!ack) return null;
        if (compareHlc(ack, head) < 0) low = low && compareHlc(low, ack) <= 0 ? low : ack;
      }
      if (low) bound = bound && compareHlc(bound, low) <= 0 ? bound : low;
    }
    return bound;
  }

  /**
   * The members heard from within the horizon (one never heard from counts from this node's
   * first collection): a member away longer stops holding back device-owned tombstones and the
   * shared log.
   */
  private withinHorizon(others: readonly string[]): string[] {
    const horizon = this.wallClock.now() - this.settings.gcHorizonMs;
    return others.filter((m) => Math.max(this.acks.get(m)?.writtenAt ?? 0, this.since) >= horizon);
  }

  /** A store whose shared log was pruned by one point for every stream (before per-stream collection): that point, per shared stream, for the log. */
  private async fromSharedLogPoint(): Promise<void> {
    const old = await this.syncStore.getSyncState(LEGACY_SHARED_LOG_PRUNED_UP_TO);
    if (!old) return;
    const point = parseHlc(old);
    const points = new Map<string, Hlc>();
    for (const w of this.watermarks.all()) {
      if (this.registry.has(w.resource) && this.registry.get(w.resource).ownership === 'shared') points.set(streamKey(w.owner, w.resource), point);
    }
    await this.save(this.prunedUpTo, points);
  }

  private async loadPoints(key: string): Promise<Map<string, Hlc>> {
    const text = await this.syncStore.getSyncState(key);
    return new Map(Object.entries(text ? (JSON.parse(text) as Record<string, string>) : {}).map(([k, v]) => [k, parseHlc(v)]));
  }

  private async save(tombstones: Map<string, Hlc>, log: Map<string, Hlc>): Promise<void> {
    const text = (points: Map<string, Hlc>): string => JSON.stringify(Object.fromEntries([...points].map(([k, v]) => [k, formatHlc(v)])));
    if (tombstones !== this.prunedUpTo) await this.syncStore.setSyncState(GC_PRUNED_UP_TO, text(tombstones));
    if (log !== this.logPrunedUpTo) await this.syncStore.setSyncState(GC_LOG_PRUNED_UP_TO, text(log));
    this.prunedUpTo = tombstones;
    this.logPrunedUpTo = log;
  }
}

/** Whether a computed prune point is past the recorded one (prune points never go back). */
function movesOn(next: Hlc | null, recorded: Hlc | undefined): boolean {
  return next !== null && (!recorded || compareHlc(next, recorded) > 0);
}
