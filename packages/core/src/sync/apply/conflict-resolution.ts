import type { ConflictResolver, RecordVersion } from '../../ports/conflict-resolver.js';
import type { SyncRecord } from '../../ports/record-store.js';
import type { Tombstone } from '../../ports/sync-store.js';
import type { Change } from '../change.js';

/**
 * Which changes of one shared model win under a custom ConflictResolver: per record, the stored
 * version (its record or its tombstone, whichever the resolver ranks higher) against every
 * change of the batch. The resolver is a total order, so the winner is the same whatever order
 * the versions arrive in, on every peer. Returns the winning change of each record that changes.
 */
export function resolveVersions(
  model: string,
  resolver: ConflictResolver,
  changes: readonly Change[],
  stored: readonly SyncRecord[],
  tombstones: ReadonlyMap<string, Tombstone>,
): { winners: Change[]; lost: number } {
  const current = new Map<string, RecordVersion>();
  const consider = (id: string, v: RecordVersion): boolean => {
    const cur = current.get(id);
    if (cur && resolver.compare(model, v, cur) <= 0) return false;
    current.set(id, v);
    return true;
  };
  for (const r of stored) consider(r.id, { hlc: r.hlc, data: r.data });
  for (const [id, t] of tombstones) consider(id, { hlc: t.hlc, data: null });
  const winners = new Map<string, Change>();
  let lost = 0;
  for (const c of changes) {
    if (consider(c.id, { hlc: c.hlc, data: c.op === 'upsert' ? c.data : null })) {
      if (winners.has(c.id)) lost++;
      winners.set(c.id, c);
    } else lost++;
  }
  return { winners: [...winners.values()], lost };
}
