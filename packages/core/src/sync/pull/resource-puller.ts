import type { Logger } from 'pino';
import { compareHlc, formatHlc, type Hlc } from '../../clock/hlc.js';
import { HighwaterError, ProtocolError, TransportError } from '../../errors.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordCursor } from '../../ports/record-store.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type { Transport } from '../../ports/transport.js';
import type { StateResponseMessage, WireChange } from '../../protocol/messages.js';
import type { ChangeApplier } from '../apply/change-applier.js';
import { changesFromWire, compareChanges, cursorFromWire, cursorToWire, type Change } from '../change.js';
import type { Messenger } from '../messenger.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';
import type { PullSource, PullTask } from './pull-planner.js';

/** No connected peer can serve a task any more; the runner pauses or tries again later. */
export class NoSourceError extends HighwaterError {
  constructor(task: PullTask, cause?: unknown) {
    super('HW_NO_SOURCE', `No connected peer can serve ${task.resource} of ${task.owner}`, { cause });
  }
}

export interface PullSettings {
  readonly pageSize: number;
  /** Pages one request asks for, at most (a pull starts at one and doubles up to this). */
  readonly pagesPerRequest: number;
  readonly requestTimeoutMs: number;
}

/** Counted per applied page: records processed, for progress. */
export type PageListener = (processed: number, source: PullSource) => void;

/**
 * Pulls one (owner, resource) from peers, page by page in (HLC, id) order, and applies it.
 *
 * Backfill: after each page the records are applied durably, **then** the checkpoint moves
 * to the page's last (HLC, id) — never the other way round, so a crash re-fetches at most
 * the page in flight, and applying it again changes nothing (records that wait for a
 * dependency are stored as parked, so the checkpoint moves past them too).
 * Catch-up: starts after the watermark; the applier moves the watermark page by page.
 * Shared resources catch up from the shared log, falling back to state pages when the
 * serving peer has pruned the log past our position; its requests ramp up the same way.
 * The next request goes out before the current response is applied, so the wire and the disk
 * work at the same time. A request asks for one page, then two, then up to `pagesPerRequest`:
 * the first page comes as soon as one page can, and later ones share a request, a response and
 * their per-message costs on both sides; each page is still applied in its own batch and
 * checkpointed on its own. When the serving peer goes away, the same cursor continues on the
 * next source.
 */
