import { compareHlc, type Hlc } from '../../clock/hlc.js';
import type { Change } from '../change.js';
import { streamKey } from '../stream-key.js';

const recordKey = (model: string, id: string): string => `${model}\u0000${id}`;

const NOTHING: readonly Change[] = Object.freeze([]);

interface Parked {
  readonly change: Change;
  readonly missing: Set<string>;
}

/**
 * Records whose dependencies (a referenced location, a parent entry) have not arrived yet.
 * They wait here and are released when the last one they wait for is applied: no foreign-key
 * error, no silent drop. Their (owner, model) stream stays blocked meanwhile, so its watermark
 * cannot move past a record that exists only in memory — after a crash, catch-up fetches it
 * again.
 */
export class DependencyParking {
  private readonly byDependency = new Map<string, Parked[]>();
  private readonly perStream = new Map<string, Set<Parked>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  park(change: Change, missing: readonly { model: string; id: string }[]): void {
    const stream = streamKey(change.owner, change.model);
    // The same change fetched again (a catch-up repeated while it waits) waits once.
    for (const p of this.perStream.get(stream) ?? []) if (p.change.id === change.id && compareHlc(p.change.hlc, change.hlc) === 0) return;
    const parked: Parked = { change, missing: new Set(missing.map((m) => recordKey(m.model, m.id))) };
    for (const dep of parked.missing) {
      const list = this.byDependency.get(dep);
      if (list) list.push(parked);
      else this.byDependency.set(dep, [parked]);
    }
    let set = this.perStream.get(stream);
    if (!set) this.perStream.set(stream, (set = new Set()));
    set.add(parked);
    this.count++;
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
      const stream = streamKey(parked.change.owner, parked.change.model);
      const set = this.perStream.get(stream);
      set?.delete(parked);
      if (set && set.size === 0) this.perStream.delete(stream);
      this.count--;
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
    const parkedKeys = new Map<string, Parked[]>();
    for (const set of this.perStream.values()) {
      for (const p of set) {
        const k = recordKey(p.change.model, p.change.id);
        const list = parkedKeys.get(k);
        if (list) list.push(p);
        else parkedKeys.set(k, [p]);
      }
    }
    // Start from every parked change; drop those waiting for something not parked, until stable.
    const closed = new Set<Parked>([...this.perStream.values()].flatMap((set) => [...set]));
    let changed = true;
    while (changed) {
      changed = false;
      for (const p of closed) {
        for (const dep of p.missing) {
          if (!(parkedKeys.get(dep) ?? []).some((q) => closed.has(q))) {
            closed.delete(p);
            changed = true;
            break;
          }
        }
      }
    }
    if (closed.size === 0) return NOTHING;
    for (const p of closed) {
      for (const dep of p.missing) {
        const list = this.byDependency.get(dep)?.filter((q) => q !== p);
        if (list && list.length > 0) this.byDependency.set(dep, list);
        else this.byDependency.delete(dep);
      }
      const stream = streamKey(p.change.owner, p.change.model);
      const set = this.perStream.get(stream);
      set?.delete(p);
      if (set && set.size === 0) this.perStream.delete(stream);
      this.count--;
    }
    return [...closed].map((p) => p.change);
  }

  isBlocked(owner: string, model: string): boolean {
    return this.perStream.has(streamKey(owner, model));
  }

  /** Lowest parked HLC of a stream, if any. */
  minParkedHlc(owner: string, model: string): Hlc | null {
    let min: Hlc | null = null;
    for (const p of this.perStream.get(streamKey(owner, model)) ?? []) {
      if (!min || compareHlc(p.change.hlc, min) < 0) min = p.change.hlc;
    }
    return min;
  }

  /** What is still waiting, for diagnostics: (model, id) → missing dependencies. */
  describe(limit = 10): { model: string; id: string; waitingFor: string[] }[] {
    const out: { model: string; id: string; waitingFor: string[] }[] = [];
    for (const set of this.perStream.values()) {
      for (const p of set) {
        if (out.length >= limit) return out;
        out.push({ model: p.change.model, id: p.change.id, waitingFor: [...p.missing].map((k) => k.replace('\u0000', '/')) });
      }
    }
    return out;
  }
}
