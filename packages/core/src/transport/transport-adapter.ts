import type { InboundHandler, InboundMessage } from '../ports/transport.js';
import { TransportLifecycle } from './transport-lifecycle.js';

/**
 * Hands an inbound message to the transport's handler: `undefined` when none is installed,
 * otherwise the handler's promise. What an adapter's server side is given to reach the handler.
 */
export type InboundDelivery = (message: InboundMessage) => Promise<Uint8Array | undefined> | undefined;

/**
 * The base class of the network transport adapters (libp2p, HTTP): what each of them does the
 * same way, so an adapter states only what differs.
 *
 * - Lifecycle: the adapter implements `open()` and `close()`, and `afterStart()` if it has
 *   background work (heartbeats, redials); it gets `start()`, `stop()` and `isRunning`, with
 *   the rules of {@link TransportLifecycle} (one transition at a time, idempotent, restartable,
 *   a failed start leaves it stopped).
 * - Inbound: it keeps the handler given to `handle()`; the adapter's server side calls it
 *   through `deliver` (bound, so it can be handed over as a callback).
 *
 * ```ts
 * class MyTransport extends TransportAdapter implements Transport {
 *   protected override async open(): Promise<void> { await this.server.listen(); }
 *   protected override async close(): Promise<void> { await this.server.close(); }
 *   // … localPeerId, peers$, connectedPeers, request, send, rttMs
 * }
 * ```
 */
export abstract class TransportAdapter {
  private readonly lifecycle = new TransportLifecycle({
    start: () => this.open(),
    afterStart: () => this.afterStart(),
    stop: () => this.close(),
  });
  private handler: InboundHandler | undefined;

  /** True between a `start()` that finished and the next `stop()`; only then do calls go out. */
  get isRunning(): boolean {
    return this.lifecycle.isRunning;
  }

  /** Opens the adapter; resolves once it can carry messages. Safe to call again, or concurrently. */
  start(): Promise<void> {
    return this.lifecycle.start();
  }

  /** Closes the adapter; calls in flight fail with HW_TRANSPORT_STOPPED. Safe to call again, or concurrently. */
  stop(): Promise<void> {
    return this.lifecycle.stop();
  }

  /** Installs the handler of inbound requests and one-way messages; it may be replaced at any time. */
  handle(handler: InboundHandler): void {
    this.handler = handler;
  }

  /**
   * Hands an inbound message to the installed handler: `undefined` when none is installed (the
   * adapter refuses a request its own way), otherwise the handler's promise, with a
   * synchronous throw turned into a rejection.
   */
  protected readonly deliver: InboundDelivery = (message) => {
    const handler = this.handler;
    if (!handler) return undefined;
    try {
      return Promise.resolve(handler(message));
    } catch (error) {
      return Promise.reject(error);
    }
  };

  /** The start step: listen, connect, open what the adapter needs. On failure, undo it and throw (the adapter is then stopped). */
  protected abstract open(): Promise<void>;

  /** Runs once the adapter counts as running, before `start()` resolves. Should not throw. */
  protected afterStart(): void {}

  /** The stop step: close what `open()` opened. The adapter is stopped afterwards even if this throws. */
  protected abstract close(): Promise<void>;
}
