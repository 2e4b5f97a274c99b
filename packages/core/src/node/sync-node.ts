import { pino, type Logger } from 'pino';
import type { Observable, Subscription } from 'rxjs';
import type { DependencyContainer } from 'tsyringe';
import { compareHlc, formatHlc, type Hlc, type HybridLogicalClock } from '../clock/hlc.js';
import { systemWallClock, type WallClock } from '../ports/wall-clock.js';
import { HighwaterError } from '../errors.js';
import type { AppliedChanges, PeerStatus, SyncEvents, SyncProgress, SyncState } from '../events/sync-events.js';
import type { RecordData } from '../models/model-definition.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { RecordDeletion, RecordStore, SyncRecord } from '../ports/record-store.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { Transport } from '../ports/transport.js';
import { jsonCodec, type MessageCodec } from '../protocol/codec.js';
import { PROTOCOL_LIMITS } from '../protocol/messages.js';
import { ChangeApplier } from '../sync/apply/change-applier.js';
import { recoverLocalWrites } from '../sync/apply/local-recovery.js';
import { changeToShared, type Change } from '../sync/change.js';
import { LiveInbox } from '../sync/live/live-inbox.js';
import { LiveOutbox } from '../sync/live/live-outbox.js';
import { Messenger } from '../sync/messenger.js';
import { ResourcePuller } from '../sync/pull/resource-puller.js';
import { SyncRunner } from '../sync/pull/sync-runner.js';
import { RequestServer } from '../sync/serve/request-server.js';
import { SharedLogPruner } from '../sync/shared/shared-log-pruner.js';
import { SyncMetrics, type SyncMetricsSnapshot } from '../sync/sync-metrics.js';
import { WatermarkCache } from '../sync/watermark-cache.js';
import { createNodeContainer } from '../wiring/node-container.js';
import { Tokens } from '../wiring/tokens.js';

export interface SyncNodeOptions {
  readonly libraryId: string;
  /** This device; 1–128 characters of [0-9A-Za-z._:-] (it is embedded in every HLC). */
  readonly deviceId: string;
  readonly registry: ModelRegistry;
  readonly storage: { readonly syncStore: SyncStore; readonly recordStore: RecordStore };
  readonly transport: Transport;
  /**
   * Every device of the library. The shared log is pruned only below the lowest ack of all
   * of them; without a list it is never pruned.
   */
  readonly members?: readonly string[];
  /**
   * Records per backfill/catch-up page: each page is applied in one transaction and moves the
   * checkpoint. Default 1000; at most `PROTOCOL_LIMITS.maxPageSize`.
   */
  readonly pageSize?: number;
  /**
   * Pages a backfill or catch-up asks a peer for in one request, at most. A pull starts with
   * one page per request and doubles up to this, so the first page comes as soon as one
   * page can, and later ones share a request and a response between several pages (each is
   * still applied and checkpointed on its own). Default 4; lowered where more would exceed
   * `PROTOCOL_LIMITS.maxPageSize` records per request.
   */
  readonly pagesPerRequest?: number;
  /**
   * How long local writes gather before they are pushed. Default 0: what is written in one
   * turn of the event loop goes out together, with no added latency.
   */
  readonly liveBatchWindowMs?: number;
  /** Live changes buffered during backfill/catch-up before the buffer is dropped. Default 10 000. */
  readonly liveBufferLimit?: number;
  /** Default 30 000. */
  readonly requestTimeoutMs?: number;
  /** Default 60 000. */
  readonly maxClockDriftMs?: number;
  /** Persist metrics this often (ms); 0 disables the timer (they are still saved on stop). Default 30 000. */
  readonly metricsIntervalMs?: number;
  /**
   * Heads go to every connected peer this often (ms), so a peer that missed a live change (a
   * lost message, a relay that never came) catches up without waiting for a reconnect; 0
   * disables the timer. Heads also go out ~100 ms after a pull moved watermarks. Default 30 000.
   */
  readonly antiEntropyMs?: number;
  readonly wallClock?: WallClock;
  readonly codec?: MessageCodec;
  /** A pino logger; default: silent. */
  readonly logger?: Logger;
}

