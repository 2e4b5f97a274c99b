import { compareHlc, maxHlc, type Hlc } from '../../clock/hlc.js';
import type { Span } from '../change.js';
import { streamKey } from '../stream-key.js';
import type { WatermarkCache } from '../watermark-cache.js';

/** Claims kept per stream while they cannot be merged (a gap). */
const MAX_PENDING_PER_STREAM = 1000;

/** What settling one stream did to its watermark. */
export interface Settled {
  readonly before: Hlc | null;
  readonly after: Hlc | null;
}

/**
 * The one place a remote stream's watermark moves. Every batch of changes comes with spans
 * (see Span): a span whose `from` the watermark reaches moves it to the span's `to`, and one
 * beyond the watermark waits here, in memory, until earlier spans close the gap. Records that
 * wait for a dependency are stored too (parked, see DependencyParking), so a watermark covers
 * only changes this node has stored, and every earlier change of its stream; a claim lost in a
 * crash only makes the next catch-up fetch a little more.
 */
export class StreamCoverage {
  private readonly pending = new Map<string, { owner: string; model: string; spans: Span[] }>();

  constructor(private readonly watermarks: WatermarkCache) {}

  /** Keeps a span until `settle` merges it (a span the watermark already covers is dropped). */
  add(span: Span): void {
    const mark = this.watermarks.get(span.owner, span.model);
    if (mark && compareHlc(span.to, mark) <= 0) return;
    if (span.from && compareHlc(span.from, span.to) >= 0) return;
    const key = streamKey(span.owner, span.model);
    let entry = this.pending.get(key);
    if (!entry) this.pending.set(key, (entry = { owner: span.owner, model: span.model, spans: [] }));
    entry.spans.push(span);
    // Dropping a claim is always safe (the watermark just stays lower); keep those that start lowest.
    if (entry.spans.length > MAX_PENDING_PER_STREAM) {
      entry.spans.sort(byFrom);
      entry.spans.length = MAX_PENDING_PER_STREAM;
    }
  }

  /** Merges the stream's contiguous spans into its watermark, durably. */
  async settle(owner: string, model: string): Promise<Settled> {
    const before = this.watermarks.get(owner, model);
    const key = streamKey(owner, model);
    const entry = this.pending.get(key);
    if (!entry) return { before, after: before };
    const mark = chain(before, entry.spans);
    entry.spans = entry.spans.filter((x) => !mark || compareHlc(x.to, mark) > 0);
    if (entry.spans.length === 0) this.pending.delete(key);
    if (mark && (!before || compareHlc(mark, before) > 0)) await this.watermarks.advance(owner, model, mark);
    return { before, after: mark };
  }

  /** Whether `span` starts beyond where the stream's watermark stands: a gap to catch up. */
  isGap(span: Span): boolean {
    const entry = this.pending.get(streamKey(span.owner, span.model));
    const mark = chain(this.watermarks.get(span.owner, span.model), entry?.spans ?? []);
    return !reaches(mark, span.from) && !(mark && compareHlc(span.to, mark) <= 0);
  }

  /** Streams with spans waiting for a gap to close, for diagnostics. */
  get waitingStreams(): number {
    return this.pending.size;
  }
}

/** Where a watermark at `mark` gets by following every span that starts within it. */
function chain(mark: Hlc | null, spans: readonly Span[]): Hlc | null {
  let moved = true;
  while (moved) {
    moved = false;
    for (const s of spans) {
      if (mark && compareHlc(s.to, mark) <= 0) continue;
      if (reaches(mark, s.from)) {
        mark = mark ? maxHlc(mark, s.to) : s.to;
        moved = true;
      }
    }
  }
  return mark;
}

/** Whether a watermark at `mark` reaches a span starting at `from` (null: the stream's beginning). */
function reaches(mark: Hlc | null, from: Hlc | null): boolean {
  return from === null || (mark !== null && compareHlc(from, mark) <= 0);
}

function byFrom(a: Span, b: Span): number {
  if (!a.from) return b.from ? -1 : 0;
  if (!b.from) return 1;
  return compareHlc(a.from, b.from);
}
