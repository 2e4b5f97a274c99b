import { compareHlc, maxHlc, type Hlc, type HybridLogicalClock } from '../../clock/hlc.js';
import type { SyncEvents } from '../../events/sync-events.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordData } from '../../models/model-definition.js';
import type { RecordBatch, RecordStore, SyncRecord } from '../../ports/record-store.js';
import type { SyncStore, Tombstone } from '../../ports/sync-store.js';
import { changeToShared, compareChanges, type Change } from '../change.js';
import { SerialQueue } from '../serial-queue.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';
import { DependencyParking } from './dependency-parking.js';
import { streamKey } from '../stream-key.js';

/** A change that waits for records it references, and which. */
type Waiting = { change: Change; missing: { model: string; id: string }[] };

export interface ApplyOutcome {
  /** Changes that changed the store. */
  readonly applied: number;
  /** Changes that lost to a newer stored write or tombstone. */
  readonly stale: number;
  /** Changes waiting for a dependency. */
  readonly parked: number;
  /** Changes that were new to this node (ahead of its watermark): what a relay forwards. */
  readonly novel: readonly Change[];
}


/**
 * Applies remote changes — live batches and catch-up/backfill pages alike — to the local
 * stores. Per model, in the registry's sync order:
 *   1. drop upserts older than a stored tombstone (a delete is never resurrected);
 *   2. park upserts whose referenced records have not arrived;
 *   3. apply the rest in one RecordStore transaction (last writer by HLC wins);
 *   4. store tombstones of deletes, append shared changes to the shared log;
 *   5. release parked records that were waiting for what was just applied;
 *   6. move each (owner, model) watermark to the highest change processed — unless that
 *      stream has parked records, which hold it back until they are applied.
 * Records are durable before the watermark that covers them; a crash in between makes the
 * next catch-up fetch them again, and applying them twice changes nothing.
 */
