import type { Logger } from 'pino';
import type { WallClock } from '../../ports/wall-clock.js';
import type { SyncEvents } from '../../events/sync-events.js';
import { HighwaterError, ProtocolError } from '../../errors.js';
import type { WireChange, WireHead } from '../../protocol/messages.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type { Transport } from '../../ports/transport.js';
import type { ChangeApplier } from '../apply/change-applier.js';
import type { LiveInbox } from '../live/live-inbox.js';
import type { Messenger } from '../messenger.js';
import type { RequestServer } from '../serve/request-server.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';
import { planPull, type InlineChanges, type PeerHeads, type PullTask } from './pull-planner.js';
import { parseHlc, type Hlc } from '../../clock/hlc.js';
import { streamKey } from '../stream-key.js';
import { NoSourceError, type ResourcePuller } from './resource-puller.js';
import type { Subscription } from 'rxjs';
import type { NodeSettings } from '../../node/node-settings.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';

/** First wait before a pass that could not reach everything runs again; it doubles up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 30_000;

/** sync_state key set once the first full backfill finished; a restart then only catches up. */
export const BACKFILL_COMPLETED_AT = 'backfill.completed_at';

/**
 * The sync state machine. A pass runs on start and whenever a peer connects:
 *
 *   Uninitialized → Backfilling (never completed a backfill) | CatchingUp → Ready
 *                 → Paused (no peer reachable; the next connect starts a new pass)
 *
 * A pass exchanges watermarks with every connected peer, plans what this node lacks and
 * pulls it (ResourcePuller). Live changes arriving meanwhile wait in the LiveInbox; if it
 * overflowed, the pass runs again (the dropped changes are fetched then), and only a pass
 * that completed applies the buffer and goes live. Passes never overlap: a trigger during a
 * pass schedules one more.
 */
export class SyncRunner implements Startable {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Passes in a row that needed a retry: the next retry waits twice as long. */
  private failedPasses = 0;
  private readonly subscriptions: Subscription[] = [];
  private readonly registry: ModelRegistry;
  private readonly syncStore: SyncStore;
  private readonly watermarks: WatermarkCache;
  private readonly applier: ChangeApplier;
  private readonly inbox: LiveInbox;
  private readonly puller: ResourcePuller;
  private readonly server: RequestServer;
  private readonly messenger: Messenger;
  private readonly transport: Transport;
  private readonly events: SyncEvents;
  private readonly metrics: SyncMetrics;
  private readonly wallClock: WallClock;
  private readonly logger: Logger;
  private readonly settings: NodeSettings;

  constructor(
    private readonly components: Pick<
      NodeComponents,
      | 'modelRegistry'
      | 'versions'
      | 'syncStore'
      | 'watermarks'
      | 'applier'
      | 'inbox'
      | 'puller'
      | 'server'
      | 'messenger'
      | 'transport'
      | 'syncEvents'
      | 'metrics'
      | 'wallClock'
      | 'logger'
      | 'settings'
      | 'signals'
      | 'latency'
      | 'collector'
    >,
  ) {
    this.registry = components.modelRegistry;
    this.syncStore = components.syncStore;
    this.watermarks = components.watermarks;
    this.applier = components.applier;
    this.inbox = components.inbox;
    this.puller = components.puller;
    this.server = components.server;
    this.messenger = components.messenger;
    this.transport = components.transport;
    this.events = components.syncEvents;
    this.metrics = components.metrics;
    this.wallClock = components.wallClock;
    this.logger = components.logger;
    this.settings = components.settings;
  }

  /** Follows peers (a connect starts a pass; with none left the node is paused) and signs of being behind. */
  start(): void {
    this.stopped = false;
    this.subscriptions.push(
      this.transport.peers$.subscribe((event) => {
        this.events.reportPeer({
          peerId: event.peerId,
          deviceId: this.messenger.deviceOf(event.peerId),
          connected: event.type === 'connected',
          rttMs: this.transport.rttMs(event.peerId),
        });
        if (event.type === 'connected') {
          // A pass running already asks this peer at once: streams it owns move to it mid-pull.
          if (this.running) void this.offerLatePeer(event.peerId);
          void this.trigger();
        } else this.onPeersChanged();
      }),
      // A live change beyond a watermark, or a peer's heads beyond ours: catch up.
      this.components.signals.behind$.subscribe(() => void this.trigger()),
    );
  }

  /** The first pass, once the transport runs: a backfill, or a catch-up with whoever is connected. */
  afterStart(): void {
    void this.trigger();
  }

