import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { HighwaterError } from '../errors.js';

/** Where a node stands. Paused = no peer reachable; it resumes where it left off. */
export type SyncState = 'uninitialized' | 'backfilling' | 'catching-up' | 'ready' | 'paused';

/** Backfill or catch-up progress: records applied / records the serving peers announced. */
export interface SyncProgress {
  readonly phase: 'backfill' | 'catch-up';
  readonly applied: number;
  readonly total: number;
  /** applied / total, capped at 1; 1 when nothing was announced. */
  readonly ratio: number;
  /** The (owner, resource) being pulled now, if any. */
  readonly current: { readonly owner: string; readonly resource: string; readonly peerId: string } | null;
}

/** Records that changed in the local store, by where the changes came from. */
export interface AppliedChanges {
  readonly model: string;
  readonly source: 'local' | 'live' | 'pull';
  readonly upserted: number;
  readonly deleted: number;
}

/** A library peer reachable (or not) over the transport. */
export interface PeerStatus {
  readonly peerId: string;
  /** Known once the peer has sent a message (it carries its device id). */
  readonly deviceId: string | null;
  readonly connected: boolean;
  readonly rttMs: number | undefined;
}

/**
 * A node's event streams. Subjects stay private: outside code gets read-only observables and
 * only the engine, which holds this object, can emit (the RxDB replication pattern).
 */
export class SyncEvents {
  private readonly stateSubject = new BehaviorSubject<SyncState>('uninitialized');
  private readonly errorSubject = new Subject<HighwaterError>();
  private readonly progressSubject = new Subject<SyncProgress>();
  private readonly appliedSubject = new Subject<AppliedChanges>();
  private readonly peerSubject = new Subject<PeerStatus>();
  /** Errors found while the node loads, before anyone could subscribe: emitted when it starts. */
  private beforeStart: HighwaterError[] | null = [];

  /** Current state first, then every transition. */
  readonly state$: Observable<SyncState> = this.stateSubject.asObservable();
  /**
   * Errors the node handled without stopping (bad input, a failed peer, …). Those found while
   * `SyncNode.create` loads its stores come when the node first leaves 'uninitialized' (at start).
   */
  readonly errors$: Observable<HighwaterError> = this.errorSubject.asObservable();
  readonly progress$: Observable<SyncProgress> = this.progressSubject.asObservable();
  readonly applied$: Observable<AppliedChanges> = this.appliedSubject.asObservable();
  readonly peers$: Observable<PeerStatus> = this.peerSubject.asObservable();

  get state(): SyncState {
    return this.stateSubject.value;
  }

  /** Emits only real transitions, so subscribers never see a state twice in a row. */
  setState(next: SyncState): void {
    if (this.stateSubject.value !== next) this.stateSubject.next(next);
    const held = this.beforeStart;
    if (held !== null && next !== 'uninitialized') {
      this.beforeStart = null;
      for (const error of held) this.errorSubject.next(error);
    }
  }

  reportError(error: HighwaterError): void {
    if (this.beforeStart !== null && this.stateSubject.value === 'uninitialized') this.beforeStart.push(error);
    else this.errorSubject.next(error);
  }

  reportProgress(progress: SyncProgress): void {
    this.progressSubject.next(progress);
  }

  reportApplied(applied: AppliedChanges): void {
    this.appliedSubject.next(applied);
  }

  reportPeer(peer: PeerStatus): void {
    this.peerSubject.next(peer);
  }

  /** Completes every stream; called when the node stops for good. */
  complete(): void {
    for (const s of [this.stateSubject, this.errorSubject, this.progressSubject, this.appliedSubject, this.peerSubject]) s.complete();
  }
}
