import type { Logger } from 'pino';
import type { DependencyContainer, InjectionToken } from 'tsyringe';
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
import type { HeadsAnnouncer } from '../sync/live/heads-announcer.js';
import type { LiveInbox } from '../sync/live/live-inbox.js';
import type { LiveOutbox } from '../sync/live/live-outbox.js';
import type { LocalWriter } from '../sync/local/local-writer.js';
import type { Messenger } from '../sync/messenger.js';
import type { PulledPageCommitter } from '../sync/pull/checkpoint.js';
import type { PageFetcher } from '../sync/pull/page-fetcher.js';
import type { PeerLatency } from '../sync/peer-latency.js';
import type { PeerVersions } from '../sync/peer-versions.js';
import type { Scrubber } from '../sync/scrub/scrubber.js';
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
import { Tokens, type NodeIdentity } from './tokens.js';

/**
 * Everything a node's parts may be given, by name (libp2p's `Components`). A part declares the
 * few it needs — `constructor(components: Pick<NodeComponents, 'modelRegistry' | 'applier'>)` —
 * and gets them from the node's container, so replacing one registration replaces it for every
 * part. Each name has its token in `Tokens`.
 */
export interface NodeComponents {
  readonly identity: NodeIdentity;
  readonly modelRegistry: ModelRegistry;
  readonly syncStore: SyncStore;
  readonly recordStore: RecordStore;
  readonly transport: Transport;
  readonly wallClock: WallClock;
  readonly codec: MessageCodec;
  readonly logger: Logger;
  readonly settings: NodeSettings;
  readonly conflictResolvers: ConflictResolvers;
  readonly hlcClock: HybridLogicalClock;
  readonly syncEvents: SyncEvents;
  readonly signals: EngineSignals;
  readonly metrics: SyncMetrics;
  readonly watermarks: WatermarkCache;
  readonly signatures: ChangeSignatures;
  readonly batchProofs: BatchProofs;
  readonly signedHeads: SignedHeads;
  readonly roster: DeviceRoster;
  readonly pairing: PairingDesk;
  readonly messenger: Messenger;
  readonly latency: PeerLatency;
  readonly versions: PeerVersions;
  readonly scrubber: Scrubber;
  readonly applier: ChangeApplier;
  readonly localWriter: LocalWriter;
  readonly outbox: LiveOutbox;
  readonly inbox: LiveInbox;
  readonly announcer: HeadsAnnouncer;
  readonly collector: GarbageCollector;
  readonly acker: StreamAcker;
  readonly server: RequestServer;
  readonly fetcher: PageFetcher;
  readonly committer: PulledPageCommitter;
  readonly puller: ResourcePuller;
  readonly runner: SyncRunner;
}

/** The token of each component. */
export const componentTokens: { readonly [K in keyof NodeComponents]: InjectionToken<NodeComponents[K]> } = {
  identity: Tokens.Identity,
  modelRegistry: Tokens.ModelRegistry,
  syncStore: Tokens.SyncStore,
  recordStore: Tokens.RecordStore,
  transport: Tokens.Transport,
  wallClock: Tokens.WallClock,
  codec: Tokens.Codec,
  logger: Tokens.Logger,
  settings: Tokens.Settings,
  conflictResolvers: Tokens.ConflictResolvers,
  hlcClock: Tokens.HlcClock,
  syncEvents: Tokens.SyncEvents,
  signals: Tokens.Signals,
  metrics: Tokens.Metrics,
  watermarks: Tokens.Watermarks,
  signatures: Tokens.Signatures,
  batchProofs: Tokens.BatchProofs,
  signedHeads: Tokens.SignedHeads,
  roster: Tokens.Roster,
  pairing: Tokens.Pairing,
  messenger: Tokens.Messenger,
  latency: Tokens.Latency,
  versions: Tokens.Versions,
  scrubber: Tokens.Scrubber,
  applier: Tokens.Applier,
  localWriter: Tokens.LocalWriter,
  outbox: Tokens.Outbox,
  inbox: Tokens.Inbox,
  announcer: Tokens.Announcer,
  collector: Tokens.Collector,
  acker: Tokens.Acker,
  server: Tokens.Server,
  fetcher: Tokens.Fetcher,
  committer: Tokens.Committer,
  puller: Tokens.Puller,
  runner: Tokens.Runner,
};

/** The node's components, each resolved from `container` when first read. */
export function componentsOf(container: DependencyContainer): NodeComponents {
  const components = {};
  for (const [name, token] of Object.entries(componentTokens)) {
    Object.defineProperty(components, name, { get: () => container.resolve(token as InjectionToken<unknown>), enumerable: true });
  }
  return components as NodeComponents;
}
