import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { HighwaterError, ProtocolError, RemoteError } from '../errors.js';
import type { InboundMessage, Transport } from '../ports/transport.js';
import { decodeMessage, encodeMessage, type MessageCodec } from '../protocol/codec.js';
import { PROTOCOL_VERSION, type MessageBody, type SyncMessage } from '../protocol/messages.js';
import type { SyncEvents } from '../events/sync-events.js';
import type { NodeComponents } from '../wiring/components.js';
import type { Startable } from '../wiring/lifecycle.js';
import type { SyncMetrics } from './sync-metrics.js';
import { SenderIdentityError } from './trust/change-signatures.js';

type RequestBody = Extract<MessageBody, { requestId: string }>;
type OneWayBody = Exclude<MessageBody, { requestId: string }> | MessageBody<Extract<SyncMessage, { type: 'error' }>>;

/** Handles an inbound message; returns the response body for requests. */
export type MessageHandler = (message: SyncMessage, fromPeer: string) => Promise<MessageBody | undefined>;

/**
 * The engine's side of the wire: wraps bodies in the envelope (version, library, device),
 * encodes them with the codec, and on the way in decodes and validates before anything
 * else sees a message. A refused message is answered with an Error message (never an error
 * to an error), reported, and dropped; the node goes on serving.
 */
export class Messenger implements Startable {
  private readonly deviceOfPeer = new Map<string, string>();
  /** Transport peer ids of device keys (deriving one parses the key). */
  private readonly peerOfKey = new Map<string, string>();
  private readonly transport: Transport;
  private readonly codec: MessageCodec;
  private readonly libraryId: string;
  private readonly deviceId: string;
  private readonly metrics: SyncMetrics;
  private readonly logger: Logger;
  private readonly events: SyncEvents;

  constructor(private readonly components: Pick<NodeComponents, 'transport' | 'codec' | 'identity' | 'metrics' | 'logger' | 'syncEvents' | 'server' | 'latency' | 'signatures' | 'signedHeads'>) {
    this.transport = components.transport;
    this.codec = components.codec;
    this.libraryId = components.identity.libraryId;
    this.deviceId = components.identity.deviceId;
    this.metrics = components.metrics;
    this.logger = components.logger;
    this.events = components.syncEvents;
  }

  /** Hands every valid inbound message to the node's RequestServer. */
  start(): void {
    const server = this.components.server;
    this.listen((message, from) => server.handle(message, from));
  }

  /**
   * The device a peer authenticated as on the transport (its device key), when the transport
   * derives peer ids from device keys and signed changes are on; null otherwise. A change this
   * device owns needs no signature check when it comes from it: the channel proves its origin.
   */
  authenticatedDevice(peerId: string): string | null {
    const device = this.deviceOfPeer.get(peerId);
    return device !== undefined && this.transportPeerOf(device) === peerId ? device : null;
  }

  /** The transport's peer id of a device's key, with signed changes on and a transport that derives them; else null. */
  private transportPeerOf(deviceId: string): string | null {
    const { signatures, transport } = this.components;
    if (!signatures.enabled || !transport.peerIdOf) return null;
    const key = signatures.publicKeyOf(deviceId);
    if (key === undefined) return null;
    let peer = this.peerOfKey.get(key);
    if (peer === undefined) this.peerOfKey.set(key, (peer = transport.peerIdOf(key)));
    return peer;
  }

  /** The device behind a transport peer, once it has sent a valid message. */
  deviceOf(peerId: string): string | null {
    return this.deviceOfPeer.get(peerId) ?? null;
  }

  peerOfDevice(deviceId: string): string | null {
    for (const [peer, device] of this.deviceOfPeer) if (device === deviceId && this.transport.connectedPeers().includes(peer)) return peer;
    return null;
  }

  newRequestId(): string {
    return randomUUID();
  }

