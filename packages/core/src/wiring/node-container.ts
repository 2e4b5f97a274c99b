import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { HybridLogicalClock, type Hlc } from '../clock/hlc.js';
import { systemWallClock, type WallClock } from '../ports/wall-clock.js';
import { SyncEvents } from '../events/sync-events.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { RecordStore } from '../ports/record-store.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { Transport } from '../ports/transport.js';
import { Tokens, type NodeIdentity } from './tokens.js';

export interface NodeComponents {
  readonly identity: NodeIdentity;
  readonly registry: ModelRegistry;
  readonly syncStore: SyncStore;
  readonly recordStore: RecordStore;
  readonly transport?: Transport;
  readonly wallClock?: WallClock;
  /** Maximum accepted lead of a remote clock over ours (ms). */
  readonly maxClockDriftMs?: number;
  /** Highest HLC this device issued before a restart; the clock never goes below it. */
  readonly lastHlc?: Hlc;
}

/**
 * Builds one node's dependency container as a child of the root container, so that two
 * nodes in one process (tests, demos, a server hosting many libraries) never share a clock,
 * a store or an event stream. Everything stateful is registered as an instance here.
 */
export function createNodeContainer(components: NodeComponents): DependencyContainer {
  const child = rootContainer.createChildContainer();
  const wallClock = components.wallClock ?? systemWallClock;
  child.registerInstance(Tokens.Identity, components.identity);
  child.registerInstance(Tokens.ModelRegistry, components.registry);
  child.registerInstance(Tokens.SyncStore, components.syncStore);
  child.registerInstance(Tokens.RecordStore, components.recordStore);
  if (components.transport) child.registerInstance(Tokens.Transport, components.transport);
  child.registerInstance(Tokens.WallClock, wallClock);
  child.registerInstance(
    Tokens.HlcClock,
    new HybridLogicalClock(components.identity.deviceId, {
      wallClock,
      ...(components.maxClockDriftMs !== undefined ? { maxDriftMs: components.maxClockDriftMs } : {}),
      ...(components.lastHlc ? { last: components.lastHlc } : {}),
    }),
  );
  child.registerInstance(Tokens.SyncEvents, new SyncEvents());
  return child;
}
