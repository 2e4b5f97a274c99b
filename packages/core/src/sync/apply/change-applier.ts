import { compareHlc, HLC_MAX_COUNTER, type Hlc, type HybridLogicalClock } from '../../clock/hlc.js';
import type { SyncEvents } from '../../events/sync-events.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordCursor, RecordDeletion, RecordStore } from '../../ports/record-store.js';
import type { SyncStore, Tombstone } from '../../ports/sync-store.js';
import { changesFromWire, changeToShared, changeToWire, compareChanges, withSig, type Change, type Span } from '../change.js';
import { HighwaterError } from '../../errors.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { EngineSignals } from '../engine-signals.js';
import { SerialQueue } from '../serial-queue.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';
import { lastWriterWins, type ConflictResolver, type ConflictResolvers } from '../../ports/conflict-resolver.js';
import { resolveVersions } from './conflict-resolution.js';
import { DependencyParking, NEWER_VERSION } from './dependency-parking.js';
import { referencedInGroup, referencedOutside, waitingFixpoint, type Waiting } from './dependencies.js';
import { coversAdvances, NO_RELAY, relayOf, type Relay } from './relay.js';
import { dropStale, groupByModel, idOf, idsOfDeletes, newestHlc, storeBatchOf, toParked, tombstonesOf } from './store-batch.js';
import { StreamCoverage, type Settled } from './stream-coverage.js';
import { streamKey } from '../stream-key.js';
import type { BatchProofs } from '../trust/batch-proofs.js';
import type { ChangeSignatures } from '../trust/change-signatures.js';
import { contradictingSignatures } from '../trust/content-check.js';
import type { SignedHeads } from '../trust/signed-heads.js';


export interface ApplyOutcome {
  /** Changes that changed the store. */
  readonly applied: number;
  /** Changes that lost to a newer stored write or tombstone. */
  readonly stale: number;
  /** Changes waiting for a dependency. */
  readonly parked: number;
  /**
   * What a relay forwards: the changes of each span this batch moved the watermark over, with
   * spans starting at the watermark it had before, so each receiver can check contiguity too.
   */
  readonly relay: Relay;
  /** Spans that start beyond this node's watermark: their stream has a gap to catch up. */
  readonly gaps: readonly Span[];
}

const NO_TOMBSTONES: ReadonlyMap<string, Tombstone> = new Map();
const RESOLVED = { resolved: true } as const;

/** Where changes come from: this device's writes, a peer's live push, or a pulled page. */
export type ChangeSource = 'local' | 'live' | 'pull';

/** A local write's changes, stamped by `stamp` with this device's clock. */
export type LocalChanges = (stamp: () => Hlc) => Change[];

/**
 * Applies every change the node stores — local writes, live batches, catch-up and backfill
 * pages alike — to the local stores. Per model, in the registry's sync order:
 *   1. drop upserts older than a stored tombstone (a delete is never resurrected);
 *   2. park remote upserts whose referenced records have not arrived;
 *   3. store the tombstones of deletes, then apply the rest in one RecordStore transaction
 *      (last writer by HLC wins);
 *   4. append shared changes to the shared log;
 *   5. release parked records that were waiting for what was just applied;
 *   6. merge the batch's spans into the watermarks (StreamCoverage): a watermark moves only
 *      over a span that starts where it stands, never because a change arrived.
 * Records are durable before the watermark that covers them; a crash in between makes the
 * next catch-up fetch them again (or, for this device's own writes, LocalWriter finish them at
 * the next start), and applying them twice changes nothing. The only place records,
 * tombstones, parked changes, the shared log and watermarks are written.
 */
