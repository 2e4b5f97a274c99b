import type { Subscription } from 'rxjs';
import { compareHlc, formatHlc, type Hlc } from '../../clock/hlc.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { Messenger } from '../messenger.js';
import type { SharedLogPruner } from './shared-log-pruner.js';

/** How long shared changes gather before one ack tells every peer. */
const ACK_DELAY_MS = 50;

/**
 * Tells peers how far this node has applied the shared log (they prune below every member's
 * ack): at most every 50 ms after shared changes were processed, and only when the position
 * moved.
 */
export class SharedLogAcker implements Startable {
  private timer: NodeJS.Timeout | null = null;
  private lastAck: Hlc | null = null;
  private subscription: Subscription | null = null;
  private readonly pruner: SharedLogPruner;
  private readonly messenger: Messenger;
  private readonly transport: Transport;

  constructor(private readonly components: Pick<NodeComponents, 'pruner' | 'messenger' | 'transport' | 'signals'>) {
    this.pruner = components.pruner;
    this.messenger = components.messenger;
    this.transport = components.transport;
  }

  start(): void {
    this.subscription = this.components.signals.sharedProcessed$.subscribe(() => this.schedule());
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
      const position = this.pruner.ackPosition();
      if (!position || (this.lastAck && compareHlc(position, this.lastAck) <= 0)) return;
      this.lastAck = position;
      const upTo = formatHlc(position);
      for (const peer of this.transport.connectedPeers()) this.messenger.send(peer, { type: 'ack-shared-changes', upTo }).catch(() => undefined);
    }, ACK_DELAY_MS);
    this.timer.unref();
  }
}
