import type { Hlc } from '../../clock/hlc.js';
import type { RecordCursor } from '../../ports/record-store.js';
import type { GarbageCollector } from '../gc/garbage-collector.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { ChangeApplier } from '../apply/change-applier.js';
import type { Change, Span } from '../change.js';
import type { PullTask } from './pull-planner.js';

/** Where a backfill of one stream stands after a page. */
export interface BackfillPosition {
  readonly cursor: RecordCursor | null;
  readonly completed: boolean;
  readonly recordsApplied: number;
  readonly recordsTotal: number | null;
}

/** The stretch of a stream a reconciling page covers: after `from`, up to `to` (the head, for a stream's last page). */
export interface ReconcileStretch {
  readonly from: RecordCursor | null;
  readonly to: RecordCursor | Hlc;
  readonly prunedUpTo: Hlc;
}

/**
 * The one place a pulled page becomes durable and moves its stream: the ChangeApplier stores
 * the page and moves the watermark over the span it completes, and only then, in a backfill,
 * the checkpoint moves to the page's end. Never the other way round, so a crash re-fetches at
 * most the pages in flight, and applying a page again changes nothing.
 */
export class PulledPageCommitter {
  private readonly applier: ChangeApplier;
  private readonly syncStore: SyncStore;
  private readonly collector: GarbageCollector;

  constructor(components: Pick<NodeComponents, 'applier' | 'syncStore' | 'collector'>) {
    this.applier = components.applier;
    this.syncStore = components.syncStore;
    this.collector = components.collector;
  }

  /**
   * `reconcile`: the page is part of a pull from the stream's beginning after its source pruned
   * deletes past this node's position. What this node holds of the stream in the page's stretch
   * and the page lacks was deleted: it goes, and this node takes on the source's prune point
   * first (it no longer has those deletes to serve either).
   */
  async commit(task: PullTask, page: readonly Change[], span: Span | null, backfill: BackfillPosition | null, reconcile?: ReconcileStretch): Promise<void> {
    if (reconcile) {
      await this.collector.adopt(task.owner, task.resource, reconcile.prunedUpTo);
      await this.applier.dropAbsent(task.resource, task.owner, reconcile.from, reconcile.to, new Set(page.map((c) => c.id)));
    }
    await this.applier.apply(page, 'pull', span ? [span] : []);
    if (backfill) await this.syncStore.saveCheckpoint({ ownerDeviceId: task.owner, resourceType: task.resource, ...backfill });
  }
}