export class ChangeApplier implements Startable {
  private readonly queue = new SerialQueue();
  readonly parking = new DependencyParking();
  private readonly coverage: StreamCoverage;
  private readonly registry: ModelRegistry;
  private readonly records: RecordStore;
  private readonly syncStore: SyncStore;
  private readonly watermarks: WatermarkCache;
  private readonly clock: HybridLogicalClock;
  private readonly events: SyncEvents;
  private readonly metrics: SyncMetrics;
  private readonly signals: EngineSignals;
  private readonly deviceId: string;
  private readonly resolvers: ConflictResolvers;
  private readonly signatures: ChangeSignatures;
  private readonly batchProofs: BatchProofs;
  private readonly signedHeads: SignedHeads;

  constructor(
    components: Pick<
      NodeComponents,
      'modelRegistry' | 'recordStore' | 'syncStore' | 'watermarks' | 'hlcClock' | 'syncEvents' | 'metrics' | 'signals' | 'identity' | 'conflictResolvers' | 'signatures' | 'signedHeads' | 'batchProofs'
    >,
  ) {
    this.resolvers = components.conflictResolvers;
    this.signatures = components.signatures;
    this.batchProofs = components.batchProofs;
    this.signedHeads = components.signedHeads;
    this.registry = components.modelRegistry;
    this.records = components.recordStore;
    this.syncStore = components.syncStore;
    this.watermarks = components.watermarks;
    this.clock = components.hlcClock;
    this.events = components.syncEvents;
    this.metrics = components.metrics;
    this.signals = components.signals;
    this.deviceId = components.identity.deviceId;
    this.coverage = new StreamCoverage(this.watermarks);
  }

  /** Takes up the changes parked before a restart (see `restoreParked`). */
  async load(): Promise<void> {
    await this.restoreParked();
  }

  /**
   * Applies remote changes, then merges `spans` (what the changes complete of their streams)
   * into the watermarks; serialised with every other apply. Throws ClockDriftError (nothing
   * applied) if a change's clock is too far ahead of ours.
   */
  apply(changes: readonly Change[], source: 'live' | 'pull', spans: readonly Span[] = []): Promise<ApplyOutcome> {
    return this.queue.run(() => this.applyNow(changes, source, spans));
  }

  /**
   * Applies a write of this device: serialised with every other apply, it first reads what the
   * write replaces — a device-owned record must be this device's (HW_NOT_OWNER otherwise), and
   * the clock moves past every stored version (records and tombstones), so the write wins over
   * what its writer saw also when that came from a device whose clock is ahead — then stamps
   * the changes and stores them, moving this device's own watermark over them. Returns the
   * changes and what to push to peers (the changes with the span they complete).
   */
  applyLocal(model: string, ids: readonly string[], make: LocalChanges): Promise<{ changes: Change[]; outcome: ApplyOutcome }> {
    return this.queue.run(async () => {
      await this.clockPast(model, ids, this.registry.get(model).ownership === 'device');
      const changes = this.signatures.sign(make(() => this.clock.now()));
      if (changes.length === 0) return { changes, outcome: { applied: 0, stale: 0, parked: 0, relay: NO_RELAY, gaps: [] } };
      // Stamped one after another inside the queue: in HLC order, and nothing of this device's
      // stream between its watermark and the first of them.
      const span = { owner: this.deviceId, model, from: this.watermarks.get(this.deviceId, model), to: changes.at(-1)!.hlc };
      return { changes, outcome: await this.applyNow(changes, 'local', [span]) };
    });
  }

  /**
   * Finishes writes of this device a crash interrupted (stored in part, its watermark not
   * moved): stores them again — idempotent — and moves the own watermark over them.
   */
  recover(model: string, changes: readonly Change[]): Promise<ApplyOutcome> {
    const span = { owner: this.deviceId, model, from: this.watermarks.get(this.deviceId, model), to: changes.at(-1)!.hlc };
    return this.queue.run(() => this.applyNow(changes, 'local', [span], { known: true }));
  }

