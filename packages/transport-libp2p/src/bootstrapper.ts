import type { Logger } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { errorMessage } from './stream-utils.js';

/** The `/p2p/<peer id>` of a multiaddr, if it names one. */
export function peerIdInAddress(address: Multiaddr): string | undefined {
  return address.getComponents().findLast((component) => component.name === 'p2p')?.value;
}

export interface BootstrapperInit {
  readonly addresses: readonly Multiaddr[];
  readonly intervalMs: number;
  /** Dials an address; resolves with the peer id reached. */
  readonly dial: (address: Multiaddr, signal: AbortSignal) => Promise<string>;
  readonly isConnected: (peerId: string) => boolean;
  readonly log: Logger;
}

/**
 * Keeps the configured bootstrap peers connected: dials every address on start, then every
 * `intervalMs` redials those whose peer is not connected. A failed dial is only logged (the
 * peer may simply be offline); dials never overlap per address.
 */
export class Bootstrapper {
  /** Peer reached through each address (for addresses without /p2p/). */
  private readonly reached = new Map<string, string>();
  private readonly dialing = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private controller = new AbortController();

  constructor(private readonly init: BootstrapperInit) {}

  start(): void {
    if (this.init.addresses.length === 0) return;
    this.stop();
    this.controller = new AbortController();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.init.intervalMs);
    // Redialing is background work: it must not keep a process alive on its own.
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.controller.abort();
  }

  private tick(): void {
    const { signal } = this.controller;
    for (const address of this.init.addresses) {
      const key = address.toString();
      const peer = peerIdInAddress(address) ?? this.reached.get(key);
      if (this.dialing.has(key) || (peer !== undefined && this.init.isConnected(peer))) continue;
      this.dialing.add(key);
      this.init
        .dial(address, signal)
        .then((reached) => {
          this.reached.set(key, reached);
          this.init.log('bootstrap peer %s connected via %s', reached, key);
        })
        .catch((error: unknown) => {
          if (!signal.aborted) this.init.log('bootstrap dial of %s failed: %s', key, errorMessage(error));
        })
        .finally(() => this.dialing.delete(key));
    }
  }
}
