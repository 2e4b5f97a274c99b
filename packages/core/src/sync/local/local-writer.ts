import type { HybridLogicalClock } from '../../clock/hlc.js';
import type { RecordData } from '../../models/model-definition.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordDeletion, SyncRecord } from '../../ports/record-store.js';
import { PROTOCOL_LIMITS } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { ChangeApplier } from '../apply/change-applier.js';
import type { Change, Span } from '../change.js';
import type { LiveOutbox } from '../live/live-outbox.js';
import type { WatermarkCache } from '../watermark-cache.js';
import { interruptedLocalWrites } from './local-recovery.js';

/** A record to write: key and field values. */
export interface RecordInput {
  readonly id: string;
  readonly data: RecordData;
}

/**
 * This device's writes and deletes: validated, stamped and stored by the ChangeApplier like any
 * change (the one path every change takes), then pushed to the peers connected now, each
 * message with the span of this device's stream it completes. Before the node's first write it
 * finishes writes a crash interrupted and moves the clock past everything stored.
 */
export class LocalWriter implements Startable {
  private readonly registry: ModelRegistry;
  private readonly applier: ChangeApplier;
  private readonly outbox: LiveOutbox;
  private readonly deviceId: string;

  constructor(
    private readonly components: Pick<NodeComponents, 'modelRegistry' | 'applier' | 'outbox' | 'identity' | 'recordStore' | 'syncStore' | 'watermarks' | 'hlcClock' | 'logger'>,
  ) {
    this.registry = components.modelRegistry;
    this.applier = components.applier;
    this.outbox = components.outbox;
    this.deviceId = components.identity.deviceId;
  }

  /**
   * Finishes what a crash interrupted (this device's changes stored beyond its own watermark),
   * then moves the clock past every watermark: never stamp below what this device wrote or
   * stored before the restart, even if its wall clock went back.
   */
  async load(): Promise<void> {
    const { recordStore, syncStore, watermarks, hlcClock, logger } = this.components;
    const recovered = new Map<string, number>();
    for await (const [model, changes] of interruptedLocalWrites(this.deviceId, this.registry, recordStore, syncStore, watermarks)) {
      await this.applier.recover(model, changes);
      recovered.set(model, (recovered.get(model) ?? 0) + changes.length);
    }
    for (const [model, changes] of recovered) logger.info({ model, changes }, 'finished local writes a crash interrupted');
    seedClock(hlcClock, watermarks);
  }

  /** Writes records (insert or update), stamped with this device's clock, and pushes them live. */
  async write(model: string, inputs: readonly RecordInput[]): Promise<SyncRecord[]> {
    const data = inputs.map((i) => this.registry.validateData(model, i.id, i.data));
    const { changes, outcome } = await this.applier.applyLocal(
      model,
      inputs.map((i) => i.id),
      (stamp) => inputs.map((input, i): Change => ({ model, id: input.id, owner: this.deviceId, hlc: stamp(), op: 'upsert', data: data[i]! })),
    );
    this.push(outcome.relay.changes, outcome.relay.spans);
    return changes.map((c) => ({ id: c.id, ownerDeviceId: c.owner, hlc: c.hlc, data: c.data! }));
  }

  /** Deletes records: each delete is a tombstone stamped with this device's clock (returned), pushed live. */
  async delete(model: string, ids: readonly string[]): Promise<RecordDeletion[]> {
    this.registry.get(model);
    const { changes, outcome } = await this.applier.applyLocal(model, ids, (stamp) =>
      ids.map((id): Change => ({ model, id, owner: this.deviceId, hlc: stamp(), op: 'delete', data: null })),
    );
    this.push(outcome.relay.changes, outcome.relay.spans);
    return changes.map((c) => ({ id: c.id, ownerDeviceId: c.owner, hlc: c.hlc }));
  }

  /** Queued in messages of at most the protocol's limit, each with the part of the span it completes. */
  private push(changes: readonly Change[], spans: readonly Span[]): void {
    const span = spans[0];
    if (!span || changes.length <= PROTOCOL_LIMITS.maxChangesPerMessage) return this.outbox.enqueue(changes, spans);
    let from = span.from;
    for (let i = 0; i < changes.length; i += PROTOCOL_LIMITS.maxChangesPerMessage) {
      const chunk = changes.slice(i, i + PROTOCOL_LIMITS.maxChangesPerMessage);
      const to = chunk.at(-1)!.hlc;
      this.outbox.enqueue(chunk, [{ ...span, from, to }]);
      from = to;
    }
  }
}

function seedClock(clock: HybridLogicalClock, watermarks: WatermarkCache): void {
  const newest = watermarks.max();
  if (newest) clock.observe(newest);
}