  /**
   * Drops the records of one (owner, model) stream that a reconciling pull shows its source no
   * longer holds: those after `from`, up to `to` (a cursor, or a head HLC for the stretch up to
   * it), whose id is not in `present`. Their deletes were pruned along with the tombstones, so
   * they go without one, each by a delete just past the version stored: a newer version stored
   * meanwhile stays. Returns how many were dropped.
   */
  dropAbsent(model: string, owner: string, from: RecordCursor | null, to: RecordCursor | Hlc, present: ReadonlySet<string>): Promise<number> {
    return this.queue.run(async () => {
      // Versions parked here are part of the stream too: those the source lacks go the same way.
      const absentParked = this.parking
        .after(model, owner, from ? { after: from } : {}, Number.MAX_SAFE_INTEGER)
        .filter((c) => !present.has(c.id) && !beyond(c, to));
      const unparked = this.parking.dropSuperseded(absentParked.map((c) => ({ ...c, hlc: successorOf(c.hlc) })));
      if (unparked.length > 0) await this.syncStore.unparkChanges(unparked.map((c) => ({ model: c.model, recordId: c.id, hlc: c.hlc })));
      const deletes: RecordDeletion[] = [];
      for (let after = from; ; ) {
        const page = await this.records.page(model, { owner, after, limit: DROP_SCAN_PAGE });
        const within = page.filter((r) => !beyond(r, to));
        for (const r of within) if (!present.has(r.id)) deletes.push({ id: r.id, ownerDeviceId: owner, hlc: successorOf(r.hlc) });
        if (within.length < page.length || page.length < DROP_SCAN_PAGE) break;
        after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
      }
      if (deletes.length === 0 && unparked.length === 0) return 0;
      const result = deletes.length > 0 ? await this.records.applyBatch(model, { deletes }) : { deleted: 0 };
      this.signals.stored(model);
      return result.deleted + unparked.length;
    });
  }

  /**
   * Puts right records a scrub found lost or altered (see Scrubber): `upserts` replace what is
   * stored of their records whatever its HLC (checked already against their owners'
   * signatures, or the stream owner's own copy), `removals` go without a tombstone; a record
   * written or deleted since the scrub read the stream up to `upTo` is left as it is now.
   * Watermarks do not move: the stream is as they say it was.
   */
  repair(model: string, upTo: Hlc, upserts: readonly Change[], removals: readonly RecordDeletion[]): Promise<void> {
    if (upserts.length === 0 && removals.length === 0) return Promise.resolve();
    return this.queue.run(async () => {
      // What was written since the scrub read the stream (past `upTo`, a delete too) stays: a repair only puts back what was.
      const ids = [...upserts.map(idOf), ...removals.map((r) => r.id)];
      const stored = new Map((await this.records.getMany(model, ids)).map((r) => [r.id, r.hlc]));
      const deleted = await this.syncStore.getTombstones(model, ids);
      const untouched = (id: string, hlc: Hlc): boolean => {
        const now = stored.get(id);
        const tombstone = deleted.get(id);
        return (now === undefined || compareHlc(now, upTo) <= 0) && (tombstone === undefined || compareHlc(tombstone.hlc, hlc) < 0);
      };
      const kept = await this.batchProofs.keep(upserts.filter((c) => untouched(c.id, c.hlc)), 'remote');
      const { batch } = storeBatchOf(kept);
      const gone = removals.filter((r) => stored.has(r.id) && compareHlc(stored.get(r.id)!, upTo) <= 0);
      await this.records.applyBatch(model, { upserts: batch.upserts ?? [], deletes: gone }, RESOLVED);
      this.signals.stored(model);
    });
  }

  /**
   * Applies the parked changes that wait only for records of models with collected deletes
   * (`mayBeCollected`): called once a pass has pulled everything its peers hold, when a
   * dependency still missing may be a record deleted long ago, whose tombstone is gone.
   * Returns how many went in.
   */
  releaseCollected(mayBeCollected: (model: string) => boolean): Promise<number> {
    return this.queue.run(async () => {
      const released = this.parking.releaseCollected(mayBeCollected);
      if (released.length > 0) await this.applyNow(released, 'pull', [], { known: true, waited: released, waive: true });
      return released.length;
    });
  }