/** A record to write: key and field values. */
export interface RecordInput {
  readonly id: string;
  readonly data: RecordData;
}

/**
 * One device's node of one library: the facade an integrator uses.
 *
 * ```ts
 * const node = await SyncNode.create({ libraryId, deviceId, registry, storage, transport });
 * node.state$.subscribe((s) => console.log(s));
 * await node.start();
 * await node.write('location', [{ id: '0190…', data: { name: 'Photos' } }]);
 * await node.stop();
 * ```
 * Everything stateful lives in the node's own tsyringe child container, so many nodes can
 * share a process.
 */
export class SyncNode {
  readonly container: DependencyContainer;
  readonly state$: Observable<SyncState>;
  readonly progress$: Observable<SyncProgress>;
  readonly applied$: Observable<AppliedChanges>;
  readonly peers$: Observable<PeerStatus>;
  readonly errors$: Observable<HighwaterError>;
  readonly metrics$: Observable<SyncMetricsSnapshot>;

  private readonly events: SyncEvents;
  private readonly subscriptions: Subscription[] = [];
  private metricsTimer: NodeJS.Timeout | null = null;
  private started = false;

  private constructor(
    private readonly options: SyncNodeOptions,
    private readonly parts: {
      container: DependencyContainer;
      watermarks: WatermarkCache;
      metrics: SyncMetrics;
      applier: ChangeApplier;
      outbox: LiveOutbox;
      inbox: LiveInbox;
      runner: SyncRunner;
      pruner: SharedLogPruner;
      messenger: Messenger;
      server: RequestServer;
      logger: Logger;
    },
  ) {
    this.container = parts.container;
    this.events = parts.container.resolve(Tokens.SyncEvents);
    this.state$ = this.events.state$;
    this.progress$ = this.events.progress$;
    this.applied$ = this.events.applied$;
    this.peers$ = this.events.peers$;
    this.errors$ = this.events.errors$;
    this.metrics$ = parts.metrics.metrics$;
  }

