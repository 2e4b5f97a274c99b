import { randomBytes } from 'node:crypto';
import type { Connection, Logger } from '@libp2p/interface';
import { byteStream } from '@libp2p/utils';
import { PING_LENGTH, PING_PROTOCOL, PING_TIMEOUT_MS } from './constants.js';
import { Deadline } from './deadline.js';
import { asError, errorMessage } from './stream-utils.js';

/**
 * The latest measured round trip per peer: from every request (stream open → response, so it
 * includes the remote handler) and from ping probes (stream open → echo, the network alone).
 * Probes use libp2p's ping protocol on the existing connection; unlike `ping.ping(peer)` they
 * never dial, so a probe racing a disconnect cannot reconnect a peer that was just hung up.
 */
export class RttTracker {
  private readonly latest = new Map<string, number>();
  private readonly probing = new Set<string>();
  /** Probes scheduled after a connect, by peer. */
  private readonly scheduled = new Map<string, ReturnType<typeof setTimeout>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopController = new AbortController();

  constructor(private readonly log: Logger) {}

  record(peerId: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.latest.set(peerId, ms);
    this.unschedule(peerId);
  }

  /**
   * Probes `connection` after `delayMs`, unless a request has measured the peer by then: the
   * first figure for a peer that just connected, without taking CPU from its first exchanges.
   */
  probeSoon(connection: Connection, delayMs: number): void {
    const peerId = connection.remotePeer.toString();
    this.unschedule(peerId);
    const timer = setTimeout(() => {
      this.scheduled.delete(peerId);
      void this.probe(connection);
    }, delayMs);
    timer.unref?.();
    this.scheduled.set(peerId, timer);
  }

  private unschedule(peerId: string): void {
    const timer = this.scheduled.get(peerId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.scheduled.delete(peerId);
  }

  /** The latest measurement; kept after a disconnect (it is still the last one there is). */
  get(peerId: string): number | undefined {
    return this.latest.get(peerId);
  }

  /** Pings over `connection` once and records the result; failures are only logged (liveness is the connection monitor's job). */
  async probe(connection: Connection): Promise<number | undefined> {
    const peerId = connection.remotePeer.toString();
    if (this.probing.has(peerId) || connection.status !== 'open') return undefined;
    this.probing.add(peerId);
    const deadline = new Deadline(PING_TIMEOUT_MS, undefined, this.stopController.signal);
    try {
      const data = new Uint8Array(randomBytes(PING_LENGTH));
      const started = performance.now();
      const stream = await connection.newStream(PING_PROTOCOL, { signal: deadline.signal });
      try {
        const bytes = byteStream(stream);
        await bytes.write(data, { signal: deadline.signal });
        const echo = (await bytes.read({ bytes: PING_LENGTH, signal: deadline.signal })).subarray();
        const elapsed = performance.now() - started;
        if (!Buffer.from(echo).equals(data)) throw new Error('ping answered with different bytes');
        this.record(peerId, elapsed);
        await stream.close({ signal: deadline.signal });
        return elapsed;
      } catch (error) {
        stream.abort(asError(error));
        throw error;
      }
    } catch (error) {
      this.log('ping of %s failed: %s', peerId, errorMessage(error));
      return undefined;
    } finally {
      deadline.clear();
      this.probing.delete(peerId);
    }
  }

  /** Probes every connection `connections()` returns each `intervalMs` (0: never). */
  start(intervalMs: number, connections: () => Connection[]): void {
    this.stop();
    this.stopController = new AbortController();
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      for (const connection of connections()) void this.probe(connection);
    }, intervalMs);
    // Measuring must not keep a process alive that has nothing else to do.
    this.timer.unref?.();
  }

  /** Stops the periodic and scheduled probes and aborts the running ones. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const timer of this.scheduled.values()) clearTimeout(timer);
    this.scheduled.clear();
    this.stopController.abort();
  }
}
