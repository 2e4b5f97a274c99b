import type { RecordCursor, RecordStore } from '../../ports/record-store.js';
import type { SyncStore } from '../../ports/sync-store.js';
import { formatHlc, type Hlc } from '../../clock/hlc.js';
import { changeFromRecord, changeFromTombstone, changeToWire, compareChanges, cursorFromWire, cursorToWire, recordToWire } from '../change.js';
import type { WireChange, WireCursor } from '../../protocol/messages.js';
import type { DependencyParking } from '../apply/dependency-parking.js';
import { batchRemainder } from '../trust/change-signatures.js';

/** One page of an (owner, model) stream as it goes on the wire: its records, tombstones and parked changes. */
export interface StatePage {
  readonly changes: WireChange[];
  readonly next: WireCursor | null;
  readonly hasMore: boolean;
}

interface PageQuery {
  readonly model: string;
  readonly owner: string;
  readonly limit: number;
  readonly after?: RecordCursor;
  readonly afterHlc?: Hlc;
}

const PREFETCH_SLOTS = 8;
const PREFETCH_TTL_MS = 10_000;

/**
 * Reads state pages — upserts and tombstones of one (owner, model) merged in (HLC, id) order —
 * and, after serving a page that has more, reads the next one ahead: the requester asks for
 * it as soon as this one arrives, and would otherwise wait for the read while it could be
 * applying. A page read ahead answers the next request at its cursor whatever that request's
 * limit: cut short, or continued after its own end (a requester's pages per request grow, 1,
 * 2, then 4), so no read ahead is wasted. Pages read ahead of a model are dropped as soon as
 * anything of that model is stored (`invalidate`): a page read before a write would answer a
 * request made after it — a last page saying "no more" when there is more, or one lacking a
 * record a holder received late with an older HLC — and the requester would claim the stream
 * up to a head that page does not reach (the simulation found it: test/sim regressions).
 */
export class StatePageReader {
  private readonly ahead = new Map<string, { page: Promise<StatePage>; limit: number; at: number }>();

  constructor(
    private readonly records: RecordStore,
    private readonly syncStore: SyncStore,
    /** Changes this node stored as waiting for a dependency: part of their stream like any record. */
    private readonly parking: DependencyParking,
  ) {}

  async read(query: PageQuery): Promise<StatePage> {
    const key = this.keyOf(query);
    const cached = key ? this.ahead.get(key) : undefined;
    if (key) this.ahead.delete(key);
    const read = cached && Date.now() - cached.at < PREFETCH_TTL_MS ? await this.fitted(await cached.page, cached.limit, query) : await this.readNow(query);
    const page = await this.toBatchEnd(read, query);
    if (page.hasMore && page.next) this.readAhead({ model: query.model, owner: query.owner, limit: query.limit, after: cursorFromWire(page.next) });
    return page;
  }

  /** Drops the pages read ahead of `model`: something of it was just stored. */
  invalidate(model: string): void {
    if (this.ahead.size === 0) return;
    const prefix = `${model}\u0000`;
    for (const key of [...this.ahead.keys()]) if (key.startsWith(prefix)) this.ahead.delete(key);
  }

  /** One page, without reading the next one ahead (for a page no follow-up request will continue). */
  readOnce(query: PageQuery): Promise<StatePage> {
    return this.readNow(query);
  }

  /**
   * A page that would end inside a batch of signed changes goes on to the batch's end (at most
   * SIGNATURE_BATCH_MAX - 1 more): its receiver then checks the batch with one signature
   * instead of each change on its own (bench stage "signatures").
   */
  private async toBatchEnd(page: StatePage, query: PageQuery): Promise<StatePage> {
    if (!page.hasMore || !page.next) return page;
    const remainder = batchRemainder(page.changes.at(-1)?.sig);
    if (remainder === 0) return page;
    const rest = await this.readNow({ model: query.model, owner: query.owner, limit: remainder, after: cursorFromWire(page.next) });
    return { changes: page.changes.concat(rest.changes), next: rest.next ?? page.next, hasMore: rest.hasMore };
  }

  /** A page read ahead with `readLimit`, as the answer to `query` (same cursor, any limit). */
  private async fitted(page: StatePage, readLimit: number, query: PageQuery): Promise<StatePage> {
    if (page.changes.length > query.limit) return cut(page, query.limit);
    if (readLimit >= query.limit || !page.hasMore || !page.next) return page;
    const rest = await this.readNow({ ...query, limit: query.limit - page.changes.length, after: cursorFromWire(page.next) });
    return { changes: page.changes.concat(rest.changes), next: rest.next ?? page.next, hasMore: rest.hasMore };
  }

  private readAhead(query: PageQuery & { after: RecordCursor }): void {
    const key = this.keyOf(query)!;
    if (this.ahead.has(key)) return;
    while (this.ahead.size >= PREFETCH_SLOTS) this.ahead.delete(this.ahead.keys().next().value!);
    // After this turn: the store reads synchronously, and the page being served goes out first.
    const page = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.readNow(query));
    page.catch(() => this.ahead.delete(key));
    this.ahead.set(key, { page, limit: query.limit, at: Date.now() });
  }

  private keyOf(query: PageQuery): string | null {
    if (!query.after) return null;
    return `${query.model}\u0000${query.owner}\u0000${formatHlc(query.after.hlc)}\u0000${query.after.id}`;
  }

  private async readNow(query: PageQuery): Promise<StatePage> {
    const { model, limit } = query;
    const bound = query.after ? { after: query.after } : query.afterHlc ? { afterHlc: query.afterHlc } : {};
    const q = { owner: query.owner, limit, ...bound };
    const [records, tombstones] = await Promise.all([this.records.page(model, q), this.syncStore.tombstonesAfter(model, q)]);
    const parked = this.parking.after(model, query.owner, bound, limit);
    // Nearly always no tombstones and nothing parked: the records alone are the page, in order and within the limit.
    if (tombstones.length === 0 && parked.length === 0) return pageOf(records.map((r) => recordToWire(model, r)), records.at(-1), records.length === limit);
    const merged = [...records.map((r) => changeFromRecord(model, r)), ...tombstones.map(changeFromTombstone), ...parked].sort(compareChanges);
    const page = merged.slice(0, limit);
    const full = records.length === limit || tombstones.length === limit || parked.length === limit;
    return pageOf(page.map(changeToWire), page.at(-1), merged.length > limit || full);
  }
}

function pageOf(changes: WireChange[], last: { hlc: Hlc; id: string } | undefined, hasMore: boolean): StatePage {
  return { changes, next: last ? cursorToWire({ hlc: last.hlc, id: last.id }) : null, hasMore };
}

/** The first `limit` changes of a page that holds more: the rest comes with the next request. */
function cut(page: StatePage, limit: number): StatePage {
  const changes = page.changes.slice(0, limit);
  const last = changes.at(-1)!;
  return { changes, next: { hlc: last.hlc, id: last.id }, hasMore: true };
}
