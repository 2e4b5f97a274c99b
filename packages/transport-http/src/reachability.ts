import type { PeerEvent } from '@highwater/core';
import { FAILURES_BEFORE_DISCONNECT } from './constants.js';

/** @internal */
export interface ReachabilityOptions {
  readonly heartbeatMs: number;
  /** One signed heartbeat; resolves with the measured round trip, rejects when it failed. */
  readonly ping: (peerId: string) => Promise<number>;
  readonly emit: (event: PeerEvent) => void;
  /** Called when a peer is declared down (or removed while up), to fail the calls still waiting on it. */
  readonly onDown: (peerId: string) => void;
}

interface PeerState {
  connected: boolean;
  /** Consecutive failed heartbeats / unreachable calls since the last success. */
  failures: number;
  pinging: boolean;
  /** The member called in while a heartbeat was on its way: if that one fails, try again at once. */
  recheck: boolean;
  lastError: string | undefined;
}

/**
 * Who is reachable right now. HTTP has no connection to watch, so reachability is measured: a
 * signed heartbeat to every member every `heartbeatMs`; one success makes a peer 'connected',
 * {@link FAILURES_BEFORE_DISCONNECT} consecutive failures 'disconnected' (one lost ping is not
 * an outage). An authenticated call *from* a member that we do not see yet is evidence it is
 * up: it triggers a heartbeat at once instead of at the next tick, so the member is seen
 * within one round trip. It does not mark the member connected by itself: 'connected' promises
 * that calls *to* it work, and a member that can reach us is not always one we can reach
 * (wrong url, one-way firewall, a certificate we do not trust).
 */
export class Reachability {
  private readonly peers = new Map<string, PeerState>();
  private readonly rtts = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private running = false;

  constructor(private readonly options: ReachabilityOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.timer = setInterval(() => this.beatAll(), this.options.heartbeatMs);
    this.beatAll();
  }

  /** Stops the heartbeats; every connected peer is reported disconnected. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const [peerId, state] of this.peers) {
      const wasConnected = state.connected;
      this.peers.set(peerId, fresh());
      if (wasConnected) this.options.emit({ type: 'disconnected', peerId, at: Date.now() });
    }
  }

  /** Starts watching a peer from scratch (first heartbeat right away when running). */
  track(peerId: string): void {
    this.untrack(peerId);
    this.peers.set(peerId, fresh());
    if (this.running) this.beat(peerId);
  }

  /** Stops watching a peer; reports it disconnected if it was connected. */
  untrack(peerId: string): void {
    const state = this.peers.get(peerId);
    if (!state) return;
    this.peers.delete(peerId);
    this.rtts.delete(peerId);
    if (state.connected) this.declareDown(peerId);
  }

  isConnected(peerId: string): boolean {
    return this.running && this.peers.get(peerId)?.connected === true;
  }

  connected(): string[] {
    if (!this.running) return [];
    return [...this.peers].filter(([, state]) => state.connected).map(([peerId]) => peerId);
  }

  rttMs(peerId: string): number | undefined {
    return this.rtts.get(peerId);
  }

  /** Why the last heartbeat to a peer failed, for error messages. */
  lastError(peerId: string): string | undefined {
    return this.peers.get(peerId)?.lastError;
  }

  /** A heartbeat or call to the peer succeeded after `rttMs`. */
  succeeded(peerId: string, rttMs: number): void {
    const state = this.peers.get(peerId);
    if (!state || !this.running) return;
    this.rtts.set(peerId, rttMs);
    state.failures = 0;
    state.lastError = undefined;
    if (!state.connected) this.declareUp(peerId, state);
  }

  /** A heartbeat to the peer failed, or a call found it unreachable. */
  failed(peerId: string, reason: string): void {
    const state = this.peers.get(peerId);
    if (!state || !this.running) return;
    state.failures += 1;
    state.lastError = reason;
    if (state.connected && state.failures >= FAILURES_BEFORE_DISCONNECT) {
      state.connected = false;
      this.declareDown(peerId);
    }
  }

  /** The peer authenticated a call to us. */
  heard(peerId: string): void {
    const state = this.peers.get(peerId);
    if (!state || !this.running || state.connected) return;
    // The heartbeat on its way may have left before the member knew us (and will fail): check again after it.
    if (state.pinging) state.recheck = true;
    else this.beat(peerId);
  }

  private beatAll(): void {
    for (const peerId of this.peers.keys()) this.beat(peerId);
  }

  /** One heartbeat unless one is already on its way; a result for a replaced or dropped state is ignored. */
  private beat(peerId: string): void {
    const state = this.peers.get(peerId);
    if (!state || state.pinging) return;
    state.pinging = true;
    state.recheck = false;
    const current = (): boolean => this.running && this.peers.get(peerId) === state;
    this.options.ping(peerId).then(
      (rtt) => {
        state.pinging = false;
        if (current()) this.succeeded(peerId, rtt);
      },
      (error: unknown) => {
        state.pinging = false;
        if (!current()) return;
        this.failed(peerId, error instanceof Error ? error.message : String(error));
        if (state.recheck && !state.connected) {
          state.recheck = false;
          this.beat(peerId);
        }
      },
    );
  }

  private declareUp(peerId: string, state: PeerState): void {
    state.connected = true;
    this.options.emit({ type: 'connected', peerId, at: Date.now() });
  }

  private declareDown(peerId: string): void {
    this.options.emit({ type: 'disconnected', peerId, at: Date.now() });
    this.options.onDown(peerId);
  }
}

function fresh(): PeerState {
  return { connected: false, failures: 0, pinging: false, recheck: false, lastError: undefined };
}
