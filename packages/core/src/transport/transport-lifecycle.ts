/** Where a transport is in its life. Only a `running` transport carries messages. */
export type TransportState = 'stopped' | 'starting' | 'running' | 'stopping';

/**
 * What a transport does to come up and go down (the shape of js-libp2p's `Startable`);
 * {@link TransportLifecycle} decides when each step runs.
 */
export interface LifecycleSteps {
  /**
   * Opens what the transport needs (listeners, servers, a libp2p node). The state is
   * `starting` meanwhile. If it rejects, the state goes back to `stopped`: undo whatever was
   * opened before rejecting.
   */
  start(): Promise<void>;
  /**
   * Runs once the state is `running`, before `start()` resolves: background work that must see
   * a running transport (heartbeats, redials, a "started" log line). It should not throw; if it
   * does, `start()` rejects but the transport is running, so `stop()` cleans up.
   */
  afterStart?(): void;
  /** Closes everything `start` opened. The state is `stopping` meanwhile and `stopped` afterwards, even if it rejects. */
  stop(): Promise<void>;
}

/**
 * The start/stop state machine every transport adapter shares: one transition at a time,
 * `start()` and `stop()` idempotent, a restart after a stop allowed.
 *
 * Concurrent callers: a `start()` while a start is under way shares that start's outcome (its
 * error too); a `start()` while a stop is under way waits for the stop, then starts. The same
 * holds the other way round for `stop()`. A failed start leaves the transport `stopped`, so a
 * later `start()` tries again.
 *
 * ```ts
 * class MyTransport implements Transport {
 *   private readonly lifecycle = new TransportLifecycle({ start: () => this.open(), stop: () => this.close() });
 *   start(): Promise<void> { return this.lifecycle.start(); }
 *   stop(): Promise<void> { return this.lifecycle.stop(); }
 * }
 * ```
 */
export class TransportLifecycle {
  private current: TransportState = 'stopped';
  /** The start or stop under way; only meaningful while the state is `starting` or `stopping`. */
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly steps: LifecycleSteps) {}

  get state(): TransportState {
    return this.current;
  }

  get isRunning(): boolean {
    return this.current === 'running';
  }

  /** Resolves once running; rejects with what the start step threw (the state is then `stopped`). */
  async start(): Promise<void> {
    for (;;) {
      switch (this.current) {
        case 'running':
          return;
        case 'starting':
          return this.transition;
        case 'stopping':
          await this.transition.catch(() => undefined);
          break; // the stop is over: look again (another caller may have started meanwhile)
        case 'stopped':
          this.current = 'starting';
          this.transition = this.runStart();
          return this.transition;
      }
    }
  }

  /** Resolves once stopped; rejects with what the stop step threw (the state is `stopped` anyway). */
  async stop(): Promise<void> {
    for (;;) {
      switch (this.current) {
        case 'stopped':
          return;
        case 'stopping':
          return this.transition;
        case 'starting':
          await this.transition.catch(() => undefined);
          break; // the start is over, whichever way: look again
        case 'running':
          this.current = 'stopping';
          this.transition = this.runStop();
          return this.transition;
      }
    }
  }

  private async runStart(): Promise<void> {
    try {
      await this.steps.start();
    } catch (error) {
      this.current = 'stopped';
      throw error;
    }
    this.current = 'running';
    this.steps.afterStart?.();
  }

  private async runStop(): Promise<void> {
    try {
      await this.steps.stop();
    } finally {
      this.current = 'stopped';
    }
  }
}
