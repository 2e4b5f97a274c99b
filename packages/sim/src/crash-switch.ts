import type { RecordStore, SyncStore } from '@highwater/core';

/** What a simulated process meets once it has crashed: every storage call fails, nothing is written. */
export class SimulatedCrash extends Error {
  constructor(readonly device: string) {
    super(`${device} has crashed`);
    this.name = 'SimulatedCrash';
  }
}

/**
 * The storage a simulated node sees, with a kill switch. A crash "after n calls" lets n more
 * storage calls through, then fails that call and every later one without touching the files:
 * the process died between two of its transactions — wherever in the engine that is (between
 * records and their watermark, a tombstone and its record, a page and its checkpoint). Each
 * call of the adapter is one transaction, so this is every point a real crash can stop at.
 */
export class CrashSwitch {
  private dead = false;
  private countdown: number | null = null;
  /** The method the crash stopped, for the trace. */
  stoppedAt: string | null = null;

  constructor(
    private readonly device: string,
    private readonly onCrash: () => void,
  ) {}

  get crashed(): boolean {
    return this.dead;
  }

  /** Crashes at the `calls`-th storage call from now (1: the next one). */
  arm(calls: number): void {
    this.countdown = Math.max(1, calls);
  }

  disarm(): void {
    this.countdown = null;
  }

  get armed(): boolean {
    return this.countdown !== null;
  }

  /** Crashes now (between two calls). */
  trip(where = 'between calls'): void {
    if (this.dead) return;
    this.dead = true;
    this.countdown = null;
    this.stoppedAt = where;
    this.onCrash();
  }

  wrap<T extends SyncStore | RecordStore>(store: T, name: string): T {
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          // Rejected like a failing store call (every port method returns a promise).
          if (this.dead) return Promise.reject(new SimulatedCrash(this.device));
          if (this.countdown !== null && --this.countdown <= 0) {
            this.trip(`${name}.${String(prop)}`);
            return Promise.reject(new SimulatedCrash(this.device));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }
}
