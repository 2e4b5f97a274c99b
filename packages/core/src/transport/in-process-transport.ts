import { Subject, type Observable } from 'rxjs';
import { TransportError } from '../errors.js';
import { PAIRING_MAX_BYTES, type InboundHandler, type PairingHandler, type PeerEvent, type RequestOptions, type Transport } from '../ports/transport.js';
import { MAX_TIMER_MS } from './timers.js';

/**
 * In-process transport for tests and simulation: peers live in one process and exchange
 * bytes through an {@link InProcessNetwork}. It keeps the contract of the Transport port
 * (asynchronous delivery, copied payloads, typed errors, no open handles after `stop()`), but
 * it is not a stand-in for testing a real adapter.
 */

/** One payload that crossed the in-process "wire" (emitted after it was delivered). */
export interface WireEvent {
  readonly from: string;
  readonly to: string;
  readonly kind: 'request' | 'response' | 'send';
  readonly bytes: number;
  readonly payload: Uint8Array;
}

/** What a fault hook is asked about: one envelope about to be queued on a link. */
export interface FaultContext {
  readonly from: string;
  readonly to: string;
  /** `reset` is a responder closing a request without an answer (no handler, handler failed). */
  readonly kind: 'request' | 'response' | 'send' | 'reset';
  readonly bytes: number;
}

/** What happens to that envelope; the default (undefined or `{}`) delivers it like any other. */
export interface FaultDecision {
  /** Lose it: the sender is not told (a lost request or response times out at the requester). */
  readonly drop?: boolean;
  /** Extra delay (ms) on top of `latencyMs`. In FIFO order it holds back what follows it. */
  readonly delayMs?: number;
  /** Deliver it twice (the copy has the same delay). */
  readonly duplicate?: boolean;
  /** Deliver it when its own delay ends, out of FIFO order: it may overtake or be overtaken. */
  readonly reorder?: boolean;
}

/** Decides the fate of each envelope (simulation); called once per envelope, in queueing order. */
export type FaultHook = (event: FaultContext) => FaultDecision | undefined;

export interface InProcessNetworkOptions {
  /** Delivery delay per message and direction; 0 (the default) delivers on the next macrotask. */
  readonly latencyMs?: number;
  /** Largest payload a link carries, like a real adapter's frame limit. Default 64 MiB. */
  readonly maxMessageBytes?: number;
  /** Faults to inject (drop, delay, duplicate, reorder); none by default. See {@link InProcessNetwork.setFaults}. */
  readonly faults?: FaultHook;
}

/** Default request timeout of {@link InProcessTransport.request}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;


type Envelope =
  | { readonly kind: 'request'; readonly requestId: number; readonly payload: Uint8Array }
  | { readonly kind: 'send'; readonly payload: Uint8Array }
  | { readonly kind: 'response'; readonly requestId: number; readonly payload: Uint8Array }
  /** The responder could not answer (no handler, handler threw or returned nothing): a real adapter closes the stream. */
  | { readonly kind: 'reset'; readonly requestId: number; readonly reason: string; readonly code?: 'HW_FRAME_TOO_LARGE' };

interface QueuedEnvelope {
  readonly from: string;
  readonly to: string;
  readonly envelope: Envelope;
  ready: boolean;
  cancel: (() => void) | undefined;
}

interface Link {
  /** Increases with every connect, so answers to requests of an earlier link are dropped. */
  readonly epoch: number;
  /** One FIFO queue per direction, keyed by the sender's peer id. */
  readonly queues: Map<string, QueuedEnvelope[]>;
  /** Envelopes a fault hook took out of FIFO order, each delivered when its own delay ends. */
  readonly loose: Set<QueuedEnvelope>;
}

