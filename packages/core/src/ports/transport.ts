import type { Observable } from 'rxjs';

/**
 * Port: how a node reaches its peers. Payloads are opaque bytes: the engine's codec decides
 * the encoding, and counting bytes on the wire stays honest. Adapters (libp2p, HTTP, the
 * in-process transport) authenticate peers so that only library members exchange messages.
 */
export interface Transport {
  /** This node's identity on the transport. Stable across restarts. */
  readonly localPeerId: string;
  /** Connect and disconnect events of remote peers. */
  readonly peers$: Observable<PeerEvent>;
  start(): Promise<void>;
  /** Closes every connection and server; afterwards no handle stays open. */
  stop(): Promise<void>;
  /** Peers currently connected. */
  connectedPeers(): readonly string[];
  /** Installs the handler for inbound requests and one-way messages (one per transport). */
  handle(handler: InboundHandler): void;
  /** Sends a request and waits for its response; rejects with a typed error on timeout or when the peer is gone. */
  request(peerId: string, payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  /** One-way message; resolves once handed to the connection. */
  send(peerId: string, payload: Uint8Array): Promise<void>;
  /** Last measured round-trip time to a peer in ms, if any. */
  rttMs(peerId: string): number | undefined;
  /**
   * The peer id this transport gives the device whose Ed25519 public key (raw, base64url) is
   * `publicKey`: adapters that authenticate peers by their device key (libp2p, HTTP) derive it,
   * so a node can check that a message's device is the one its sender authenticated as.
   */
  peerIdOf?(publicKey: string): string;
  /**
   * Makes the devices with these Ed25519 public keys (raw, base64url) the only ones that may
   * exchange messages with this node, from now on: a connected peer not listed is disconnected
   * at once and refused when it comes back. Listing a device lets it in where the transport
   * knows how to reach or admit it (HTTP still needs `addPeer` with its url). A node with
   * `trust` calls it on start and whenever its device list changes (a revocation).
   */
  setMembers?(publicKeys: readonly string[]): void;
  /**
   * Pairing, the inviter's side: while a handler is set, a device that is not a member may make
   * one kind of exchange — a pairing request of at most {@link PAIRING_MAX_BYTES}, answered by
   * `handler` — and nothing else (it stays out of `peers$` and cannot send sync messages).
   * `null` closes the door again: non-members still connected for a pairing are hung up.
   * The payloads authenticate themselves (see the core's `pairing`); the transport only admits.
   */
  acceptPairing?(handler: PairingHandler | null): void;
  /**
   * Pairing, the joiner's side: makes one pairing exchange with the device at `address` (a
   * libp2p multiaddr, an HTTP base url) whose Ed25519 public key is `publicKey` (raw,
   * base64url), which need not count this node as a member yet; resolves with its answer.
   * Rejects with HW_PEER_UNREACHABLE when it cannot reach that device (or another key answers
   * where the transport can tell), HW_REQUEST_TIMEOUT, HW_FRAME_TOO_LARGE.
   */
  pair?(address: string, publicKey: string, payload: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  /** Where other devices can reach this node (libp2p multiaddrs, an HTTP base url): what an invite carries. Empty when stopped. */
  listenAddresses?(): string[];
  /**
   * Remembers that the member with this public key is at `addresses` and connects to it when
   * the transport connects at all (libp2p dials; HTTP adds the peer). Called on both sides
   * after a pairing, so neither needs the other configured by hand.
   */
  reach?(publicKey: string, addresses: readonly string[]): Promise<void>;
}

/** Largest pairing request or answer, in bytes: both are a few hundred bytes; a door open to strangers stays small. */
export const PAIRING_MAX_BYTES = 64 * 1024;

/** Answers one pairing request (its bytes) with the bytes to send back. Never throws for bad input: the answer says why. */
export type PairingHandler = (payload: Uint8Array) => Promise<Uint8Array>;

export interface PeerEvent {
  readonly type: 'connected' | 'disconnected';
  readonly peerId: string;
  /** Wall time (ms) of the event. */
  readonly at: number;
}

export interface InboundMessage {
  readonly from: string;
  readonly payload: Uint8Array;
  /** True for `request` (a response is expected), false for `send`. */
  readonly expectsResponse: boolean;
}

/** Returns the response payload for requests; its result is ignored for one-way messages. */
export type InboundHandler = (message: InboundMessage) => Promise<Uint8Array | undefined>;

export interface RequestOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}