export class ResourcePuller {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly syncStore: SyncStore,
    private readonly watermarks: WatermarkCache,
    private readonly applier: ChangeApplier,
    private readonly messenger: Messenger,
    private readonly transport: Transport,
    private readonly metrics: SyncMetrics,
    private readonly logger: Logger,
    private readonly settings: PullSettings,
  ) {}

  /**
   * Pulls the stream from the best connected source; when that source's head is below another
   * connected source's (it was behind, or took over from one that left), the next one
   * continues from where the watermark now stands.
   */
  async pull(task: PullTask, backfill: boolean, onPage: PageListener): Promise<void> {
    let tried = new Set<string>();
    for (;;) {
      const remaining = { ...task, sources: task.sources.filter((s) => !tried.has(s.peerId) && this.isAhead(task, s)) };
      if (remaining.sources.length === 0) return;
      const served = await this.withFailover(remaining, async (source) => {
        tried = new Set([...tried, source.peerId]);
        if (task.shared && !backfill && this.watermarks.get(task.owner, task.resource)) {
          if (await this.pullSharedLog(task, source, onPage)) return source;
        }
        await this.pullState(task, source, backfill, onPage);
        return source;
      });
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
        // Bad data from a peer is not a reason to stop; another source may be fine.
        lastError = error;
        this.logger.info({ peer: source.peerId, resource: task.resource, owner: task.owner, err: (error as Error).message }, 'pull failed; trying next source');
        if (error instanceof HighwaterError && error.code === 'HW_CLOCK_DRIFT') throw error;
      }
    }
    throw new NoSourceError(task, lastError);
  }

  private async pullState(task: PullTask, source: PullSource, backfill: boolean, onPage: PageListener): Promise<void> {
    // A catch-up whose changes came inline with the source's heads applies them as its one page:
    // they are every change after the watermark this node sent with its heads, up to the head.
    if (source.inline && !backfill) {
      this.metrics.add('pagesFetched');
      const changes = this.decodeStream(task, source.inline.changes, source.head);
      this.metrics.add('changesFetched', changes.length);
      await this.applier.apply(changes, 'pull', [{ owner: task.owner, model: task.resource, from: source.inline.from, to: source.head }]);
      onPage(changes.length, source);
      return;
    }
    const checkpoint = backfill ? await this.syncStore.loadCheckpoint(task.owner, task.resource) : null;
    let cursor: RecordCursor | null = checkpoint && !checkpoint.completed ? checkpoint.cursor : null;
    // Without a checkpoint, start after the watermark (an HLC alone) — catch-up, or a
    // backfill continuing a stream that live changes already began.
    const afterHlc = cursor ? null : this.watermarks.get(task.owner, task.resource);
    let applied = checkpoint && !checkpoint.completed ? checkpoint.recordsApplied : 0;
    // Where the changes applied so far reach: the next page's span starts here.
    let reached: Hlc | null = cursor ? cursor.hlc : afterHlc;

    const ramp = this.pageRamp();
    const fetch = (after: RecordCursor | null): Promise<StateResponseMessage> =>
      this.withinFrameLimit(ramp, (limit) =>
        this.messenger.request(
          source.peerId,
          {
            type: 'state-request',
            requestId: this.messenger.newRequestId(),
            model: task.resource,
            owner: task.owner,
            after: after ? cursorToWire(after) : null,
            afterHlc: after ? null : afterHlc ? formatHlc(afterHlc) : null,
            limit,
            // Pages as rows of values: a third fewer bytes, decoded faster (see the JSON codec).
            rows: true,
          },
          'state-response',
          this.settings.requestTimeoutMs,
        ),
      );

    let next: Promise<StateResponseMessage> | null = fetch(cursor);
    while (next) {
      const { changes, pageCursor, hasMore } = await this.receivePage(task, next, cursor, source.head);
      // Pipelining: ask for the next pages before applying these.
      next = hasMore && pageCursor ? fetch(pageCursor) : null;
      next?.catch(() => undefined);
      // One turn of the event loop lets that request reach the wire: applying blocks the loop
      // (a synchronous store), and a request still queued behind it would leave only after.
      if (next) await new Promise<void>((resolve) => setImmediate(resolve));
      const pages = pagesOf(changes, this.settings.pageSize);
      for (const [i, page] of pages.entries()) {
        const last = i === pages.length - 1;
        // The stream's last page completes it up to the source's head; any other, up to its last change.
        const to = !next && last ? source.head : (page.at(-1)?.hlc ?? null);
        const spans = to && (!reached || compareHlc(to, reached) > 0) ? [{ owner: task.owner, model: task.resource, from: reached, to }] : [];
        await this.applier.apply(page, 'pull', spans);
        if (to && (!reached || compareHlc(to, reached) > 0)) reached = to;
        applied += page.length;
        // A page that is not the response's last ends at its own last change.
        cursor = last ? pageCursor : cursorOf(page.at(-1)!);
        if (backfill) {
          await this.syncStore.saveCheckpoint({
            ownerDeviceId: task.owner,
            resourceType: task.resource,
            cursor,
            completed: !next && last,
            recordsApplied: applied,
            recordsTotal: source.count,
          });
        }
        onPage(page.length, source);
      }
    }
  }

  /**
   * A state response (one or more pages), decoded. Its own function so that nothing of the wire
   * message (a change object per record) stays referenced while its pages are applied: young-generation GCs
   * during the apply copy whatever is still alive, and would copy those too.
   */
  private async receivePage(
    task: PullTask,
    response: Promise<StateResponseMessage>,
    cursor: RecordCursor | null,
    head: Hlc,
  ): Promise<{ changes: Change[]; pageCursor: RecordCursor | null; hasMore: boolean }> {
    const page = await response;
    this.countPages(page.changes.length);
    if (page.model !== task.resource || page.owner !== task.owner) {
      throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Asked for ${task.resource}/${task.owner}, got ${page.model}/${page.owner}`);
    }
    const all = this.decodeStream(task, page.changes);
    if (cursor && all.length > 0 && compareChanges(all[0]!, cursor) <= 0) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'Page starts before its cursor');
    // The pull ends at the head the source announced: what it holds beyond may have gaps.
    const changes = upToHead(all, head);
    this.metrics.add('changesFetched', changes.length);
    if (changes.length < all.length) return { changes, pageCursor: changes.length > 0 ? cursorOf(changes.at(-1)!) : cursor, hasMore: false };
    return { changes, pageCursor: page.next ? cursorFromWire(page.next) : cursor, hasMore: page.hasMore };
  }

  /** Returns false when the peer's log no longer reaches back to our watermark. */
  private async pullSharedLog(task: PullTask, source: PullSource, onPage: PageListener): Promise<boolean> {
    let after: Hlc | null = this.watermarks.get(task.owner, task.resource);
    const ramp = this.pageRamp();
    for (;;) {
      const afterText = after ? formatHlc(after) : null;
      const response = await this.withinFrameLimit(ramp, (limit) =>
        this.messenger.request(
          source.peerId,
          {
            type: 'shared-change-request',
            requestId: this.messenger.newRequestId(),
            model: task.resource,
            origin: task.owner,
            afterHlc: afterText,
            limit,
          },
          'shared-change-response',
          this.settings.requestTimeoutMs,
        ),
      );
      this.countPages(response.changes.length);
      if (!response.complete) return false;
      const all = this.decodeStream(task, response.changes);
      if (after && all.length > 0 && compareHlc(all[0]!.hlc, after) <= 0) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'Shared log page starts at or before its cursor');
      const changes = upToHead(all, source.head);
      const done = !response.hasMore || changes.length < all.length || changes.length === 0;
      this.metrics.add('changesFetched', changes.length);
      const pages = pagesOf(changes, this.settings.pageSize);
      for (const [i, page] of pages.entries()) {
        const to = done && i === pages.length - 1 ? source.head : (page.at(-1)?.hlc ?? null);
        const spans = to && (!after || compareHlc(to, after) > 0) ? [{ owner: task.owner, model: task.resource, from: after, to }] : [];
        await this.applier.apply(page, 'pull', spans);
        if (spans.length > 0) after = to;
        onPage(page.length, source);
      }
      if (done) return true;
    }
  }

  /**
   * `request(limit)` with the ramp's next limit. A response of several pages may be larger than
   * the transport carries (large records): the peer refuses it with HW_FRAME_TOO_LARGE, and
   * the same request goes again for half as many pages, which the ramp keeps to from then on.
   * Only a single page too large fails the pull, as it did before pages were ramped.
   */
  private async withinFrameLimit<T>(ramp: PageRamp, request: (limit: number) => Promise<T>): Promise<T> {
    for (let limit = ramp.nextLimit(); ; limit = ramp.shrink(limit)) {
      try {
        return await request(limit);
      } catch (error) {
        if (!(error instanceof TransportError && error.code === 'HW_FRAME_TOO_LARGE') || limit <= this.settings.pageSize) throw error;
        this.logger.info({ limit, err: error.message }, 'response of several pages too large; asking for fewer');
      }
    }
  }

  /** Requests of one page, then two, then up to `pagesPerRequest`. */
  private pageRamp(): PageRamp {
    return new PageRamp(this.settings.pageSize, this.settings.pagesPerRequest);
  }

  /** A response of `changes` counts as that many pages (an empty one as one). */
  private countPages(changes: number): void {
    this.metrics.add('pagesFetched', Math.max(1, Math.ceil(changes / this.settings.pageSize)));
  }

  /** A page must hold only the stream asked for, in order; anything else is refused whole. */
  private decodeStream(task: PullTask, wire: readonly WireChange[], head?: Hlc): Change[] {
    const changes = changesFromWire(this.registry, wire);
    let prev: Change | undefined;
    for (const c of changes) {
      if (c.model !== task.resource || c.owner !== task.owner) {
        throw new ProtocolError('HW_PROTOCOL_MALFORMED', `A page of ${task.resource}/${task.owner} carried ${c.model}/${c.owner}`);
      }
      if (prev && compareHlc(c.hlc, prev.hlc) < 0) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'Page out of HLC order');
      prev = c;
    }
    return head ? upToHead(changes, head) : changes;
  }
}

/** The limit of each next request: one page, then twice as many each time, up to `maxPages`. */
class PageRamp {
  private pages = 1;

  constructor(
    private readonly pageSize: number,
    private maxPages: number,
  ) {}

  nextLimit(): number {
    const limit = this.pageSize * this.pages;
    this.pages = Math.min(this.pages * 2, this.maxPages);
    return limit;
  }

  /** The limit to ask again with after a request of `limit` got a response too large for the transport: half as many pages, from now on. */
  shrink(limit: number): number {
    this.maxPages = Math.max(1, Math.floor(limit / this.pageSize / 2));
    this.pages = this.maxPages;
    return this.nextLimit();
  }
}

/** A response's changes as pages of `size` (one page, perhaps empty, when it holds no more). */
function pagesOf(changes: Change[], size: number): Change[][] {
  if (changes.length <= size) return [changes];
  const pages: Change[][] = [];
  for (let start = 0; start < changes.length; start += size) pages.push(changes.slice(start, start + size));
  return pages;
}

/** The changes at or below `head` (a stream page is in HLC order, so a prefix). */
function upToHead(changes: Change[], head: Hlc): Change[] {
  const last = changes.at(-1);
  if (!last || compareHlc(last.hlc, head) <= 0) return changes;
  const end = changes.findIndex((c) => compareHlc(c.hlc, head) > 0);
  return changes.slice(0, end);
}

function cursorOf(change: Change): RecordCursor {
  return { hlc: change.hlc, id: change.id };
}
