import type { InjectionToken } from 'tsyringe';
import type { Logger } from 'pino';
import type { HybridLogicalClock } from '../clock/hlc.js';
import type { SyncEvents } from '../events/sync-events.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { NodeSettings } from '../node/node-settings.js';
import type { ConflictResolvers } from '../ports/conflict-resolver.js';
import type { RecordStore } from '../ports/record-store.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { Transport } from '../ports/transport.js';
import type { WallClock } from '../ports/wall-clock.js';
import type { MessageCodec } from '../protocol/codec.js';
import type { ChangeApplier } from '../sync/apply/change-applier.js';
import type { EngineSignals } from '../sync/engine-signals.js';
import type { LiveInbox } from '../sync/live/live-inbox.js';
import type { LiveOutbox } from '../sync/live/live-outbox.js';
import type { HeadsAnnouncer } from '../sync/live/heads-announcer.js';
import type { LocalWriter } from '../sync/local/local-writer.js';
import type { Messenger } from '../sync/messenger.js';
import type { PageFetcher } from '../sync/pull/page-fetcher.js';
import type { PeerLatency } from '../sync/peer-latency.js';
import type { PeerVersions } from '../sync/peer-versions.js';
import type { Scrubber } from '../sync/scrub/scrubber.js';
import type { PulledPageCommitter } from '../sync/pull/checkpoint.js';
import type { ResourcePuller } from '../sync/pull/resource-puller.js';
import type { SyncRunner } from '../sync/pull/sync-runner.js';
import type { RequestServer } from '../sync/serve/request-server.js';
import type { StreamAcker } from '../sync/gc/stream-acker.js';
import type { GarbageCollector } from '../sync/gc/garbage-collector.js';
import type { SyncMetrics } from '../sync/sync-metrics.js';
import type { WatermarkCache } from '../sync/watermark-cache.js';
import type { BatchProofs } from '../sync/trust/batch-proofs.js';
import type { ChangeSignatures } from '../sync/trust/change-signatures.js';
import type { SignedHeads } from '../sync/trust/signed-heads.js';
import type { DeviceRoster } from '../sync/trust/device-roster.js';
import type { PairingDesk } from '../sync/trust/pairing.js';

/** Who a node is: the library it syncs and the device it runs on. */
export interface NodeIdentity {
  readonly libraryId: string;
  readonly deviceId: string;
}

/**
 * tsyringe tokens of everything a node's parts are given (libp2p's `Components`): the ports
 * and settings it was created with, and each part of the engine. A node registers a default
 * for every token in its own child container; `SyncNodeOptions.configure` may register another
 * before the node resolves its parts (a custom conflict resolver, a part of one's own).
 */
export const Tokens = {
  Identity: Symbol.for('highwater.Identity') as InjectionToken<NodeIdentity>,
  ModelRegistry: Symbol.for('highwater.ModelRegistry') as InjectionToken<ModelRegistry>,
  SyncStore: Symbol.for('highwater.SyncStore') as InjectionToken<SyncStore>,
  RecordStore: Symbol.for('highwater.RecordStore') as InjectionToken<RecordStore>,
  Transport: Symbol.for('highwater.Transport') as InjectionToken<Transport>,
  WallClock: Symbol.for('highwater.WallClock') as InjectionToken<WallClock>,
  Codec: Symbol.for('highwater.Codec') as InjectionToken<MessageCodec>,
  Logger: Symbol.for('highwater.Logger') as InjectionToken<Logger>,
  Settings: Symbol.for('highwater.Settings') as InjectionToken<NodeSettings>,
  ConflictResolvers: Symbol.for('highwater.ConflictResolvers') as InjectionToken<ConflictResolvers>,
  HlcClock: Symbol.for('highwater.HlcClock') as InjectionToken<HybridLogicalClock>,
  SyncEvents: Symbol.for('highwater.SyncEvents') as InjectionToken<SyncEvents>,
  Signals: Symbol.for('highwater.Signals') as InjectionToken<EngineSignals>,
  Metrics: Symbol.for('highwater.Metrics') as InjectionToken<SyncMetrics>,
  Watermarks: Symbol.for('highwater.Watermarks') as InjectionToken<WatermarkCache>,
  Signatures: Symbol.for('highwater.Signatures') as InjectionToken<ChangeSignatures>,
  BatchProofs: Symbol.for('highwater.BatchProofs') as InjectionToken<BatchProofs>,
  SignedHeads: Symbol.for('highwater.SignedHeads') as InjectionToken<SignedHeads>,
  Roster: Symbol.for('highwater.Roster') as InjectionToken<DeviceRoster>,
  Pairing: Symbol.for('highwater.Pairing') as InjectionToken<PairingDesk>,
  Messenger: Symbol.for('highwater.Messenger') as InjectionToken<Messenger>,
  Latency: Symbol.for('highwater.Latency') as InjectionToken<PeerLatency>,
  Versions: Symbol.for('highwater.Versions') as InjectionToken<PeerVersions>,
  Scrubber: Symbol.for('highwater.Scrubber') as InjectionToken<Scrubber>,
  Applier: Symbol.for('highwater.Applier') as InjectionToken<ChangeApplier>,
  LocalWriter: Symbol.for('highwater.LocalWriter') as InjectionToken<LocalWriter>,
  Outbox: Symbol.for('highwater.Outbox') as InjectionToken<LiveOutbox>,
  Inbox: Symbol.for('highwater.Inbox') as InjectionToken<LiveInbox>,
  Announcer: Symbol.for('highwater.Announcer') as InjectionToken<HeadsAnnouncer>,
  Collector: Symbol.for('highwater.Collector') as InjectionToken<GarbageCollector>,
  Acker: Symbol.for('highwater.Acker') as InjectionToken<StreamAcker>,
  Server: Symbol.for('highwater.Server') as InjectionToken<RequestServer>,
  Fetcher: Symbol.for('highwater.Fetcher') as InjectionToken<PageFetcher>,
  Committer: Symbol.for('highwater.Committer') as InjectionToken<PulledPageCommitter>,
  Puller: Symbol.for('highwater.Puller') as InjectionToken<ResourcePuller>,
  Runner: Symbol.for('highwater.Runner') as InjectionToken<SyncRunner>,
} as const;