  /** Builds a node: loads watermarks and metrics, and seeds the clock past its last write. */
  static async create(options: SyncNodeOptions): Promise<SyncNode> {
    const wallClock = options.wallClock ?? systemWallClock;
    const logger = options.logger ?? pino({ level: 'silent' });
    const { syncStore, recordStore } = options.storage;
    const watermarks = new WatermarkCache(syncStore);
    await watermarks.load();
    await recoverLocalWrites(options.deviceId, options.registry, recordStore, syncStore, watermarks);
    // Never stamp below what this device wrote or stored before the restart: its own watermarks
    // hold its last stamp, and the others the newest changes it had received.
    const lastHlc = watermarks.max();
    const container = createNodeContainer({
      identity: { libraryId: options.libraryId, deviceId: options.deviceId },
      registry: options.registry,
      syncStore,
      recordStore,
      transport: options.transport,
      wallClock,
      ...(options.maxClockDriftMs !== undefined ? { maxClockDriftMs: options.maxClockDriftMs } : {}),
      ...(lastHlc ? { lastHlc } : {}),
    });
    const events = container.resolve(Tokens.SyncEvents);
    const clock = container.resolve(Tokens.HlcClock);
    const metrics = new SyncMetrics(syncStore, options.libraryId, wallClock);
    await metrics.load();

    const messenger = new Messenger(options.transport, options.codec ?? jsonCodec, options.libraryId, options.deviceId, metrics, logger, (error) =>
      events.reportError(error),
    );
    const applier = new ChangeApplier(options.registry, recordStore, syncStore, watermarks, clock, events, metrics);
    const outbox = new LiveOutbox(options.registry, messenger, () => options.transport.connectedPeers(), options.liveBatchWindowMs ?? 0, metrics, logger);
    const pruner = new SharedLogPruner(options.registry, syncStore, watermarks, options.members ?? [], options.deviceId, metrics, logger);
    await pruner.load();
    const inbox = new LiveInbox(applier, outbox, options.liveBufferLimit ?? 10_000, metrics, logger);
    const server = new RequestServer(options.deviceId, options.registry, recordStore, syncStore, watermarks, inbox, pruner, events, metrics, applier.parking);
    await applier.restoreParked();
    const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const pageSize = wholeNumberOption('pageSize', options.pageSize, 1000, PROTOCOL_LIMITS.maxPageSize);
    const pagesPerRequest = Math.min(
      wholeNumberOption('pagesPerRequest', options.pagesPerRequest, 4, PROTOCOL_LIMITS.maxPageSize),
      Math.floor(PROTOCOL_LIMITS.maxPageSize / pageSize),
    );
    const puller = new ResourcePuller(options.registry, syncStore, watermarks, applier, messenger, options.transport, metrics, logger, {
      pageSize,
      pagesPerRequest,
      requestTimeoutMs,
    });
    const runner = new SyncRunner(
      options.registry,
      syncStore,
      watermarks,
      applier,
      inbox,
      puller,
      server,
      messenger,
      options.transport,
      events,
      metrics,
      wallClock,
      logger,
      requestTimeoutMs,
      // A catch-up takes up to a page of each peer's own changes inline with its heads.
      pageSize,
    );
    return new SyncNode(options, { container, watermarks, metrics, applier, outbox, inbox, runner, pruner, messenger, server, logger });
  }

  get state(): SyncState {
    return this.events.state;
  }

  get deviceId(): string {
    return this.options.deviceId;
  }

  /** Starts the transport, answers peers, and runs a first backfill or catch-up pass. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { transport } = this.options;
    this.parts.messenger.listen((message, from) => this.parts.server.handle(message, from));
    this.subscriptions.push(
      transport.peers$.subscribe((event) => {
        this.events.reportPeer({
          peerId: event.peerId,
          deviceId: this.parts.messenger.deviceOf(event.peerId),
          connected: event.type === 'connected',
          rttMs: transport.rttMs(event.peerId),
        });
        if (event.type === 'connected') void this.parts.runner.trigger();
        else this.parts.runner.onPeersChanged();
      }),
    );
    // Whatever brought shared changes in (live or pull), peers learn how far we are.
    this.parts.applier.onSharedProcessed = () => this.scheduleAck();
    // Watermarks that moved over what peers did not get from us live: they hear our heads.
    this.parts.applier.onUnrelayedAdvance = () => this.scheduleAnnounce();
    this.parts.applier.onStored = (model) => this.parts.server.invalidatePages(model);
    // A live change beyond a watermark, or a peer's heads beyond ours: catch up.
    this.parts.inbox.onGap = () => void this.parts.runner.trigger();
    this.parts.server.onBehind = () => void this.parts.runner.trigger();
    await transport.start();
    const interval = this.options.metricsIntervalMs ?? 30_000;
    if (interval > 0) {
      this.metricsTimer = setInterval(() => void this.parts.metrics.persist().catch(() => undefined), interval);
      this.metricsTimer.unref();
    }
    const antiEntropy = this.options.antiEntropyMs ?? 30_000;
    if (antiEntropy > 0) {
      this.antiEntropyTimer = setInterval(() => void this.announceHeads(), antiEntropy);
      this.antiEntropyTimer.unref();
    }
    void this.parts.runner.trigger();
  }

  /** Runs a catch-up pass now (also what a peer connecting does); resolves when it settles. */
  syncNow(): Promise<void> {
    return this.parts.runner.trigger();
  }

