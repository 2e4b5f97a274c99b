import type { PeerEvent } from '@highwater/core';
import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { Subject, type Observable } from 'rxjs';
import type { Membership } from './membership.js';

/**
 * Turns libp2p's connection events into the port's `peers$`. libp2p fires `peer:connect` for a
 * peer's first open connection and `peer:disconnect` when its last one closes, so several
 * connections to one peer (both sides dialing at once, a redial) make one event each way.
 * Only members are reported connected; a peer reported connected is always reported
 * disconnected later, even if it stopped being a member in between.
 *
 * A peer may also become a member while connected: it connected for a pairing exchange, as a
 * non-member, and was listed since. libp2p says nothing then, so such peers are reported by
 * {@link reportMembers} (called when members change) or when another connection of theirs opens.
 */
export class PeerTracker {
  readonly peers$: Observable<PeerEvent>;
  private readonly subject = new Subject<PeerEvent>();
  /** Peers reported 'connected' and not yet 'disconnected'. */
  private readonly reported = new Map<string, PeerId>();

  constructor(
    private readonly membership: Membership,
    private readonly onConnected: (peerId: string) => void,
  ) {
    this.peers$ = this.subject.asObservable();
  }

  /** Follows `node`'s events until the returned function is called. */
  attach(node: Libp2p): () => void {
    const onConnect = (event: CustomEvent<PeerId>): void => this.connected(event.detail);
    const onDisconnect = (event: CustomEvent<PeerId>): void => this.disconnected(event.detail.toString());
    // peer:connect fires for a peer's first connection only: a member whose first connection
    // was a pairing one (made before it was listed) is reported when its next one opens.
    const onOpen = (event: CustomEvent<Connection>): void => {
      if (event.detail.status === 'open') this.connected(event.detail.remotePeer);
    };
    node.addEventListener('peer:connect', onConnect);
    node.addEventListener('peer:disconnect', onDisconnect);
    node.addEventListener('connection:open', onOpen);
    return () => {
      node.removeEventListener('peer:connect', onConnect);
      node.removeEventListener('peer:disconnect', onDisconnect);
      node.removeEventListener('connection:open', onOpen);
    };
  }

  /**
   * Reports every member with an open connection that was not reported yet: a peer that
   * connected for a pairing and has been listed since (see the class comment).
   */
  reportMembers(node: Libp2p | undefined): void {
    if (!node) return;
    for (const connection of node.getConnections()) {
      if (connection.status === 'open') this.connected(connection.remotePeer);
    }
  }

  /** Whether `peerId` was reported connected (and not disconnected since). */
  isReported(peerId: string): boolean {
    return this.reported.has(peerId);
  }

  /** Members with an open connection that were reported connected. */
  connectedPeers(node: Libp2p | undefined): string[] {
    if (!node || this.reported.size === 0) return [];
    const open = new Set<string>();
    for (const connection of node.getConnections()) {
      if (connection.status === 'open') open.add(connection.remotePeer.toString());
    }
    return [...this.reported.keys()].filter((peer) => open.has(peer) && this.membership.isMember(peer));
  }

  /** The PeerId of a reported peer (the transport only opens streams to those). */
  peerId(peerId: string): PeerId | undefined {
    return this.reported.get(peerId);
  }

  /**
   * Reports `peerId` disconnected now if it was reported connected (its connections are being
   * hung up: subscribers learn it at once rather than when libp2p's event comes).
   */
  drop(peerId: string): void {
    this.disconnected(peerId);
  }

  /** Reports every peer still connected as disconnected (the node stopped). */
  disconnectAll(): void {
    for (const peer of [...this.reported.keys()]) this.disconnected(peer);
  }

  private connected(peerId: PeerId): void {
    const id = peerId.toString();
    if (this.reported.has(id) || !this.membership.isMember(id)) return;
    this.reported.set(id, peerId);
    this.subject.next({ type: 'connected', peerId: id, at: Date.now() });
    this.onConnected(id);
  }

  private disconnected(peerId: string): void {
    if (!this.reported.delete(peerId)) return;
    this.subject.next({ type: 'disconnected', peerId, at: Date.now() });
  }
}