  /** Starts a pass, or schedules another one if a pass is running. Resolves when passes settle. */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inbox.startBuffering();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop();
    return this.running;
  }

  /** Exchanges heads with a peer that connected during a pass, and offers it to the pulls under way. */
  private async offerLatePeer(peerId: string): Promise<void> {
    try {
      this.puller.offer(await this.exchangeWith(peerId, await this.server.heads(), 0));
    } catch (error) {
      // The next pass exchanges with it anyway.
      this.logger.debug({ peer: peerId, err: (error as Error).message }, 'exchange with a peer that joined mid-pass failed');
    }
  }

  /** Peers dropped: with none left, the node is paused until one returns. */
  onPeersChanged(): void {
    if (this.events.state !== 'uninitialized') this.pauseIfAlone();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.again = false;
      let retry = true;
      try {
        retry = await this.pass();
      } catch (error) {
        const e = error instanceof HighwaterError ? error : new HighwaterError('HW_INTERNAL', (error as Error).message, { cause: error });
        this.logger.warn({ code: e.code, err: e.message }, 'sync pass failed');
        this.events.reportError(e);
        this.pauseIfAlone();
      }
      if (!retry) this.failedPasses = 0;
      else if (!this.stopped && this.transport.connectedPeers().length > 0) this.scheduleRetry();
      // Decide and clear `running` in the same tick: a trigger arriving after this line
      // starts a new loop instead of setting `again` on one that has already ended.
      if (!(this.again && !this.stopped && this.transport.connectedPeers().length > 0)) {
        this.running = null;
        break;
      }
    }
    this.pauseIfAlone();
  }

  /**
   * Another pass after a pass that could not reach everything it should have (a peer that did
   * not answer, a source that left, a pass that failed), later each time: without it a node
   * whose last pass reached no peer would stay catching up, its live changes buffered, until a
   * peer happened to connect again.
   */
  private scheduleRetry(): void {
    if (this.retryTimer) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(this.failedPasses++, 16));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.trigger();
    }, delay);
    this.retryTimer.unref();
  }

  /** One pass; returns whether it must run again later (it did not reach every connected peer or source). */
  private async pass(): Promise<boolean> {
    const backfill = (await this.syncStore.getSyncState(BACKFILL_COMPLETED_AT)) === null;
    this.puller.clearOffers();
    this.events.setState(backfill ? 'backfilling' : 'catching-up');
    const asked = this.transport.connectedPeers().length;
    const peers = await this.exchangeWithPeers(backfill ? 0 : this.settings.inlineLimit);
    if (peers.length === 0) {
      this.pauseIfAlone();
      return asked > 0;
    }

    const tasks = planPull(this.registry, this.watermarks, peers, (peerId) => this.components.latency.rttMs(peerId));
    const total = tasks.reduce((sum, t) => sum + (t.sources[0]?.count ?? 0), 0);
    let applied = 0;
    const phase = backfill ? 'backfill' : 'catch-up';
    this.events.reportProgress({ phase, applied, total, ratio: total === 0 ? 1 : 0, current: null });
    let incomplete = false;
    // One resource after another, in the plan's order (what depends on something comes after
    // it); the streams of one resource, one per owner, from their sources at once.
    for (const wave of wavesOf(tasks)) {
      if (this.stopped) return false;
      await inParallel(wave, this.settings.parallelPulls, async (task) => {
        try {
          await this.puller.pull(task, backfill, (processed, source) => {
            applied += processed;
            this.events.reportProgress({
              phase,
              applied,
              total,
              ratio: total === 0 ? 1 : Math.min(1, applied / total),
              current: { owner: task.owner, resource: task.resource, peerId: source.peerId },
            });
          });
        } catch (error) {
          if (!(error instanceof NoSourceError)) throw error;
          incomplete = true;
          this.events.reportError(error);
        }
      });
    }
    if (incomplete) {
      // Some source went away mid-pass: checkpoints are saved; try again with who is left.
      this.pauseIfAlone();
      return true;
    }
    if (this.inbox.takeOverflow()) {
      this.again = true;
      return false;
    }
    await this.applier.idle();
    // Everything the peers hold is here: what still waits for a record whose delete may have been collected goes in.
    if (this.applier.parking.size > 0) await this.applier.releaseCollected((model) => this.components.collector.hasCollected(model));
    // Changes kept aside for an upgrade wait by design (see PeerVersions): only a missing record is news.
    const waiting = this.applier.parking.size > 0 ? this.applier.parking.waitingForRecords() : 0;
    if (waiting > 0) {
      this.events.reportError(
        new HighwaterError('HW_DEPENDENCY_MISSING', `${waiting} records wait for dependencies no peer has sent: ${JSON.stringify(this.applier.parking.describe(3))}`),
      );
    }
    if (!backfill) {
      this.metrics.add('catchUpsCompleted');
    } else if (tasks.length > 0 || this.watermarks.all().length > 0) {
      await this.syncStore.setSyncState(BACKFILL_COMPLETED_AT, String(this.wallClock.now()));
      await this.syncStore.clearCheckpoints();
      this.metrics.add('backfillsCompleted');
    }
    // Otherwise the peers held nothing and neither does this node: no library was backfilled,
    // so the first pass that meets one still backfills it (checkpoints, state, progress phase).
    if (!(await this.inbox.drainAndGoLive())) {
      this.again = true;
      return false;
    }
    // Everything the reachable peers hold is here: the pass ends at 100 %, also when a source
    // turned out to hold less than it announced (a holder behind the owner) or more arrived.
    if (applied !== total) this.events.reportProgress({ phase, applied, total: applied, ratio: 1, current: null });
    this.metrics.publish();
    // Ready means caught up with reachable peers; if the last one left meanwhile, we are paused.
    this.events.setState(this.transport.connectedPeers().length > 0 ? 'ready' : 'paused');
    // Caught up with the peers that answered; one that did not is asked again later.
    return peers.length < asked;
  }

  /**
   * Asks every connected peer for its heads. A catch-up also takes up to `inline` changes in
   * each response (streams the peer owns, whole), which spares it a state request for them.
   */
  private async exchangeWithPeers(inline: number): Promise<PeerHeads[]> {
    const heads = await this.server.heads();
    const results = await Promise.allSettled(this.transport.connectedPeers().map((peerId) => this.exchangeWith(peerId, heads, inline)));
    const peers: PeerHeads[] = [];
    for (const r of results) {
      if (r.status === 'fulfilled') peers.push(r.value);
      else this.logger.info({ err: (r.reason as Error).message }, 'watermark exchange failed');
    }
    return peers;
  }

  /** One watermark exchange: this node's heads for the peer's (its acks, too), with up to `inline` changes. */
  private async exchangeWith(peerId: string, heads: WireHead[], inline: number): Promise<PeerHeads> {
    const response = await this.messenger.request(
      peerId,
      { type: 'watermark-exchange-request', requestId: this.messenger.newRequestId(), heads, ...(inline > 0 ? { inline } : {}), versions: this.components.versions.local },
      'watermark-exchange-response',
      this.settings.requestTimeoutMs,
    );
    // A peer whose protocol does not meet this node's is neither pulled from nor told anything.
    this.components.versions.note(response.deviceId, response.versions);
    await this.components.collector.onHeads(response.deviceId, response.heads);
    return { peerId, deviceId: response.deviceId, heads: response.heads, inline: inlineStreams(heads, response.heads, response.changes ?? [], inline) };
  }

  private pauseIfAlone(): void {
    if (this.transport.connectedPeers().length === 0) this.events.setState('paused');
  }
}

