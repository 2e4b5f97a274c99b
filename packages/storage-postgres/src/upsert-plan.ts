import { compareHlc, type SyncRecord } from '@highwater/core';
import { compareText } from './statement-parts.js';

/**
 * Splits a batch's upserts into rounds that can each run as one multi-row statement.
 *
 * Postgres refuses a multi-row `INSERT … ON CONFLICT DO UPDATE` that touches the same row
 * twice, so a round never holds a key twice. Under last-writer-wins only the highest HLC per
 * key can survive the batch, so the others are dropped (they count as unchanged) — with one
 * subtlety for device-owned models: an upsert naming another owner must not win by having a
 * higher HLC, since applied one by one it would be refused against the first owner. So
 * device-owned upserts keep the highest HLC per (key, owner), and each further owner of the
 * same key goes to a later round, in order of first appearance — the same end state as
 * applying the upserts one at a time. Ties keep the first upsert, as sequential LWW does
 * (an equal HLC never replaces). Almost every batch is a single round.
 *
 * Rounds are sorted by key so concurrent batches lock rows in the same order.
 */
export function planUpsertRounds(upserts: readonly SyncRecord[], deviceOwned: boolean): SyncRecord[][] {
  const byKey = new Map<string, SyncRecord[]>();
  let duplicates = false;
  for (const record of upserts) {
    const candidates = byKey.get(record.id);
    if (candidates === undefined) {
      byKey.set(record.id, [record]);
      continue;
    }
    duplicates = true;
    const i = deviceOwned ? candidates.findIndex((c) => c.ownerDeviceId === record.ownerDeviceId) : 0;
    if (i < 0) candidates.push(record);
    else if (compareHlc(record.hlc, candidates[i]!.hlc) > 0) candidates[i] = record;
  }
  const byId = (a: SyncRecord, b: SyncRecord): number => compareText(a.id, b.id);
  if (!duplicates) return upserts.length === 0 ? [] : [[...upserts].sort(byId)];
  const rounds: SyncRecord[][] = [];
  for (const candidates of byKey.values()) {
    candidates.forEach((record, round) => (rounds[round] ??= []).push(record));
  }
  return rounds.map((round) => round.sort(byId));
}
