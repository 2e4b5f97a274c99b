import type { PeerVersions } from '../peer-versions.js';
import type { Logger } from 'pino';
import { compareHlc, formatHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import { ProtocolError, TransportError } from '../../errors.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { NodeSettings } from '../../node/node-settings.js';
import type { RecordCursor } from '../../ports/record-store.js';
import type { StateResponseMessage, WireChange } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { ChangeSignatures } from '../trust/change-signatures.js';
import { changesFromWire, compareChanges, cursorFromWire, cursorToWire, type Change } from '../change.js';
import type { Messenger } from '../messenger.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { PullSource, PullTask } from './pull-planner.js';

/** One page of a stream as fetched: decoded, checked, at most `pageSize` changes. */
export interface FetchedPage {
  readonly changes: Change[];
  /** Resume token after this page (state pages only; null before the first change). */
  readonly cursor: RecordCursor | null;
  /** The stream ends with this page: it reaches the head the source announced. */
  readonly last: boolean;
  /** The last page of its response (state pages): the next one comes with the request already sent, if any. */
  readonly responseEnd?: boolean;
  /** The source's prune point of the stream, when the request started below it (state pages only). */
  readonly prunedUpTo?: Hlc;
}

/** Where a state pull starts: after a checkpoint's cursor, or after an HLC (the watermark), or at the beginning. */
export interface PullStart {
  readonly after: RecordCursor | null;
  readonly afterHlc: Hlc | null;
}

/**
 * Fetches the pages of one (owner, resource) stream from one peer: the request ramp (one page,
 * then two, then up to `pagesPerRequest` per request), the back-off when a response is too large
 * for the transport, pipelining (the next request goes out before the pages of the current one
 * are handed over), decoding and every check of what came back (the stream asked for, in
 * order, after its cursor), cut at the head the source announced. What is done with a page is
 * the caller's (see PulledPageCommitter).
 */
export class PageFetcher {
  private readonly registry: ModelRegistry;
  private readonly messenger: Messenger;
  private readonly metrics: SyncMetrics;
  private readonly logger: Logger;
  private readonly settings: NodeSettings;
  private readonly versions: PeerVersions;
  private readonly signatures: ChangeSignatures;

  constructor(components: Pick<NodeComponents, 'modelRegistry' | 'messenger' | 'metrics' | 'logger' | 'settings' | 'signatures' | 'versions'>) {
    this.signatures = components.signatures;
    this.versions = components.versions;
    this.registry = components.modelRegistry;
    this.messenger = components.messenger;
    this.metrics = components.metrics;
    this.logger = components.logger;
    this.settings = components.settings;
  }

  /** State pages of the stream after `start`, up to `source.head`. */
  async *statePages(task: PullTask, source: PullSource, start: PullStart): AsyncGenerator<FetchedPage> {
    const ramp = this.ramp();
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
            afterHlc: after ? null : start.afterHlc ? formatHlc(start.afterHlc) : null,
            limit,
            // Pages as rows of values: a third fewer bytes, decoded faster (see the JSON codec).
            rows: true,
          },
          'state-response',
          this.settings.requestTimeoutMs,
        ),
      );
    let cursor = start.after;
    let next: Promise<StateResponseMessage> | null = fetch(cursor);
    while (next) {
      const { changes, pageCursor, hasMore, prunedUpTo } = await this.receiveStatePage(task, source.peerId, next, cursor, source.head);
      // Pipelining: ask for the next pages before handing these over.
      next = hasMore && pageCursor ? fetch(pageCursor) : null;
      next?.catch(() => undefined);
      // One turn of the event loop lets that request reach the wire: applying blocks the loop
      // (a synchronous store), and a request still queued behind it would leave only after.
      if (next) await new Promise<void>((resolve) => setImmediate(resolve));
      const pages = pagesOf(changes, this.settings.pageSize);
      for (const [i, page] of pages.entries()) {
        const lastOfResponse = i === pages.length - 1;
        // A page that is not the response's last ends at its own last change.
        cursor = lastOfResponse ? pageCursor : cursorOf(page.at(-1)!);
        yield { changes: page, cursor, last: !next && lastOfResponse, responseEnd: lastOfResponse, ...(prunedUpTo ? { prunedUpTo } : {}) };
      }
    }
  }

  /**
   * Shared-log pages of the stream after `after`, up to `source.head`; yields 'pruned' (and
   * ends) when the peer's log no longer reaches back to `after`.
   */
  async *sharedLogPages(task: PullTask, source: PullSource, after: Hlc | null): AsyncGenerator<FetchedPage | 'pruned'> {
    const ramp = this.ramp();
    for (;;) {
      const afterText = after ? formatHlc(after) : null;
      const response = await this.withinFrameLimit(ramp, (limit) =>
        this.messenger.request(
          source.peerId,
          { type: 'shared-change-request', requestId: this.messenger.newRequestId(), model: task.resource, origin: task.owner, afterHlc: afterText, limit },
          'shared-change-response',
          this.settings.requestTimeoutMs,
        ),
      );
      this.countPages(response.changes.length);
      if (!response.complete) {
        yield 'pruned';
        return;
      }
      const all = this.decodeStream(task, source.peerId, response.changes);
      if (after && all.length > 0 && compareHlc(all[0]!.hlc, after) <= 0) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'Shared log page starts at or before its cursor');
      const changes = upToHead(all, source.head);
      const done = !response.hasMore || changes.length < all.length || changes.length === 0;
      this.metrics.add('changesFetched', changes.length);
      const pages = pagesOf(changes, this.settings.pageSize);
      for (const [i, page] of pages.entries()) yield { changes: page, cursor: null, last: done && i === pages.length - 1 };
      if (done) return;
      after = changes.at(-1)!.hlc;
    }
  }

  /** The changes a source sent inline with its heads: checked like a page, cut at its head. */
  inlinePage(task: PullTask, sender: string, wire: readonly WireChange[], head: Hlc): Change[] {
    this.metrics.add('pagesFetched');
    const changes = this.decodeStream(task, sender, wire, head);
    this.metrics.add('changesFetched', changes.length);
    return changes;
  }

  /**
   * A state response (one or more pages), decoded, in its own function so the wire message is
   * garbage before its pages are applied (bench: receiver CPU per 1000 records).
   */
  private async receiveStatePage(
    task: PullTask,
    sender: string,
    response: Promise<StateResponseMessage>,
    cursor: RecordCursor | null,
    head: Hlc,
  ): Promise<{ changes: Change[]; pageCursor: RecordCursor | null; hasMore: boolean; prunedUpTo: Hlc | null }> {
    const page = await response;
    this.countPages(page.changes.length);
    if (page.model !== task.resource || page.owner !== task.owner) {
      throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Asked for ${task.resource}/${task.owner}, got ${page.model}/${page.owner}`);
    }
    const all = this.decodeStream(task, sender, page.changes);
    if (cursor && all.length > 0 && compareChanges(all[0]!, cursor) <= 0) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'Page starts before its cursor');
    checkPageCursor(all, page);
    // The pull ends at the head the source announced: what it holds beyond may have gaps.
    const changes = upToHead(all, head);
    this.metrics.add('changesFetched', changes.length);
    const prunedUpTo = page.prunedUpTo ? parseHlc(page.prunedUpTo) : null;
    if (changes.length < all.length) return { changes, pageCursor: changes.length > 0 ? cursorOf(changes.at(-1)!) : cursor, hasMore: false, prunedUpTo };
    return { changes, pageCursor: page.next ? cursorFromWire(page.next) : cursor, hasMore: page.hasMore, prunedUpTo };
  }

  /**
   * `request(limit)` with the ramp's next limit. A response of several pages may be larger than
   * the transport carries (large records): the peer refuses it with HW_FRAME_TOO_LARGE, and
   * the same request goes again for half as many pages, which the ramp keeps to from then on.
   * Only a single page too large fails the pull.
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
  private ramp(): PageRamp {
    return new PageRamp(this.settings.pageSize, this.settings.pagesPerRequest);
  }

  /** A response of `changes` counts as that many pages (an empty one as one). */
  private countPages(changes: number): void {
    this.metrics.add('pagesFetched', Math.max(1, Math.ceil(changes / this.settings.pageSize)));
  }

  /** A page must hold only the stream asked for, in order; anything else is refused whole. */
  private decodeStream(task: PullTask, sender: string, wire: readonly WireChange[], head?: Hlc): Change[] {
    const changes = changesFromWire(this.registry, wire);
    this.versions.admit(changes);
    this.signatures.verify(changes, this.messenger.authenticatedDevice(sender));
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

/**
 * A page's `next` names its last change, as every node sends it: the next request goes on from
 * there. A cursor past it would skip what lies between (and the watermark would then cover it
 * unfetched), one before it would fetch again without end; an empty page that says it has more
 * would be asked for again without end. Each is refused whole, before anything of it is stored.
 */
function checkPageCursor(changes: readonly Change[], page: StateResponseMessage): void {
  const last = changes.at(-1);
  if (!last) {
    if (page.hasMore) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'An empty page says it has more');
    return;
  }
  if (!page.next) {
    if (page.hasMore) throw new ProtocolError('HW_PROTOCOL_MALFORMED', 'A page that has more names no cursor to go on from');
    return;
  }
  if (page.next.id !== last.id || compareHlc(parseHlc(page.next.hlc), last.hlc) !== 0) {
    throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Page cursor ${page.next.hlc}/${page.next.id} does not name its last change ${formatHlc(last.hlc)}/${last.id}`);
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