export class ChangeApplier {
  private readonly queue = new SerialQueue();
  readonly parking = new DependencyParking();
  /** Called after remote shared changes were processed (applied or not): time to ack. */
  onSharedProcessed: () => void = () => undefined;
  // Highest processed HLC per stream held back by parked records.
  private readonly heldBack = new Map<string, { owner: string; model: string; hlc: Hlc }>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly records: RecordStore,
    private readonly syncStore: SyncStore,
    private readonly watermarks: WatermarkCache,
    private readonly clock: HybridLogicalClock,
    private readonly events: SyncEvents,
    private readonly metrics: SyncMetrics,
  ) {}

  /**
   * Applies changes; serialised with every other apply. Throws ClockDriftError (nothing
   * applied) if a change's clock is too far ahead of ours.
   */
  apply(changes: readonly Change[], source: 'live' | 'pull'): Promise<ApplyOutcome> {
    return this.queue.run(() => this.applyNow(changes, source));
  }

  /** Moves a stream's watermark (e.g. to a peer's announced head after a complete pull). */
  advanceStream(owner: string, model: string, hlc: Hlc): Promise<void> {
    return this.queue.run(() => this.advance(owner, model, hlc));
  }

  /** Runs `task` between applies, e.g. a local write that must not interleave with them. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(task);
  }

  /** Local writes may satisfy parked records too. Call inside `exclusive`. */
  async releaseFor(model: string, ids: readonly string[]): Promise<void> {
    const released = ids.flatMap((id) => this.parking.release(model, id));
    if (released.length > 0) await this.applyNow(released, 'live');
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async applyNow(input: readonly Change[], source: 'live' | 'pull'): Promise<ApplyOutcome> {
    if (input.length === 0) return { applied: 0, stale: 0, parked: 0, novel: [] };
    this.clock.receive(newestHlc(input));

    let applied = 0;
    let stale = 0;
    let parked = 0;
    const novel: Change[] = [];
    let pending: readonly Change[] = input;
    while (pending.length > 0) {
      const released: Change[] = [];
      const byModel = groupByModel(pending);
      for (const model of this.registry.syncOrder()) {
        const group = byModel.get(model);
        if (!group) continue;
        const r = await this.applyModel(model, group, source, released);
        applied += r.applied;
        stale += r.stale;
        parked += r.parked;
        novel.push(...r.novel);
      }
      pending = released;
    }
    this.metrics.add('changesStale', stale);
    this.metrics.add('changesParked', parked);
    this.metrics.publish();
    return { applied, stale, parked, novel };
  }

  private async applyModel(
    model: string,
    group: Change[],
    source: 'live' | 'pull',
    released: Change[],
  ): Promise<{ applied: number; stale: number; parked: number; novel: Change[] }> {
    group.sort(compareChanges);
    // The per-record loops live in the small synchronous helpers below, and this function only
    // awaits: V8 optimises a function whose loops run hot, and compiling an async function this
    // size took TurboFan 20-30 ms of a core per attempt (three attempts in a backfill's first
    // pages), competing on a two-core machine with the very threads doing the backfill.
    const novel = novelOf(group, model, this.watermarks);

    // 1. Tombstones beat older upserts, whichever order they arrive in. A device-owned
    //    record belongs to its owner alone: only the owner's tombstone counts against it,
    //    and a delete naming another owner than the stored record (or tombstone) is refused.
    const isShared = this.registry.get(model).ownership === 'shared';
    // Ids as they come (a store's lookup takes duplicates): deduplicating a page's thousand
    // ids cost more than the lookup, which a store skips when the model has no tombstones.
    const tombstones = await this.syncStore.getTombstones(model, group.map(idOf));
    // Owners of stored records matter only to deletes (upserts are checked by the store itself).
    const deleteIds = isShared ? [] : idsOfDeletes(group);
    const recordOwners = deleteIds.length > 0 ? await this.storedOwners(model, deleteIds) : new Map<string, string>();
    const { stale: dropped, candidates } = dropStale(group, tombstones, recordOwners, isShared);
    let stale = dropped;

    // 2. Park what waits for a dependency.
    const { ready, waiting } = await this.splitByDependencies(model, candidates);
    this.park(waiting);

    // 3-4. Apply; tombstones and the shared log after the records they describe.
    const { batch, deletes } = storeBatchOf(ready);
    const result = await this.records.applyBatch(model, batch);
    if (deletes.length > 0) await this.syncStore.putTombstones(tombstonesOf(model, deletes));
    if (isShared && ready.length > 0) await this.syncStore.appendSharedChanges(ready.map(changeToShared));
    if (isShared) this.onSharedProcessed();

    // 5. Release dependants of what is now stored — or deleted: a tombstone satisfies a
    //    reference (the record will never arrive), so waiting on it would block forever.
    this.releaseDependants(model, ready, released);

    // 6. Watermarks per (owner, model) stream, held back while the stream has parked records.
    const parkedKeys = new Set(waiting.map((w) => w.change));
    const processed = newestPerOwner(group, parkedKeys);
    for (const [owner, hlc] of processed) await this.advance(owner, model, hlc);

    const changed = result.upserted + result.deleted;
    this.metrics.addApplied(model, changed);
    stale += ready.length - changed;
    if (changed > 0) this.events.reportApplied({ model, source, upserted: result.upserted, deleted: result.deleted });
    return { applied: changed, stale, parked: waiting.length, novel: parkedKeys.size === 0 ? novel : novel.filter((c) => !parkedKeys.has(c)) };
  }

  private park(waiting: readonly Waiting[]): void {
    for (const w of waiting) this.parking.park(w.change, w.missing);
  }

  private releaseDependants(model: string, ready: readonly Change[], released: Change[]): void {
    if (this.parking.size === 0) return; // nearly always: nothing parked
    for (const c of ready) released.push(...this.parking.release(model, c.id));
  }

  private async storedOwners(model: string, ids: readonly string[]): Promise<Map<string, string>> {
    return new Map((await this.records.getMany(model, [...new Set(ids)])).map((r) => [r.id, r.ownerDeviceId]));
  }

  private async advance(owner: string, model: string, hlc: Hlc): Promise<void> {
    if (this.parking.isBlocked(owner, model)) {
      this.holdBack(owner, model, hlc);
      return;
    }
    const k = streamKey(owner, model);
    const held = this.heldBack.get(k);
    this.heldBack.delete(k);
    await this.watermarks.advance(owner, model, held ? maxHlc(held.hlc, hlc) : hlc);
  }

  private holdBack(owner: string, model: string, hlc: Hlc): void {
    const k = streamKey(owner, model);
    const held = this.heldBack.get(k);
    this.heldBack.set(k, { owner, model, hlc: held ? maxHlc(held.hlc, hlc) : hlc });
  }

  /**
   * A reference is satisfied by a record already stored, one in this same group that is
   * ready, or a tombstone (a deleted parent will never arrive; waiting would block forever).
   */
  private async splitByDependencies(
    model: string,
    candidates: readonly Change[],
  ): Promise<{ ready: Change[]; waiting: Waiting[] }> {
    const def = this.registry.get(model);
    const refs = Object.entries(def.fields).filter(([, f]) => f.references !== undefined) as [string, { references: string }][];
    const upserts = candidates.filter((c) => c.op === 'upsert');
    if (refs.length === 0 || upserts.length === 0) return { ready: [...candidates], waiting: [] };

    const inGroup = new Set(upserts.map((c) => c.id));
    const wanted = referencedOutside(model, upserts, refs, inGroup);
    const present = new Map<string, Set<string>>();
    let allPresent = true;
    for (const [target, ids] of wanted) {
      const found = await this.presentOf(target, [...ids]);
      present.set(target, found);
      if (found.size < ids.size) allPresent = false;
    }
    // Every reference outside the group is satisfied, so nothing waits (a record waits only for
    // a missing record or for one of the group that waits): no need for the fixpoint.
    if (allPresent) return { ready: [...candidates], waiting: [] };
    return waitingFixpoint(model, candidates, upserts, refs, inGroup, present);
  }

  /** Which of `ids` of `target` are stored or tombstoned (either satisfies a reference). */
  private async presentOf(target: string, ids: readonly string[]): Promise<Set<string>> {
    const found = new Set((await this.records.getMany(target, ids)).map((r) => r.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) for (const id of (await this.syncStore.getTombstones(target, missing)).keys()) found.add(id);
    return found;
  }
}


/** Ids referenced per target model by `upserts`, other than records of this very group. */
function referencedOutside(model: string, upserts: readonly Change[], refs: readonly [string, { references: string }][], inGroup: ReadonlySet<string>): Map<string, Set<string>> {
  const wanted = new Map<string, Set<string>>();
  for (const c of upserts) {
    for (const [field, { references }] of refs) {
      const value = c.data?.[field];
      if (typeof value !== 'string') continue;
      if (references === model && inGroup.has(value)) continue;
      let ids = wanted.get(references);
      if (!ids) wanted.set(references, (ids = new Set()));
      ids.add(value);
    }
  }
  return wanted;
}

/** Fixpoint: a record waits for a missing reference, or for a record of its group that waits. */
function waitingFixpoint(
  model: string,
  candidates: readonly Change[],
  upserts: readonly Change[],
  refs: readonly [string, { references: string }][],
  inGroup: ReadonlySet<string>,
  present: ReadonlyMap<string, Set<string>>,
): { ready: Change[]; waiting: Waiting[] } {
  const waitingIds = new Set<string>();
  const missingOf = new Map<Change, { model: string; id: string }[]>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const c of upserts) {
      if (waitingIds.has(c.id)) continue;
      const missing: { model: string; id: string }[] = [];
      for (const [field, { references }] of refs) {
        const value = c.data?.[field];
        if (typeof value !== 'string') continue;
        if (references === model && inGroup.has(value)) {
          if (waitingIds.has(value) && value !== c.id) missing.push({ model, id: value });
        } else if (!present.get(references)?.has(value)) {
          missing.push({ model: references, id: value });
        }
      }
      if (missing.length > 0) {
        waitingIds.add(c.id);
        missingOf.set(c, missing);
        changed = true;
      }
    }
  }
  const ready = candidates.filter((c) => !missingOf.has(c));
  return { ready, waiting: [...missingOf].map(([change, missing]) => ({ change, missing })) };
}

