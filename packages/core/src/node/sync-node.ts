import type { Logger } from 'pino';
import type { ScrubReport } from '../sync/scrub/scrubber.js';
import type { ModelVersionStatus } from '../sync/peer-versions.js';
import type { Observable } from 'rxjs';
import type { DependencyContainer } from 'tsyringe';
import type { Hlc } from '../clock/hlc.js';
import type { HighwaterError } from '../errors.js';
import type { AppliedChanges, PeerStatus, SyncProgress, SyncState } from '../events/sync-events.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { RecordDeletion, RecordStore, SyncRecord } from '../ports/record-store.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { Transport } from '../ports/transport.js';
import type { WallClock } from '../ports/wall-clock.js';
import type { MessageCodec } from '../protocol/codec.js';
import type { RecordInput } from '../sync/local/local-writer.js';
import type { SyncMetricsSnapshot } from '../sync/sync-metrics.js';
import type { TrustOptions, TrustedDevice } from '../sync/trust/change-signatures.js';
import type { RosterDevice } from '../sync/trust/device-roster.js';
import type { CreateInviteOptions, IssuedInvite, PairedDevice, PairedLibrary } from '../sync/trust/pairing.js';
import { componentsOf, type NodeComponents } from '../wiring/components.js';
import { createNodeContainer } from '../wiring/node-container.js';
import { NodeLifecycle } from '../wiring/node-lifecycle.js';

export type { RecordInput } from '../sync/local/local-writer.js';

export interface SyncNodeOptions {
  readonly libraryId: string;
  /** This device; 1–128 characters of [0-9A-Za-z._:-] (it is embedded in every HLC). */
  readonly deviceId: string;
  readonly registry: ModelRegistry;
  readonly storage: { readonly syncStore: SyncStore; readonly recordStore: RecordStore };
  readonly transport: Transport;
  /**
   * Every device of the library. A stream's tombstones and shared changes are pruned only below
   * the acks of all of them (those heard from within `gcHorizonMs`); without a list, never.
   */
  readonly members?: readonly string[];
  /**
   * Signed changes: this device signs every change it writes with `trust.deviceKey` (the key
   * its transport authenticates with), and accepts a peer's change only with a valid signature
   * of its owner (origin, for shared models) among `trust.devices`, whoever relayed it; any
   * other is refused (HW_FORGED_CHANGE) with the whole message, so nothing of it is stored and
   * no watermark moves. `members` defaults to the devices listed. Without `trust`, nothing is
   * signed or checked: only the transport's membership guards the library.
   */
  readonly trust?: TrustOptions;
  /**
   * Records per backfill/catch-up page: each page is applied in one transaction and moves the
   * checkpoint. Default 1000; at most `PROTOCOL_LIMITS.maxPageSize`.
   */
  readonly pageSize?: number;
  /**
   * Pages a backfill or catch-up asks a peer for in one request, at most. A pull starts with
   * one page per request and doubles up to this, so the first page comes as soon as one
   * page can, and later ones share a request and a response between several pages (each is
   * still applied and checkpointed on its own). Default 4; lowered where more would exceed
   * `PROTOCOL_LIMITS.maxPageSize` records per request.
   */
  readonly pagesPerRequest?: number;
  /**
   * How long local writes gather before they are pushed. Default 0: what is written in one
   * turn of the event loop goes out together, with no added latency.
   */
  readonly liveBatchWindowMs?: number;
  /** Live changes buffered during backfill/catch-up before the buffer is dropped. Default 10 000. */
  readonly liveBufferLimit?: number;
  /** Default 30 000. */
  readonly requestTimeoutMs?: number;
  /** Default 60 000. */
  readonly maxClockDriftMs?: number;
  /** Persist metrics this often (ms); 0 disables the timer (they are still saved on stop). Default 30 000. */
  readonly metricsIntervalMs?: number;
  /**
   * Heads go to every connected peer this often (ms), so a peer that missed a live change (a
   * lost message, a relay that never came) catches up without waiting for a reconnect; 0
   * disables the timer. Heads also go out ~100 ms after a pull moved watermarks. Default 30 000.
   */
  readonly antiEntropyMs?: number;
  /**
   * A scrub runs this often (ms): every settled stream is read up to its watermark, checked
   * against its owners' signatures (with `trust`) and its digest compared with each peer's at the
   * same watermark; what a store lost or altered is repaired from a peer (see `scrub()`). 0: only
   * when `scrub()` is called. Default 6 hours.
   */
  readonly scrubIntervalMs?: number;
  /**
   * How many streams of one resource (one per owner) a backfill or catch-up pulls at once, each
   * from its own best source (the owner, else the fastest peer holding all of it), one stream
   * at a time per source. Default 3.
   */
  readonly parallelPulls?: number;
  /**
   * How long a member may stay unheard before it stops holding back the pruning of tombstones
   * and shared changes (ms). Such a member, when it returns, pulls again from their beginning
   * the streams pruned past its watermark, dropping what was deleted meanwhile. Default 30 days.
   */
  readonly gcHorizonMs?: number;
  readonly wallClock?: WallClock;
  readonly codec?: MessageCodec;
  /** A pino logger; default: silent. */
  readonly logger?: Logger;
  /**
   * Registers replacements in the node's container before its parts are built — a
   * `Tokens.ConflictResolvers` map for shared models that should not resolve by last writer
   * wins, or a part of one's own under its token (see `Tokens`).
   */
  readonly configure?: (container: DependencyContainer) => void;
}

