import { merge, type Subscription } from 'rxjs';
import { formatHlc } from '../../clock/hlc.js';
import type { Transport } from '../../ports/transport.js';
import type { WireHead } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { Messenger } from '../messenger.js';
import type { WatermarkCache } from '../watermark-cache.js';

/** How long stores gather before one ack tells every peer. */
const ACK_DELAY_MS = 100;

/**
 * Tells peers how far this node holds each stream (its watermarks, as `stream-acks`), so they
 * prune tombstones and shared changes below every member's ack: at most every 100 ms after
 * something was stored or shared changes were processed, and only when a watermark moved since
 * the last ack. Exchanges and heads announcements carry the same heads and count as acks too.
 */
export class StreamAcker implements Startable {
  private timer: NodeJS.Timeout | null = null;
  private lastSent = '';
  private subscription: Subscription | null = null;
  private readonly watermarks: WatermarkCache;
  private readonly messenger: Messenger;
  private readonly transport: Transport;

  constructor(private readonly components: Pick<NodeComponents, 'watermarks' | 'messenger' | 'transport' | 'signals'>) {
    this.watermarks = components.watermarks;
    this.messenger = components.messenger;
    this.transport = components.transport;
  }

  start(): void {
    const { signals } = this.components;
    this.subscription = merge(signals.stored$, signals.sharedProcessed$).subscribe(() => this.schedule());
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer || !this.subscription) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const heads: WireHead[] = this.watermarks.all().map((w) => ({ owner: w.owner, resource: w.resource, hlc: formatHlc(w.hlc) }));
      const text = JSON.stringify(heads);
      if (heads.length === 0 || text === this.lastSent) return;
      this.lastSent = text;
      for (const peer of this.transport.connectedPeers()) this.messenger.send(peer, { type: 'stream-acks', heads }).catch(() => undefined);
    }, ACK_DELAY_MS);
    this.timer.unref();
  }
}
