import type { RecordCursor } from '../../ports/record-store.js';
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

/**
 * The one place a pulled page becomes durable and moves its stream: the ChangeApplier stores
 * the page and moves the watermark over the span it completes, and only then, in a backfill,
 * the checkpoint moves to the page's end. Never the other way round, so a crash re-fetches at
 * most the pages in flight, and applying a page again changes nothing.
 */
export class PulledPageCommitter {
  private readonly applier: ChangeApplier;
  private readonly syncStore: SyncStore;

  constructor(components: Pick<NodeComponents, 'applier' | 'syncStore'>) {
    this.applier = components.applier;
    this.syncStore = components.syncStore;
  }

  async commit(task: PullTask, page: readonly Change[], span: Span | null, backfill: BackfillPosition | null): Promise<void> {
    await this.applier.apply(page, 'pull', span ? [span] : []);
    if (backfill) await this.syncStore.saveCheckpoint({ ownerDeviceId: task.owner, resourceType: task.resource, ...backfill });
  }
}