interface PendingRequest {
  readonly peerId: string;
  readonly startedAt: number;
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

/** A copy the receiver owns (`Buffer#slice` would share memory, so copy through the constructor). */
function copyBytes(payload: Uint8Array): Uint8Array {
  return new Uint8Array(payload);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Peers of one process and the links between them. */
export class InProcessNetwork {
  readonly wire$: Observable<WireEvent>;

  private readonly latencyMs: number;
  private faults: FaultHook | undefined;
  /** @internal */
  readonly maxMessageBytes: number;
  private readonly wireSubject = new Subject<WireEvent>();
  private readonly transports = new Map<string, InProcessTransport>();
  private readonly peerOfKey = new Map<string, string>();
  private readonly links = new Map<string, Link>();
  private nextEpoch = 1;
  private nextRequestId = 1;

  constructor(options: InProcessNetworkOptions = {}) {
    const latencyMs = options.latencyMs ?? 0;
    if (!Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > MAX_TIMER_MS) {
      throw new RangeError(`latencyMs must be a finite number between 0 and ${MAX_TIMER_MS}, got ${String(latencyMs)}`);
    }
    this.latencyMs = latencyMs;
    this.maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
    this.faults = options.faults;
    this.wire$ = this.wireSubject.asObservable();
  }

  /** Replaces the fault hook (undefined: no faults) for envelopes queued from now on. */
  setFaults(faults: FaultHook | undefined): void {
    this.faults = faults;
  }

  /**
   * A peer's process dies: its transport stops at once (nothing more is delivered to it or sent
   * from it, its pending requests fail), every link it had is cut with what was in flight on
   * it, and its peers see it disconnect. Its node is not told — unlike `stop()` on the node,
   * nothing is flushed or saved. The id is free for a new transport (a restart).
   */
  crash(peerId: string): void {
    const transport = this.transports.get(peerId);
    transport?.kill();
    for (const peer of this.linkedPeers(peerId)) this.disconnect(peerId, peer);
  }

  /**
   * Creates the transport of a peer; an id is free again once its transport is stopped. With
   * `publicKey` (the device's Ed25519 key, raw base64url) the transport authenticates senders
   * as libp2p and HTTP do: it has `peerIdOf`, giving the peer id of each key registered so, and
   * a node with `trust` then takes a message only from the peer of its device's key (and checks
   * no change its sender owns). Give every transport of such a network its key: a device whose
   * key is not registered has no peer, and its messages are refused.
   */
  transport(peerId: string, options: { readonly publicKey?: string } = {}): InProcessTransport {
    if (typeof peerId !== 'string' || peerId.length === 0) {
      throw new RangeError('peerId must be a non-empty string');
    }
    const existing = this.transports.get(peerId);
    if (existing?.isRunning) {
      throw new Error(`Peer id ${JSON.stringify(peerId)} is taken by a running transport; stop it first`);
    }
    const transport = new InProcessTransport(this, peerId);
    if (options.publicKey !== undefined) {
      this.peerOfKey.set(options.publicKey, peerId);
      transport.peerIdOf = (publicKey) => this.peerOfKey.get(publicKey) ?? `unregistered-key/${publicKey}`;
    }
    this.transports.set(peerId, transport);
    return transport;
  }

  /** Links two started peers; each side sees the other on its `peers$`. Connecting a linked pair does nothing. */
  connect(a: string, b: string): void {
    if (a === b) throw new Error(`Cannot connect peer ${JSON.stringify(a)} to itself`);
    const ta = this.runningTransport(a);
    const tb = this.runningTransport(b);
    const key = linkKey(a, b);
    if (this.links.has(key)) return;
    this.links.set(key, { epoch: this.nextEpoch++, queues: new Map(), loose: new Set() });
    const at = Date.now();
    ta.emitPeerEvent({ type: 'connected', peerId: b, at });
    tb.emitPeerEvent({ type: 'connected', peerId: a, at });
  }

  /**
   * Cuts the link: messages in flight on it are dropped, requests pending over it reject with
   * HW_PEER_UNREACHABLE, and both sides see 'disconnected'. Cutting an absent link does nothing.
   */
  disconnect(a: string, b: string): void {
    const key = linkKey(a, b);
    const link = this.links.get(key);
    if (!link) return;
    this.links.delete(key);
    for (const queue of link.queues.values()) {
      for (const item of queue) item.cancel?.();
      queue.length = 0;
    }
    for (const item of link.loose) item.cancel?.();
    link.loose.clear();
    const at = Date.now();
    const ta = this.transports.get(a);
    const tb = this.transports.get(b);
    ta?.emitPeerEvent({ type: 'disconnected', peerId: b, at });
    tb?.emitPeerEvent({ type: 'disconnected', peerId: a, at });
    ta?.failPendingTo(b, new TransportError('HW_PEER_UNREACHABLE', `Peer ${b} disconnected before answering`));
    tb?.failPendingTo(a, new TransportError('HW_PEER_UNREACHABLE', `Peer ${a} disconnected before answering`));
  }

  isConnected(a: string, b: string): boolean {
    return this.links.has(linkKey(a, b));
  }

  /** @internal Peers linked to `peerId`. */
  linkedPeers(peerId: string): string[] {
    const peers: string[] = [];
    for (const key of this.links.keys()) {
      const [x, y] = key.split('\u0000') as [string, string];
      if (x === peerId) peers.push(y);
      else if (y === peerId) peers.push(x);
    }
    return peers;
  }

  /** @internal Registers a (re)started transport under its id. */
  register(transport: InProcessTransport): void {
    const current = this.transports.get(transport.localPeerId);
    if (current && current !== transport && current.isRunning) {
      throw new Error(`Peer id ${JSON.stringify(transport.localPeerId)} is taken by a running transport; stop it first`);
    }
    this.transports.set(transport.localPeerId, transport);
  }

  /** @internal */
  newRequestId(): number {
    return this.nextRequestId++;
  }

  /** @internal The epoch of the current link between two peers, if any. */
  linkEpoch(a: string, b: string): number | undefined {
    return this.links.get(linkKey(a, b))?.epoch;
  }

  /**
   * @internal Queues an envelope from `from` to `to`; returns false when they are not linked.
   * `epoch`, when given, must match the current link (answers to requests of a previous link are dropped).
   */
  enqueue(from: string, to: string, envelope: Envelope, epoch?: number): boolean {
    const link = this.links.get(linkKey(from, to));
    if (!link || (epoch !== undefined && link.epoch !== epoch)) return false;
    const decision = this.faults?.({ from, to, kind: envelope.kind, bytes: envelope.kind === 'reset' ? 0 : envelope.payload.byteLength });
    if (decision?.drop) return true; // lost on the wire: the sender cannot tell
    const delayMs = this.latencyMs + Math.max(0, decision?.delayMs ?? 0);
    this.schedule(link, from, to, envelope, delayMs, decision?.reorder === true);
    if (decision?.duplicate) {
      const copy: Envelope = envelope.kind === 'reset' ? envelope : { ...envelope, payload: copyBytes(envelope.payload) };
      this.schedule(link, from, to, copy, delayMs, decision.reorder === true);
    }
    return true;
  }

  private schedule(link: Link, from: string, to: string, envelope: Envelope, delayMs: number, loose: boolean): void {
    const item: QueuedEnvelope = { from, to, envelope, ready: false, cancel: undefined };
    let fire: () => void;
    if (loose) {
      link.loose.add(item);
      fire = (): void => {
        item.cancel = undefined;
        if (!link.loose.delete(item)) return;
        this.deliverItem(link, item);
      };
    } else {
      let queue = link.queues.get(from);
      if (!queue) {
        queue = [];
        link.queues.set(from, queue);
      }
      queue.push(item);
      const q = queue;
      fire = (): void => {
        item.cancel = undefined;
        item.ready = true;
        this.drain(link, q);
      };
    }
    if (delayMs > 0) {
      const timer = setTimeout(fire, Math.min(delayMs, MAX_TIMER_MS));
      item.cancel = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(fire);
      item.cancel = () => clearImmediate(immediate);
    }
  }

  /** Delivers the ready head of a direction's queue in order (FIFO even if timers fired out of order). */
  private drain(link: Link, queue: QueuedEnvelope[]): void {
    while (queue.length > 0 && queue[0]!.ready) {
      const item = queue.shift()!;
      if (!this.deliverItem(link, item)) return;
    }
  }

  /** Hands one envelope to its receiver; false when its link is gone. */
  private deliverItem(link: Link, item: QueuedEnvelope): boolean {
    // A link cut during an earlier delivery empties its queues, so stale items never get here.
    if (this.links.get(linkKey(item.from, item.to)) !== link) return false;
    const receiver = this.transports.get(item.to);
    if (!receiver?.isRunning) return true;
    receiver.deliver(item.from, item.envelope, link.epoch);
    const { envelope } = item;
    if (envelope.kind !== 'reset') {
      this.wireSubject.next({
        from: item.from,
        to: item.to,
        kind: envelope.kind,
        bytes: envelope.payload.byteLength,
        payload: envelope.payload,
      });
    }
    return true;
  }

  /** @internal The running transport of `peerId`, if any (a pairing's target). */
  running(peerId: string): InProcessTransport | undefined {
    const transport = this.transports.get(peerId);
    return transport?.isRunning ? transport : undefined;
  }

  private runningTransport(peerId: string): InProcessTransport {
    const transport = this.transports.get(peerId);
    if (!transport) throw new Error(`Unknown peer ${JSON.stringify(peerId)}: create it with network.transport()`);
    if (!transport.isRunning) {
      throw new TransportError('HW_TRANSPORT_STOPPED', `Peer ${peerId} is not started; call start() before connect()`);
    }
    return transport;
  }
}

/** One peer's transport on an {@link InProcessNetwork}. */
export class InProcessTransport implements Transport {
  readonly peers$: Observable<PeerEvent>;

  private readonly peerSubject = new Subject<PeerEvent>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly rtts = new Map<string, number>();
  private handler: InboundHandler | undefined;
  private pairingHandler: PairingHandler | null = null;
  private running = false;
  /** Set for a transport created with its device's key (see {@link InProcessNetwork.transport}). */
  peerIdOf?: (publicKey: string) => string;

  /** Use {@link InProcessNetwork.transport} to create one. */
  constructor(
    private readonly network: InProcessNetwork,
    readonly localPeerId: string,
  ) {
    this.peers$ = this.peerSubject.asObservable();
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.network.register(this);
    this.running = true;
  }

  /** @internal The process died (see {@link InProcessNetwork.crash}): stop at once, tell no one. */
  kill(): void {
    if (!this.running) return;
    this.running = false;
    this.failAllPending(new TransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} crashed`));
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.failAllPending(new TransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} stopped`));
    for (const peer of this.network.linkedPeers(this.localPeerId)) {
      this.network.disconnect(this.localPeerId, peer);
    }
  }