function newestHlc(changes: readonly Change[]): Hlc {
  let newest = changes[0]!.hlc;
  for (const c of changes) newest = maxHlc(newest, c.hlc);
  return newest;
}

/** The changes ahead of their stream's watermark (one lookup per owner; a page has one). */
function novelOf(group: readonly Change[], model: string, watermarks: WatermarkCache): Change[] {
  const marks = new Map<string, Hlc | null>();
  return group.filter((c) => {
    let mark = marks.get(c.owner);
    if (mark === undefined) marks.set(c.owner, (mark = watermarks.get(c.owner, model)));
    return !mark || compareHlc(c.hlc, mark) > 0;
  });
}

const idOf = (c: Change): string => c.id;

function idsOfDeletes(group: readonly Change[]): string[] {
  const ids: string[] = [];
  for (const c of group) if (c.op === 'delete') ids.push(c.id);
  return ids;
}

/**
 * Drops what must not be applied: a change naming another owner than the stored record or
 * tombstone (device-owned models), and an upsert no newer than the record's tombstone.
 */
function dropStale(
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
function storeBatchOf(ready: readonly Change[]): { batch: RecordBatch; deletes: Change[] } {
  const upserts: SyncRecord[] = [];
  const deletes: Change[] = [];
  for (const c of ready) {
    if (c.op === 'upsert') upserts.push(new RecordToStore(c.id, c.owner, c.hlc, c.data ?? {}));
    else deletes.push(c);
  }
  return { batch: { upserts, deletes: deletes.map((d) => ({ id: d.id, ownerDeviceId: d.owner, hlc: d.hlc })) }, deletes };
}

function tombstonesOf(model: string, deletes: readonly Change[]): Tombstone[] {
  return deletes.map((d) => ({ model, recordId: d.id, ownerDeviceId: d.owner, hlc: d.hlc }));
}

/** The highest clock processed per owner, leaving out parked changes. */
function newestPerOwner(group: readonly Change[], parked: ReadonlySet<Change>): Map<string, Hlc> {
  const processed = new Map<string, Hlc>();
  for (const c of group) {
    if (parked.size > 0 && parked.has(c)) continue;
    const prev = processed.get(c.owner);
    if (!prev || compareHlc(c.hlc, prev) > 0) processed.set(c.owner, c.hlc);
  }
  return processed;
}

function groupByModel(changes: readonly Change[]): Map<string, Change[]> {
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
  ) {}
}
