import { compareHlc, maxHlc } from '../../clock/hlc.js';
import type { Change, Span } from '../change.js';
import { streamKey } from '../stream-key.js';
import type { Settled } from './stream-coverage.js';

/** What a relay forwards: changes and the spans they complete (see ApplyOutcome.relay). */
export interface Relay {
  readonly changes: readonly Change[];
  readonly spans: readonly Span[];
}

export const NO_RELAY: Relay = { changes: [], spans: [] };

/**
 * The relay of a batch: per stream, each chain of the batch's spans (contiguous intervals the
 * batch's own changes fill) that the watermark moved past, cut to start at the watermark it had.
 */
export function relayOf(input: readonly Change[], spans: readonly Span[], settled: ReadonlyMap<string, Settled>): Relay {
  if (spans.length === 0) return NO_RELAY;
  const out: Span[] = [];
  const byStream = new Map<string, Span[]>();
  for (const s of spans) {
    const k = streamKey(s.owner, s.model);
    const list = byStream.get(k);
    if (list) list.push(s);
    else byStream.set(k, [s]);
  }
  for (const [k, list] of byStream) {
    const result = settled.get(k);
    if (!result?.after) continue;
    for (const chain of chainsOf(list)) {
      if (compareHlc(result.after, chain.to) < 0) continue; // not (yet) covered here
      if (result.before && compareHlc(result.before, chain.to) >= 0) continue; // nothing new here
      const from = !chain.from ? result.before : !result.before ? chain.from : maxHlc(chain.from, result.before);
      out.push({ owner: chain.owner, model: chain.model, from, to: chain.to });
    }
  }
  if (out.length === 0) return NO_RELAY;
  const changes = input.filter((c) => out.some((s) => s.owner === c.owner && s.model === c.model && (!s.from || compareHlc(c.hlc, s.from) > 0) && compareHlc(c.hlc, s.to) <= 0));
  return { changes, spans: out };
}

/** Spans of one stream joined where each starts within the one before. */
function chainsOf(spans: readonly Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => (!a.from ? (b.from ? -1 : 0) : !b.from ? 1 : compareHlc(a.from, b.from)));
  const chains: Span[] = [];
  for (const s of sorted) {
    const last = chains.at(-1);
    if (last && (!s.from || compareHlc(s.from, last.to) <= 0)) chains[chains.length - 1] = { ...last, to: maxHlc(last.to, s.to) };
    else chains.push(s);
  }
  return chains;
}

/** Whether the relay's spans carry every watermark move of `settled` on to peers. */
export function coversAdvances(relayed: readonly Span[], settled: ReadonlyMap<string, Settled>): boolean {
  for (const [k, r] of settled) {
    if (!r.after || (r.before && compareHlc(r.after, r.before) <= 0)) continue;
    const span = relayed.find((s) => streamKey(s.owner, s.model) === k);
    if (!span || compareHlc(span.to, r.after) < 0 || (r.before ? !span.from || compareHlc(span.from, r.before) > 0 : span.from !== null)) return false;
  }
  return true;
}
