import {
  decodeMessage,
  encodeMessage,
  jsonCodec,
  PROTOCOL_VERSION,
  type InProcessNetwork,
  type InProcessTransport,
  type MessageBody,
  type SyncMessage,
  type WireChange,
  type WireHead,
  type WireVersions,
} from '@highwater/core';
import { LIBRARY_ID } from './library.js';

/**
 * A hand-driven peer for injecting messages a real node would never send (stale, forged,
 * malformed). It answers watermark exchanges with `heads` so the node under test can reach
 * Ready, and records every message it receives.
 */
export class RawPeer {
  readonly received: SyncMessage[] = [];
  readonly transport: InProcessTransport;
  heads: WireHead[] = [];
  /** Sent with the heads as inline changes, whatever was asked for. */
  inlineChanges: WireChange[] = [];
  /** Sent in its exchange responses when set; absent, it is a node from before versions. */
  versions: WireVersions | undefined = undefined;
  /** Answers state requests when set (as objects: this peer knows nothing of rows); a promise that never settles is a peer that stalls. */
  statePage: ((request: Extract<SyncMessage, { type: 'state-request' }>) => MessageBody | Promise<MessageBody>) | null = null;

  /** `publicKey`: the transport authenticates as that device key (see InProcessNetwork.transport). */
  constructor(
    private readonly network: InProcessNetwork,
    readonly deviceId: string,
    publicKey?: string,
  ) {
    this.transport = network.transport(deviceId, publicKey === undefined ? {} : { publicKey });
    this.transport.handle(async (inbound) => {
      const message = decodeMessage(jsonCodec, inbound.payload, LIBRARY_ID);
      this.received.push(message);
      if (message.type === 'watermark-exchange-request') {
        const inline = this.inlineChanges.length > 0 ? { changes: this.inlineChanges } : {};
        return this.encode({ type: 'watermark-exchange-response', requestId: message.requestId, heads: this.heads, ...inline, ...(this.versions ? { versions: this.versions } : {}) });
      }
      if (message.type === 'state-request' && this.statePage) return this.encode(await this.statePage(message));
      return undefined;
    });
  }

  async connect(to: string): Promise<void> {
    if (!this.transport.isRunning) await this.transport.start();
    this.network.connect(this.deviceId, to);
  }

  encode(body: MessageBody, overrides: Record<string, unknown> = {}): Uint8Array {
    return encodeMessage(jsonCodec, { v: PROTOCOL_VERSION, libraryId: LIBRARY_ID, deviceId: this.deviceId, ...body, ...overrides } as SyncMessage);
  }

  send(to: string, body: MessageBody): Promise<void> {
    return this.transport.send(to, this.encode(body));
  }

  async request(to: string, body: MessageBody): Promise<SyncMessage> {
    return decodeMessage(jsonCodec, await this.transport.request(to, this.encode(body)), LIBRARY_ID);
  }

  stop(): Promise<void> {
    return this.transport.stop();
  }
}
