import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Subject, type Observable } from 'rxjs';
import {
  DeviceKey,
  OrderedSends,
  PAIRING_MAX_BYTES,
  TransportAdapter,
  type PairingHandler,
  type PeerEvent,
  type RequestOptions,
  type Transport,
} from '@highwater/core';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_LISTEN_HOST,
  DEFAULT_LISTEN_PORT,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_REPLAY_WINDOW_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_REMEMBERED_NONCES,
  MAX_TIMER_MS,
  MESSAGE_PATH,
  MIN_HEARTBEAT_TIMEOUT_MS,
  PING_PATH,
} from './constants.js';
import { HttpTransportConfigError, HttpTransportError } from './errors.js';
import { httpPeerIdOf, localIdentity, loadOrCreateLocalIdentity, type HttpIdentity, type LocalIdentity } from './identity.js';
import { InboundServer, type TlsOptions } from './inbound-server.js';
import { NonceCache } from './nonce-cache.js';
import { OutboundClient } from './outbound-client.js';
import { baseUrl, PeerDirectory, sameMember, type ConfiguredHttpPeer, type HttpPeer, type Member } from './peer-directory.js';
import { newNonce } from './signature.js';
import { Reachability } from './reachability.js';

/** Options of {@link createHttpTransport}. */
export interface HttpTransportInit {
  /**
   * The device key file (PKCS#8 PEM Ed25519, as `DeviceKey.loadOrCreate` writes it; the libp2p
   * transport reads the same file). Created (mode 0600) when missing. Give this or `deviceKey`.
   */
  readonly keyPath?: string;
  /** The device's key, already loaded. The peer id derives from its public key (`httpPeerIdOf`). Give this or `keyPath`. */
  readonly deviceKey?: DeviceKey;
  /** Where the server listens. Default `{ host: '127.0.0.1', port: 0 }` (port 0: any free port, see `address`). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /**
   * The base url other devices should call instead of the listen address (behind a reverse
   * proxy, NAT or a port forward): what `listenAddresses()` gives, and so what an invite
   * carries. Default: the listen address.
   */
  readonly publicUrl?: string;
  /** Serve HTTPS with this certificate; `ca` is what this node trusts when calling https peers. Default: plain HTTP. */
  readonly tls?: TlsOptions;
  /** The library's other members: whom this node calls, and the only keys allowed to call it. Default none. */
  readonly peers?: readonly HttpPeer[];
  /** Largest request or response body, enforced while streaming. Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Default timeout of `request()` and of `send()` deliveries. Default 30 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Interval of the signed heartbeat to every member. Default 2 000 ms. */
  readonly heartbeatMs?: number;
  /** Largest accepted |timestamp − now| of a signed call; nonces are remembered for this long. Default 60 000 ms. */
  readonly replayWindowMs?: number;
}

function identityOf(init: HttpTransportInit): LocalIdentity {
  if (typeof init !== 'object' || init === null) throw new HttpTransportConfigError('createHttpTransport needs an options object');
  const { keyPath, deviceKey } = init;
  if (keyPath !== undefined && deviceKey !== undefined) {
    throw new HttpTransportConfigError('keyPath and deviceKey both name the device key; give only one of them');
  }
  if (deviceKey !== undefined) {
    if (!(deviceKey instanceof DeviceKey)) throw new HttpTransportConfigError('deviceKey must be a DeviceKey of @highwater/core (the copy this package uses)');
    return localIdentity(deviceKey);
  }
  if (typeof keyPath !== 'string' || keyPath.length === 0) {
    throw new HttpTransportConfigError('the device key is missing: give keyPath (the file that holds, or will hold, it) or deviceKey');
  }
  return loadOrCreateLocalIdentity(keyPath);
}

function positive(name: string, value: number | undefined, fallback: number, max = MAX_TIMER_MS): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved <= 0 || resolved > max) {
    throw new HttpTransportConfigError(`${name} must be a positive integer ≤ ${max}, got ${String(value)}`);
  }
  return resolved;
}