/**
 * One device's node of one library: the facade an integrator uses.
 *
 * ```ts
 * const node = await SyncNode.create({ libraryId, deviceId, registry, storage, transport });
 * node.state$.subscribe((s) => console.log(s));
 * await node.start();
 * await node.write('location', [{ id: '0190…', data: { name: 'Photos' } }]);
 * await node.stop();
 * ```
 * Its parts live in its own tsyringe child container (see `createNodeContainer`), so many
 * nodes can share a process, and any part can be replaced through `configure`.
 */
export class SyncNode {
  readonly container: DependencyContainer;
  readonly state$: Observable<SyncState>;
  readonly progress$: Observable<SyncProgress>;
  readonly applied$: Observable<AppliedChanges>;
  readonly peers$: Observable<PeerStatus>;
  readonly errors$: Observable<HighwaterError>;
  readonly metrics$: Observable<SyncMetricsSnapshot>;
  /** Each device this node paired through an invite, with the addresses it gave (keep them to reach it after a restart). */
  readonly paired$: Observable<PairedDevice>;

  private readonly components: NodeComponents;
  private readonly lifecycle: NodeLifecycle;
  private started = false;

  private constructor(container: DependencyContainer) {
    this.container = container;
    this.components = componentsOf(container);
    this.lifecycle = new NodeLifecycle(this.components);
    const events = this.components.syncEvents;
    this.state$ = events.state$;
    this.progress$ = events.progress$;
    this.applied$ = events.applied$;
    this.peers$ = events.peers$;
    this.errors$ = events.errors$;
    this.metrics$ = this.components.metrics.metrics$;
    this.paired$ = this.components.pairing.paired$;
  }

  /**
   * Builds a node and loads what it kept: counters, watermarks, parked changes; finishes local
   * writes a crash interrupted; moves the clock past everything stored.
   */
  static async create(options: SyncNodeOptions): Promise<SyncNode> {
    const container = createNodeContainer({
      identity: { libraryId: options.libraryId, deviceId: options.deviceId },
      registry: options.registry,
      syncStore: options.storage.syncStore,
      recordStore: options.storage.recordStore,
      transport: options.transport,
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
      ...(options.codec ? { codec: options.codec } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.trust ? { trust: options.trust } : {}),
      settings: {
        ...(options.members ? { members: options.members } : {}),
        ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
        ...(options.pagesPerRequest !== undefined ? { pagesPerRequest: options.pagesPerRequest } : {}),
        ...(options.liveBatchWindowMs !== undefined ? { liveBatchWindowMs: options.liveBatchWindowMs } : {}),
        ...(options.liveBufferLimit !== undefined ? { liveBufferLimit: options.liveBufferLimit } : {}),
        ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
        ...(options.maxClockDriftMs !== undefined ? { maxClockDriftMs: options.maxClockDriftMs } : {}),
        ...(options.metricsIntervalMs !== undefined ? { metricsIntervalMs: options.metricsIntervalMs } : {}),
        ...(options.antiEntropyMs !== undefined ? { antiEntropyMs: options.antiEntropyMs } : {}),
        ...(options.scrubIntervalMs !== undefined ? { scrubIntervalMs: options.scrubIntervalMs } : {}),
        ...(options.parallelPulls !== undefined ? { parallelPulls: options.parallelPulls } : {}),
        ...(options.gcHorizonMs !== undefined ? { gcHorizonMs: options.gcHorizonMs } : {}),
      },
    });
    options.configure?.(container);
    const node = new SyncNode(container);
    await node.lifecycle.load();
    return node;
  }

  get state(): SyncState {
    return this.components.syncEvents.state;
  }

  get deviceId(): string {
    return this.components.identity.deviceId;
  }

  /** Starts the transport, answers peers, and runs a first backfill or catch-up pass. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // With trust, the transport admits the listed devices not revoked, and no one else.
    if (this.components.signatures.enabled) this.components.transport.setMembers?.(this.components.signatures.activeDevices().map((d) => d.publicKey));
    await this.lifecycle.start();
  }

  /**
   * Replaces the device list of `trust` (see TrustedDevice), for instance to revoke a device:
   * from then on its changes stamped after `revokedAt` and its messages are refused, the
   * transport disconnects it and refuses it (`Transport.setMembers`), and garbage collection
   * stops waiting for it (when `members` was not given). A listed device keeps its key.
   */
  setDevices(devices: readonly TrustedDevice[]): void {
    this.components.signatures.setDevices(devices);
    this.components.transport.setMembers?.(this.components.signatures.activeDevices().map((d) => d.publicKey));
  }

