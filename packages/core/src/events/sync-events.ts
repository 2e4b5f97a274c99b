import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { HighwaterError } from '../errors.js';

/** Where a node stands. Paused = no peer reachable; it resumes where it left off. */
export type SyncState = 'uninitialized' | 'backfilling' | 'catching-up' | 'ready' | 'paused';

/**
 * A node's event streams. Subjects stay private: outside code gets read-only observables and
 * only the engine, which holds this object, can emit (the RxDB replication pattern).
 */
export class SyncEvents {
  private readonly stateSubject = new BehaviorSubject<SyncState>('uninitialized');
  private readonly errorSubject = new Subject<HighwaterError>();

  /** Current state first, then every transition. */
  readonly state$: Observable<SyncState> = this.stateSubject.asObservable();
  /** Errors the node handled without stopping (bad input, a failed peer, …). */
  readonly errors$: Observable<HighwaterError> = this.errorSubject.asObservable();

  get state(): SyncState {
    return this.stateSubject.value;
  }

  /** Emits only real transitions, so subscribers never see a state twice in a row. */
  setState(next: SyncState): void {
    if (this.stateSubject.value !== next) this.stateSubject.next(next);
  }

  reportError(error: HighwaterError): void {
    this.errorSubject.next(error);
  }

  /** Completes every stream; called when the node stops for good. */
  complete(): void {
    this.stateSubject.complete();
    this.errorSubject.complete();
  }
}
