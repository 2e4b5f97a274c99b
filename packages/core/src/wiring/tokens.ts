import type { InjectionToken } from 'tsyringe';
import type { HybridLogicalClock } from '../clock/hlc.js';
import type { WallClock } from '../ports/wall-clock.js';
import type { SyncEvents } from '../events/sync-events.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { RecordStore } from '../ports/record-store.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { Transport } from '../ports/transport.js';

/** Who a node is: the library it syncs and the device it runs on. */
export interface NodeIdentity {
  readonly libraryId: string;
  readonly deviceId: string;
}

/** tsyringe tokens for what a node's components need injected (libp2p's `Components`). */
export const Tokens = {
  Identity: Symbol.for('highwater.Identity') as InjectionToken<NodeIdentity>,
  ModelRegistry: Symbol.for('highwater.ModelRegistry') as InjectionToken<ModelRegistry>,
  SyncStore: Symbol.for('highwater.SyncStore') as InjectionToken<SyncStore>,
  RecordStore: Symbol.for('highwater.RecordStore') as InjectionToken<RecordStore>,
  Transport: Symbol.for('highwater.Transport') as InjectionToken<Transport>,
  WallClock: Symbol.for('highwater.WallClock') as InjectionToken<WallClock>,
  HlcClock: Symbol.for('highwater.HlcClock') as InjectionToken<HybridLogicalClock>,
  SyncEvents: Symbol.for('highwater.SyncEvents') as InjectionToken<SyncEvents>,
} as const;
