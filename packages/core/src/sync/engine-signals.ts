import { Subject, type Observable } from 'rxjs';

/**
 * What one part of the engine tells the others, without knowing who listens: the applier
 * stored something, or moved watermarks peers did not see it move; something shows this node
 * is behind. Internal to a node (the public streams are SyncEvents).
 */
export class EngineSignals {
  private readonly storedSubject = new Subject<string>();
  private readonly sharedProcessedSubject = new Subject<void>();
  private readonly unrelayedSubject = new Subject<void>();
  private readonly behindSubject = new Subject<void>();

  /** Records, tombstones or parked changes of this model were stored: pages of it read before are stale. */
  readonly stored$: Observable<string> = this.storedSubject.asObservable();
  /** Remote shared changes were processed (applied or not): time to ack the shared log. */
  readonly sharedProcessed$: Observable<void> = this.sharedProcessedSubject.asObservable();
  /** Watermarks moved over changes peers did not get from this node live (a pull, a gap closed): time to announce heads. */
  readonly unrelayed$: Observable<void> = this.unrelayedSubject.asObservable();
  /** A live change started beyond a watermark, or a peer announced heads beyond ours: time to catch up. */
  readonly behind$: Observable<void> = this.behindSubject.asObservable();

  stored(model: string): void {
    this.storedSubject.next(model);
  }

  sharedProcessed(): void {
    this.sharedProcessedSubject.next();
  }

  unrelayed(): void {
    this.unrelayedSubject.next();
  }

  behind(): void {
    this.behindSubject.next();
  }
}
