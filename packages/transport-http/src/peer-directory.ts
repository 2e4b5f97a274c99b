import type { KeyObject } from 'node:crypto';
import { HttpTransportConfigError } from './errors.js';
import { parsePublicKey, peerIdFromPublicKey } from './identity.js';

/** A library member this node talks to, as shared by that member (see `loadOrCreateHttpIdentity`). */
export interface HttpPeer {
  /**
   * Derived from `publicKey` when omitted (`httpPeerIdOf(publicKey)`). When given it must be
   * that id, so a typo or a swapped key is caught when configured.
   */
  readonly peerId?: string;
  /**
   * Base URL of the member's transport, e.g. `http://10.0.0.5:7400` or
   * `https://sync.example.org/hw` (a path prefix is kept, for reverse proxies that strip it).
   */
  readonly url: string;
  /** The member's device public key (Ed25519): raw 32 bytes in base64url/base64, or SPKI PEM. */
  readonly publicKey: string;
}

/** A configured member, its peer id filled in. */
export type ConfiguredHttpPeer = Required<HttpPeer>;

/** @internal A validated member. */
export interface Member {
  readonly peerId: string;
  readonly publicKey: KeyObject;
  /** The configured url, normalised. */
  readonly baseUrl: URL;
  /** Path prefix of the url without a trailing slash ('' for none). */
  readonly pathPrefix: string;
  readonly config: ConfiguredHttpPeer;
}

/**
 * The members of the library: who may call this node (their keys) and where to reach them.
 * A peer id must be the one derived from its key, so a typo or a swapped key is caught when
 * configured instead of showing up as mysterious 401s.
 */
export class PeerDirectory {
  private readonly members = new Map<string, Member>();

  constructor(private readonly localPeerId: string) {}

  /** Validates a peer; throws {@link HttpTransportConfigError} with the reason. */
  static validate(peer: HttpPeer, localPeerId: string): Member {
    if (typeof peer !== 'object' || peer === null) throw new HttpTransportConfigError('A peer must be an object { url, publicKey, peerId? }');
    const { url, publicKey } = peer;
    if (typeof url !== 'string' || typeof publicKey !== 'string' || (peer.peerId !== undefined && typeof peer.peerId !== 'string')) {
      throw new HttpTransportConfigError('A peer needs string url and publicKey (and peerId, if given, a string)');
    }
    const key = parsePublicKey(publicKey);
    const peerId = peerIdFromPublicKey(key);
    if (peer.peerId !== undefined && peer.peerId !== peerId) {
      throw new HttpTransportConfigError(`Peer id ${JSON.stringify(peer.peerId)} does not match its public key (which gives ${peerId})`);
    }
    if (peerId === localPeerId) throw new HttpTransportConfigError(`Peer ${peerId} is this node itself`);
    const parsed = baseUrl(url, `Peer ${peerId} url`);
    const pathPrefix = parsed.pathname.replace(/\/+$/, '');
    return { peerId, publicKey: key, baseUrl: parsed, pathPrefix, config: { peerId, url, publicKey } };
  }

  /** Adds or replaces a member; returns the member it replaced, if any. */
  add(peer: HttpPeer): { readonly member: Member; readonly replaced: Member | undefined } {
    const member = PeerDirectory.validate(peer, this.localPeerId);
    const replaced = this.members.get(member.peerId);
    this.members.set(member.peerId, member);
    return { member, replaced };
  }

  remove(peerId: string): Member | undefined {
    const member = this.members.get(peerId);
    this.members.delete(peerId);
    return member;
  }

  get(peerId: string): Member | undefined {
    return this.members.get(peerId);
  }

  list(): ConfiguredHttpPeer[] {
    return [...this.members.values()].map((m) => m.config);
  }

  ids(): string[] {
    return [...this.members.keys()];
  }
}

/**
 * `url` parsed, once it is an http(s) base url without query, fragment or credentials (a
 * member's, or this node's `publicUrl`); HttpTransportConfigError naming `what` otherwise.
 */
export function baseUrl(url: string, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new HttpTransportConfigError(`${what} is not a valid url: ${JSON.stringify(url)}`, { cause });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new HttpTransportConfigError(`${what} must be http: or https:, got ${parsed.protocol}`);
  }
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    throw new HttpTransportConfigError(`${what} must not carry a query, fragment or credentials`);
  }
  return parsed;
}

/** True when two configs describe the same member at the same place. */
export function sameMember(a: Member, b: Member): boolean {
  return a.peerId === b.peerId && a.baseUrl.href === b.baseUrl.href && a.publicKey.equals(b.publicKey);
}

/** The full URL of an endpoint of a member. */
export function endpointUrl(member: Member, path: string): URL {
  const url = new URL(member.baseUrl.href);
  url.pathname = `${member.pathPrefix}${path}`;
  return url;
}