  connectedPeers(): readonly string[] {
    return this.running ? this.network.linkedPeers(this.localPeerId) : [];
  }

  handle(handler: InboundHandler): void {
    this.handler = handler;
  }

  /** Pairing requests are answered while a handler is set (no membership to open here: any peer may link). */
  acceptPairing(handler: PairingHandler | null): void {
    this.pairingHandler = handler;
  }

  /** One pairing exchange with the peer whose id is `address` (no link needed; the key is not checked in process). */
  async pair(address: string, _publicKey: string, payload: Uint8Array): Promise<Uint8Array> {
    if (!this.running) throw this.stoppedError();
    if (payload.byteLength > PAIRING_MAX_BYTES) throw new TransportError('HW_FRAME_TOO_LARGE', `Pairing request of ${payload.byteLength} bytes exceeds ${PAIRING_MAX_BYTES}`);
    const handler = this.network.running(address)?.pairingHandler;
    if (!handler) throw new TransportError('HW_PEER_UNREACHABLE', `Peer ${address} is not accepting pairings`);
    return copyBytes(await handler(copyBytes(payload)));
  }

  /** This peer's id: what another peer links or pairs to. */
  listenAddresses(): string[] {
    return this.running ? [this.localPeerId] : [];
  }

  /** Links to the first of `addresses` (peer ids) that is running. */
  async reach(_publicKey: string, addresses: readonly string[]): Promise<void> {
    const target = addresses.find((a) => a !== this.localPeerId && this.network.running(a));
    if (this.running && target) this.network.connect(this.localPeerId, target);
  }

