import { describe, expect, it } from '@jest/globals';
import type { Hlc, SyncStore } from '@highwater/core';
import { planFor, runSimulation, shrinkFailure, type StoreWrapper } from '../src/index.js';

/** A watermark store that claims a minute more than it was asked to: the bug class the simulation exists to catch. */
function watermarksAMinuteAhead(syncStore: SyncStore): SyncStore {
  return new Proxy(syncStore, {
    get(target, prop, receiver) {
      if (prop === 'advanceWatermark') {
        return (owner: string, resource: string, hlc: Hlc) => target.advanceWatermark(owner, resource, { ...hlc, time: hlc.time + 60_000 });
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('the simulation itself', () => {
  it('is deterministic: a seed replays to the same trace', async () => {
    const first = await runSimulation({ seed: 11 });
    const second = await runSimulation({ seed: 11 });
    expect(first.ok).toBe(true);
    expect(second.trace).toEqual(first.trace);
    expect(second.stats).toEqual(first.stats);
    expect(first.stats.knownChanges).toBeGreaterThan(20);
  });

  it('plans from the seed alone: 3-8 peers, late joiners, every kind of step', () => {
    const kinds = new Set<string>();
    const sizes = new Set<number>();
    let late = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const plan = planFor(seed);
      expect(planFor(seed)).toEqual(plan);
      sizes.add(plan.peers);
      late += plan.peers - plan.founders.length;
      for (const step of plan.steps) kinds.add(step.kind);
    }
    expect([...sizes].sort()).toEqual([3, 4, 5, 6, 7, 8]);
    expect(late).toBeGreaterThan(50);
    expect([...kinds].sort()).toEqual(['clock', 'contend', 'crash', 'heal', 'join', 'link', 'net', 'partition', 'restart', 'shared', 'wait', 'write']);
  });

  it('catches a watermark that claims more than the node stored, and shrinks the run to a few steps', async () => {
    const wrapStores: StoreWrapper = (stores, device) => (device === 'd1' ? { ...stores, syncStore: watermarksAMinuteAhead(stores.syncStore) } : stores);
    const failed = await runSimulation({ seed: 7, wrapStores });
    expect(failed.ok).toBe(false);
    expect(failed.failure!.invariant).toBe('watermark-covers-missing');
    expect(failed.failure!.message).toMatch(/^watermark-covers-missing: d1: watermark of \(d\d, \w+\) at \S+ covers \w+ of \S+ at \S+, but d1 holds/);
    expect(failed.trace.at(-1)).toMatch(/crashed \(end of run/);

    const shrunk = await shrinkFailure(failed, { wrapStores, budgetMs: 30_000 });
    expect(shrunk.result.failure!.invariant).toBe('watermark-covers-missing');
    expect(shrunk.steps.length).toBeLessThan(failed.plan.steps.length / 4);
    const replay = await runSimulation({ seed: 7, wrapStores, only: new Set(shrunk.steps) });
    expect(replay.trace).toEqual(shrunk.result.trace);
  }, 120_000);
});
