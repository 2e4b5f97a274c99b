import type { Logger } from 'pino';
import type { ModelRegistry } from '../../models/model-registry.js';
import { PROTOCOL_LIMITS, type WireChange } from '../../protocol/messages.js';
import { changeToWire, type Change } from '../change.js';
import type { Messenger } from '../messenger.js';
import type { SyncMetrics } from '../sync-metrics.js';

interface Queued {
  readonly wire: WireChange;
  readonly shared: boolean;
  /**
   * Peers connected when the change was made, minus the one it came from (relays). A peer
   * that connects later gets it from its own catch-up; pushing it too would send it twice.
   */
  readonly to: ReadonlySet<string>;
}

/**
 * Pushes local writes (and relayed remote ones) to connected peers, batched over a short
 * window so a burst of writes becomes a few StateBatch / SharedChange messages instead of
 * one per record. A send that fails is not retried: the peer's next catch-up fetches what it
 * lacks, because watermarks only move over what was applied.
 */
export class LiveOutbox {
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private stopped = false;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly messenger: Messenger,
    private readonly connectedPeers: () => readonly string[],
    private readonly windowMs: number,
    private readonly metrics: SyncMetrics,
    private readonly logger: Logger,
  ) {}

  enqueue(changes: readonly Change[], except: string | null = null): void {
    if (this.stopped || changes.length === 0) return;
    const to = new Set(this.connectedPeers());
    if (except !== null) to.delete(except);
    if (to.size === 0) return;
    for (const c of changes) this.queue.push({ wire: changeToWire(c), shared: this.registry.get(c.model).ownership === 'shared', to });
    if (this.queue.length >= PROTOCOL_LIMITS.maxChangesPerMessage) void this.flush();
    // A window of 0 batches what is written in the same turn of the event loop and costs no
    // added latency; a positive window trades latency for fewer, larger messages.
    else this.timer ??= this.windowMs > 0 ? setTimeout(() => void this.flush(), this.windowMs) : setImmediate(() => void this.flush());
  }

  /** Sends everything queued now. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
    }
    this.timer = null;
    const queued = this.queue;
    this.queue = [];
    if (queued.length === 0) return;
    const sends: Promise<void>[] = [];
    for (const peer of this.connectedPeers()) {
      const state: WireChange[] = [];
      const shared: WireChange[] = [];
      for (const q of queued) if (q.to.has(peer)) (q.shared ? shared : state).push(q.wire);
      for (let i = 0; i < state.length; i += PROTOCOL_LIMITS.maxChangesPerMessage) {
        sends.push(this.sendTo(peer, { type: 'state-batch', changes: state.slice(i, i + PROTOCOL_LIMITS.maxChangesPerMessage) }));
      }
      for (let i = 0; i < shared.length; i += PROTOCOL_LIMITS.maxChangesPerMessage) {
        sends.push(this.sendTo(peer, { type: 'shared-change', changes: shared.slice(i, i + PROTOCOL_LIMITS.maxChangesPerMessage) }));
      }
    }
    await Promise.all(sends);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }

  private async sendTo(peer: string, body: { type: 'state-batch' | 'shared-change'; changes: WireChange[] }): Promise<void> {
    try {
      await this.messenger.send(peer, body);
      this.metrics.add('changesSentLive', body.changes.length);
    } catch (error) {
      this.logger.debug({ peer, err: (error as Error).message }, 'live push failed; catch-up will cover it');
    }
  }
}
