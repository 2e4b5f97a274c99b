import type { Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { Transport } from '../../ports/transport.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { Messenger } from '../messenger.js';
import type { RequestServer } from '../serve/request-server.js';

/** How long after watermarks moved by a pull the heads go out (once for any number of moves meanwhile). */
const ANNOUNCE_DELAY_MS = 100;

/**
 * Sends this node's heads to every connected peer: ~100 ms after its watermarks moved over
 * changes peers did not get from it live (what a pull brought is never relayed live, so this
 * is how it reaches them), and every `antiEntropyMs` anyway, so a peer that missed a live
 * change catches up without waiting for a reconnect.
 */
export class HeadsAnnouncer implements Startable {
  private interval: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private subscription: Subscription | null = null;
  private readonly server: RequestServer;
  private readonly messenger: Messenger;
  private readonly transport: Transport;
  private readonly logger: Logger;

  constructor(private readonly components: Pick<NodeComponents, 'server' | 'messenger' | 'transport' | 'signals' | 'settings' | 'logger'>) {
    this.server = components.server;
    this.messenger = components.messenger;
    this.transport = components.transport;
    this.logger = components.logger;
  }

  start(): void {
    this.subscription = this.components.signals.unrelayed$.subscribe(() => this.announceSoon());
    const every = this.components.settings.antiEntropyMs;
    if (every > 0) {
      this.interval = setInterval(() => void this.announce(), every);
      this.interval.unref();
    }
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    if (this.interval) clearInterval(this.interval);
    if (this.soon) clearTimeout(this.soon);
    this.interval = null;
    this.soon = null;
  }

  private announceSoon(): void {
    if (this.soon || !this.subscription) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.announce();
    }, ANNOUNCE_DELAY_MS);
    this.soon.unref();
  }

  private async announce(): Promise<void> {
    const peers = this.transport.connectedPeers();
    if (peers.length === 0 || !this.subscription) return;
    try {
      const heads = await this.server.heads();
      if (heads.length === 0) return;
      for (const peer of peers) this.messenger.send(peer, { type: 'heads-announce', heads }).catch(() => undefined);
    } catch (error) {
      // A store that failed now fails the next pass too, which reports it; nothing to do here.
      this.logger.debug({ err: (error as Error).message }, 'heads announce skipped');
    }
  }
}
