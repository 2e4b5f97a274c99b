import type { NodeComponents } from './components.js';
import type { Startable } from './lifecycle.js';

/**
 * In what order a node's parts load, start and stop — the one place that says it.
 *
 * Load (while the node is created): the counters and watermarks from the SyncStore; the local
 * writer finishes writes a crash interrupted and moves the clock past everything stored; the
 * applier takes up parked changes; the collector reads its prune points and members' acks.
 *
 * Start: the messenger answers peers and the runner follows them before the transport lets
 * anyone connect; timers next; once everything runs, the runner's first pass.
 *
 * Stop: timers and signals first; the outbox sends what is queued; the runner finishes its
 * pass; the transport closes; the counters are saved last.
 */
export class NodeLifecycle {
  constructor(private readonly components: NodeComponents) {}

  async load(): Promise<void> {
    const c = this.components;
    for (const part of [c.metrics, c.watermarks, c.roster, c.signedHeads, c.localWriter, c.applier, c.collector] as Startable[]) await part.load?.();
  }

  async start(): Promise<void> {
    const c = this.components;
    const parts: Startable[] = [c.roster, c.messenger, c.outbox, c.runner, c.transport, c.metrics, c.announcer, c.acker, c.collector, c.scrubber];
    for (const part of parts) await part.start?.();
    for (const part of parts) part.afterStart?.();
  }

  async stop(): Promise<void> {
    const c = this.components;
    for (const part of [c.scrubber, c.pairing, c.announcer, c.acker, c.collector, c.outbox, c.runner, c.roster] as Startable[]) await part.stop?.();
    await c.applier.idle();
    await c.signedHeads.flush();
    await c.transport.stop();
    await c.metrics.stop();
  }
}
