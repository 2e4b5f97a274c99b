import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { MembersOption } from './init.js';

/**
 * Decides who is a member of the library. Consulted twice for every remote peer: by the
 * connection gater right after the Noise handshake (so a non-member never gets a multiplexed
 * connection), and by the sync protocol handler for every stream (so a peer removed from a
 * dynamic members list loses access on its already-open connection too).
 *
 * {@link restrict} (the transport's `setMembers`) replaces whatever the transport was created
 * with, `allowAnyPeer` included: from then on exactly the given peer ids are members.
 */
export class Membership {
  private members: MembersOption | undefined;
  private fixed: ReadonlySet<string> | undefined;

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

  /** A libp2p connection gater refusing non-members in both directions. */
  gater(): ConnectionGater {
    const deny = (peerId: PeerId): boolean => !this.isMember(peerId.toString());
    return {
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
      denyInboundUpgradedConnection: deny,
      denyOutboundUpgradedConnection: deny,
    };
  }
}
