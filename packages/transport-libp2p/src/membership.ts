import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { MembersOption } from './init.js';

/** Which side opened a connection, as libp2p's `Connection.direction` says it. */
export type ConnectionDirection = 'inbound' | 'outbound';

/**
 * Decides who is a member of the library. Consulted twice for every remote peer: by the
 * connection gater right after the Noise handshake (so a non-member never gets a multiplexed
 * connection), and by the sync protocol handler for every stream (so a peer removed from a
 * dynamic members list loses access on its already-open connection too).
 *
 * {@link restrict} (the transport's `setMembers`) replaces whatever the transport was created
 * with, `allowAnyPeer` included: from then on exactly the given peer ids are members.
 *
 * Pairing widens only the gater, never membership: {@link admitsConnection} also lets in
 * strangers while the pairing door is open (inbound only) and the peer this node is pairing
 * with (both ways), so they can reach the pairing protocol. Everything else — `peers$`, sync
 * streams, discovery, `dial` — asks {@link isMember}, which pairing does not change.
 */
export class Membership {
  private members: MembersOption | undefined;
  private fixed: ReadonlySet<string> | undefined;
  /** Whether a pairing handler is set (`acceptPairing`): non-members may connect in. */
  private doorOpen = false;
  /** Peers this node is making a pairing exchange with, and how many exchanges each. */
  private readonly pairing = new Map<string, number>();

  /** `members` undefined admits every peer (the explicit `allowAnyPeer` mode). */
  constructor(
    members: MembersOption | undefined,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {
    this.members = members;
    this.fixed = Array.isArray(members) ? new Set(members) : undefined;
  }

  get admitsAnyPeer(): boolean {
    return this.members === undefined;
  }

  /** From now on only these peer ids are members (the list or callback given at creation no longer counts). */
  restrict(peerIds: Iterable<string>): void {
    const fixed = new Set(peerIds);
    this.members = [...fixed];
    this.fixed = fixed;
  }

  isMember(peerId: string): boolean {
    if (this.members === undefined) return true;
    if (this.fixed) return this.fixed.has(peerId);
    try {
      for (const member of (this.members as () => Iterable<string>)()) if (member === peerId) return true;
      return false;
    } catch (error) {
      // A members callback that throws admits nobody: failing open would let strangers in.
      this.onError(error);
      return false;
    }
  }

  /** Opens (a pairing handler is set) or closes the door for non-members connecting in. */
  setDoorOpen(open: boolean): void {
    this.doorOpen = open;
  }

  /**
   * Lets `peerId` connect, both ways, until the returned function is called: the joiner's side
   * of one pairing exchange, with a peer its members list does not hold yet. Nested calls for
   * one peer (concurrent exchanges) each hold the allowance until released.
   */
  allowPairingWith(peerId: string): () => void {
    this.pairing.set(peerId, (this.pairing.get(peerId) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.pairing.get(peerId) ?? 1) - 1;
      if (left > 0) this.pairing.set(peerId, left);
      else this.pairing.delete(peerId);
    };
  }

  /**
   * Whether a connection with `peerId` may exist: a member's, or one that pairing needs. The
   * cheap pairing checks go first, so a members callback is not called for them.
   */
  admitsConnection(peerId: string, direction: ConnectionDirection): boolean {
    if (this.pairing.has(peerId) || (direction === 'inbound' && this.doorOpen)) return true;
    return this.isMember(peerId);
  }

  /** A libp2p connection gater refusing, in both directions, peers {@link admitsConnection} does not admit. */
  gater(): ConnectionGater {
    const denyInbound = (peerId: PeerId): boolean => !this.admitsConnection(peerId.toString(), 'inbound');
    const denyOutbound = (peerId: PeerId): boolean => !this.admitsConnection(peerId.toString(), 'outbound');
    return {
      denyDialPeer: denyOutbound,
      denyInboundEncryptedConnection: denyInbound,
      denyOutboundEncryptedConnection: denyOutbound,
      denyInboundUpgradedConnection: denyInbound,
      denyOutboundUpgradedConnection: denyOutbound,
    };
  }
}
