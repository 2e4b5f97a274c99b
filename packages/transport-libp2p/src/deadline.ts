import { setMaxListeners } from 'node:events';
import { MAX_TIMER_MS } from './constants.js';

/** Why a {@link Deadline} fired. */
export type DeadlineReason = 'timeout' | 'caller' | 'stopped';

/**
 * One AbortSignal for an outbound request or message, fired by whichever comes first: its
 * timeout, the caller's signal, or the transport stopping. It remembers which, so the error
 * the caller gets says what happened (a timeout is HW_REQUEST_TIMEOUT, a stop is
 * HW_TRANSPORT_STOPPED) rather than the stream error the abort caused underneath.
 *
 * The timer is a plain cleared setTimeout (not AbortSignal.timeout) so a finished request
 * leaves no timer behind.
 */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private readonly detach: Array<() => void> = [];
  private firedBy: DeadlineReason | undefined;

  constructor(
    readonly timeoutMs: number,
    private readonly callerSignal: AbortSignal | undefined,
    stopSignal: AbortSignal,
  ) {
    this.signal = this.controller.signal;
    // libp2p adds a listener per operation (open, write, drain, read), and the stop signal
    // gets one per request in flight: Node's default of 10 would warn about a leak that is not.
    setMaxListeners(Infinity, this.signal);
    setMaxListeners(Infinity, stopSignal);
    if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.fire('timeout'), Math.max(0, timeoutMs));
    }
    this.follow(callerSignal, 'caller');
    this.follow(stopSignal, 'stopped');
  }

  /** What fired it, if anything has. */
  get reason(): DeadlineReason | undefined {
    return this.firedBy;
  }

  /** The caller's own abort reason (what `request()` rejects with when the caller aborted). */
  get callerReason(): unknown {
    return this.callerSignal?.reason;
  }

  /** Releases the timer and the listeners; call when the request settles. */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const undo of this.detach.splice(0)) undo();
  }

  private follow(signal: AbortSignal | undefined, reason: DeadlineReason): void {
    if (!signal) return;
    if (signal.aborted) {
      this.fire(reason);
      return;
    }
    const onAbort = (): void => this.fire(reason);
    signal.addEventListener('abort', onAbort, { once: true });
    this.detach.push(() => signal.removeEventListener('abort', onAbort));
  }

  private fire(reason: DeadlineReason): void {
    if (this.firedBy !== undefined) return;
    this.firedBy = reason;
    this.controller.abort(new Error(`request aborted: ${reason}`));
    this.clear();
  }
}
