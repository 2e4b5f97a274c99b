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
}

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