  /** The changes above their stream's watermark (all of them, nearly always: one lookup per stream of the batch). */
  private notCovered(input: readonly Change[]): readonly Change[] {
    let owner = '';
    let model = '';
    let mark: Hlc | null = null;
    let covered = 0;
    for (const c of input) {
      if (c.owner !== owner || c.model !== model) {
        owner = c.owner;
        model = c.model;
        mark = this.watermarks.get(owner, model);
      }
      if (mark && compareHlc(c.hlc, mark) <= 0) covered++;
    }
    if (covered === 0) return input;
    return input.filter((c) => {
      const m = this.watermarks.get(c.owner, c.model);
      return !m || compareHlc(c.hlc, m) > 0;
    });
  }

  /** Streams with spans waiting for a gap to close, for diagnostics. */
  get streamsWaiting(): number {
    return this.coverage.waitingStreams;
  }

  /**
   * Takes up the changes parked before a restart (stored in the SyncStore): those whose
   * dependencies have arrived meanwhile are applied, the others wait in memory again.
   */
  async restoreParked(): Promise<number> {
    const stored = await this.syncStore.listParkedChanges();
    if (stored.length === 0) return 0;
    // Read as a remote change again: a change of a newer version than this node had when it
    // came may be readable now (an upgrade), or still wait for one.
    const changes = stored.map((p) => readParked(this.registry, withSig({ model: p.model, id: p.recordId, owner: p.ownerDeviceId, hlc: p.hlc, op: 'upsert' as const, data: p.data }, p.sig)));
    const forged = await this.uncheckedContent(changes);
    if (forged.length > 0) await this.syncStore.unparkChanges(forged.map((c) => ({ model: c.model, recordId: c.id, hlc: c.hlc })));
    const restored = forged.length > 0 ? changes.filter((c) => !forged.includes(c)) : changes;
    await this.queue.run(() => this.applyNow(restored, 'pull', [], { known: true, waited: restored }));
    return restored.length;
  }

