/**
 * @highwater/core — leaderless peer-to-peer library sync.
 *
 * Core holds what every node shares whatever its adapters: the Hybrid Logical Clock, Syncable
 * model definitions and their registry, the ports adapters implement (SyncStore, RecordStore,
 * Transport, WallClock), per-node wiring and event streams. Conformance suites for adapters
 * live in `@highwater/core/testing`.
 *
 * ```ts
 * import { ModelRegistry } from '@highwater/core';
 * const registry = new ModelRegistry([
 *   { name: 'location', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' } } },
 *   { name: 'entry', ownership: 'device', key: 'uuid',
 *     fields: { name: { type: 'text' }, locationId: { type: 'text', references: 'location' } } },
 * ]);
 * registry.syncOrder(); // ['location', 'entry']
 * ```
 */
import 'reflect-metadata';

export * from './errors.js';
export * from './clock/hlc.js';
export * from './identity/device-key.js';
export * from './identity/invite-code.js';
export { PairingError, type PairingErrorCode, redeemInvite, type RedeemInviteOptions, type PairedLibrary, type PairedDevice, type IssuedInvite, type CreateInviteOptions, DEFAULT_INVITE_TTL_MS } from './sync/trust/pairing.js';
export { deviceRosterModel, DEVICE_ROSTER, rosterResolver, type RosterDevice } from './sync/trust/device-roster.js';
export { ChangeSignatures, ForgedChangeError, SenderIdentityError, type ForgedReason, changeSigningBytes, batchPlaceOf, withoutProof, type BatchPlace, SIGNATURE_BATCH_MAX, type TrustOptions, type TrustedDevice } from './sync/trust/change-signatures.js';
export * from './ports/wall-clock.js';
export * from './models/model-definition.js';
export * from './models/model-registry.js';
export * from './models/typeorm-entity.js';
export type * from './ports/sync-store.js';
export type * from './ports/record-store.js';
export * from './ports/transport.js';
export * from './events/sync-events.js';
export * from './wiring/tokens.js';
export * from './wiring/node-container.js';
export { componentTokens, type NodeComponents } from './wiring/components.js';
export type { Startable } from './wiring/lifecycle.js';
export * from './ports/conflict-resolver.js';
export type { NodeSettings } from './node/node-settings.js';
export * from './protocol/messages.js';
export * from './protocol/codec.js';
export { parseSyncMessage } from './protocol/schemas.js';
export { agreedProtocol, type ModelVersionStatus } from './sync/peer-versions.js';
export type { ScrubReport, StreamRepair } from './sync/scrub/scrubber.js';
export { StreamDigest, digestOfStream } from './sync/scrub/stream-digest.js';
export * from './transport/in-process-transport.js';
export * from './node/sync-node.js';
export type { SyncMetricsSnapshot } from './sync/sync-metrics.js';
export { BACKFILL_COMPLETED_AT } from './sync/pull/sync-runner.js';
export { GC_LOG_PRUNED_UP_TO, GC_PRUNED_UP_TO } from './sync/gc/garbage-collector.js';
export * from './transport/transport-lifecycle.js';
export * from './transport/ordered-sends.js';
export * from './transport/transport-adapter.js';
export * from './transport/timers.js';
export * from './storage/sql-values.js';
export * from './storage/keyset.js';
export * from './storage/queries.js';
export * from './storage/sync-rows.js';
export * from './storage/record-rows.js';
export * from './storage/model-tables.js';