  /** Stops pushing and pulling, saves metrics and stops the transport. Storage stays open. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.antiEntropyTimer) clearInterval(this.antiEntropyTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.announceTimer) clearTimeout(this.announceTimer);
    this.ackTimer = null;
    this.announceTimer = null;
    await this.parts.outbox.stop();
    await this.parts.runner.stop();
    await this.parts.applier.idle();
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    await this.options.transport.stop();
    await this.parts.metrics.persist();
    this.events.setState('paused');
  }

  /** Writes records (insert or update), stamped with this device's clock, and pushes them live. */
  async write(model: string, inputs: readonly RecordInput[]): Promise<SyncRecord[]> {
    const def = this.options.registry.get(model);
    const data = inputs.map((i) => this.options.registry.validateData(model, i.id, i.data));
    return this.parts.applier.exclusive(async () => {
      const clock = await this.clockPast(model, inputs.map((i) => i.id), def.ownership === 'device');
      const records: SyncRecord[] = inputs.map((input, i) => ({ id: input.id, ownerDeviceId: this.deviceId, hlc: clock.now(), data: data[i]! }));
      const changes: Change[] = records.map((r) => ({ model, id: r.id, owner: this.deviceId, hlc: r.hlc, op: 'upsert', data: r.data }));
      await this.commitLocal(model, changes, { upserts: records });
      return records;
    });
  }

  /**
   * Deletes records; each delete propagates as a tombstone stamped with this device's clock
   * (returned). Device-owned records only by their owner.
   */
  async delete(model: string, ids: readonly string[]): Promise<RecordDeletion[]> {
    const def = this.options.registry.get(model);
    return this.parts.applier.exclusive(async () => {
      const clock = await this.clockPast(model, ids, def.ownership === 'device');
      const deletions: RecordDeletion[] = ids.map((id) => ({ id, ownerDeviceId: this.deviceId, hlc: clock.now() }));
      const changes: Change[] = deletions.map((d) => ({ model, id: d.id, owner: d.ownerDeviceId, hlc: d.hlc, op: 'delete', data: null }));
      await this.commitLocal(model, changes, { deletes: deletions });
      return deletions;
    });
  }

  async get(model: string, ids: readonly string[]): Promise<SyncRecord[]> {
    return this.options.storage.recordStore.getMany(model, ids);
  }

  async count(model: string, owner?: string): Promise<number> {
    return this.options.storage.recordStore.count(model, owner);
  }

  metrics(): SyncMetricsSnapshot {
    return this.parts.metrics.snapshot();
  }

  /** Records waiting for a record they reference that has not arrived (0 once in sync). */
  parkedCount(): number {
    return this.parts.applier.parking.size;
  }

  /** The node's watermarks: highest HLC applied per (owner device, resource). */
  watermarks(): { owner: string; resource: string; hlc: Hlc }[] {
    return this.parts.watermarks.all().sort((a, b) => (a.owner + a.resource < b.owner + b.resource ? -1 : 1));
  }

  /** Resolves once everything queued (applies, local writes) has been processed and pushed. */
  async settle(): Promise<void> {
    await this.parts.applier.idle();
    await this.parts.outbox.flush();
  }

