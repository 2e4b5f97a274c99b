import { compareHlc, maxHlc, type Hlc } from '../../clock/hlc.js';
import type { RecordData } from '../../models/model-definition.js';
import type { RecordBatch, SyncRecord } from '../../ports/record-store.js';
import type { ParkedChange, Tombstone } from '../../ports/sync-store.js';
import { withSig, type Change } from '../change.js';
import type { Waiting } from './dependencies.js';

// The per-record steps of ChangeApplier, as small synchronous functions (see its applyModel).

export function newestHlc(changes: readonly Change[]): Hlc {
  let newest = changes[0]!.hlc;
  for (const c of changes) newest = maxHlc(newest, c.hlc);
  return newest;
}

export const idOf = (c: Change): string => c.id;

export function idsOfDeletes(group: readonly Change[]): string[] {
  const ids: string[] = [];
  for (const c of group) if (c.op === 'delete') ids.push(c.id);
  return ids;
}

/**
 * Drops what must not be applied: a change naming another owner than the stored record or
 * tombstone (device-owned models), and an upsert no newer than the record's tombstone.
 */
export function dropStale(
  group: readonly Change[],
  tombstones: ReadonlyMap<string, Tombstone>,
  recordOwners: ReadonlyMap<string, string>,
  isShared: boolean,
): { stale: number; candidates: Change[] } {
  let stale = 0;
  const candidates: Change[] = [];
  for (const c of group) {
    const t = tombstones.get(c.id);
    const owner = isShared ? undefined : (recordOwners.get(c.id) ?? t?.ownerDeviceId);
    if (owner !== undefined && owner !== c.owner) stale++;
    else if (c.op === 'upsert' && t && compareHlc(c.hlc, t.hlc) <= 0) stale++;
    else candidates.push(c);
  }
  return { stale, candidates };
}

/** The store's batch of `ready` changes, and its deletes (their tombstones follow the batch). */
export function storeBatchOf(ready: readonly Change[]): { batch: RecordBatch; deletes: Change[] } {
  const upserts: SyncRecord[] = [];
  const deletes: Change[] = [];
  for (const c of ready) {
    if (c.op === 'upsert') upserts.push(new RecordToStore(c.id, c.owner, c.hlc, c.data ?? {}, c.sig));
    else deletes.push(c);
  }
  return { batch: { upserts, deletes: deletes.map((d) => ({ id: d.id, ownerDeviceId: d.owner, hlc: d.hlc })) }, deletes };
}

export function toParked(w: Waiting): ParkedChange {
  const c = w.change;
  return withSig({ model: c.model, recordId: c.id, ownerDeviceId: c.owner, hlc: c.hlc, data: c.data ?? {} }, c.sig);
}

export function tombstonesOf(model: string, deletes: readonly Change[]): Tombstone[] {
  return deletes.map((d) => withSig({ model, recordId: d.id, ownerDeviceId: d.owner, hlc: d.hlc }, d.sig));
}

export function groupByModel(changes: readonly Change[]): Map<string, Change[]> {
  const groups = new Map<string, Change[]>();
  for (const c of changes) {
    const g = groups.get(c.model);
    if (g) g.push(c);
    else groups.set(c.model, [c]);
  }
  return groups;
}

/** A record handed to the store; a class rather than a literal for the reason ParsedHlc gives (clock/hlc.ts). */
class RecordToStore implements SyncRecord {
  constructor(
    readonly id: string,
    readonly ownerDeviceId: string,
    readonly hlc: Hlc,
    readonly data: RecordData,
    // Always set (perhaps undefined), so every record of a batch has one shape.
    readonly sig: string | undefined,
  ) {}
}
