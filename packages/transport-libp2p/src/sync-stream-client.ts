import type { Connection } from '@libp2p/interface';
import type { Deadline } from './deadline.js';
import { untilAborted } from './stream-utils.js';
import { SyncSession, type SyncSessionInit } from './sync-session.js';

export interface SyncStreamClientInit extends SyncSessionInit {
  /** How long opening a session (stream and hellos) may take. */
  readonly openTimeoutMs: number;
  /** A measured round trip of a request (from handing it to the session to the response). */
  readonly onRoundTrip: (peerId: string, ms: number) => void;
}

/**
 * The requester side of the sync protocol: one session per connection (opened on the existing
 * connection, never a new dial), carrying every request and one-way message to that peer. A
 * session that failed is replaced by the next call; calls waiting on it fail with its error.
 */
export class SyncStreamClient {
  /** Open or opening sessions, by connection id. */
  private readonly sessions = new Map<string, Promise<SyncSession>>();

  constructor(private readonly init: SyncStreamClientInit) {}

  async request(connection: Connection, payload: Uint8Array, deadline: Deadline): Promise<Uint8Array> {
    const started = performance.now();
    const session = await this.session(connection, deadline);
    const response = await session.request(payload, deadline);
    this.init.onRoundTrip(connection.remotePeer.toString(), performance.now() - started);
    return response;
  }

  /** Resolves once the receiver's handler has the message; messages are handled in the order sent. */
  async send(connection: Connection, payload: Uint8Array, deadline: Deadline): Promise<void> {
    const session = await this.session(connection, deadline);
    await session.send(payload, deadline);
  }

  /**
   * A fresh round trip on `connection`: opens a short-lived session, waits for the peer's hello
   * and ends it. For a connection that was open already, whose session's hello may be old: the
   * peer may have hung up since (it stopped counting this node as a member) without this side
   * having noticed yet.
   */
  async probe(connection: Connection, deadline: Deadline): Promise<void> {
    const session = await SyncSession.open(connection, this.init, deadline.signal, () => undefined);
    try {
      await untilAborted(session.ready(), deadline.signal);
    } finally {
      session.close(new Error('probe done'));
    }
  }

  /** Opens the session to a peer that just connected, so its first request does not wait for it. */
  warm(connection: Connection): void {
    this.sessionOf(connection).catch(() => undefined);
  }

  /** Ends the session on `connection`, if any: calls waiting on it fail with `reason`. */
  closeConnection(connection: Connection, reason: Error): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    this.sessions.delete(connection.id);
    void session.then((s) => s.close(reason), () => undefined);
  }

  /** Ends every session (the transport is stopping). */
  closeAll(reason: Error): void {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const session of sessions) void session.then((s) => s.close(reason), () => undefined);
  }

  /** The connection's session, waiting no longer than the caller's deadline. */
  private session(connection: Connection, deadline: Deadline): Promise<SyncSession> {
    return untilAborted(this.sessionOf(connection), deadline.signal);
  }

  private sessionOf(connection: Connection): Promise<SyncSession> {
    const current = this.sessions.get(connection.id);
    if (current) return current.then((session) => (session.alive ? session : this.reopen(connection, current)));
    return this.reopen(connection, undefined);
  }

  /** Opens a session unless another call already replaced `stale`. */
  private reopen(connection: Connection, stale: Promise<SyncSession> | undefined): Promise<SyncSession> {
    const current = this.sessions.get(connection.id);
    if (current && current !== stale) return current;
    const opening = SyncSession.open(connection, this.init, AbortSignal.timeout(this.init.openTimeoutMs), () => {
      if (this.sessions.get(connection.id) === opening) this.sessions.delete(connection.id);
    });
    this.sessions.set(connection.id, opening);
    opening.catch(() => {
      if (this.sessions.get(connection.id) === opening) this.sessions.delete(connection.id);
    });
    return opening;
  }
}