  /** Sends a request; resolves with the response, rejects with RemoteError for an Error reply. */
  async request<T extends SyncMessage['type']>(
    peerId: string,
    body: RequestBody,
    expect: T,
    timeoutMs: number,
  ): Promise<Extract<SyncMessage, { type: T }>> {
    const bytes = this.encode(body as MessageBody);
    this.metrics.add('messagesSent');
    this.metrics.add('bytesSent', bytes.byteLength);
    const sentAt = performance.now();
    const reply = await this.transport.request(peerId, bytes, { timeoutMs });
    const elapsed = performance.now() - sentAt;
    this.metrics.add('messagesReceived');
    this.metrics.add('bytesReceived', reply.byteLength);
    const message = decodeMessage(this.codec, reply, this.libraryId);
    this.checkSender(peerId, message.deviceId);
    this.components.signedHeads.offerMessage(message);
    this.deviceOfPeer.set(peerId, message.deviceId);
    // An exchange is small on both sides: its round trip is what ranks this peer as a source.
    if (body.type === 'watermark-exchange-request') this.components.latency.record(peerId, message.deviceId, elapsed);
    if (message.type === 'error') throw new RemoteError(message.code, message.message, peerId);
    if (message.type !== expect) throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Expected ${expect} from ${peerId}, got ${message.type}`);
    return message as Extract<SyncMessage, { type: T }>;
  }

  async send(peerId: string, body: OneWayBody): Promise<void> {
    const bytes = this.encode(body as MessageBody);
    this.metrics.add('messagesSent');
    this.metrics.add('bytesSent', bytes.byteLength);
    await this.transport.send(peerId, bytes);
  }

  /** Installs the inbound side: decode → validate → handler → encoded response. */
  listen(handler: MessageHandler): void {
    this.transport.handle(async (inbound: InboundMessage) => {
      this.metrics.add('messagesReceived');
      this.metrics.add('bytesReceived', inbound.payload.byteLength);
      let message: SyncMessage | undefined;
      try {
        message = decodeMessage(this.codec, inbound.payload, this.libraryId);
        this.checkSender(inbound.from, message.deviceId);
        this.components.signedHeads.offerMessage(message);
        this.deviceOfPeer.set(inbound.from, message.deviceId);
        const body = await handler(message, inbound.from);
        return inbound.expectsResponse && body ? this.encode(body) : undefined;
      } catch (cause) {
        const error = cause instanceof HighwaterError ? cause : new HighwaterError('HW_INTERNAL', (cause as Error)?.message ?? String(cause));
        this.metrics.add('messagesRefused');
        this.logger.warn({ peer: inbound.from, code: error.code, err: error.message }, 'refused inbound message');
        this.events.reportError(error);
        if (message?.type === 'error') return undefined;
        const requestId = message && 'requestId' in message ? message.requestId : null;
        const reply = this.encode({ type: 'error', requestId, code: error.code, message: error.message.slice(0, 1000) });
        if (inbound.expectsResponse) return reply;
        // One-way message refused: tell the sender, but never let that fail the handler.
        this.transport.send(inbound.from, reply).catch(() => undefined);
        return undefined;
      }
    });
  }

  /**
   * With signed changes on, a message's device must be the one its sender authenticated as: the
   * transport's peer id of that device's key (where the transport derives peer ids from device
   * keys). Otherwise any member could speak, and be answered, as another device.
   */
  private checkSender(peerId: string, deviceId: string): void {
    const { signatures, transport } = this.components;
    if (!signatures.enabled || !transport.peerIdOf) return;
    if (signatures.publicKeyOf(deviceId) === undefined) throw new SenderIdentityError('HW_UNKNOWN_DEVICE', `Peer ${peerId} speaks as ${JSON.stringify(deviceId)}, which is not a device of this library`);
    if (signatures.isRevoked(deviceId)) throw new SenderIdentityError('HW_DEVICE_REVOKED', `Peer ${peerId} speaks as ${JSON.stringify(deviceId)}, a device revoked from this library`);
    if (this.transportPeerOf(deviceId) !== peerId) {
      throw new SenderIdentityError('HW_DEVICE_MISMATCH', `Peer ${peerId} speaks as device ${JSON.stringify(deviceId)}, whose key is another peer's`);
    }
  }

  private encode(body: MessageBody): Uint8Array {
    return encodeMessage(this.codec, { v: PROTOCOL_VERSION, libraryId: this.libraryId, deviceId: this.deviceId, ...body } as SyncMessage);
  }
}