/**
 * The Transport port over HTTP(S). Each call is one signed HTTP exchange; reachability comes
 * from heartbeats. `start()` after `stop()` is supported: it listens again (on a new port if
 * `listen.port` is 0, so give restartable nodes a fixed port).
 */
export class HttpTransport extends TransportAdapter implements Transport {
  /** Derived from the device key: `httpPeerIdOf(publicKey)`. */
  readonly localPeerId: string;
  readonly peers$: Observable<PeerEvent>;

  private readonly identity: LocalIdentity;
  private readonly members: PeerDirectory;
  private readonly reachability: Reachability;
  private readonly peerSubject = new Subject<PeerEvent>();
  private readonly host: string;
  private readonly publicUrl: string | undefined;
  private readonly port: number;
  private readonly tls: TlsOptions | undefined;
  private readonly maxBodyBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly replayWindowMs: number;
  /** Outlives the server, so a stop()/start() within the replay window does not reopen it to replays. */
  private readonly nonces: NonceCache;
  /** Drawn anew on every start: calls signed for an earlier run are refused (HEADER_SESSION). */
  private currentSession = '';
  /** Sends to one peer go out one after another, so they arrive in order. */
  private readonly sends = new OrderedSends();
  private server: InboundServer | undefined;
  /** Peer ids of the last `setMembers` list; `undefined` until it is first called (any valid peer may be added). */
  private allowed: ReadonlySet<string> | undefined;
  private client: OutboundClient | undefined;
  private bound: AddressInfo | undefined;
  /** Set by `acceptPairing`: while set, anyone may make one pairing exchange (PAIR_PATH); it outlives a restart. */
  private pairingHandler: PairingHandler | undefined;

