import type { Libp2p, Logger, PeerInfo } from '@libp2p/interface';
import type { Membership } from './membership.js';
import { errorMessage } from './stream-utils.js';

/**
 * Dials members found by peer discovery (mDNS). libp2p does not dial discovered peers by
 * itself, and dialing non-members would only be refused by the gater, so they are skipped.
 */
export class DiscoveryDialer {
  private readonly dialing = new Set<string>();
  private controller = new AbortController();

  constructor(
    private readonly membership: Membership,
    private readonly isConnected: (peerId: string) => boolean,
    private readonly log: Logger,
  ) {}

  attach(node: Libp2p): () => void {
    this.controller = new AbortController();
    const { signal } = this.controller;
    const onDiscovery = (event: CustomEvent<PeerInfo>): void => {
      const peer = event.detail.id;
      const id = peer.toString();
      if (this.dialing.has(id) || this.isConnected(id) || !this.membership.isMember(id)) return;
      this.dialing.add(id);
      node
        .dial(peer, { signal })
        .then(() => this.log('dialed discovered member %s', id))
        .catch((error: unknown) => {
          if (!signal.aborted) this.log('dial of discovered member %s failed: %s', id, errorMessage(error));
        })
        .finally(() => this.dialing.delete(id));
    };
    node.addEventListener('peer:discovery', onDiscovery);
    return () => {
      this.controller.abort();
      node.removeEventListener('peer:discovery', onDiscovery);
    };
  }
}