  private async commitLocal(model: string, changes: Change[], batch: Parameters<RecordStore['applyBatch']>[1]): Promise<void> {
    if (changes.length === 0) return;
    const { syncStore, recordStore } = this.options.storage;
    // Tombstones before the records they delete: a crash in between leaves a tombstone that
    // recoverLocalWrites applies at the next start, never a delete no peer will hear of.
    const deletes = changes.filter((c) => c.op === 'delete');
    if (deletes.length > 0) await syncStore.putTombstones(deletes.map((d) => ({ model, recordId: d.id, ownerDeviceId: d.owner, hlc: d.hlc })));
    await recordStore.applyBatch(model, batch);
    this.parts.server.invalidatePages(model);
    if (this.options.registry.get(model).ownership === 'shared') await syncStore.appendSharedChanges(changes.map(changeToShared));
    // Stamped one after another by this device's clock, inside `exclusive`: in HLC order, and
    // nothing of the stream between the watermark and the first of them.
    const before = this.parts.watermarks.get(this.deviceId, model);
    await this.parts.watermarks.advance(this.deviceId, model, changes.at(-1)!.hlc);
    // A record written, or deleted (a tombstone satisfies a reference too), releases what waits for it.
    await this.parts.applier.releaseFor(model, changes.map((c) => c.id));
    this.events.reportApplied({ model, source: 'local', upserted: changes.length - deletes.length, deleted: deletes.length });
    // Pushed in messages of at most the protocol's limit, each with the span it completes.
    let from = before;
    for (let i = 0; i < changes.length; i += PROTOCOL_LIMITS.maxChangesPerMessage) {
      const chunk = changes.slice(i, i + PROTOCOL_LIMITS.maxChangesPerMessage);
      const to = chunk.at(-1)!.hlc;
      this.parts.outbox.enqueue(chunk, [{ owner: this.deviceId, model, from, to }]);
      from = to;
    }
  }

  /**
   * The clock, past every version of `ids` this node holds (records and tombstones): a write
   * replaces what its writer saw, so it must win over it under last-writer-wins, also when that
   * version came from a device whose clock is ahead and this node restarted since. Refuses a
   * device-owned record of another owner.
   */
  private async clockPast(model: string, ids: readonly string[], ownedOnly: boolean): Promise<HybridLogicalClock> {
    const { recordStore, syncStore } = this.options.storage;
    const clock = this.container.resolve(Tokens.HlcClock);
    const stored = await recordStore.getMany(model, ids);
    const foreign = ownedOnly ? stored.find((r) => r.ownerDeviceId !== this.deviceId) : undefined;
    if (foreign) throw new HighwaterError('HW_NOT_OWNER', `${model} ${foreign.id} is owned by ${foreign.ownerDeviceId}; only its owner can change it`);
    for (const r of stored) clock.observe(r.hlc);
    for (const t of (await syncStore.getTombstones(model, ids)).values()) clock.observe(t.hlc);
    return clock;
  }

  private antiEntropyTimer: NodeJS.Timeout | null = null;
  private announceTimer: NodeJS.Timeout | null = null;

  /** Heads to every peer ~100 ms from now (once for any number of calls meanwhile). */
  private scheduleAnnounce(): void {
    if (this.announceTimer || !this.started) return;
    this.announceTimer = setTimeout(() => {
      this.announceTimer = null;
      void this.announceHeads();
    }, 100);
    this.announceTimer.unref();
  }

  private async announceHeads(): Promise<void> {
    const peers = this.options.transport.connectedPeers();
    if (peers.length === 0 || !this.started) return;
    const heads = await this.parts.server.heads();
    if (heads.length === 0) return;
    for (const peer of peers) this.parts.messenger.send(peer, { type: 'heads-announce', heads }).catch(() => undefined);
  }

  private ackTimer: NodeJS.Timeout | null = null;
  private lastAck: Hlc | null = null;

  /** Acks the shared log to every peer, at most every 50 ms, only when the position moved. */
  private scheduleAck(): void {
    if (this.ackTimer || !this.started) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const position = this.parts.pruner.ackPosition();
      if (!position || (this.lastAck && compareHlc(position, this.lastAck) <= 0)) return;
      this.lastAck = position;
      const upTo = formatHlc(position);
      for (const peer of this.options.transport.connectedPeers()) {
        this.parts.messenger.send(peer, { type: 'ack-shared-changes', upTo }).catch(() => undefined);
      }
    }, 50);
    this.ackTimer.unref();
  }
}

/** An integer option within [1, max], or its default when absent; anything else is refused at once. */
function wholeNumberOption(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new HighwaterError('HW_INVALID_OPTION', `SyncNode option ${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}
