import type { BatchProofs } from '../trust/batch-proofs.js';
import type { SignedHeads } from '../trust/signed-heads.js';
import type { Logger } from 'pino';
import type { ModelRegistry } from '../../models/model-registry.js';
import { PROTOCOL_LIMITS, type WireChange, type WireSpan } from '../../protocol/messages.js';
import { changeToWire, spanToWire, type Change, type Span } from '../change.js';
import type { Messenger } from '../messenger.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { SyncMetrics } from '../sync-metrics.js';

/** Changes and the spans they complete: what must travel in one message, never split. */
interface Unit {
  readonly changes: WireChange[];
  readonly spans: WireSpan[];
}

interface PeerQueue {
  state: Unit[];
  shared: Unit[];
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
 * Each change travels with the spans it completes (see Span), and a span never leaves without
 * all of its changes: a message lost on the way makes the next one a gap, never a watermark
 * that claims what did not arrive.
 *
 * A change goes only to peers connected when it was made (a peer connecting later gets it
 * from its catch-up; pushing it too would send it twice), minus the peer it came from. A send
 * that fails is not retried: the peer's next catch-up fetches what it lacks.
 */
export class LiveOutbox implements Startable {
  private readonly peers = new Map<string, PeerQueue>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private stopped = false;
  private readonly registry: ModelRegistry;
  private readonly messenger: Messenger;
  private readonly transport: Transport;
  private readonly windowMs: number;
  private readonly metrics: SyncMetrics;
  private readonly logger: Logger;
  private readonly signedHeads: SignedHeads;
  private readonly batchProofs: BatchProofs;

  constructor(components: Pick<NodeComponents, 'modelRegistry' | 'messenger' | 'transport' | 'settings' | 'metrics' | 'logger' | 'signedHeads' | 'batchProofs'>) {
    this.signedHeads = components.signedHeads;
    this.batchProofs = components.batchProofs;
    this.registry = components.modelRegistry;
    this.messenger = components.messenger;
    this.transport = components.transport;
    this.windowMs = components.settings.liveBatchWindowMs;
    this.metrics = components.metrics;
    this.logger = components.logger;
  }

  /** Queues `changes` with the spans they complete (each span's changes must all be in `changes`). */
  enqueue(changes: readonly Change[], spans: readonly Span[], except: string | null = null): void {
    if (this.stopped || changes.length === 0) return;
    const to = this.transport.connectedPeers().filter((p) => p !== except);
    if (to.length === 0) return;
    const state: Unit = { changes: [], spans: [] };
    const shared: Unit = { changes: [], spans: [] };
    for (const c of changes) (this.isShared(c.model) ? shared : state).changes.push(changeToWire(c));
    // Each span with the signed head its receivers bound it by (see SignedHeads).
    for (const s of spans) (this.isShared(s.model) ? shared : state).spans.push(this.signedHeads.withSigned(spanToWire(s)));
    for (const peer of to) {
      let queue = this.peers.get(peer);
      if (!queue) this.peers.set(peer, (queue = { state: [], shared: [], inFlight: null }));
      if (state.changes.length > 0) queue.state.push(state);
      if (shared.changes.length > 0) queue.shared.push(shared);
    }
    this.schedule();
  }

  /** Sends what is queued for every peer not busy, and waits for all sends under way. */
  async flush(): Promise<void> {
    this.cancelTimer();
    for (const [peer, queue] of this.peers) if (!queue.inFlight) this.sendQueued(peer, queue);
    await Promise.all([...this.peers.values()].map((q) => q.inFlight));
  }

  /** Takes changes again after a stop. */
  start(): void {
    this.stopped = false;
  }

  /** Sends what is queued, then takes nothing more. */
  async stop(): Promise<void> {
    await this.flush();
    this.stopped = true;
    await this.flush();
  }

  private isShared(model: string): boolean {
    return this.registry.get(model).ownership === 'shared';
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
      for (const body of messagesOf(state)) await this.sendTo(peer, { type: 'state-batch', ...body });
      for (const body of messagesOf(shared)) await this.sendTo(peer, { type: 'shared-change', ...body });
    })().finally(() => {
      queue.inFlight = null;
      if (queue.state.length > 0 || queue.shared.length > 0) this.sendQueued(peer, queue);
      else this.peers.delete(peer);
    });
  }

  private async sendTo(peer: string, body: { type: 'state-batch' | 'shared-change'; changes: WireChange[]; spans: WireSpan[] }): Promise<void> {
    try {
      const changes = await this.batchProofs.attach(body.changes);
      await this.messenger.send(peer, body.spans.length > 0 ? { ...body, changes } : { type: body.type, changes });
      this.metrics.add('changesSentLive', body.changes.length);
    } catch (error) {
      this.logger.debug({ peer, err: (error as Error).message }, 'live push failed; catch-up will cover it');
    }
  }
}

/**
 * Units packed into messages of at most `maxChangesPerMessage` changes, a unit never split
 * (LocalWriter splits a local write of more into units before it gets here).
 */
function messagesOf(units: readonly Unit[]): Unit[] {
  const limit = PROTOCOL_LIMITS.maxChangesPerMessage;
  const out: Unit[] = [];
  let current: Unit = { changes: [], spans: [] };
  for (const u of units) {
    if (current.changes.length > 0 && current.changes.length + u.changes.length > limit) {
      out.push(current);
      current = { changes: [], spans: [] };
    }
    current.changes.push(...u.changes);
    current.spans.push(...joinSpans(current.spans.splice(0), u.spans));
  }
  if (current.changes.length > 0) out.push(current);
  return out;
}

/** `a` then `b`, a span of `b` that continues the last span of its stream in `a` joined to it. */
function joinSpans(a: WireSpan[], b: readonly WireSpan[]): WireSpan[] {
  for (const s of b) {
    const i = a.findIndex((x) => x.owner === s.owner && x.resource === s.resource && x.to === s.from);
    if (i >= 0) a[i] = { ...a[i]!, to: s.to };
    else a.push(s);
  }
  return a;
}
