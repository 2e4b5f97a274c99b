import type { SyncEvents } from '../../events/sync-events.js';
import { ForgedChangeError } from '../trust/change-signatures.js';
import type { Logger } from 'pino';
import { compareHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import { HighwaterError, ProtocolError, StorageError, TransportError } from '../../errors.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Span } from '../change.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';
import type { PulledPageCommitter } from './checkpoint.js';
import type { FetchedPage, PageFetcher } from './page-fetcher.js';
import type { PeerHeads, PullSource, PullTask } from './pull-planner.js';

/** No connected peer can serve a task any more; the runner pauses or tries again later. */
export class NoSourceError extends HighwaterError {
  constructor(task: PullTask, cause?: unknown) {
    super('HW_NO_SOURCE', `No connected peer can serve ${task.resource} of ${task.owner}`, { cause });
  }
}

/** What a source did wrong (a forged change, a malformed page, a response that never came), as opposed to going away. */
function isNewsOfSource(error: unknown): error is HighwaterError {
  return error instanceof ForgedChangeError || error instanceof ProtocolError || (error instanceof TransportError && error.code === 'HW_REQUEST_TIMEOUT');
}

/** A stream's owner connected while a holder served it: the pull moves to the owner at the next page. */
class OwnerJoined extends Error {
  constructor(
    readonly owner: PullSource,
    readonly from: PullSource,
  ) {
    super('the stream’s owner connected');
  }
}

/** Counted per applied page: records processed, for progress. */
export type PageListener = (processed: number, source: PullSource) => void;

/**
 * Pulls one (owner, resource) from its sources, best first: which source, and what each page
 * completes of the stream. Fetching is the PageFetcher's (ramp, retries, pipelining, checks);
 * making a page durable and moving the watermark and checkpoint is the PulledPageCommitter's.
 *
 * Backfill starts after the stream's checkpoint; a catch-up after its watermark (device-owned:
 * state pages merging records, tombstones and parked changes; shared: the shared log, or state
 * pages if the serving peer pruned the log past the watermark). A pull ends at the head its
 * serving source announced: every page's span runs from where the pages before it reached to
 * its last change, the last page's to that head. When the serving peer goes away, the same
 * cursor continues on the next source; when a source served less than another connected
 * source announced (it was behind), the next one continues from the watermark. When the
 * stream's owner connects while a holder serves it (`offer`), the stream moves to the owner at
 * the end of the holder's current response. When the source pruned deletes past where this
 * node stands (`prunedUpTo`), the stream is pulled again from its beginning and what the pages
 * lack is dropped here (reconciliation).
 */
export class ResourcePuller {
  private readonly syncStore: SyncStore;
  private readonly watermarks: WatermarkCache;
  private readonly transport: Transport;
  private readonly fetcher: PageFetcher;
  private readonly committer: PulledPageCommitter;
  private readonly logger: Logger;
  private readonly metrics: SyncMetrics;
  private readonly events: SyncEvents;
  private readonly joined = new Map<string, PeerHeads>();

  constructor(components: Pick<NodeComponents, 'syncStore' | 'watermarks' | 'transport' | 'fetcher' | 'committer' | 'logger' | 'metrics' | 'syncEvents'>) {
    this.events = components.syncEvents;
    this.metrics = components.metrics;
    this.syncStore = components.syncStore;
    this.watermarks = components.watermarks;
    this.transport = components.transport;
    this.fetcher = components.fetcher;
    this.committer = components.committer;
    this.logger = components.logger;
  }

  /**
   * Heads of a peer that connected while a pass runs: a stream this node is pulling from a
   * holder moves to its owner, if that is the peer, at the next page (the cursor is portable).
   */
  offer(peer: PeerHeads): void {
    this.joined.set(peer.peerId, peer);
  }

  /** A pass starts: what peers connected during the last one is in its own exchanges now. */
  clearOffers(): void {
    this.joined.clear();
  }

  async pull(task: PullTask, backfill: boolean, onPage: PageListener): Promise<void> {
    let tried = new Set<string>();
    for (;;) {
      const remaining = { ...task, sources: task.sources.filter((s) => !tried.has(s.peerId) && this.isAhead(task, s)) };
      if (remaining.sources.length === 0) return;
      let served: PullSource;
      try {
        served = await this.withFailover(remaining, async (source) => {
          tried = new Set([...tried, source.peerId]);
          if (task.shared && !backfill && this.watermarks.get(task.owner, task.resource)) {
            if (await this.pullSharedLog(task, source, onPage)) return source;
          }
          await this.pullState(task, source, backfill, onPage, tried);
          return source;
        });
      } catch (error) {
        if (!(error instanceof OwnerJoined)) throw error;
        // The holder did not fail: it stays a source if the owner does.
        tried = new Set([...tried].filter((p) => p !== error.from.peerId));
        task = { ...task, sources: [error.owner, ...task.sources.filter((s) => s.peerId !== error.owner.peerId)] };
        continue;
      }
      if (!this.isAhead(task, served)) continue;
      // The source served what it has; its head is still ahead only when something of the
      // stream waits here (a gap it left): the next pass takes it up again.
      return;
    }
  }

  /** Whether `source` announced more of the stream than this node's watermark covers. */
  private isAhead(task: PullTask, source: PullSource): boolean {
    const mark = this.watermarks.get(task.owner, task.resource);
    return !mark || compareHlc(source.head, mark) > 0;
  }

  private async withFailover<T>(task: PullTask, run: (source: PullSource) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (const source of task.sources) {
      if (!this.transport.connectedPeers().includes(source.peerId)) continue;
      try {
        return await run(source);
      } catch (error) {
        // Bad data from a peer is not a reason to stop; another source may be fine. This node's
        // own store failing (a full disk) is no source's fault, and would fail with any of them.
        if (error instanceof OwnerJoined || error instanceof StorageError) throw error;
        lastError = error;
        // A forgery, a malformed page or a stalled response is news whatever another source
        // then serves: say which peer sent it.
        if (isNewsOfSource(error)) {
          this.logger.warn({ peer: source.peerId, resource: task.resource, owner: task.owner, code: error.code, err: error.message }, 'refused what a source sent, or it stalled');
          this.events.reportError(error);
        }
        this.logger.info({ peer: source.peerId, resource: task.resource, owner: task.owner, err: (error as Error).message }, 'pull failed; trying next source');
        if (error instanceof HighwaterError && error.code === 'HW_CLOCK_DRIFT') throw error;
      }
    }
    throw new NoSourceError(task, lastError);
  }

  /**
   * `reconcile`: pull the stream from its beginning, dropping what this node holds that the
   * pages lack, because the source pruned deletes up to this point past where this node stood.
   */
  private async pullState(
    task: PullTask,
    source: PullSource,
    backfill: boolean,
    onPage: PageListener,
    /** Sources this pull used already (one that failed is not switched back to). */
    tried: ReadonlySet<string>,
    reconcile: Hlc | null = null,
  ): Promise<void> {
    // A catch-up whose changes came inline with the source's heads applies them as its one page:
    // they are every change after the watermark this node sent with its heads, up to the head.
    if (source.inline && !backfill && !reconcile) {
      const changes = this.fetcher.inlinePage(task, source.peerId, source.inline.changes, source.head);
      await this.committer.commit(task, changes, { owner: task.owner, model: task.resource, from: source.inline.from, to: source.head }, null);
      onPage(changes.length, source);
      return;
    }
    const checkpoint = backfill && !reconcile ? await this.syncStore.loadCheckpoint(task.owner, task.resource) : null;
    const resumed = checkpoint && !checkpoint.completed ? checkpoint : null;
    // Without a checkpoint, start after the watermark (an HLC alone) — catch-up, or a
    // backfill continuing a stream that live changes already began.
    const after = resumed?.cursor ?? null;
    const afterHlc = after || reconcile ? null : this.watermarks.get(task.owner, task.resource);
    let applied = resumed?.recordsApplied ?? 0;
    let prunedUpTo = reconcile;
    let stretchFrom = after;
    const reached = new Reach(after ? after.hlc : afterHlc);
    for await (const page of this.fetcher.statePages(task, source, { after, afterHlc })) {
      if (!prunedUpTo && page.prunedUpTo) {
        // Deletes after where this node stands may be gone at the source: take the stream again from its beginning.
        this.metrics.add('streamsReconciled');
        this.logger.info({ owner: task.owner, resource: task.resource, peer: source.peerId }, 'source collected deletes past this node: reconciling the stream from its beginning');
        if (reached.at) return this.pullState(task, source, backfill, onPage, tried, page.prunedUpTo);
        prunedUpTo = page.prunedUpTo;
      }
      applied += page.changes.length;
      const position = backfill ? { cursor: page.cursor, completed: page.last, recordsApplied: applied, recordsTotal: source.count } : null;
      const stretch = prunedUpTo ? { from: stretchFrom, to: page.last ? source.head : (page.cursor ?? source.head), prunedUpTo } : undefined;
      await this.committer.commit(task, page.changes, reached.spanOf(task, page, source.head), position, stretch);
      stretchFrom = page.cursor;
      onPage(page.changes.length, source);
      // At a response's end: what is wasted is the one request already sent.
      const owner = page.last || !page.responseEnd || prunedUpTo ? null : this.ownerJoined(task, source, tried);
      if (owner) throw new OwnerJoined(owner, source);
    }
  }

  /** The owner of the task's stream, if it connected during this pass holding at least what `source` serves, and `source` is not it. */
  private ownerJoined(task: PullTask, source: PullSource, tried: ReadonlySet<string>): PullSource | null {
    if (this.joined.size === 0 || source.deviceId === task.owner) return null;
    for (const peer of this.joined.values()) {
      if (peer.deviceId !== task.owner || tried.has(peer.peerId) || !this.transport.connectedPeers().includes(peer.peerId)) continue;
      const head = peer.heads.find((h) => h.owner === task.owner && h.resource === task.resource);
      if (!head || compareHlc(parseHlc(head.hlc), source.head) < 0) return null;
      this.logger.info({ owner: task.owner, resource: task.resource, from: source.peerId, to: peer.peerId }, 'stream moves to its owner, which just connected');
      return { peerId: peer.peerId, deviceId: peer.deviceId, head: parseHlc(head.hlc), count: head.count ?? 0 };
    }
    return null;
  }

  /** Returns false when the peer's log no longer reaches back to our watermark. */
  private async pullSharedLog(task: PullTask, source: PullSource, onPage: PageListener): Promise<boolean> {
    const reached = new Reach(this.watermarks.get(task.owner, task.resource));
    for await (const page of this.fetcher.sharedLogPages(task, source, reached.at)) {
      if (page === 'pruned') return false;
      await this.committer.commit(task, page.changes, reached.spanOf(task, page, source.head), null);
      onPage(page.changes.length, source);
    }
    return true;
  }
}

/** Where the pages of one pull reached in their stream: the next page's span starts here. */
class Reach {
  constructor(public at: Hlc | null) {}

  /** The span a page completes: from where the pages before reached to its last change, the stream's last page to the source's head. */
  spanOf(task: PullTask, page: FetchedPage, head: Hlc): Span | null {
    const to = page.last ? head : (page.changes.at(-1)?.hlc ?? null);
    if (!to || (this.at && compareHlc(to, this.at) <= 0)) return null;
    const span = { owner: task.owner, model: task.resource, from: this.at, to };
    this.at = to;
    return span;
  }
}
