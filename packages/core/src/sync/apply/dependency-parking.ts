import { compareHlc, type Hlc } from '../../clock/hlc.js';
import type { RecordCursor } from '../../ports/record-store.js';
import { compareChanges, type Change } from '../change.js';

const recordKey = (model: string, id: string): string => `${model}\u0000${id}`;

/**
 * What a change of a newer version of its model waits for, in place of a record: this node's
 * upgrade to that version (`{ model: NEWER_VERSION, id: <the model> }`). No record is ever
 * applied under this name, so only a restart on a registry that can read the change frees it.
 */
export const NEWER_VERSION = '\u0001newer-version';

const NOTHING: readonly Change[] = Object.freeze([]);

const waitsForRecord = (p: Parked): boolean => [...p.missing].some((dep) => !dep.startsWith(NEWER_VERSION));

interface Parked {
  readonly change: Change;
  readonly missing: Set<string>;
}

/**
 * Records whose dependencies (a referenced location, a parent entry) have not arrived yet.
 * They wait here and are released when the last one they wait for is applied: no
 * foreign-key error, no silent drop. This is the in-memory index; the ChangeApplier keeps the
 * same changes durable in the SyncStore, so a watermark may cover a change that waits, and a
 * node serves the changes it parked like any other (a peer behind it needs them as much).
 */
export class DependencyParking {
  private readonly byDependency = new Map<string, Parked[]>();
  /** Parked versions per record (model, id). */
  private readonly byRecord = new Map<string, Parked[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Parks a change until every `missing` record is applied; the same change parks once. Returns whether it was new. */
  park(change: Change, missing: readonly { model: string; id: string }[]): boolean {
    const k = recordKey(change.model, change.id);
    const versions = this.byRecord.get(k);
    if (versions?.some((p) => compareHlc(p.change.hlc, change.hlc) === 0)) return false;
    const parked: Parked = { change, missing: new Set(missing.map((m) => recordKey(m.model, m.id))) };
    for (const dep of parked.missing) {
      const list = this.byDependency.get(dep);
      if (list) list.push(parked);
      else this.byDependency.set(dep, [parked]);
    }
    if (versions) versions.push(parked);
    else this.byRecord.set(k, [parked]);
    this.count++;
    return true;
  }

  /** Whether this very change (model, id, HLC) waits here. */
  has(change: Change): boolean {
    return this.byRecord.get(recordKey(change.model, change.id))?.some((p) => compareHlc(p.change.hlc, change.hlc) === 0) ?? false;
  }

  /** A record was applied: returns the parked changes that now have every dependency. */
  release(model: string, id: string): readonly Change[] {
    // Nearly always nothing is parked: no key to build for each record applied.
    if (this.count === 0) return NOTHING;
    const dep = recordKey(model, id);
    const waiting = this.byDependency.get(dep);
    if (!waiting) return NOTHING;
    this.byDependency.delete(dep);
    const released: Change[] = [];
    for (const parked of waiting) {
      parked.missing.delete(dep);
      if (parked.missing.size > 0) continue;
      this.remove(parked);
      released.push(parked.change);
    }
    return released;
  }

  /**
   * Parked changes that wait only for one another, directly or through others of them: records
   * that reference each other across streams (an entry whose parent is an entry of another
   * owner that names it as its parent) would otherwise wait forever. Returns and removes them;
   * applied together, each finds the others.
   */
  releaseCycles(): readonly Change[] {
    if (this.count === 0) return NOTHING;
    // Start from every parked change; drop those waiting for something not parked, until stable.
    const closed = new Set<Parked>([...this.byRecord.values()].flat());
    let changed = true;
    while (changed) {
      changed = false;
      for (const p of closed) {
        for (const dep of p.missing) {
          if (!(this.byRecord.get(dep) ?? []).some((q) => closed.has(q))) {
            closed.delete(p);
            changed = true;
            break;
          }
        }
      }
    }
    for (const p of closed) {
      for (const dep of p.missing) this.unlinkDependency(dep, p);
      this.remove(p);
    }
    return [...closed].map((p) => p.change);
  }

  /**
   * Parked changes whose every missing dependency is a record of a model `mayBeCollected`
   * says may have had a delete collected (its tombstone pruned): such a dependency may never
   * arrive, and its delete would have let the change in. Returns and removes them.
   */
  releaseCollected(mayBeCollected: (model: string) => boolean): readonly Change[] {
    if (this.count === 0) return NOTHING;
    const released: Parked[] = [];
    for (const versions of this.byRecord.values()) {
      for (const p of versions) if ([...p.missing].every((dep) => mayBeCollected(dep.slice(0, dep.indexOf('\u0000'))))) released.push(p);
    }
    for (const p of released) {
      for (const dep of p.missing) this.unlinkDependency(dep, p);
      this.remove(p);
    }
    return released.map((p) => p.change);
  }

  /**
   * Drops parked versions of `changes`' records older than them (a newer version or a delete
   * was just applied: the older one has nothing left to wait for). Returns what it dropped.
   */
  dropSuperseded(changes: readonly Change[]): Change[] {
    if (this.count === 0) return [];
    const dropped: Change[] = [];
    for (const c of changes) {
      for (const p of [...(this.byRecord.get(recordKey(c.model, c.id)) ?? [])]) {
        if (compareHlc(p.change.hlc, c.hlc) >= 0) continue;
        for (const dep of p.missing) this.unlinkDependency(dep, p);
        this.remove(p);
        dropped.push(p.change);
      }
    }
    return dropped;
  }

  /**
   * Parked changes of one (owner, model) stream after a cursor or an HLC, in (HLC, id) order,
   * at most `limit`: what a state page of that stream includes besides stored records.
   */
  after(model: string, owner: string, bound: { after?: RecordCursor; afterHlc?: Hlc }, limit: number): Change[] {
    if (this.count === 0) return [];
    const out: Change[] = [];
    for (const versions of this.byRecord.values()) {
      for (const { change: c } of versions) {
        if (c.model !== model || c.owner !== owner) continue;
        if (bound.after ? compareChanges(c, bound.after) <= 0 : bound.afterHlc && compareHlc(c.hlc, bound.afterHlc) <= 0) continue;
        out.push(c);
      }
    }
    return out.sort(compareChanges).slice(0, limit);
  }

  /** Changes waiting for this node's upgrade to a newer version of their model, per model. */
  waitingForNewerVersion(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.count === 0) return out;
    const prefix = recordKey(NEWER_VERSION, '');
    for (const [dep, list] of this.byDependency) {
      if (dep.startsWith(prefix)) out.set(dep.slice(prefix.length), list.length);
    }
    return out;
  }

