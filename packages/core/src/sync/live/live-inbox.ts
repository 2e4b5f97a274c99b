import type { Logger } from 'pino';
import type { ChangeApplier } from '../apply/change-applier.js';
import type { Change, Span } from '../change.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { EngineSignals } from '../engine-signals.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { LiveOutbox } from './live-outbox.js';

/**
 * Receives live changes from peers. While the node backfills or catches up, they are
 * buffered (applying them then could move a watermark past records the pull has not
 * fetched yet); at most `limit` changes wait. On overflow the buffer is dropped and the
 * runner catches up again, which fetches the dropped changes — nothing is lost, because
 * nothing dropped was ever counted by a watermark.
 */
export class LiveInbox {
  private buffering = true;
  private buffer: { changes: readonly Change[]; spans: readonly Span[]; from: string }[] = [];
  private buffered = 0;
  private overflowed = false;
  private readonly applier: ChangeApplier;
  private readonly outbox: LiveOutbox;
  private readonly limit: number;
  private readonly metrics: SyncMetrics;
  private readonly logger: Logger;
  private readonly signals: EngineSignals;

  constructor(components: Pick<NodeComponents, 'applier' | 'outbox' | 'settings' | 'metrics' | 'logger' | 'signals'>) {
    this.applier = components.applier;
    this.outbox = components.outbox;
    this.limit = components.settings.liveBufferLimit;
    this.metrics = components.metrics;
    this.logger = components.logger;
    this.signals = components.signals;
  }

  get isBuffering(): boolean {
    return this.buffering;
  }

  /** Starts buffering; call before a pass begins (synchronously on peer connect). */
  startBuffering(): void {
    this.buffering = true;
  }

  /** Whether changes were dropped since the last call; clears the flag. */
  takeOverflow(): boolean {
    const o = this.overflowed;
    this.overflowed = false;
    return o;
  }

  async receive(changes: readonly Change[], spans: readonly Span[], from: string): Promise<void> {
    this.metrics.add('changesReceivedLive', changes.length);
    if (this.buffering) {
      if (this.buffered + changes.length > this.limit) {
        this.logger.info({ dropped: this.buffered + changes.length }, 'live buffer overflow; catch-up will fetch the dropped changes');
        this.buffer = [];
        this.buffered = 0;
        this.overflowed = true;
        this.metrics.add('liveOverflows');
        return;
      }
      this.buffer.push({ changes, spans, from });
      this.buffered += changes.length;
      return;
    }
    await this.applyAndRelay(changes, spans, from);
  }

  /**
   * Applies what was buffered, in arrival order, then switches to applying on arrival.
   * Returns false, still buffering, if the buffer overflowed meanwhile: going live then
   * could move a watermark past the dropped changes, so another catch-up must come first.
   */
  async drainAndGoLive(): Promise<boolean> {
    while (this.buffer.length > 0 && !this.overflowed) {
      const batch = this.buffer;
      this.buffer = [];
      this.buffered = 0;
      for (const b of batch) await this.applyAndRelay(b.changes, b.spans, b.from);
    }
    if (this.overflowed) return false;
    this.buffering = false;
    return true;
  }

  private async applyAndRelay(changes: readonly Change[], spans: readonly Span[], from: string): Promise<void> {
    const outcome = await this.applier.apply(changes, 'live', spans);
    // Forward only spans this node's watermark just moved over: each change is relayed by a
    // node at most once, so a ring of peers does not echo changes forever.
    this.outbox.enqueue(outcome.relay.changes, outcome.relay.spans, from);
    // Changes beyond a watermark (a gap): their stream needs a catch-up.
    if (outcome.gaps.length > 0) this.signals.behind();
  }
}