  /**
   * Adds a device to the library's roster (needs `trust` and `deviceRosterModel` in the
   * registry): a signed roster record that syncs to every device, each of which then accepts
   * the new device's changes and lets it connect. Its key never changes afterwards.
   */
  async addDevice(device: { deviceId: string; publicKey: string; name?: string }): Promise<void> {
    await this.components.roster.add(device);
  }

  /**
   * Revokes a device through the roster: every device that takes the change up disconnects it,
   * refuses it when it comes back, and refuses its changes stamped from now on, whoever relays
   * them. What it wrote before stays valid.
   */
  async revokeDevice(deviceId: string): Promise<void> {
    await this.components.roster.revoke(deviceId);
  }

  /**
   * Issues an invite for a new device (needs `trust`, `deviceRosterModel` and a transport with
   * pairing): a code (`HW1-…`) carrying this node's addresses and key and a one-time secret.
   * While an invite is open, the transport lets devices that are not members make a pairing
   * request, and nothing else; the first valid one is added to the roster and gets the device
   * list back. The invite closes when used, after `ttlMs` (default 10 minutes), after five wrong
   * proofs of its secret, or when the node stops. Start the node first (its addresses go in).
   */
  createInvite(options?: CreateInviteOptions): IssuedInvite {
    return this.components.pairing.createInvite(options);
  }

  /**
   * Joins the library of an invite: this device (`trust.deviceKey`, this node's device id)
   * redeems `code` with the inviter over the node's transport, takes up the device list it
   * receives (kept in sync state, so it still counts after a restart), and connects to the
   * inviter; the backfill follows. The node must be started and be of the invite's library.
   * Throws PairingError (HW_INVITE_EXPIRED, HW_INVITE_INVALID, HW_PAIRING_REFUSED,
   * HW_PAIRING_FORGED, HW_PAIRING_UNSUPPORTED), InviteCodeError (HW_INVITE_CODE), or the
   * transport's error when the inviter cannot be reached.
   */
  joinLibrary(code: string, options?: { name?: string; requestTimeoutMs?: number }): Promise<PairedLibrary> {
    return this.components.pairing.join(code, options);
  }

  /** The library's devices: `trust.devices` and the roster together, revoked ones included (with `revokedAt`). */
  devices(): Promise<RosterDevice[]> {
    return this.components.roster.devices();
  }

  /** Runs a catch-up pass now (also what a peer connecting does); resolves when it settles. */
  syncNow(): Promise<void> {
    return this.components.runner.trigger();
  }

  /** Stops pushing and pulling, saves metrics and stops the transport. Storage stays open. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.lifecycle.stop();
    this.components.syncEvents.setState('paused');
  }

  /** Writes records (insert or update), stamped with this device's clock, and pushes them live. */
  write(model: string, inputs: readonly RecordInput[]): Promise<SyncRecord[]> {
    return this.components.localWriter.write(model, inputs);
  }

  /**
   * Deletes records; each delete propagates as a tombstone stamped with this device's clock
   * (returned). Device-owned records only by their owner.
   */
  delete(model: string, ids: readonly string[]): Promise<RecordDeletion[]> {
    return this.components.localWriter.delete(model, ids);
  }

  async get(model: string, ids: readonly string[]): Promise<SyncRecord[]> {
    return this.components.recordStore.getMany(model, ids);
  }

  async count(model: string, owner?: string): Promise<number> {
    return this.components.recordStore.count(model, owner);
  }

  metrics(): SyncMetricsSnapshot {
    return this.components.metrics.snapshot();
  }

  /** Changes waiting here: for a record they reference that has not arrived (0 once in sync), or for an upgrade of their model (see `versionStatus`). */
  parkedCount(): number {
    return this.components.applier.parking.size;
  }

  /**
   * Each model's version here and the newest its peers said they have in the handshake, with
   * how many changes of it wait, kept aside, for this node to be upgraded (`keptAside`): stored,
   * served on to peers as they came, applied at the first start on a registry that reads them.
   */
  versionStatus(): (ModelVersionStatus & { keptAside: number })[] {
    const waiting = this.components.applier.parking.waitingForNewerVersion();
    return this.components.versions.status().map((s) => ({ ...s, keptAside: waiting.get(s.model) ?? 0 }));
  }

  /**
   * Looks for records this node's stores lost or altered, and repairs them from a peer: each
   * settled stream is read up to its watermark, checked against its owners' signatures
   * (with `trust`) and its digest compared with each connected peer's at the same watermark. A
   * stream found damaged or diverged is read again from a peer — any peer whose pages verify
   * with `trust`, only the stream's owner without — and what differs is put right in place.
   * Also runs every `scrubIntervalMs`.
   */
  scrub(): Promise<ScrubReport> {
    return this.components.scrubber.scrub();
  }

  /** The node's watermarks: highest HLC applied per (owner device, resource). */
  watermarks(): { owner: string; resource: string; hlc: Hlc }[] {
    return this.components.watermarks.all().sort((a, b) => (a.owner + a.resource < b.owner + b.resource ? -1 : 1));
  }

  /** Resolves once everything queued (applies, local writes) has been processed and pushed. */
  async settle(): Promise<void> {
    await this.components.applier.idle();
    await this.components.outbox.flush();
  }
}