/**
 * The inline changes of a watermark exchange response, per stream. Refused whole (the exchange
 * with that peer fails, and the pass goes on without it) when the peer sent more than was asked
 * for, or a change of a stream it did not mark inline.
 */
function inlineStreams(sent: readonly WireHead[], heads: readonly WireHead[], changes: readonly WireChange[], asked: number): ReadonlyMap<string, InlineChanges> {
  if (changes.length > asked) {
    throw new ProtocolError('HW_PROTOCOL_MALFORMED', `A watermark exchange response carried ${changes.length} changes inline; ${asked} were asked for`);
  }
  const mine = new Map(sent.map((h) => [streamKey(h.owner, h.resource), h.hlc]));
  const streams = new Map<string, { from: Hlc | null; changes: WireChange[] }>();
  for (const h of heads) {
    if (h.inline !== true) continue;
    const k = streamKey(h.owner, h.resource);
    const from = mine.get(k);
    streams.set(k, { from: from === undefined ? null : parseHlc(from), changes: [] });
  }
  for (const c of changes) {
    const stream = streams.get(streamKey(c.owner, c.model));
    if (!stream) throw new ProtocolError('HW_PROTOCOL_MALFORMED', `A watermark exchange response carried a change of ${c.model}/${c.owner}, a stream it did not mark inline`);
    stream.changes.push(c);
  }
  return streams;
}

/** Consecutive tasks of one resource, in order. */
function wavesOf(tasks: readonly PullTask[]): PullTask[][] {
  const waves: PullTask[][] = [];
  for (const task of tasks) {
    const wave = waves.at(-1);
    if (wave && wave[0]!.resource === task.resource) wave.push(task);
    else waves.push([task]);
  }
  return waves;
}

/**
 * Runs `run` on every task, at most `limit` at a time and one at a time per best source: the
 * streams of one source follow one another (a source's pages are pipelined already, and
 * several streams from one source only add in-flight responses for the receiver to carry:
 * bench "parallel", row F against E), streams of different sources overlap. The first failure
 * is thrown once all have settled.
 */
async function inParallel(tasks: readonly PullTask[], limit: number, run: (task: PullTask) => Promise<void>): Promise<void> {
  const pending = [...tasks];
  const busy = new Set<string>();
  const failures: unknown[] = [];
  const running = new Set<Promise<void>>();
  const sourceOf = (task: PullTask): string => task.sources[0]?.peerId ?? '';
  while (pending.length > 0 || running.size > 0) {
    while (running.size < limit) {
      const i = pending.findIndex((t) => !busy.has(sourceOf(t)));
      if (i < 0) break;
      const [task] = pending.splice(i, 1) as [PullTask];
      const source = sourceOf(task);
      busy.add(source);
      const done: Promise<void> = run(task)
        .catch((error: unknown) => void failures.push(error))
        .finally(() => {
          busy.delete(source);
          running.delete(done);
        });
      running.add(done);
    }
    if (running.size > 0) await Promise.race(running);
  }
  if (failures.length > 0) throw failures[0];
}