  /**
   * The changes among `changes` whose content contradicts their owner's signature, reported (to
   * be dropped). A parked change was checked when it came, unless it was of a newer version of
   * its model, whose signed values this node could not order then: checked here, once it can.
   */
  private async uncheckedContent(changes: readonly Change[]): Promise<Change[]> {
    const forged = await contradictingSignatures({ registry: this.registry, signatures: this.signatures, batchProofs: this.batchProofs }, changes);
    for (const c of forged) {
      this.events.reportError(new HighwaterError('HW_FORGED_CHANGE', `Dropped ${c.model}/${c.id}, which waited here: its content is not as its owner ${c.owner} signed it`));
    }
    return forged;
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * `known`: changes this node accepted before (restored, recovered): the clock notes them
   * without a drift check. `waited`: changes of `input` that were parked, unparked once applied.
   */
  private async applyNow(
    input: readonly Change[],
    source: ChangeSource,
    spans: readonly Span[],
    accepted: { known?: boolean; waited?: readonly Change[]; waive?: boolean } = {},
  ): Promise<ApplyOutcome> {
    if (input.length === 0 && spans.length === 0) return { applied: 0, stale: 0, parked: 0, relay: NO_RELAY, gaps: [] };
    // Batch proofs are stored apart, before the changes they prove (see BatchProofs).
    input = await this.batchProofs.keep(input, source === 'local' ? 'local' : 'remote');
    // A peer's claims reach no further than their owners vouched (signed heads, signed changes).
    if (source !== 'local') spans = this.signedHeads.bound(spans, input);
    // A local write was stamped by this clock; what was accepted before is noted without a drift check.
    if (input.length > 0 && source !== 'local') {
      if (accepted.known) this.clock.observe(newestHlc(input));
      else this.clock.receive(newestHlc(input));
    }
    const unpark: Change[] = [];
    const waited = [...(accepted.waited ?? [])];

    let applied = 0;
    let stale = 0;
    let parked = 0;
    // Streams whose watermark may move: those the spans name.
    const touched = new Map<string, { owner: string; model: string }>();
    for (const s of spans) touched.set(streamKey(s.owner, s.model), s);
    // A remote change its stream's watermark covers is stored here already, or superseded — by a
    // delete perhaps, whose tombstone may be collected by now: storing it again could only bring
    // a deleted record back (a late or repeated message, the simulation's seed 2593).
    let pending: readonly Change[] = input;
    if ((source === 'live' || source === 'pull') && !accepted.known && !accepted.waive) {
      pending = this.notCovered(input);
      stale += input.length - pending.length;
    }
    // What a round releases are remote changes that waited here, whatever the batch that freed them.
    let roundSource = source;
    while (pending.length > 0) {
      const released: Change[] = [];
      const byModel = groupByModel(pending);
      for (const model of this.registry.syncOrder()) {
        const group = byModel.get(model);
        if (!group) continue;
        const r = await this.applyModel(model, group, roundSource, released, unpark, accepted.waive === true);
        applied += r.applied;
        stale += r.stale;
        parked += r.parked;
      }
      // Records waiting only for one another (a reference cycle across streams) go in together.
      if (released.length === 0) released.push(...this.parking.releaseCycles());
      waited.push(...released);
      pending = released;
      if (roundSource === 'local') roundSource = 'live';
    }
    // What waited and is now applied (or lost to a newer version) waits no more, also on disk.
    for (const c of waited) if (!this.parking.has(c)) unpark.push(c);
    if (unpark.length > 0) await this.syncStore.unparkChanges(unpark.map((c) => ({ model: c.model, recordId: c.id, hlc: c.hlc })));
    const { relay, gaps } = await this.settle(input, source, spans, touched.values());
    this.metrics.add('changesStale', stale);
    this.metrics.add('changesParked', parked);
    this.metrics.publish();
    return { applied, stale, parked, relay, gaps };
  }

  /** Step 6: spans into watermarks; what to relay and which spans found a gap. */
  private async settle(
    input: readonly Change[],
    source: ChangeSource,
    spans: readonly Span[],
    streams: Iterable<{ owner: string; model: string }>,
  ): Promise<{ relay: ApplyOutcome['relay']; gaps: Span[] }> {
    for (const s of spans) this.coverage.add(s);
    const settled = new Map<string, Settled>();
    let unrelayed = false;
    for (const { owner, model } of streams) {
      const result = await this.coverage.settle(owner, model);
      settled.set(streamKey(owner, model), result);
      if (result.after && (!result.before || compareHlc(result.after, result.before) > 0)) unrelayed = true;
    }
    const gaps = spans.filter((s) => this.coverage.isGap(s));
    const relay = relayOf(input, spans, settled);
    // Whatever a live relay or a local push does not carry on (and all a pull brought), peers learn of from this node's heads.
    if (unrelayed && (source === 'pull' || !coversAdvances(relay.spans, settled))) this.signals.unrelayed();
    return { relay, gaps };
  }

  private async applyModel(
    model: string,
    group: Change[],
    source: ChangeSource,
    released: Change[],
    unpark: Change[],
    waive = false,
  ): Promise<{ applied: number; stale: number; parked: number }> {
    group.sort(compareChanges);
    // Per-record loops live in the small synchronous helpers below; this function only awaits
    // (bench: first pages of a backfill).

    // 1. Tombstones beat older upserts, whichever order they arrive in. A device-owned
    //    record belongs to its owner alone: only the owner's tombstone counts against it,
    //    and a delete naming another owner than the stored record (or tombstone) is refused.
    const isShared = this.registry.get(model).ownership === 'shared';
    // Ids as they come: a store's lookup takes duplicates (and is skipped when the model has no tombstones).
    const tombstones = await this.syncStore.getTombstones(model, group.map(idOf));
    // Owners of stored records matter only to deletes (upserts are checked by the store itself).
    const deleteIds = isShared ? [] : idsOfDeletes(group);
    const recordOwners = deleteIds.length > 0 ? await this.storedOwners(model, deleteIds) : new Map<string, string>();
    // A shared model with its own ConflictResolver does not order by HLC: its resolver decides (step 3).
    const resolver = isShared ? this.customResolver(model) : undefined;
    const { stale: dropped, candidates } = dropStale(group, resolver ? NO_TOMBSTONES : tombstones, recordOwners, isShared);
    let stale = dropped;

    // 2. Park what waits for a dependency, durably: the watermark moves over it like over a
    //    stored record, and this node serves it to peers (a chain of peers must not wait on
    //    one another's parked records).
    // A local write is stored as written: its writer meant it, whatever it references; so is a
    // change released because what it waits for may have been deleted and collected (`waive`).
    // A newer version's change waits the same way, for this node's upgrade: stored, covered by
    // the watermark and served on as it came, never applied as this version would read it.
    const { understood, newer } = splitNewerVersion(candidates);
    const split = source === 'local' || waive ? { ready: understood, waiting: [] } : await this.splitByDependencies(model, understood);
    const ready = split.ready;
    const wanting = newer.length === 0 ? split.waiting : [...split.waiting, ...newer.map((change) => ({ change, missing: [{ model: NEWER_VERSION, id: model }] }))];
    // A version no newer than the stored one has nothing to wait for: it lost already.
    const waiting = wanting.length > 0 && !resolver ? await this.newerThanStored(model, wanting) : wanting;
    stale += wanting.length - waiting.length;
    if (waiting.length > 0) await this.syncStore.parkChanges(waiting.map(toParked));
    this.park(waiting);

    // 3-4. Apply. Tombstones go first: a crash between the two stores then leaves a record
    //      under a newer tombstone (no stale write can bring it back, and the delete is fetched
    //      again), never a deleted record without its tombstone.
    //      Under a custom resolver only the versions it ranks highest are stored, whatever their HLC.
    const resolution = resolver ? resolveVersions(model, resolver, ready, await this.records.getMany(model, ready.map(idOf)), tombstones) : null;
    const { batch, deletes } = storeBatchOf(resolution ? resolution.winners : ready);
    if (resolution) stale += resolution.lost;
    if (deletes.length > 0) await this.syncStore.putTombstones(tombstonesOf(model, deletes));
    const result = await this.records.applyBatch(model, batch, resolution ? RESOLVED : undefined);
    if (ready.length > 0 || waiting.length > 0) this.signals.stored(model);
    // The shared log holds what waits too: peers catching up from this log need it.
    const logged = waiting.length > 0 ? [...ready, ...waiting.map((w) => w.change)] : ready;
    if (isShared && logged.length > 0) await this.syncStore.appendSharedChanges(logged.map(changeToShared));
    if (isShared && source !== 'local') this.signals.sharedProcessed();
    // Older parked versions of what was just applied have nothing left to wait for.
    if (this.parking.size > 0 && !resolver) unpark.push(...this.parking.dropSuperseded(ready));

    // 5. Release dependants of what is now stored — or deleted: a tombstone satisfies a
    //    reference (the record will never arrive), so waiting on it would block forever.
    this.releaseDependants(model, ready, released);

    const changed = result.upserted + result.deleted;
    this.metrics.addApplied(model, changed);
    stale += (resolution ? resolution.winners.length : ready.length) - changed;
    if (changed > 0) this.events.reportApplied({ model, source, upserted: result.upserted, deleted: result.deleted });
    return { applied: changed, stale, parked: waiting.length };
  }

  /** The ConflictResolver registered for a shared model, unless it is last writer wins (what the stores do themselves). */
  private customResolver(model: string): ConflictResolver | undefined {
    const resolver = this.resolvers.get(model);
    return resolver === lastWriterWins ? undefined : resolver;
  }

  private park(waiting: readonly Waiting[]): void {
    for (const w of waiting) this.parking.park(w.change, w.missing);
  }

  private releaseDependants(model: string, ready: readonly Change[], released: Change[]): void {
    if (this.parking.size === 0) return; // nearly always: nothing parked
    for (const c of ready) released.push(...this.parking.release(model, c.id));
  }

  /** Moves the clock past every stored version of `ids`; refuses a device-owned record of another owner. */
  private async clockPast(model: string, ids: readonly string[], ownedOnly: boolean): Promise<void> {
    const stored = await this.records.getMany(model, ids);
    const foreign = ownedOnly ? stored.find((r) => r.ownerDeviceId !== this.deviceId) : undefined;
    if (foreign) throw new HighwaterError('HW_NOT_OWNER', `${model} ${foreign.id} is owned by ${foreign.ownerDeviceId}; only its owner can change it`);
    for (const r of stored) this.clock.observe(r.hlc);
    for (const t of (await this.syncStore.getTombstones(model, ids)).values()) this.clock.observe(t.hlc);
  }

  private async newerThanStored(model: string, waiting: readonly Waiting[]): Promise<Waiting[]> {
    const stored = new Map((await this.records.getMany(model, waiting.map((w) => w.change.id))).map((r) => [r.id, r.hlc]));
    return waiting.filter((w) => {
      const hlc = stored.get(w.change.id);
      return !hlc || compareHlc(w.change.hlc, hlc) > 0;
    });
  }

  private async storedOwners(model: string, ids: readonly string[]): Promise<Map<string, string>> {
    return new Map((await this.records.getMany(model, [...new Set(ids)])).map((r) => [r.id, r.ownerDeviceId]));
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
    // A record of the group that waits may be stored already (an older version of it, or this
    // very one fetched again): a reference to it is satisfied, whatever its new version waits for.
    const groupRefs = referencedInGroup(model, upserts, refs, inGroup);
    if (groupRefs.size > 0) {
      const stored = await this.presentOf(model, [...groupRefs]);
      const known = present.get(model);
      if (known) for (const id of stored) known.add(id);
      else present.set(model, stored);
    }
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

/**
 * A parked change as this node's registry reads it now (a newer version's change may have become
 * readable by an upgrade); one it no longer validates is taken up as stored, as before versions.
 */
function readParked(registry: ModelRegistry, c: Change): Change {
  try {
    return changesFromWire(registry, [changeToWire(c)])[0]!;
  } catch {
    return c;
  }
}

/** Changes this node's version of their model can read, and those of a newer version (`newerFields`). */
function splitNewerVersion(candidates: Change[]): { understood: Change[]; newer: Change[] } {
  if (!candidates.some((c) => c.newerFields !== undefined)) return { understood: candidates, newer: [] };
  return { understood: candidates.filter((c) => c.newerFields === undefined), newer: candidates.filter((c) => c.newerFields !== undefined) };
}

/** Records read at a time when looking for what a reconciling pull's page lacks. */
const DROP_SCAN_PAGE = 1000;

/** Whether a record lies after `to` in (HLC, id) order (`to` an HLC: after every id at it). */
function beyond(r: { hlc: Hlc; id: string }, to: RecordCursor | Hlc): boolean {
  if (!('hlc' in to)) return compareHlc(r.hlc, to) > 0;
  const c = compareHlc(r.hlc, to.hlc);
  return c > 0 || (c === 0 && r.id > to.id);
}

/** The smallest HLC of the same device after `hlc`. */
function successorOf(hlc: Hlc): Hlc {
  return hlc.counter < HLC_MAX_COUNTER ? { ...hlc, counter: hlc.counter + 1 } : { ...hlc, time: hlc.time + 1, counter: 0 };
}
