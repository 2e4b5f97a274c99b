import { createHash } from 'node:crypto';
import { compareHlc, formatHlc, type Hlc, type ModelRegistry, type RecordData } from '@highwater/core';
import { hlcText, type KnownChange, type Oracle } from './oracle.js';
import { mayBePruned, streamOf, versionOf, type NodeSnapshot } from './snapshot.js';

/** An invariant that does not hold: which, and what was seen. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
    this.name = 'InvariantViolation';
  }
}

/**
 * A watermark (or checkpoint cursor) of (owner, model) at W claims that every change of that
 * stream up to W is stored here. Per record: of its known changes, take the newest one its
 * stream's claim covers; the node must hold that version or a newer one (record or tombstone).
 * One exception is inherent to syncing state, not a change log: when a newer change of the same
 * record is not covered yet, the version the claim covers may have been superseded at the source
 * before it was read — the node then gets the newer one when its claim reaches it.
 */
export function coverageProblems(
  device: string,
  registry: ModelRegistry,
  oracle: Oracle,
  snapshot: NodeSnapshot,
  claim: 'watermark' | 'checkpoint',
): string[] {
  const claims = claim === 'watermark' ? snapshot.watermarks : new Map([...snapshot.checkpoints].map(([k, c]) => [k, c.hlc]));
  const problems: string[] = [];
  for (const model of registry.syncOrder()) {
    for (const id of oracle.idsOf(model)) {
      const changes = oracle.changesOf(model, id);
      let top: KnownChange | undefined;
      let newerUncovered = false;
      for (const c of changes) {
        const mark = claims.get(streamOf(c.owner, model));
        if (mark && compareHlc(c.hlc, mark) <= 0) top = c;
      }
      if (!top) continue;
      for (const c of changes) {
        const mark = claims.get(streamOf(c.owner, model));
        if (compareHlc(c.hlc, top.hlc) > 0 && !(mark && compareHlc(c.hlc, mark) <= 0)) newerUncovered = true;
      }
      if (newerUncovered) continue;
      const held = versionOf(snapshot, model, id);
      // A delete whose tombstone was collected leaves no record (perhaps an older tombstone): right, where the node's prune point says so.
      if (top.op === 'delete' && !snapshot.records.get(model)?.has(id) && mayBePruned(snapshot, model, top.hlc)) continue;
      if (!held || compareHlc(held, top.hlc) < 0) {
        const mark = claims.get(streamOf(top.owner, model))!;
        problems.push(
          `${device}: ${claim} of (${top.owner}, ${model}) at ${formatHlc(mark)} covers ${top.op} of ${model}/${id} at ${formatHlc(top.hlc)}, but ${device} holds ${hlcText(held)}`,
        );
      }
    }
  }
  return problems;
}

/** Differences between a node's records and what the oracle says every node must hold. */
export function contentProblems(device: string, registry: ModelRegistry, oracle: Oracle, snapshot: NodeSnapshot, limit = 8): string[] {
  const problems: string[] = [];
  for (const model of registry.syncOrder()) {
    const expected = oracle.expected(model);
    const held = snapshot.records.get(model) ?? new Map();
    for (const [id, e] of expected) {
      const h = held.get(id);
      if (!h) problems.push(`${device} lacks ${model}/${id} (${e.owner} at ${formatHlc(e.hlc)})`);
      else if (compareHlc(h.hlc, e.hlc) !== 0 || h.owner !== e.owner || canonicalData(h.data) !== canonicalData(e.data)) {
        problems.push(`${device} holds ${model}/${id} at ${formatHlc(h.hlc)} by ${h.owner}; the newest is ${formatHlc(e.hlc)} by ${e.owner}`);
      }
      if (problems.length >= limit) return problems;
    }
    for (const [id, h] of held) {
      if (!expected.has(id)) {
        const w = oracle.winner(model, id);
        problems.push(`${device} holds ${model}/${id} at ${formatHlc(h.hlc)}, which ${w ? `was deleted at ${formatHlc(w.hlc)}` : 'nobody wrote'}`);
      }
      if (problems.length >= limit) return problems;
    }
  }
  return problems;
}

/** Converged watermarks stand exactly at each stream's newest change: no stream behind, none claimed beyond. */
export function watermarkProblems(device: string, oracle: Oracle, snapshot: NodeSnapshot): string[] {
  const problems: string[] = [];
  const heads = oracle.streamHeads();
  for (const { owner, model, hlc } of heads) {
    const mark = snapshot.watermarks.get(streamOf(owner, model));
    if (!mark || compareHlc(mark, hlc) !== 0) problems.push(`${device}: watermark of (${owner}, ${model}) is ${hlcText(mark)}, its newest change is ${formatHlc(hlc)}`);
  }
  const known = new Set(heads.map((h) => streamOf(h.owner, h.model)));
  for (const [stream, mark] of snapshot.watermarks) {
    if (!known.has(stream)) problems.push(`${device}: watermark of (${stream.replace('\u0000', ', ')}) at ${formatHlc(mark)}, a stream with no known change`);
  }
  return problems;
}

/** Per (owner, model): record count and a digest of (id, HLC, data) in id order — what `verify` compares. */
export function streamDigests(registry: ModelRegistry, snapshot: NodeSnapshot): Map<string, { count: number; digest: string }> {
  const out = new Map<string, { count: number; digest: string }>();
  for (const model of registry.syncOrder()) {
    const byOwner = new Map<string, [string, Hlc, unknown][]>();
    for (const [id, r] of snapshot.records.get(model) ?? []) {
      let list = byOwner.get(r.owner);
      if (!list) byOwner.set(r.owner, (list = []));
      list.push([id, r.hlc, r.data]);
    }
    for (const [owner, list] of byOwner) {
      list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const hash = createHash('sha256');
      for (const [id, hlc, data] of list) hash.update(`${id}\u0000${formatHlc(hlc)}\u0000${canonicalData(data as RecordData)}\n`);
      out.set(`${owner}/${model}`, { count: list.length, digest: hash.digest('hex').slice(0, 16) });
    }
  }
  return out;
}

/** Record data as text with its keys in order: two stores may list fields differently. */
export function canonicalData(data: RecordData | null): string {
  if (!data) return 'null';
  return JSON.stringify(Object.keys(data).sort().map((k) => [k, data[k]]));
}
