import './polyfill.js';
import {
  OrderedSends,
  TransportAdapter,
  TransportError,
  type DeviceKey,
  type PairingHandler,
  type PeerEvent,
  type RequestOptions,
  type Transport,
} from '@highwater/core';
import type { Connection, Libp2p, Logger, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { Observable } from 'rxjs';
import { Bootstrapper, peerIdInAddress } from './bootstrapper.js';
import { CONNECT_PROBE_DELAY_MS, PAIR_PROTOCOL, PAIRING_MAX_BYTES } from './constants.js';
import { Deadline } from './deadline.js';
import { DiscoveryDialer } from './discovery-dialer.js';
import { Libp2pTransportConfigError } from './errors.js';
import { deferredLogger, silentLogger } from './logger.js';
import type { Libp2pTransportConfig } from './init.js';
import { createTransportNode, type TransportServices } from './libp2p-node.js';
import { Membership } from './membership.js';
import { outboundError } from './outbound-error.js';
import { PAIR_STREAM_LIMITS, PairStreamHandler, requestPairing } from './pair-protocol.js';
import { libp2pPeerIdOf, libp2pPrivateKey } from './peer-key.js';
import { PeerTracker } from './peer-tracker.js';
import { RttTracker } from './rtt-tracker.js';
import { asError, errorMessage } from './stream-utils.js';
import { SyncStreamClient } from './sync-stream-client.js';
import { SyncStreamHandler } from './sync-stream-handler.js';

/**
 * Highwater's Transport on libp2p: TCP, Noise, Yamux; only members may connect or open sync
 * streams. Create it with {@link createLibp2pTransport}; it starts with `start()`.
 *
 * Logs go through libp2p's debug logger: `DEBUG=highwater:transport*` (add `libp2p:*` for
 * the layers underneath).
 */
export class Libp2pTransport extends TransportAdapter implements Transport {
  /** Derived from the device key: `libp2pPeerIdOf(publicKey)`. */
  readonly localPeerId: string;
  /** The device's Ed25519 public key (raw, base64url), the one the HTTP transport uses too. */
  readonly publicKey: string;
  readonly peers$: Observable<PeerEvent>;

  private readonly membership: Membership;
  private readonly tracker: PeerTracker;
  private readonly rtt: RttTracker;
  private readonly sends = new OrderedSends();
  private readonly client: SyncStreamClient;
  private readonly discovery: DiscoveryDialer;
  private readonly inbound: SyncStreamHandler;
  private readonly pairs: PairStreamHandler;
  /** The handler of `acceptPairing`: the door for non-members is open while it is set. */
  private pairingHandler: PairingHandler | null = null;
  /** Addresses given to `reach`, by peer id: dialed again on every start. */
  private readonly known = new Map<string, Multiaddr[]>();
  private log: Logger = silentLogger;
  private node: Libp2p<TransportServices> | undefined;
  private stopController = new AbortController();
  private bootstrapper: Bootstrapper | undefined;
  private detachers: Array<() => void> = [];
  private readonly privateKey: PrivateKey;

  /** Use {@link createLibp2pTransport}, which loads the key and checks the options. */
  constructor(
    private readonly config: Libp2pTransportConfig,
    deviceKey: DeviceKey,
  ) {
    super();
    this.privateKey = libp2pPrivateKey(deviceKey);
    this.publicKey = deviceKey.publicKey;
    this.localPeerId = peerIdFromPrivateKey(this.privateKey).toString();
    const logProxy = deferredLogger(() => this.log);
    this.membership = new Membership(config.members, (error) => this.log.error('members callback failed: %s', errorMessage(error)));
    this.rtt = new RttTracker(logProxy);
    this.tracker = new PeerTracker(this.membership, (peerId) => this.onPeerConnected(peerId));
    this.peers$ = this.tracker.peers$;
    this.discovery = new DiscoveryDialer(this.membership, (peerId) => this.isConnected(peerId), logProxy);
    this.client = new SyncStreamClient({
      protocol: config.protocol,
      maxMessageBytes: config.maxMessageBytes,
      maxConcurrentStreams: config.maxConcurrentStreams,
      openTimeoutMs: config.requestTimeoutMs,
      onRoundTrip: (peerId, ms) => this.rtt.record(peerId, ms),
    });
    this.inbound = new SyncStreamHandler({
      membership: this.membership,
      maxMessageBytes: config.maxMessageBytes,
      frameTimeoutMs: config.requestTimeoutMs,
      maxConcurrentRequests: config.maxConcurrentStreams,
      deliver: this.deliver,
      onNonMember: (connection) => this.dropNonMember(connection),
      log: logProxy,
    });
    this.pairs = new PairStreamHandler({
      handler: () => this.pairingHandler,
      frameTimeoutMs: config.requestTimeoutMs,
      log: logProxy,
    });
  }

  connectedPeers(): readonly string[] {
    return this.isRunning ? this.tracker.connectedPeers(this.node) : [];
  }

  async request(peerId: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    const connection = this.outboundConnection(peerId, payload, options.signal);
    const deadline = new Deadline(options.timeoutMs ?? this.config.requestTimeoutMs, options.signal, this.stopController.signal);
    try {
      return await this.client.request(connection, payload, deadline);
    } catch (error) {
      throw this.outboundError(error, peerId, 'Request', deadline);
    } finally {
      deadline.clear();
    }
  }

  /**
   * Sends a one-way message. Messages to one peer go one after the other, each resolving once
   * the peer's handler has it, so they are handled in the order `send` was called.
   */
  async send(peerId: string, payload: Uint8Array): Promise<void> {
    this.outboundConnection(peerId, payload, undefined);
    // The message may wait for earlier ones: it is sent as it was at the call.
    payload = new Uint8Array(payload);
    await this.sends.run(peerId, async () => {
      // Re-checked in turn: the peer may have gone while earlier messages were sent.
      const connection = this.outboundConnection(peerId, payload, undefined);
      const deadline = new Deadline(this.config.requestTimeoutMs, undefined, this.stopController.signal);
      try {
        await this.client.send(connection, payload, deadline);
      } catch (error) {
        throw this.outboundError(error, peerId, 'Message', deadline);
      } finally {
        deadline.clear();
      }
    });
  }

  rttMs(peerId: string): number | undefined {
    return this.rtt.get(peerId);
  }

  /** The peer id of the device with that Ed25519 public key; HW_TRANSPORT_CONFIG for anything else. */
  peerIdOf(publicKey: string): string {
    return libp2pPeerIdOf(publicKey);
  }

  /**
   * Makes the devices with these Ed25519 public keys (raw base64url as `DeviceKey.publicKey`
   * gives it, base64 or SPKI PEM) the only members, from now on: this replaces the `members`
   * list or callback the transport was created with, and restricts an `allowAnyPeer` transport
   * too. Connected peers no longer listed are hung up at once: their requests and messages in
   * flight fail (HW_UNAUTHORIZED), `peers$` reports them disconnected, their connections are
   * aborted, and the gater refuses them when they dial again. A listed device can connect (or
   * be dialed) again. Works stopped or running; the last list also holds after a restart.
   *
   * @throws Libp2pTransportConfigError (HW_TRANSPORT_CONFIG) when a key is not an Ed25519
   *   public key; nothing changes then.
   */
  setMembers(publicKeys: readonly string[]): void {
    if (!Array.isArray(publicKeys)) throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', 'setMembers needs an array of device public keys');
    const peerIds = publicKeys.map((key) => libp2pPeerIdOf(key));
    this.membership.restrict(peerIds);
    this.log('members set to %d device(s)', peerIds.length);
    this.hangUpRefused((peerId) => `Peer ${peerId} is no longer a member of this library`);
    // A device listed while connected for a pairing exchange is a member now: say so.
    if (this.isRunning) this.tracker.reportMembers(this.node);
  }

  /**
   * The inviter's side of pairing. While `handler` is set, the gater also admits inbound
   * connections of non-members, and the pairing protocol (`/highwater/pair/1.0.0`) answers each
   * request (one frame of at most PAIRING_MAX_BYTES per stream) with the handler's bytes, or
   * with a HandlerError frame if it throws. Admitted non-members get nothing else: they are not
   * reported on `peers$`, their sync streams are refused (the connection itself stays while the
   * door admits it, see {@link dropNonMember}), and neither discovery, `dial` nor this node's
   * requests reach out to them. A member may pair too; without a handler every pairing stream
   * is reset.
   *
   * `null` closes the door: at once, every connection of a non-member is hung up (its exchange
   * in flight, if any, fails on the joiner's side) and new ones are refused by the gater again.
   * A handler that closes the door from inside its exchange should list the joiner first
   * (`setMembers`), or its answer does not get out. Works stopped or running, on any members
   * option; the handler survives a restart.
   *
   * @throws Libp2pTransportConfigError (HW_TRANSPORT_CONFIG) when `handler` is neither a function nor null.
   */
  acceptPairing(handler: PairingHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', 'acceptPairing needs a pairing handler (a function) or null');
    }
    const wasOpen = this.pairingHandler !== null;
    this.pairingHandler = handler;
    this.membership.setDoorOpen(handler !== null);
    if (handler === null && wasOpen) {
      this.log('pairing door closed');
      this.hangUpRefused((peerId) => `Peer ${peerId} is not a member of this library, and pairing is closed`);
    } else if (handler !== null && !wasOpen) {
      this.log('pairing door open');
    }
  }

  /**
   * The joiner's side of pairing: one exchange with the device whose Ed25519 public key is
   * `publicKey`, listening at `address` (a multiaddr; its /p2p/ part, if any, must be that
   * key's peer id, and is added otherwise, so that Noise proves the device holds the key). The
   * peer need not be a member: the gater lets it through, both ways, for the exchange only.
   * Afterwards the connection is closed unless the peer has become a member meanwhile (it is
   * then reported on `peers$` as any member). The timeout (`options.timeoutMs`, default
   * `requestTimeoutMs`) covers the dial and the exchange.
   *
   * Rejects with a TransportError: HW_FRAME_TOO_LARGE (the payload, before anything is sent, or
   * the answer), HW_PEER_UNREACHABLE (no connection; another key answers at the address; the
   * peer does not accept pairing requests, or its handler failed — the message says why),
   * HW_REQUEST_TIMEOUT, HW_TRANSPORT_STOPPED. A caller's abort rejects with its reason.
   *
   * @throws Libp2pTransportConfigError (HW_TRANSPORT_CONFIG) for a malformed address or key, or
   *   an address naming another peer than the key's.
   */
  async pair(address: string, publicKey: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    const node = this.runningNode();
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    if (payload.byteLength > PAIRING_MAX_BYTES) {
      throw new TransportError('HW_FRAME_TOO_LARGE', `Pairing request of ${payload.byteLength} bytes exceeds the limit of ${PAIRING_MAX_BYTES} bytes`);
    }
    const peerId = libp2pPeerIdOf(publicKey);
    const target = this.addressOf(peerId, address);
    if (peerId === this.localPeerId) throw new TransportError('HW_PEER_UNREACHABLE', `${address} is this node itself`);
    if (options.signal?.aborted) throw options.signal.reason;
    const release = this.membership.allowPairingWith(peerId);
    const deadline = new Deadline(options.timeoutMs ?? this.config.requestTimeoutMs, options.signal, this.stopController.signal);
    try {
      let connection: Connection;
      try {
        connection = await node.dial(target, { signal: deadline.signal });
      } catch (error) {
        throw new TransportError('HW_PEER_UNREACHABLE', `Cannot reach peer ${peerId} at ${target.toString()} to pair: ${errorMessage(error)}`, { cause: error });
      }
      try {
        return await requestPairing(connection, payload, deadline.signal);
      } catch (error) {
        if (error instanceof TransportError) throw error;
        throw new TransportError(
          'HW_PEER_UNREACHABLE',
          `Pairing request to peer ${peerId} failed (is it accepting pairing requests?): ${errorMessage(error)}`,
          { cause: error },
        );
      }
    } catch (error) {
      const stopped = this.isRunning ? undefined : this.stoppedError();
      throw outboundError(error, { peerId, what: 'Pairing request', deadline, maxMessageBytes: PAIRING_MAX_BYTES, stopped });
    } finally {
      deadline.clear();
      release();
      this.endPairing(peerId);
    }
  }

  /** Where other devices can reach this node: the same as {@link addresses} (what an invite carries). Empty when stopped. */
  listenAddresses(): string[] {
    return this.addresses();
  }

  /**
   * Remembers that the device with this Ed25519 public key listens at `addresses` (multiaddrs;
   * each /p2p/ part, if any, must be that key's peer id, and is added otherwise) and, if it is
   * a member and not connected, dials it. Resolves once connected or once the dial failed (an
   * offline peer is not an error: the failure is logged). A peer that is not a member yet is
   * only remembered. The addresses are also given to libp2p's peer store, and remembered ones
   * are dialed again on every `start()`. Stopped, it only remembers.
   *
   * @throws Libp2pTransportConfigError (HW_TRANSPORT_CONFIG) for a malformed key or address, or
   *   an address naming another peer than the key's.
   */
  async reach(publicKey: string, addresses: readonly string[]): Promise<void> {
    if (!Array.isArray(addresses)) throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', 'reach needs an array of multiaddrs');
    const peerId = libp2pPeerIdOf(publicKey);
    const targets = addresses.map((address) => this.addressOf(peerId, address));
    if (peerId === this.localPeerId) return;
    const merged = new Map((this.known.get(peerId) ?? []).map((address) => [address.toString(), address]));
    for (const target of targets) merged.set(target.toString(), target);
    this.known.set(peerId, [...merged.values()]);
    const node = this.node;
    if (!node || !this.isRunning) return;
    await this.reachKnown(node, peerId, targets);
  }

  /**
   * Connects to a peer at `address` (a multiaddr, ideally ending in /p2p/<peer id>) and
   * resolves with its peer id. Non-members are refused (HW_UNAUTHORIZED when the address names
   * the peer, otherwise by the gater after the handshake: HW_PEER_UNREACHABLE). A peer that
   * does not count this node as a member hangs up right after the handshake: the dial may
   * resolve for that instant. When a connection to the peer was open already, the dial makes a
   * fresh round trip on it first, and fails (HW_PEER_UNREACHABLE) if the peer hung up on it
   * meanwhile (it revoked this node) even though this side has not noticed yet.
   */
  async dial(address: string): Promise<string> {
    const node = this.runningNode();
    let target: Multiaddr;
    try {
      target = multiaddr(address);
    } catch (cause) {
      throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', `Invalid multiaddr ${JSON.stringify(address)}: ${errorMessage(cause)}`, { cause });
    }
    const peer = peerIdInAddress(target);
    if (peer === this.localPeerId) throw new TransportError('HW_PEER_UNREACHABLE', `${address} is this node itself`);
    if (peer !== undefined && !this.membership.isMember(peer)) {
      throw new TransportError('HW_UNAUTHORIZED', `Peer ${peer} is not a member of this library; add it to members before dialing`);
    }
    const before = new Set(node.getConnections().map((c) => c.id));
    const connection = await this.dialConnection(node, target, this.stopController.signal);
    if (before.has(connection.id)) await this.confirmAccepted(connection, address);
    return connection.remotePeer.toString();
  }

  /** Closes every connection to `peerId` (both sides then report 'disconnected'). */
  async hangUp(peerId: string): Promise<void> {
    const node = this.node;
    if (!node || !this.isRunning) return;
    await Promise.all(
      node
        .getConnections()
        .filter((connection) => connection.remotePeer.toString() === peerId)
        .map((connection) => connection.close().catch((error: unknown) => connection.abort(asError(error)))),
    );
  }

  /**
   * Closes the connections of peers that are no longer members. Call it after removing someone
   * from a dynamic `members` list; without it they are refused stream by stream until they
   * disconnect. Strangers connected for a pairing exchange are left alone while their
   * admission lasts (see {@link acceptPairing}).
   */
  async enforceMembership(): Promise<void> {
    const node = this.node;
    if (!node) return;
    const strangers = node.getConnections().filter((connection) => this.refuses(connection));
    await Promise.all(strangers.map((connection) => connection.close().catch(() => connection.abort(new Error('not a member')))));
  }

  /** Listen addresses, each ending in /p2p/<this peer id>, to give to peers that dial in. Empty when stopped. */
  addresses(): string[] {
    if (!this.node || !this.isRunning) return [];
    return this.node.getMultiaddrs().map((address) => (peerIdInAddress(address) ? address : address.encapsulate(`/p2p/${this.localPeerId}`)).toString());
  }

  /** Creates and starts the libp2p node: listens and handles the sync protocol. On failure undoes it and throws HW_TRANSPORT_CONFIG. */
  protected override async open(): Promise<void> {
    this.stopController = new AbortController();
    let node: Libp2p<TransportServices> | undefined;
    try {
      node = await createTransportNode(this.config, this.privateKey, this.membership);
      this.log = node.logger.forComponent('highwater:transport');
      await node.handle(this.config.protocol, this.inbound.handle, {
        maxInboundStreams: this.config.maxConcurrentStreams,
        maxOutboundStreams: this.config.maxConcurrentStreams,
      });
      // Always registered: without a pairing handler it resets the stream, so a joiner fails
      // the same way whether the door is closed or the node never opened it.
      await node.handle(PAIR_PROTOCOL, this.pairs.handle, PAIR_STREAM_LIMITS);
      this.detachers = [this.tracker.attach(node)];
      if (this.config.mdns) this.detachers.push(this.discovery.attach(node));
      this.node = node;
      await node.start();
    } catch (error) {
      for (const detach of this.detachers.splice(0)) detach();
      this.node = undefined;
      await Promise.resolve(node?.stop()).catch(() => undefined);
      throw new Libp2pTransportConfigError(
        'HW_TRANSPORT_CONFIG',
        `Cannot start the libp2p transport (listen ${this.config.listen.join(', ')}): ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  /** Once running: starts measuring RTTs and dialing the bootstrap peers. */
  protected override afterStart(): void {
    const node = this.runningNode();
    this.rtt.start(this.config.pingIntervalMs, () => this.memberConnections());
    this.bootstrapper = new Bootstrapper({
      addresses: this.config.bootstrap,
      intervalMs: this.config.bootstrapIntervalMs,
      dial: (address, signal) => this.dialAddress(node, address, signal),
      isConnected: (peerId) => this.isConnected(peerId),
      log: this.log,
    });
    this.bootstrapper.start();
    for (const [peerId, targets] of this.known) void this.reachKnown(node, peerId, targets);
    this.log('started as %s on %s', this.localPeerId, this.addresses().join(', '));
  }

  /** Fails requests and sends in flight (HW_TRANSPORT_STOPPED), closes every connection and stops the node. */
  protected override async close(): Promise<void> {
    // Fails pending requests and sends at once (HW_TRANSPORT_STOPPED) instead of after the
    // connections have been torn down underneath them.
    this.stopController.abort();
    // Let those requests abort their streams before the connections close: a graceful close
    // would otherwise wait (up to libp2p's close timeout) for streams nobody will finish.
    await new Promise((resolve) => setImmediate(resolve));
    this.inbound.abortAll(new Error('transport stopping'));
    this.pairs.abortAll(new Error('transport stopping'));
    this.client.closeAll(new Error('transport stopping'));
    this.bootstrapper?.stop();
    this.bootstrapper = undefined;
    this.rtt.stop();
    const node = this.node;
    try {
      if (node) {
        // Closed here first: libp2p's stop waits up to 500 ms per connection for a 'close' event
        // that does not come when the peer is closing the same connection at the same moment.
        await Promise.all(node.getConnections().map((c) => c.close().catch((error: unknown) => c.abort(asError(error)))));
      }
      await node?.stop();
    } finally {
      for (const detach of this.detachers.splice(0)) detach();
      this.node = undefined;
      // libp2p's own disconnect events may not all fire during its stop; everyone still
      // listed gets one now, so subscribers never keep a peer that is gone.
      this.tracker.disconnectAll();
      this.log('stopped');
    }
  }

  private async dialAddress(node: Libp2p<TransportServices>, address: Multiaddr, signal: AbortSignal): Promise<string> {
    return (await this.dialConnection(node, address, signal)).remotePeer.toString();
  }

  /** Dials `address`, or any of several addresses of one peer. */
  private async dialConnection(node: Libp2p<TransportServices>, address: Multiaddr | Multiaddr[], signal: AbortSignal): Promise<Connection> {
    const deadline = new Deadline(this.config.requestTimeoutMs, signal, this.stopController.signal);
    const where = Array.isArray(address) ? address.map((a) => a.toString()).join(', ') : address.toString();
    try {
      return await node.dial(address, { signal: deadline.signal });
    } catch (error) {
      if (deadline.reason === 'stopped' || !this.isRunning) throw this.stoppedError();
      if (deadline.reason === 'timeout') {
        throw new TransportError('HW_PEER_UNREACHABLE', `Dialing ${where} timed out after ${this.config.requestTimeoutMs} ms`, { cause: error });
      }
      throw new TransportError('HW_PEER_UNREACHABLE', `Cannot dial ${where}: ${errorMessage(error)}`, { cause: error });
    } finally {
      deadline.clear();
    }
  }

  /**
   * A fresh round trip on a connection that was open before a dial: the peer may have hung up
   * on it (a revocation) before this side noticed. A new connection is not checked this way:
   * the dial would then resolve only after the `connected` events, which callers that dial and
   * then wait for the event would miss.
   */
  private async confirmAccepted(connection: Connection, address: string): Promise<void> {
    const deadline = new Deadline(this.config.requestTimeoutMs, undefined, this.stopController.signal);
    try {
      await this.client.probe(connection, deadline);
    } catch (error) {
      if (deadline.reason === 'stopped' || !this.isRunning) throw this.stoppedError();
      const peerId = connection.remotePeer.toString();
      if (deadline.reason === 'timeout') {
        throw new TransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} at ${address} did not answer within ${this.config.requestTimeoutMs} ms of connecting`, {
          cause: error,
        });
      }
      throw new TransportError(
        'HW_PEER_UNREACHABLE',
        `Peer ${peerId} at ${address} hung up (is this node still among its members?): ${errorMessage(error)}`,
        { cause: error },
      );
    } finally {
      deadline.clear();
    }
  }

  /** Checks what can be checked before opening a stream and returns the connection to use. */
  private outboundConnection(peerId: string, payload: Uint8Array, signal: AbortSignal | undefined): Connection {
    if (!this.isRunning || !this.node) throw this.stoppedError();
    if (signal?.aborted) throw signal.reason;
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    if (payload.byteLength > this.config.maxMessageBytes) {
      throw new TransportError('HW_FRAME_TOO_LARGE', `Payload of ${payload.byteLength} bytes exceeds the limit of ${this.config.maxMessageBytes} bytes`);
    }
    if (!this.membership.isMember(peerId)) {
      throw new TransportError('HW_UNAUTHORIZED', `Peer ${peerId} is not a member of this library`);
    }
    const peer = this.tracker.peerId(peerId);
    const connection = peer ? this.node.getConnections(peer).find((c) => c.status === 'open') : undefined;
    if (!connection) throw new TransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} is not connected to ${this.localPeerId}`);
    return connection;
  }

  private outboundError(error: unknown, peerId: string, what: 'Request' | 'Message', deadline: Deadline): unknown {
    const stopped = this.isRunning ? undefined : this.stoppedError();
    return outboundError(error, { peerId, what, deadline, maxMessageBytes: this.config.maxMessageBytes, stopped });
  }

  private onPeerConnected(peerId: string): void {
    const connection = this.memberConnections().find((c) => c.remotePeer.toString() === peerId);
    if (!connection) return;
    this.client.warm(connection);
    // rttMs() gets a network figure soon even if no request is made, but not at the cost of
    // the first exchanges on the connection (see CONNECT_PROBE_DELAY_MS).
    this.rtt.probeSoon(connection, CONNECT_PROBE_DELAY_MS);
  }

  /** One open connection per connected member. */
  private memberConnections(): Connection[] {
    const node = this.node;
    if (!node) return [];
    const byPeer = new Map<string, Connection>();
    for (const connection of node.getConnections()) {
      const peer = connection.remotePeer.toString();
      if (connection.status === 'open' && !byPeer.has(peer) && this.membership.isMember(peer)) byPeer.set(peer, connection);
    }
    return [...byPeer.values()];
  }

  private isConnected(peerId: string): boolean {
    return this.node?.getConnections().some((c) => c.status === 'open' && c.remotePeer.toString() === peerId) ?? false;
  }

  /**
   * Whether `connection` has no business staying open: its peer is not a member, and either
   * was one (reported on `peers$`: it has been revoked) or is not admitted for a pairing (an
   * open door, an exchange of this node's own) either.
   */
  private refuses(connection: Connection): boolean {
    const peerId = connection.remotePeer.toString();
    if (this.membership.isMember(peerId)) return false;
    return this.tracker.isReported(peerId) || !this.membership.admitsConnection(peerId, connection.direction);
  }

  /**
   * Hangs up, at once, every connection that {@link refuses} (see {@link setMembers} and
   * {@link acceptPairing}). A stranger in the middle of a pairing exchange is spared while its
   * admission lasts, so listing one joiner does not cut another one short.
   */
  private hangUpRefused(why: (peerId: string) => string): void {
    const node = this.node;
    if (!node) return;
    const revoked = new Set<string>();
    for (const connection of node.getConnections()) {
      if (!this.refuses(connection)) continue;
      const peerId = connection.remotePeer.toString();
      revoked.add(peerId);
      const reason = new TransportError('HW_UNAUTHORIZED', why(peerId));
      // Calls in flight fail with the typed reason rather than with the reset underneath them.
      this.client.closeConnection(connection, reason);
      // Aborted, not closed: a graceful close would wait for the peer's streams to end.
      try {
        connection.abort(reason);
      } catch (error) {
        this.log.error('cannot hang up on %s: %s', peerId, errorMessage(error));
      }
    }
    for (const peerId of revoked) this.tracker.drop(peerId);
  }

  /**
   * A non-member opened a sync stream (the handler refused the stream): close its connection,
   * unless a pairing admits it (see {@link refuses}). An inviter that has just listed this node
   * opens its sync session at once, before this node has listed it back, and a joiner that
   * lists its inviter early does the same: hanging up then would lose the pairing exchange on
   * that connection. Such connections end with the exchange (`pair`) or the door (`acceptPairing(null)`).
   */
  private dropNonMember(connection: Connection): void {
    if (!this.refuses(connection)) return;
    connection.close().catch(() => connection.abort(new Error('not a member')));
  }

  /**
   * After a pairing exchange with `peerId`: a peer listed meanwhile is reported like any member;
   * otherwise its connections that nothing admits any more (no other exchange with it, no open
   * door for an inbound one) are hung up, so the next dial starts afresh once it is listed.
   */
  private endPairing(peerId: string): void {
    const node = this.node;
    if (!node || !this.isRunning) return;
    if (this.membership.isMember(peerId)) {
      this.tracker.reportMembers(node);
      return;
    }
    for (const connection of node.getConnections()) {
      if (connection.remotePeer.toString() !== peerId || this.membership.admitsConnection(peerId, connection.direction)) continue;
      // Aborted, not closed: the exchange is over, and a graceful close would wait for streams
      // the peer may have opened meanwhile (a sync session this node refused).
      connection.abort(new Error('pairing done; not a member of this library'));
    }
  }

  /** The multiaddr to dial for `peerId` at `address`, ending in its /p2p/ part. */
  private addressOf(peerId: string, address: string): Multiaddr {
    if (typeof address !== 'string') throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', `An address must be a multiaddr string, got ${typeof address}`);
    let target: Multiaddr;
    try {
      target = multiaddr(address);
    } catch (cause) {
      throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', `Invalid multiaddr ${JSON.stringify(address)}: ${errorMessage(cause)}`, { cause });
    }
    const named = peerIdInAddress(target);
    if (named === undefined) return target.encapsulate(`/p2p/${peerId}`);
    if (named !== peerId) {
      throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', `${address} names peer ${named}, but the device key given is that of peer ${peerId}`);
    }
    return target;
  }

  /** Gives `targets` to the peer store and dials them if the peer is a member and not connected; failures are logged. */
  private async reachKnown(node: Libp2p<TransportServices>, peerId: string, targets: Multiaddr[]): Promise<void> {
    try {
      await node.peerStore.merge(peerIdFromString(peerId), { multiaddrs: targets });
    } catch (error) {
      this.log('cannot remember the addresses of %s: %s', peerId, errorMessage(error));
    }
    if (!this.membership.isMember(peerId)) {
      this.log('remembered the addresses of %s; not dialed: not a member', peerId);
      return;
    }
    if (this.isConnected(peerId)) {
      this.tracker.reportMembers(node);
      return;
    }
    if (targets.length === 0 || !this.isRunning) return;
    try {
      await this.dialConnection(node, targets, this.stopController.signal);
      this.log('reached %s', peerId);
    } catch (error) {
      this.log('cannot reach %s: %s', peerId, errorMessage(error));
    }
  }

  private runningNode(): Libp2p<TransportServices> {
    if (!this.isRunning || !this.node) throw this.stoppedError();
    return this.node;
  }

  private stoppedError(): TransportError {
    return new TransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} is stopped; call start() first`);
  }
}