  /** How many changes wait for a record (whatever else they wait for): not those waiting only for an upgrade. */
  waitingForRecords(): number {
    if (this.count === 0) return 0;
    let n = 0;
    for (const versions of this.byRecord.values()) for (const p of versions) if (waitsForRecord(p)) n++;
    return n;
  }

  /** What is still waiting for a record, for diagnostics: (model, id) → missing dependencies. */
  describe(limit = 10): { model: string; id: string; waitingFor: string[] }[] {
    const out: { model: string; id: string; waitingFor: string[] }[] = [];
    for (const versions of this.byRecord.values()) {
      for (const p of versions) {
        if (!waitsForRecord(p)) continue;
        if (out.length >= limit) return out;
        out.push({ model: p.change.model, id: p.change.id, waitingFor: [...p.missing].map((k) => (k.startsWith(NEWER_VERSION) ? 'a newer version of its model' : k.replace('\u0000', '/'))) });
      }
    }
    return out;
  }

  private remove(parked: Parked): void {
    const k = recordKey(parked.change.model, parked.change.id);
    const versions = this.byRecord.get(k)?.filter((p) => p !== parked);
    if (versions && versions.length > 0) this.byRecord.set(k, versions);
    else this.byRecord.delete(k);
    this.count--;
  }

  private unlinkDependency(dep: string, parked: Parked): void {
    const list = this.byDependency.get(dep)?.filter((q) => q !== parked);
    if (list && list.length > 0) this.byDependency.set(dep, list);
    else this.byDependency.delete(dep);
  }
}
