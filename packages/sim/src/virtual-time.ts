/**
 * Virtual time for one simulation run. While installed, every timer the engine sets
 * (setTimeout, setInterval, setImmediate) goes into one queue ordered by (virtual time, order
 * of creation), and Date.now / performance.now read the virtual clock. Timers run only when the
 * simulation advances time, one at a time, and after each one every promise chain it started
 * settles before the next: the run depends on nothing but its seed, and an hour of virtual
 * time costs what its events cost.
 */

/** Where virtual time starts (2026-09-13T12:26:40Z): a realistic epoch for HLC texts. */
export const VIRTUAL_EPOCH_MS = 1_789_302_400_000;

// Taken before any simulation installs itself: the one real macrotask the scheduler needs.
const realSetImmediate = globalThis.setImmediate;

type Callback = (...args: unknown[]) => void;

/** A timer handle with the methods Node's Timeout has (engine code calls `unref()`). */
/** What a timer runs and when: `delay` from now, then every `interval` for setInterval (null: once). */
interface TimerSpec {
  readonly callback: Callback;
  readonly args: unknown[];
  readonly delay: number;
  readonly interval: number | null;
}

export class VirtualTimer {
  readonly callback: Callback;
  readonly args: unknown[];
  readonly delay: number;
  readonly interval: number | null;

  constructor(
    readonly id: number,
    spec: TimerSpec,
    private readonly time: VirtualTime,
  ) {
    ({ callback: this.callback, args: this.args, delay: this.delay, interval: this.interval } = spec);
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  hasRef(): boolean {
    return true;
  }

  refresh(): this {
    this.time.reschedule(this);
    return this;
  }

  close(): this {
    this.time.clear(this);
    return this;
  }

  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly timer: VirtualTimer;
}

interface SavedGlobals {
  setTimeout: typeof globalThis.setTimeout;
  clearTimeout: typeof globalThis.clearTimeout;
  setInterval: typeof globalThis.setInterval;
  clearInterval: typeof globalThis.clearInterval;
  setImmediate: typeof globalThis.setImmediate;
  clearImmediate: typeof globalThis.clearImmediate;
  dateNow: typeof Date.now;
  performanceNow: typeof performance.now;
}

export class VirtualTime {
  private current = VIRTUAL_EPOCH_MS;
  private nextId = 1;
  private nextSeq = 1;
  /** The live schedule entry of each pending timer (a cleared or rescheduled entry is skipped when popped). */
  private readonly live = new Map<number, Scheduled>();
  private readonly heap: Scheduled[] = [];
  private saved: SavedGlobals | null = null;
  /** Errors thrown by timer callbacks (an engine bug: nothing should throw out of a timer). */
  readonly errors: unknown[] = [];
  /** Timer callbacks run so far. */
  eventsRun = 0;

  get now(): number {
    return this.current;
  }

  install(): void {
    if (this.saved) return;
    const g = globalThis as unknown as Record<string, unknown>;
    this.saved = {
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      setInterval: globalThis.setInterval,
      clearInterval: globalThis.clearInterval,
      setImmediate: globalThis.setImmediate,
      clearImmediate: globalThis.clearImmediate,
      dateNow: Date.now,
      performanceNow: performance.now,
    };
    // Node's own rule: a timeout below 1 ms waits 1 ms; an immediate runs at the current time.
    g['setTimeout'] = (cb: Callback, ms?: number, ...args: unknown[]) => this.add(cb, args, Math.max(1, Number(ms) || 0), null);
    g['setInterval'] = (cb: Callback, ms?: number, ...args: unknown[]) => {
      const period = Math.max(1, Number(ms) || 0);
      return this.add(cb, args, period, period);
    };
    g['setImmediate'] = (cb: Callback, ...args: unknown[]) => this.add(cb, args, 0, null);
    g['clearTimeout'] = g['clearInterval'] = g['clearImmediate'] = (handle: unknown) => this.clear(handle);
    Date.now = () => this.current;
    Object.defineProperty(performance, 'now', { value: () => this.current - VIRTUAL_EPOCH_MS, configurable: true, writable: true });
  }

  uninstall(): void {
    const saved = this.saved;
    if (!saved) return;
    this.saved = null;
    const g = globalThis as unknown as Record<string, unknown>;
    g['setTimeout'] = saved.setTimeout;
    g['clearTimeout'] = saved.clearTimeout;
    g['setInterval'] = saved.setInterval;
    g['clearInterval'] = saved.clearInterval;
    g['setImmediate'] = saved.setImmediate;
    g['clearImmediate'] = saved.clearImmediate;
    Date.now = saved.dateNow;
    // The instance property shadowed the prototype's method: removing it restores the real one.
    delete (performance as unknown as Record<string, unknown>)['now'];
    this.live.clear();
    this.heap.length = 0;
  }

  /** Lets every promise chain started so far run to where it waits for a timer. */
  settle(): Promise<void> {
    return new Promise((resolve) => realSetImmediate(resolve));
  }

  /** Runs every timer due within the next `ms` of virtual time, in order, settling after each. */
  async advance(ms: number): Promise<void> {
    const end = this.current + Math.max(0, ms);
    await this.settle();
    for (;;) {
      const next = this.peek();
      if (!next || next.at > end) break;
      this.pop();
      this.current = Math.max(this.current, next.at);
      this.fire(next.timer);
      await this.settle();
    }
    this.current = end;
  }

  /** Pending timers (intervals included). */
  get pending(): number {
    return this.live.size;
  }

  /** @internal */
  reschedule(timer: VirtualTimer): void {
    if (!this.live.has(timer.id)) return;
    this.schedule(timer, this.current + timer.delay);
  }

  /** @internal */
  clear(handle: unknown): void {
    if (handle instanceof VirtualTimer) this.live.delete(handle.id);
    else if (typeof handle === 'number') this.live.delete(handle);
  }

  private add(callback: Callback, args: unknown[], delay: number, interval: number | null): VirtualTimer {
    if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
    const timer = new VirtualTimer(this.nextId++, { callback, args, delay, interval }, this);
    this.schedule(timer, this.current + delay);
    return timer;
  }

  private schedule(timer: VirtualTimer, at: number): void {
    const entry: Scheduled = { at, seq: this.nextSeq++, timer };
    this.live.set(timer.id, entry);
    this.push(entry);
  }

  private fire(timer: VirtualTimer): void {
    if (timer.interval !== null) this.schedule(timer, this.current + timer.interval);
    else this.live.delete(timer.id);
    this.eventsRun++;
    try {
      timer.callback.apply(timer, timer.args);
    } catch (error) {
      this.errors.push(error);
    }
  }

  /** The earliest live entry, dropping cleared or superseded ones on the way. */
  private peek(): Scheduled | undefined {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (this.live.get(top.timer.id) === top) return top;
      this.pop();
    }
    return undefined;
  }

  private push(entry: Scheduled): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < heap.length && before(heap[l]!, heap[smallest]!)) smallest = l;
      if (r < heap.length && before(heap[r]!, heap[smallest]!)) smallest = r;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
