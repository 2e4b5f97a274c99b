import type { Logger } from 'pino';
import type { ModelRegistry } from '../../models/model-registry.js';
import { PROTOCOL_LIMITS, type WireChange } from '../../protocol/messages.js';
import { changeToWire, type Change } from '../change.js';
import type { Messenger } from '../messenger.js';
import type { SyncMetrics } from '../sync-metrics.js';

interface PeerQueue {
  state: WireChange[];
  shared: WireChange[];
  /** A send to this peer is under way; what arrives meanwhile waits and goes out as one batch. */
  inFlight: Promise<void> | null;
}

/**
 * Pushes local writes (and relayed remote ones) to connected peers. Changes made in one turn
 * of the event loop (or one `windowMs`) go out together, and while a send to a peer is under
 * way everything newer for that peer waits and leaves as one StateBatch / SharedChange when
 * it completes: no added latency when idle, ever larger batches under load, never a growing
 * backlog of tiny messages.
 *
 * A change goes only to peers connected when it was made (a peer connecting later gets it
 * from its catch-up; pushing it too would send it twice), minus the peer it came from. A send
 * that fails is not retried: the peer's next catch-up fetches what it lacks, because
 * watermarks only move over what was applied.
 */
export class LiveOutbox {
  private readonly peers = new Map<string, PeerQueue>();
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
    const to = this.connectedPeers().filter((p) => p !== except);
    if (to.length === 0) return;
    const wire = changes.map((c) => ({ wire: changeToWire(c), shared: this.registry.get(c.model).ownership === 'shared' }));
    for (const peer of to) {
      let queue = this.peers.get(peer);
      if (!queue) this.peers.set(peer, (queue = { state: [], shared: [], inFlight: null }));
      for (const w of wire) (w.shared ? queue.shared : queue.state).push(w.wire);
    }
    this.schedule();
  }

  /** Sends what is queued for every peer not busy, and waits for all sends under way. */
  async flush(): Promise<void> {
    this.cancelTimer();
    for (const [peer, queue] of this.peers) if (!queue.inFlight) this.sendQueued(peer, queue);
    await Promise.all([...this.peers.values()].map((q) => q.inFlight));
  }

  async stop(): Promise<void> {
    await this.flush();
    this.stopped = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.timer) return;
    const run = (): void => {
      this.timer = null;
      for (const [peer, queue] of this.peers) if (!queue.inFlight) this.sendQueued(peer, queue);
    };
    this.timer = this.windowMs > 0 ? setTimeout(run, this.windowMs) : setImmediate(run);
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private sendQueued(peer: string, queue: PeerQueue): void {
    if (queue.state.length === 0 && queue.shared.length === 0) {
      this.peers.delete(peer);
      return;
    }
    const state = queue.state;
    const shared = queue.shared;
    queue.state = [];
    queue.shared = [];
    queue.inFlight = (async () => {
      const limit = PROTOCOL_LIMITS.maxChangesPerMessage;
      for (let i = 0; i < state.length; i += limit) await this.sendTo(peer, { type: 'state-batch', changes: state.slice(i, i + limit) });
      for (let i = 0; i < shared.length; i += limit) await this.sendTo(peer, { type: 'shared-change', changes: shared.slice(i, i + limit) });
    })().finally(() => {
      queue.inFlight = null;
      if (queue.state.length > 0 || queue.shared.length > 0) this.sendQueued(peer, queue);
      else this.peers.delete(peer);
    });
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