  constructor(init: HttpTransportInit) {
    super();
    this.identity = identityOf(init);
    this.localPeerId = this.identity.peerId;
    this.host = init.listen?.host ?? DEFAULT_LISTEN_HOST;
    if (init.publicUrl !== undefined) baseUrl(String(init.publicUrl), 'publicUrl');
    this.publicUrl = init.publicUrl === undefined ? undefined : String(init.publicUrl).replace(/\/+$/, '');
    const port = init.listen?.port ?? DEFAULT_LISTEN_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new HttpTransportConfigError(`listen.port must be 0-65535, got ${port}`);
    this.port = port;
    this.tls = init.tls;
    this.maxBodyBytes = positive('maxBodyBytes', init.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 2 ** 31 - 1);
    this.requestTimeoutMs = positive('requestTimeoutMs', init.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
    const heartbeatMs = positive('heartbeatMs', init.heartbeatMs, DEFAULT_HEARTBEAT_MS);
    this.heartbeatTimeoutMs = Math.min(Math.max(heartbeatMs, MIN_HEARTBEAT_TIMEOUT_MS), this.requestTimeoutMs);
    this.replayWindowMs = positive('replayWindowMs', init.replayWindowMs, DEFAULT_REPLAY_WINDOW_MS);
    this.nonces = new NonceCache(this.replayWindowMs, MAX_REMEMBERED_NONCES);
    this.peers$ = this.peerSubject.asObservable();
    this.members = new PeerDirectory(this.localPeerId);
    this.reachability = new Reachability({
      heartbeatMs,
      ping: (peerId) => this.ping(peerId),
      emit: (event) => this.peerSubject.next(event),
      onDown: (peerId) =>
        this.client?.cancelPeer(peerId, new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} disconnected before answering`)),
    });
    for (const peer of init.peers ?? []) this.addPeer(peer);
  }

  /**
   * This run's session id (`x-hw-session`), new on every `start()`. Calls must name it; a call
   * signed for an earlier run — also one captured and replayed after a restart — is refused.
   */
  get session(): string {
    return this.currentSession;
  }

  /** What to share with the other members: peer id and public key. */
  get publicIdentity(): HttpIdentity {
    const { peerId, publicKey, publicKeyPem } = this.identity;
    return { peerId, publicKey, publicKeyPem };
  }

  /** The device's Ed25519 public key (raw, base64url), the one the libp2p transport uses too. */
  get publicKey(): string {
    return this.identity.publicKey;
  }

  /** The bound address while running (the real port when `listen.port` was 0). */
  get address(): AddressInfo | undefined {
    return this.bound;
  }

  /** Base URL of this node while running, e.g. `http://127.0.0.1:41234`; what other members put in `peers[].url` (when the host is reachable by them). */
  get url(): string {
    if (!this.bound) throw new HttpTransportConfigError('The transport is not listening; call start() first');
    const host = this.bound.family === 'IPv6' ? `[${this.bound.address}]` : this.bound.address;
    return `${this.tls ? 'https' : 'http'}://${host}:${this.bound.port}`;
  }

  connectedPeers(): readonly string[] {
    return this.isRunning ? this.reachability.connected() : [];
  }

  /**
   * Adds (or updates) a member; heartbeats to it start at once when running. Throws on an
   * invalid peer, and, once `setMembers` was called, on a peer whose key its last list lacks
   * (HttpTransportConfigError), so a revoked device is not let back in by accident.
   */
  addPeer(peer: HttpPeer): void {
    const candidate = PeerDirectory.validate(peer, this.localPeerId);
    if (this.allowed && !this.allowed.has(candidate.peerId)) {
      throw new HttpTransportConfigError(
        `Peer ${candidate.peerId} is not among the devices of the last setMembers call; list its key there before adding it`,
      );
    }
    const existing = this.members.get(candidate.peerId);
    if (existing && sameMember(existing, candidate)) return;
    this.members.add(peer);
    // A changed url or key is a different endpoint: start over (reported disconnected if it was up).
    this.reachability.track(candidate.peerId);
    if (existing) this.client?.cancelPeer(candidate.peerId, new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${candidate.peerId} was reconfigured`));
  }

  /** Removes a member: it can no longer call this node, calls to it fail, and 'disconnected' is emitted if it was connected. */
  removePeer(peerId: string): boolean {
    const removed = this.members.remove(peerId);
    if (!removed) return false;
    this.reachability.untrack(peerId);
    this.client?.cancelPeer(peerId, new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} was removed`));
    return true;
  }

  /**
   * Makes the devices with these Ed25519 public keys (raw base64url as `DeviceKey.publicKey`
   * gives it, base64 or SPKI PEM) the only ones that may exchange messages with this node, from
   * now on. Configured peers whose key is not listed are removed, as by `removePeer`: their
   * heartbeats stop, `peers$` reports them disconnected, calls to them fail (HW_UNAUTHORIZED,
   * also those in flight), their calls waiting for this node's handler are answered 401 at once,
   * and their further calls are refused (401). A listed device this node has no
   * url for stays absent until `addPeer` gives it one; `addPeer` of a device the last list
   * lacks is refused (HttpTransportConfigError) until a later call lists it again.
   *
   * @throws HttpTransportConfigError when a key is not an Ed25519 public key; nothing changes then.
   */
  setMembers(publicKeys: readonly string[]): void {
    if (!Array.isArray(publicKeys)) throw new HttpTransportConfigError('setMembers needs an array of device public keys');
    const allowed = new Set(publicKeys.map((key) => httpPeerIdOf(key)));
    this.allowed = allowed;
    for (const peerId of this.members.ids()) {
      if (allowed.has(peerId)) continue;
      // Calls in flight fail first, with the reason (untracking would fail them as merely unreachable).
      this.client?.cancelPeer(peerId, new HttpTransportError('HW_UNAUTHORIZED', `Peer ${peerId} is no longer a member of this library`));
      this.members.remove(peerId);
      this.reachability.untrack(peerId);
      // Its own calls still waiting for our handler are refused now rather than answered later.
      this.server?.refusePeer(peerId, 'no longer a member of this library');
    }
  }

  /** The configured members. */
  peers(): ConfiguredHttpPeer[] {
    return this.members.list();
  }

  async request(peerId: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    const member = this.callable(peerId, payload, options.signal);
    return this.call(member, 'request', payload, options.timeoutMs ?? this.requestTimeoutMs, options.signal);
  }

  async send(peerId: string, payload: Uint8Array): Promise<void> {
    this.callable(peerId, payload, undefined);
    // Each send waits for the previous one's 204 (the peer starts its handler before answering), so order holds even over many sockets.
    return this.sends.run(peerId, async () => {
      // Checked again in turn: the transport may have stopped, or the peer gone, meanwhile.
      const member = this.callable(peerId, payload, undefined);
      await this.call(member, 'send', payload, this.requestTimeoutMs, undefined);
    });
  }

  rttMs(peerId: string): number | undefined {
    return this.reachability.rttMs(peerId);
  }

  /** The peer id of the device with that Ed25519 public key; HttpTransportConfigError for anything else. */
  peerIdOf(publicKey: string): string {
    return httpPeerIdOf(publicKey);
  }

  /**
   * Opens (a handler) or closes (`null`) the pairing door: while open, anyone may POST one
   * pairing request of at most PAIRING_MAX_BYTES to `/highwater/v1/pair` and gets `handler`'s
   * answer. Such a caller stays a stranger: it is not added to the members, not reported in
   * `peers$`, and its signed calls are still refused (401). Closing refuses the pairing requests
   * whose body is still arriving (404, connection closed); an exchange the handler already has
   * is answered by it. While closed the endpoint answers 404 `HW_NOT_FOUND`, like an unknown path.
   * Set before `start()`, or across a restart, the door stays as last set.
   *
   * @throws HttpTransportConfigError when `handler` is neither a function nor `null`.
   */
  acceptPairing(handler: PairingHandler | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw new HttpTransportConfigError('acceptPairing needs a pairing handler (a function) or null');
    }
    this.pairingHandler = handler ?? undefined;
    if (handler === null) this.server?.closePairing();
  }

  /**
   * The joiner's side of pairing: POSTs `payload` to `<address>/highwater/v1/pair` (`address` is
   * the inviter's base url from the invite, `http:` or `https:`, a path prefix kept as for
   * `peers[].url`) and resolves with the inviter's answer. The inviter need not count this node
   * as a member. Over https the transport's `tls.ca` is trusted, as for calls to members.
   *
   * HTTP does **not** prove here that the answer comes from the device with `publicKey`: the
   * call is unsigned (the joiner is no member the inviter could check) and plain http has no
   * server authentication at all, so `publicKey` only names the inviter in errors and is
   * checked to be an Ed25519 key. That is enough because the core authenticates the answer
   * itself, by the invite's one-time secret, and the inviter the request, by the same secret
   * and the joiner's signature; a stranger answering at that url learns nothing it could use.
   *
   * Rejects with HttpTransportConfigError for an invalid url or key; with HttpTransportError
   * `HW_TRANSPORT_STOPPED` when not running (or stopped meanwhile), `HW_FRAME_TOO_LARGE` for a
   * payload over PAIRING_MAX_BYTES (nothing is sent), an answer over it, or a 413,
   * `HW_REQUEST_TIMEOUT` after `options.timeoutMs` (default `requestTimeoutMs`), and
   * `HW_PEER_UNREACHABLE` for everything else: no connection, an untrusted certificate, or a
   * refusal (`status` and `remoteCode` tell which: 404 `HW_NOT_FOUND` when no invite is open
   * there, 503 `HW_PAIRING_BUSY`, 500 `HW_HANDLER_FAILED`). An aborted `signal` rejects with its reason.
   */
  async pair(address: string, publicKey: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (!this.isRunning) throw new HttpTransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} is stopped; call start() first`);
    if (typeof address !== 'string') throw new HttpTransportConfigError('pair needs the inviter\'s base url as a string');
    // Validated like a member's url and key, though it does not become a member.
    const inviter = PeerDirectory.validate({ url: address, publicKey }, this.localPeerId);
    if (!(payload instanceof Uint8Array)) throw new HttpTransportConfigError('pair needs the pairing payload as a Uint8Array');
    if (payload.byteLength > PAIRING_MAX_BYTES) {
      throw new HttpTransportError('HW_FRAME_TOO_LARGE', `Pairing payload of ${payload.byteLength} bytes exceeds ${PAIRING_MAX_BYTES}`);
    }
    if (options.signal?.aborted) throw options.signal.reason;
    const client = this.client;
    if (!client) throw new HttpTransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} is stopped`);
    try {
      return await client.pair({ inviter, body: payload, timeoutMs: options.timeoutMs ?? this.requestTimeoutMs, signal: options.signal });
    } catch (error) {
      // The port promises HW_PEER_UNREACHABLE when the device cannot be reached as itself: an
      // untrusted certificate (or a 401 no inviter sends) is that, not a refusal of this node.
      if (error instanceof HttpTransportError && error.code === 'HW_UNAUTHORIZED') {
        throw new HttpTransportError('HW_PEER_UNREACHABLE', error.message, {
          ...(error.status === undefined ? {} : { status: error.status }),
          ...(error.remoteCode === undefined ? {} : { remoteCode: error.remoteCode }),
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Where other devices can reach this node, for an invite: `publicUrl` when given, else the
   * base url while running; `[]` when stopped. A node listening on a wildcard host (`0.0.0.0`, `::`) is reachable at its
   * interfaces' addresses, not at the wildcard: those are listed instead, external ones first,
   * loopback last (IPv6 link-local addresses are left out, they need a zone to be dialled).
   * Behind a reverse proxy or NAT the public url is not knowable here: give it as `publicUrl`.
   */
  listenAddresses(): string[] {
    const bound = this.bound;
    if (!bound || !this.isRunning) return [];
    if (this.publicUrl !== undefined) return [this.publicUrl];
    const scheme = this.tls ? 'https' : 'http';
    const urlOf = (address: string, family: string): string => `${scheme}://${family === 'IPv6' ? `[${address}]` : address}:${bound.port}`;
    if (bound.address !== '0.0.0.0' && bound.address !== '::') return [urlOf(bound.address, bound.family)];
    const external: string[] = [];
    const loopback: string[] = [];
    for (const info of Object.values(networkInterfaces()).flat()) {
      if (!info) continue;
      // '0.0.0.0' listens on IPv4 only; '::' on both (dual stack, Node's default).
      if (info.family === 'IPv6' && (bound.address === '0.0.0.0' || /^fe[89ab]/i.test(info.address))) continue;
      (info.internal ? loopback : external).push(urlOf(info.address, info.family));
    }
    return [...external, ...loopback];
  }

  /**
   * Makes the member with this public key a peer at the first of `addresses` that is an
   * `http:`/`https:` url (the others may be another transport's), as `addPeer({ url, publicKey })`
   * does: heartbeats to it start, so it shows up in `peers$` once it answers. Nothing changes
   * when it is already configured with that url and key; another url replaces the old one.
   * Resolves once added, without waiting for it to answer. No address: nothing to do.
   *
   * @throws HttpTransportConfigError when none of `addresses` is an http(s) url, for an invalid
   *   key, or — once `setMembers` was called — for a key its last list lacks (list the device
   *   among the members first), as `addPeer`.
   */
  async reach(publicKey: string, addresses: readonly string[]): Promise<void> {
    if (!Array.isArray(addresses)) throw new HttpTransportConfigError('reach needs an array of addresses');
    if (addresses.length === 0) return;
    const url = addresses.find((address) => typeof address === 'string' && /^https?:\/\//i.test(address));
    if (url === undefined) {
      throw new HttpTransportConfigError(`None of the addresses of ${publicKey} is an http(s) url: ${JSON.stringify(addresses).slice(0, 300)}`);
    }
    this.addPeer({ url, publicKey });
  }

  /** Listens (HW_HTTP_CONFIG when it cannot) and opens the client. */
  protected override async open(): Promise<void> {
    const server = new InboundServer({
      identity: this.identity,
      members: this.members,
      host: this.host,
      port: this.port,
      tls: this.tls,
      maxBodyBytes: this.maxBodyBytes,
      replayWindowMs: this.replayWindowMs,
      session: (this.currentSession = newNonce()),
      nonces: this.nonces,
      requestTimeoutMs: this.requestTimeoutMs,
      deliver: this.deliver,
      onAuthenticated: (peerId) => this.reachability.heard(peerId),
      pairing: () => this.pairingHandler,
    });
    try {
      this.bound = await server.listen();
    } catch (cause) {
      throw new HttpTransportConfigError(`Cannot listen on ${this.host}:${this.port}: ${(cause as Error).message}`, { cause });
    }
    this.server = server;
    this.client = new OutboundClient({ identity: this.identity, maxBodyBytes: this.maxBodyBytes, ca: this.tls?.ca });
  }

  /** Once running: heartbeats to every member. */
  protected override afterStart(): void {
    this.reachability.start();
  }

  /** Stops the heartbeats (connected peers are reported disconnected), fails calls in flight with HW_TRANSPORT_STOPPED, closes the server. */
  protected override async close(): Promise<void> {
    this.reachability.stop();
    this.client?.close();
    this.client = undefined;
    const server = this.server;
    this.server = undefined;
    this.bound = undefined;
    await server?.close();
  }

  /** Checks that a call may go out now; throws the typed error otherwise. */
  private callable(peerId: string, payload: Uint8Array, signal: AbortSignal | undefined): Member {
    if (!this.isRunning) {
      throw new HttpTransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} is stopped; call start() first`);
    }
    if (signal?.aborted) throw signal.reason;
    if (payload.byteLength > this.maxBodyBytes) {
      throw new HttpTransportError('HW_FRAME_TOO_LARGE', `Payload of ${payload.byteLength} bytes exceeds ${this.maxBodyBytes}`);
    }
    const member = this.members.get(peerId);
    if (!member && this.allowed && !this.allowed.has(peerId)) {
      throw new HttpTransportError('HW_UNAUTHORIZED', `Peer ${peerId} is not a member of this library (not in the last setMembers list)`);
    }
    if (!member) throw new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} is not a configured member; addPeer() it first`);
    if (!this.reachability.isConnected(peerId)) {
      const why = this.reachability.lastError(peerId);
      throw new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} is not reachable${why ? ` (last heartbeat: ${why})` : ' (no heartbeat answered yet)'}`);
    }
    return member;
  }

  private async call(
    member: Member,
    kind: 'request' | 'send',
    payload: Uint8Array,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const client = this.client;
    if (!client) throw new HttpTransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} is stopped`);
    try {
      const { body, rttMs } = await client.exchange({ member, kind, method: 'POST', path: MESSAGE_PATH, body: payload, timeoutMs, signal });
      this.reachability.succeeded(member.peerId, rttMs);
      return body;
    } catch (error) {
      // Only "no answer at all" says anything about reachability; a slow handler or a 5xx does not.
      if (error instanceof HttpTransportError && error.isNetworkFailure) this.reachability.failed(member.peerId, error.message);
      throw error;
    }
  }

  private async ping(peerId: string): Promise<number> {
    const member = this.members.get(peerId);
    const client = this.client;
    if (!member || !client) throw new HttpTransportError('HW_TRANSPORT_STOPPED', 'not running');
    const { rttMs } = await client.exchange({
      member,
      kind: 'ping',
      method: 'GET',
      path: PING_PATH,
      body: new Uint8Array(0),
      timeoutMs: this.heartbeatTimeoutMs,
    });
    return rttMs;
  }
}

/**
 * Creates an HTTP(S) transport. Takes the device key (or loads or creates it at `keyPath`)
 * right away, so `localPeerId` is known before `start()`.
 */
export function createHttpTransport(init: HttpTransportInit): HttpTransport {
  return new HttpTransport(init);
}
