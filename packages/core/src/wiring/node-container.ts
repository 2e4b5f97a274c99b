import 'reflect-metadata';
import { pino, type Logger } from 'pino';
import { container as rootContainer, instanceCachingFactory, type DependencyContainer, type InjectionToken } from 'tsyringe';
import { HybridLogicalClock } from '../clock/hlc.js';
import { SyncEvents } from '../events/sync-events.js';
import type { ModelRegistry } from '../models/model-registry.js';
import { nodeSettings, type NodeSettingsInput } from '../node/node-settings.js';
import type { RecordStore } from '../ports/record-store.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { Transport } from '../ports/transport.js';
import { systemWallClock, type WallClock } from '../ports/wall-clock.js';
import { jsonCodec, type MessageCodec } from '../protocol/codec.js';
import { ChangeApplier } from '../sync/apply/change-applier.js';
import { EngineSignals } from '../sync/engine-signals.js';
import { HeadsAnnouncer } from '../sync/live/heads-announcer.js';
import { LiveInbox } from '../sync/live/live-inbox.js';
import { LiveOutbox } from '../sync/live/live-outbox.js';
import { LocalWriter } from '../sync/local/local-writer.js';
import { Messenger } from '../sync/messenger.js';
import { PulledPageCommitter } from '../sync/pull/checkpoint.js';
import { PageFetcher } from '../sync/pull/page-fetcher.js';
import { PeerLatency } from '../sync/peer-latency.js';
import { PeerVersions } from '../sync/peer-versions.js';
import { Scrubber } from '../sync/scrub/scrubber.js';
import { ResourcePuller } from '../sync/pull/resource-puller.js';
import { SyncRunner } from '../sync/pull/sync-runner.js';
import { RequestServer } from '../sync/serve/request-server.js';
import { StreamAcker } from '../sync/gc/stream-acker.js';
import { GarbageCollector } from '../sync/gc/garbage-collector.js';
import { SyncMetrics } from '../sync/sync-metrics.js';
import { WatermarkCache } from '../sync/watermark-cache.js';
import { BatchProofs } from '../sync/trust/batch-proofs.js';
import { ChangeSignatures, type TrustOptions } from '../sync/trust/change-signatures.js';
import { SignedHeads } from '../sync/trust/signed-heads.js';
import { DEVICE_ROSTER, DeviceRoster, rosterResolver } from '../sync/trust/device-roster.js';
import { PairingDesk } from '../sync/trust/pairing.js';
import { componentsOf, type NodeComponents } from './components.js';
import { Tokens, type NodeIdentity } from './tokens.js';

/** What a node is made of before its parts: identity, models, ports and settings. */
export interface NodeComponentsInit {
  readonly identity: NodeIdentity;
  readonly registry: ModelRegistry;
  readonly syncStore: SyncStore;
  readonly recordStore: RecordStore;
  readonly transport?: Transport;
  readonly wallClock?: WallClock;
  readonly codec?: MessageCodec;
  readonly logger?: Logger;
  readonly settings?: NodeSettingsInput;
  /** Signed changes (see TrustOptions); without it the node neither signs nor verifies. */
  readonly trust?: TrustOptions;
}

/**
 * Builds one node's dependency container as a child of the root container, so that nodes in
 * one process (tests, demos, a server hosting many libraries) never share a clock, a store or
 * an event stream. It registers the ports and settings given, and a default for every part of
 * the engine — each built from the node's components when first resolved, once per node —
 * which a registration made afterwards, before the node resolves its parts, replaces.
 *
 * Its body reads as the table of contents of a node.
 */
export function createNodeContainer(init: NodeComponentsInit): DependencyContainer {
  const child = rootContainer.createChildContainer();
  const value = <T>(token: InjectionToken<T>, instance: T): void => void child.register(token, { useValue: instance });
  const part = <T>(token: InjectionToken<T>, make: (components: NodeComponents) => T): void =>
    void child.register(token, { useFactory: instanceCachingFactory((c) => make(componentsOf(c))) });

  // Ports and settings.
  value(Tokens.Identity, init.identity);
  value(Tokens.ModelRegistry, init.registry);
  value(Tokens.SyncStore, init.syncStore);
  value(Tokens.RecordStore, init.recordStore);
  if (init.transport) value(Tokens.Transport, init.transport);
  value(Tokens.WallClock, init.wallClock ?? systemWallClock);
  value(Tokens.Codec, init.codec ?? jsonCodec);
  value(Tokens.Logger, init.logger ?? pino({ level: 'silent' }));
  value(Tokens.Settings, nodeSettings(init.settings ?? {}));
  // The roster's rule (a revocation sticks) is there by default; other shared models resolve by last writer wins.
  value(Tokens.ConflictResolvers, new Map([[DEVICE_ROSTER, rosterResolver]]));

  // State every part shares: the clock, the event streams out and in, the counters, the watermarks.
  part(Tokens.HlcClock, (c) => new HybridLogicalClock(c.identity.deviceId, { wallClock: c.wallClock, maxDriftMs: c.settings.maxClockDriftMs }));
  part(Tokens.SyncEvents, () => new SyncEvents());
  part(Tokens.Signals, () => new EngineSignals());
  part(Tokens.Metrics, (c) => new SyncMetrics(c));
  part(Tokens.Watermarks, (c) => new WatermarkCache(c));
  // Trust: this device's signatures on its changes and heads, and the checks of everyone else's.
  part(Tokens.Signatures, (c) => new ChangeSignatures(c, init.trust));
  part(Tokens.BatchProofs, (c) => new BatchProofs(c));
  part(Tokens.SignedHeads, (c) => new SignedHeads(c));
  part(Tokens.Roster, (c) => new DeviceRoster(c, init.trust));
  part(Tokens.Pairing, (c) => new PairingDesk(c, init.trust?.deviceKey));

  // The wire: decode/validate/encode, and answers to what peers ask.
  part(Tokens.Messenger, (c) => new Messenger(c));
  part(Tokens.Latency, (c) => new PeerLatency(c));
  // The handshake's protocol and model versions, this node's and each peer's.
  part(Tokens.Versions, (c) => new PeerVersions(c));
  // Scrubs: stored streams checked against signatures and peers' digests, repaired from a peer.
  part(Tokens.Scrubber, (c) => new Scrubber(c));
  part(Tokens.Server, (c) => new RequestServer(c));
  // Storing: every change, local or remote, goes through the applier; local writes start at the writer.
  part(Tokens.Applier, (c) => new ChangeApplier(c));
  part(Tokens.LocalWriter, (c) => new LocalWriter(c));
  // Live: pushing writes and relays, receiving them, heads when peers could not see a move.
  part(Tokens.Outbox, (c) => new LiveOutbox(c));
  part(Tokens.Inbox, (c) => new LiveInbox(c));
  part(Tokens.Announcer, (c) => new HeadsAnnouncer(c));
  // Pulling: the state machine of passes, one stream from its sources, its pages, their commit.
  part(Tokens.Runner, (c) => new SyncRunner(c));
  part(Tokens.Puller, (c) => new ResourcePuller(c));
  part(Tokens.Fetcher, (c) => new PageFetcher(c));
  part(Tokens.Committer, (c) => new PulledPageCommitter(c));
  // Garbage: acks of every stream to peers; tombstones and shared changes pruned below every member's ack.
  part(Tokens.Acker, (c) => new StreamAcker(c));
  part(Tokens.Collector, (c) => new GarbageCollector(c));
  return child;
}