  request(peerId: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!this.running) {
      return Promise.reject(this.stoppedError());
    }
    if (signal?.aborted) {
      return Promise.reject(signal.reason);
    }
    if (payload.byteLength > this.network.maxMessageBytes) {
      return Promise.reject(new TransportError('HW_FRAME_TOO_LARGE', `Payload of ${payload.byteLength} bytes exceeds ${this.network.maxMessageBytes}`));
    }
    if (!this.network.isConnected(this.localPeerId, peerId)) {
      return Promise.reject(this.unreachableError(peerId));
    }
    const requestId = this.network.newRequestId();
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => settle(() => reject(signal!.reason));
      const settle = (finish: () => void): void => {
        if (!this.pending.delete(requestId)) return;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        finish();
      };
      this.pending.set(requestId, {
        peerId,
        startedAt: performance.now(),
        resolve: (response) => settle(() => resolve(response)),
        reject: (error) => settle(() => reject(error)),
      });
      if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(
          () =>
            settle(() =>
              reject(
                new TransportError('HW_REQUEST_TIMEOUT', `Request to peer ${peerId} timed out after ${timeoutMs} ms`),
              ),
            ),
          Math.max(0, timeoutMs),
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.network.enqueue(this.localPeerId, peerId, { kind: 'request', requestId, payload: copyBytes(payload) });
    });
  }

  async send(peerId: string, payload: Uint8Array): Promise<void> {
    if (!this.running) throw this.stoppedError();
    this.assertSize(payload);
    if (!this.network.enqueue(this.localPeerId, peerId, { kind: 'send', payload: copyBytes(payload) })) {
      throw this.unreachableError(peerId);
    }
  }

  rttMs(peerId: string): number | undefined {
    return this.rtts.get(peerId);
  }

  private assertSize(payload: Uint8Array): void {
    if (payload.byteLength > this.network.maxMessageBytes) {
      throw new TransportError('HW_FRAME_TOO_LARGE', `Payload of ${payload.byteLength} bytes exceeds ${this.network.maxMessageBytes}`);
    }
  }

  /** @internal */
  emitPeerEvent(event: PeerEvent): void {
    this.peerSubject.next(event);
  }

  /** @internal Rejects the requests waiting for `peerId`. */
  failPendingTo(peerId: string, error: TransportError): void {
    for (const request of [...this.pending.values()]) {
      if (request.peerId === peerId) request.reject(error);
    }
  }

  /** @internal Called by the network, in order, for each envelope that reaches this peer. */
  deliver(from: string, envelope: Envelope, epoch: number): void {
    switch (envelope.kind) {
      case 'send': {
        const handler = this.handler;
        if (!handler) return;
        // One-way: the result is ignored and failures are swallowed (never an unhandled rejection).
        this.invoke(handler, from, envelope.payload, false).catch(() => undefined);
        return;
      }
      case 'request': {
        const { requestId } = envelope;
        const handler = this.handler;
        if (!handler) {
          this.network.enqueue(this.localPeerId, from, {
            kind: 'reset',
            requestId,
            reason: `peer ${this.localPeerId} has no inbound handler`,
          }, epoch);
          return;
        }
        this.invoke(handler, from, envelope.payload, true).then(
          (response) => {
            if (!this.running) return;
            if (response === undefined) {
              this.network.enqueue(this.localPeerId, from, {
                kind: 'reset',
                requestId,
                reason: `the handler of peer ${this.localPeerId} returned no response`,
              }, epoch);
              return;
            }
            if (response.byteLength > this.network.maxMessageBytes) {
              this.network.enqueue(this.localPeerId, from, {
                kind: 'reset',
                requestId,
                code: 'HW_FRAME_TOO_LARGE',
                reason: `response of ${response.byteLength} bytes exceeds ${this.network.maxMessageBytes}`,
              }, epoch);
              return;
            }
            this.network.enqueue(this.localPeerId, from, { kind: 'response', requestId, payload: copyBytes(response) }, epoch);
          },
          (error: unknown) => {
            if (!this.running) return;
            this.network.enqueue(this.localPeerId, from, {
              kind: 'reset',
              requestId,
              reason: `the handler of peer ${this.localPeerId} failed: ${errorMessage(error)}`,
            }, epoch);
          },
        );
        return;
      }
      case 'response': {
        const request = this.pending.get(envelope.requestId);
        if (!request) return; // timed out, aborted or from before a restart
        this.rtts.set(from, performance.now() - request.startedAt);
        request.resolve(envelope.payload);
        return;
      }
      case 'reset': {
        this.pending
          .get(envelope.requestId)
          ?.reject(new TransportError(envelope.code ?? 'HW_PEER_UNREACHABLE', `Peer ${from} closed the request: ${envelope.reason}`));
        return;
      }
    }
  }

  /** Runs a handler; a synchronous throw becomes a rejection. */
  private invoke(
    handler: InboundHandler,
    from: string,
    payload: Uint8Array,
    expectsResponse: boolean,
  ): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(handler({ from, payload, expectsResponse }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private failAllPending(error: TransportError): void {
    for (const request of [...this.pending.values()]) request.reject(error);
  }

  private stoppedError(): TransportError {
    return new TransportError('HW_TRANSPORT_STOPPED', `Transport ${this.localPeerId} is stopped; call start() first`);
  }

  private unreachableError(peerId: string): TransportError {
    return new TransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} is not connected to ${this.localPeerId}`);
  }
}

/** A new, empty in-process network. */
export function createInProcessNetwork(options?: InProcessNetworkOptions): InProcessNetwork {
  return new InProcessNetwork(options);
}
