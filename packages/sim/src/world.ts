import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  compareHlc,
  createInProcessNetwork,
  DeviceKey,
  formatHlc,
  SyncNode,
  type FaultContext,
  type FaultDecision,
  type Hlc,
  type InProcessNetwork,
  type RecordData,
  type RecordStore,
  type SyncStore,
  type SyncRecord,
} from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { CrashSwitch, SimulatedCrash } from './crash-switch.js';
import { canonicalData, contentProblems, coverageProblems, InvariantViolation, streamDigests, watermarkProblems } from './invariants.js';
import { simRegistry } from './models.js';
import { Oracle, hlcText, type KnownChange } from './oracle.js';
import { CALM, linksOf, type NetFaults, type Plan, type Shape } from './plan.js';
import { Random } from './random.js';
import { SimPeer, type PendingWrite } from './sim-peer.js';
import { mayBePruned, readSnapshot, streamOf, versionOf, type NodeSnapshot } from './snapshot.js';
import type { VirtualTime } from './virtual-time.js';
import type { WriteRequest } from './workload.js';

export const LIBRARY_ID = 'sim-library';

/** What a node's stores pass through before the node gets them (see SimulationOptions.wrapStores). */
export type StoreWrapper = (stores: { syncStore: SyncStore; recordStore: RecordStore }, device: string) => { syncStore: SyncStore; recordStore: RecordStore };
/** How long a heal may take to converge, in virtual time, before it counts as stuck. */
const CONVERGE_LIMIT_MS = 10 * 60_000;
const CONVERGE_POLL_MS = 250;

/**
 * The simulated devices, their network and the ground truth. Steps act on it; the checks read
 * every node's files and compare them with the oracle. Everything here runs in virtual time.
 */
export class World {
  readonly network: InProcessNetwork;
  readonly peers: SimPeer[];
  readonly oracle = new Oracle();
  readonly trace: string[] = [];
  /** Failures found outside a check (a refused write, an unhandled rejection). */
  readonly failures: InvariantViolation[] = [];
  readonly stats = { writes: 0, changes: 0, crashes: 0, restarts: 0, heals: 0, messages: 0, dropped: 0, parked: 0, overflows: 0, pruned: 0, tombstonesPruned: 0, reconciled: 0 };
  private readonly desired = new Set<string>();
  private faults: NetFaults = CALM;
  private readonly netRandom: Random;
  private readonly members: string[];
  /** Every device's key, from the seed (Ed25519 signatures are deterministic, so runs repeat). */
  private readonly keys: Map<string, DeviceKey>;
  private readonly startedAt: number;

  constructor(
    readonly plan: Plan,
    readonly time: VirtualTime,
    private readonly directory: string,
    private readonly wrapStores: StoreWrapper = (stores) => stores,
  ) {
    this.startedAt = time.now;
    this.netRandom = new Random(plan.seed ^ 0x5eed);
    this.network = createInProcessNetwork({ latencyMs: plan.latencyMs, faults: (ctx) => this.fate(ctx) });
    this.network.wire$.subscribe(() => this.stats.messages++);
    this.members = Array.from({ length: plan.peers }, (_, i) => `d${i}`);
    this.peers = this.members.map((name, i) => new SimPeer(i, name, join(directory, name), plan.skews[i]!, time));
    this.keys = new Map(this.members.map((name) => [name, DeviceKey.fromSeed(createHash('sha256').update(`${plan.seed}/${name}`).digest())]));
  }

  log(line: string): void {
    const t = ((this.time.now - this.startedAt) / 1000).toFixed(3);
    this.trace.push(`+${t}s ${line}`);
  }


  /** Virtual time since the run began. */
  get elapsedMs(): number {
    return this.time.now - this.startedAt;
  }

  // --- processes -------------------------------------------------------------------------

  /** Starts a process on the peer's files: checks what they hold, opens a node, finishes interrupted writes. */
  async start(peer: SimPeer): Promise<void> {
    const fresh = peer.status === 'absent';
    const storage = createSqliteStorage({ directory: peer.directory, registry: simRegistry, synchronous: 'normal' });
    // What survived the crash, before the node touches it: every claim must hold on disk.
    this.checkStored(peer, await readSnapshot(simRegistry, storage.recordStore, storage.syncStore));
    const generation = ++peer.generation;
    if (!fresh) this.stats.restarts++;
    const crashSwitch = new CrashSwitch(peer.name, () => this.crashed(peer, generation));
    const transport = this.network.transport(peer.name);
    const { node: settings } = this.plan;
    const node = await SyncNode.create({
      libraryId: LIBRARY_ID,
      deviceId: peer.name,
      registry: simRegistry,
      storage: this.wrapStores({ syncStore: crashSwitch.wrap(storage.syncStore, 'sync'), recordStore: crashSwitch.wrap(storage.recordStore, 'records') }, peer.name),
      transport,
      wallClock: peer.wall,
      members: this.members,
      // Signed changes on: every change is verified at every hop, relays included.
      trust: { deviceKey: this.keys.get(peer.name)!, devices: this.members.map((deviceId) => ({ deviceId, publicKey: this.keys.get(deviceId)!.publicKey })) },
      metricsIntervalMs: 0,
      ...settings,
    });
    peer.storage = storage;
    peer.crashSwitch = crashSwitch;
    peer.node = node;
    peer.status = 'up';
    peer.lastProgress = null;
    node.progress$.subscribe((p) => {
      if (peer.node === node) peer.lastProgress = p;
    });
    node.state$.subscribe((state) => {
      if (peer.node === node) this.log(`${peer.name}: ${state}`);
    });
    node.errors$.subscribe((e) => {
      if (peer.node === node) this.log(`${peer.name} reports ${e.code}: ${e.message.slice(0, 200)}`);
      // Every peer is honest here: a refused signature means one was lost or garbled on the way.
      if (e.code === 'HW_FORGED_CHANGE') this.failures.push(new InvariantViolation('signature-refused', `${peer.name}: ${e.message}`));
    });
    await this.resolveUncertain(peer);
    await node.start();
    this.log(`${peer.name} ${fresh ? 'joined' : 'restarted'} (process ${generation})`);
    this.realize();
  }

  /** The process dies where it stands (called by its crash switch, inside whatever it was doing). */
  private crashed(peer: SimPeer, generation: number): void {
    if (peer.generation !== generation || peer.status !== 'up') return;
    this.stats.crashes++;
    this.log(`${peer.name} crashed (${peer.crashSwitch?.stoppedAt ?? '?'}; ${peer.inflight.size} writes unacknowledged)`);
    peer.status = 'down';
    this.countMetrics(peer);
    this.network.crash(peer.name);
    peer.uncertain.push(...peer.inflight);
    peer.inflight.clear();
    const { node, storage } = peer;
    peer.node = null;
    peer.storage = null;
    peer.crashSwitch = null;
    // Its timers go with it; every storage and network call it still makes fails.
    void node?.stop().catch(() => undefined);
    void storage?.close();
  }

  /** Adds what a process's node counted (it is gone after a crash) to the run's totals. */
  private countMetrics(peer: SimPeer): void {
    const m = peer.node?.metrics();
    if (!m) return;
    this.stats.parked += m.changesParked;
    this.stats.overflows += m.liveOverflows;
    this.stats.pruned += m.sharedChangesPruned;
    this.stats.tombstonesPruned += m.tombstonesPruned;
    this.stats.reconciled += m.streamsReconciled;
  }

  crash(peer: SimPeer, afterCalls: number): void {
    if (peer.status !== 'up') return;
    if (afterCalls === 0) peer.crashSwitch!.trip();
    else {
      peer.crashSwitch!.arm(afterCalls);
      this.log(`${peer.name} will crash at its ${afterCalls}th storage call from now`);
    }
  }

  /** Writes a crash interrupted: the ones the restarted node holds become known changes. */
  private async resolveUncertain(peer: SimPeer): Promise<void> {
    if (peer.uncertain.length === 0) return;
    const { recordStore, syncStore } = peer.storage!;
    const found: KnownChange[] = [];
    const after = peer.lastIssued;
    const newer = (h: Hlc): boolean => h.deviceId === peer.name && (!after || compareHlc(h, after) > 0);
    for (const w of peer.uncertain) {
      const shared = simRegistry.get(w.model).ownership === 'shared';
      const log = shared ? await syncStore.sharedChangesSince({ after, limit: 100_000, originDeviceId: peer.name, model: w.model }) : [];
      if (w.op === 'upsert') {
        const stored = new Map((await recordStore.getMany(w.model, w.ids)).map((r) => [r.id, r]));
        w.ids.forEach((id, i) => {
          const data = w.data[i]!;
          const r = stored.get(id);
          const hlc =
            r && newer(r.hlc) && sameData(r.data, data) ? r.hlc : log.find((c) => c.recordId === id && c.op === 'upsert' && sameData(c.data, data))?.hlc;
          if (hlc) found.push({ model: w.model, id, owner: peer.name, hlc, op: 'upsert', data });
        });
      } else {
        const tombstones = await syncStore.getTombstones(w.model, w.ids);
        for (const id of w.ids) {
          const t = tombstones.get(id);
          const hlc = t && newer(t.hlc) ? t.hlc : log.find((c) => c.recordId === id && c.op === 'delete')?.hlc;
          if (hlc) found.push({ model: w.model, id, owner: peer.name, hlc, op: 'delete', data: null });
        }
      }
    }
    const total = peer.uncertain.reduce((n, w) => n + w.ids.length, 0);
    peer.uncertain = [];
    found.sort((a, b) => compareHlc(a.hlc, b.hlc));
    for (const c of found) this.known(peer, c, null);
    this.log(`${peer.name}: ${found.length} of ${total} changes its crash interrupted were stored`);
  }

  // --- writes ----------------------------------------------------------------------------

  /** Hands a write to a peer's node; its changes become known when it is acknowledged. */
  async issue(peer: SimPeer, request: WriteRequest): Promise<void> {
    const node = peer.node;
    if (!node || peer.status !== 'up') return;
    const ids = request.op === 'upsert' ? request.records.map((r) => r.id) : request.ids;
    const held = await this.heldVersions(peer, request.model, ids);
    const pending: PendingWrite = { model: request.model, op: request.op, ids, data: request.op === 'upsert' ? request.records.map((r) => r.data) : [], held };
    peer.inflight.add(pending);
    this.stats.writes++;
    const done =
      request.op === 'upsert'
        ? node.write(request.model, request.records).then((records: SyncRecord[]) => records.map((r) => r.hlc))
        : node.delete(request.model, request.ids).then((deletions) => deletions.map((d) => d.hlc));
    this.log(`${peer.name} ${request.op === 'upsert' ? 'writes' : 'deletes'} ${ids.length} ${request.model}: ${ids.join(' ')}`);
    done.then(
      (hlcs) => {
        if (!peer.inflight.delete(pending)) return; // its process crashed meanwhile: uncertain
        hlcs.forEach((hlc, i) => {
          const change: KnownChange = { model: pending.model, id: ids[i]!, owner: peer.name, hlc, op: pending.op, data: pending.op === 'upsert' ? pending.data[i]! : null };
          this.known(peer, change, pending.held[i] ?? null);
        });
      },
      (error: unknown) => {
        if (!peer.inflight.delete(pending) || error instanceof SimulatedCrash) return;
        this.failures.push(new InvariantViolation('write-refused', `${peer.name} refused its own ${pending.op} of ${pending.model} ${ids.join(' ')}: ${(error as Error).message}`));
      },
    );
  }

  /** A durable change of `peer`: the oracle learns it; its HLC must follow the device's last and the version it replaced. */
  private known(peer: SimPeer, change: KnownChange, held: Hlc | null): void {
    if (peer.lastIssued && compareHlc(change.hlc, peer.lastIssued) <= 0) {
      this.failures.push(new InvariantViolation('hlc-went-back', `${peer.name} stamped ${formatHlc(change.hlc)} after ${formatHlc(peer.lastIssued)}`));
    }
    if (held && compareHlc(change.hlc, held) <= 0) {
      this.failures.push(
        new InvariantViolation('write-older-than-what-it-replaced', `${peer.name} wrote ${change.model}/${change.id} at ${formatHlc(change.hlc)} over the version ${formatHlc(held)} it held`),
      );
    }
    peer.lastIssued = change.hlc;
    this.oracle.add(change);
    this.stats.changes++;
  }

  private async heldVersions(peer: SimPeer, model: string, ids: readonly string[]): Promise<(Hlc | null)[]> {
    const { recordStore, syncStore } = peer.storage!;
    const records = new Map((await recordStore.getMany(model, ids)).map((r) => [r.id, r.hlc]));
    const tombstones = await syncStore.getTombstones(model, ids);
    return ids.map((id) => {
      const r = records.get(id) ?? null;
      const t = tombstones.get(id)?.hlc ?? null;
      return r && t ? (compareHlc(r, t) >= 0 ? r : t) : (r ?? t);
    });
  }

  // --- network ---------------------------------------------------------------------------

  setFaults(faults: NetFaults): void {
    this.faults = faults;
    this.log(faults === CALM ? 'network calm' : `network faults: ${JSON.stringify(faults)}`);
  }

  /** The fate of one message (a fixed number of draws per message, so runs stay aligned). */
  private fate(_ctx: FaultContext): FaultDecision | undefined {
    const f = this.faults;
    if (f === CALM) return undefined;
    const r = this.netRandom;
    const decision = { drop: r.chance(f.drop), duplicate: r.chance(f.duplicate), reorder: r.chance(f.reorder), delayMs: r.chance(f.delay) ? r.int(0, f.maxDelayMs) : 0 };
    if (decision.drop) this.stats.dropped++;
    return decision;
  }

  /** Sets the links the plan wants (they exist while both ends are up). */
  setLinks(links: readonly [number, number][], replace: boolean): void {
    if (replace) this.desired.clear();
    for (const [a, b] of links) this.desired.add(a < b ? `${a}:${b}` : `${b}:${a}`);
    this.realize();
  }

  unlink(a: number, b: number): void {
    this.desired.delete(a < b ? `${a}:${b}` : `${b}:${a}`);
    this.realize();
  }

  /** Connects wanted links between running peers and cuts the others. */
  private realize(): void {
    for (const x of this.peers) {
      for (const y of this.peers) {
        if (x.index >= y.index) continue;
        const want = this.desired.has(`${x.index}:${y.index}`) && x.status === 'up' && y.status === 'up';
        const is = this.network.isConnected(x.name, y.name);
        if (want && !is) this.network.connect(x.name, y.name);
        if (!want && is) this.network.disconnect(x.name, y.name);
      }
    }
  }

  describeLinks(): string {
    return [...this.desired].map((k) => k.split(':').map((i) => `d${i}`).join('–')).join(' ') || 'none';
  }

  // --- checks ----------------------------------------------------------------------------

  /** Safety, after every step: what each running peer has stored backs every claim it makes. */
  async checkSafety(): Promise<void> {
    for (const peer of this.peers) {
      if (peer.status !== 'up' || !peer.storage) continue;
      this.checkStored(peer, await readSnapshot(simRegistry, peer.storage.recordStore, peer.storage.syncStore));
    }
    if (this.failures.length > 0) throw this.failures[0]!;
    if (this.time.errors.length > 0) throw new InvariantViolation('uncaught-error', `a timer callback threw: ${String(this.time.errors[0])}`);
  }

  /** Watermarks and checkpoints cover only what is stored; no record and no watermark goes back. */
  private checkStored(peer: SimPeer, snapshot: NodeSnapshot): void {
    const covered = coverageProblems(peer.name, simRegistry, this.oracle, snapshot, 'watermark');
    if (covered.length > 0) throw new InvariantViolation('watermark-covers-missing', covered.slice(0, 5).join('\n'));
    const checkpoints = coverageProblems(peer.name, simRegistry, this.oracle, snapshot, 'checkpoint');
    if (checkpoints.length > 0) throw new InvariantViolation('checkpoint-covers-missing', checkpoints.slice(0, 5).join('\n'));
    for (const model of simRegistry.syncOrder()) {
      const ids = new Set([...(snapshot.records.get(model)?.keys() ?? []), ...(snapshot.tombstones.get(model)?.keys() ?? []), ...(snapshot.parked.get(model)?.keys() ?? [])]);
      for (const id of ids) {
        const version = versionOf(snapshot, model, id)!;
        const k = `${model}/${id}`;
        const seen = peer.seenVersions.get(k);
        if (seen && compareHlc(version, seen) < 0) {
          throw new InvariantViolation('record-went-back', `${peer.name} held ${k} at ${formatHlc(seen)}, now at ${formatHlc(version)}`);
        }
        peer.seenVersions.set(k, version);
      }
    }
    for (const [k, seen] of peer.seenVersions) {
      const [model, ...rest] = k.split('/');
      if (versionOf(snapshot, model!, rest.join('/'))) continue;
      // A collected tombstone, or a record a reconciling pull dropped (its delete collected): gone, up to the prune point.
      if (mayBePruned(snapshot, model!, seen)) peer.seenVersions.delete(k);
      else throw new InvariantViolation('record-went-back', `${peer.name} held ${k} at ${formatHlc(seen)}, now nothing`);
    }
    for (const [stream, seen] of peer.seenMarks) {
      const mark = snapshot.watermarks.get(stream);
      if (!mark || compareHlc(mark, seen) < 0) {
        throw new InvariantViolation('watermark-went-back', `${peer.name}'s watermark of (${stream.replace('\u0000', ', ')}) was ${formatHlc(seen)}, now ${hlcText(mark)}`);
      }
    }
    for (const [stream, mark] of snapshot.watermarks) peer.seenMarks.set(stream, mark);
  }

  /**
   * A heal: every peer that has joined runs (crashed ones restart), the links form `shape`, the
   * network is calm, and time runs until every peer holds exactly what the oracle says — then
   * the convergence invariants are checked. Planned faults resume afterwards.
   */
  async heal(shape: Shape, order: readonly number[], joinAll = false): Promise<void> {
    this.stats.heals++;
    for (const peer of this.peers) peer.crashSwitch?.disarm();
    for (const peer of this.peers) if (peer.status === 'down' || (joinAll && peer.status === 'absent')) await this.start(peer);
    const running = order.filter((i) => this.peers[i]!.status === 'up');
    this.setLinks(linksOf(shape, running), true);
    const faults = this.faults;
    this.faults = CALM;
    this.log(`heal as a ${shape}: ${this.describeLinks()}`);
    await this.converge();
    this.faults = faults;
  }

  private async converge(): Promise<void> {
    const deadline = this.time.now + CONVERGE_LIMIT_MS;
    const up = (): SimPeer[] => this.peers.filter((p) => p.status === 'up');
    for (;;) {
      await this.time.advance(CONVERGE_POLL_MS);
      await this.checkSafety();
      const quiet = up().every((p) => p.node!.state === 'ready' && p.node!.parkedCount() === 0);
      if (quiet && (await this.contentsMatch())) break;
      if (this.time.now > deadline) throw new InvariantViolation('no-convergence', await this.divergence());
    }
    const snapshots = await Promise.all(up().map(async (p) => [p, await readSnapshot(simRegistry, p.storage!.recordStore, p.storage!.syncStore)] as const));
    const problems: string[] = [];
    for (const [peer, snapshot] of snapshots) {
      problems.push(...watermarkProblems(peer.name, this.oracle, snapshot));
      const progress = peer.lastProgress;
      if (!progress || progress.ratio !== 1 || progress.applied !== progress.total) {
        problems.push(`${peer.name}: progress ended at ${progress ? `${progress.applied}/${progress.total} (${progress.ratio})` : 'nothing'}, not 100 %`);
      }
    }
    if (problems.length > 0) throw new InvariantViolation('converged-state', problems.slice(0, 8).join('\n'));
    const [first, ...rest] = snapshots.map(([p, s]) => [p.name, [...streamDigests(simRegistry, s)].sort().map(([k, v]) => `${k} ${v.count} ${v.digest}`).join('\n')] as const);
    for (const [name, digests] of rest) {
      if (digests !== first![1]) throw new InvariantViolation('digests-differ', `${first![0]}:\n${first![1]}\n${name}:\n${digests}`);
    }
    this.log(`converged: ${up().length} peers hold ${this.oracle.changes} known changes' outcome, ${up().map((p) => p.name).join(' ')}`);
  }

  private async contentsMatch(): Promise<boolean> {
    for (const peer of this.peers) {
      if (peer.status !== 'up') continue;
      const snapshot = await readSnapshot(simRegistry, peer.storage!.recordStore, peer.storage!.syncStore);
      if (contentProblems(peer.name, simRegistry, this.oracle, snapshot, 1).length > 0) return false;
      if (watermarkProblems(peer.name, this.oracle, snapshot).length > 0) return false;
    }
    return true;
  }

  /** Why peers did not converge: states, parked records, and the first differences per peer. */
  private async divergence(): Promise<string> {
    const lines: string[] = [`links: ${this.describeLinks()}`];
    for (const peer of this.peers) {
      if (peer.status !== 'up') continue;
      const node = peer.node!;
      const snapshot = await readSnapshot(simRegistry, peer.storage!.recordStore, peer.storage!.syncStore);
      lines.push(`${peer.name}: state ${node.state}, ${node.parkedCount()} parked, progress ${peer.lastProgress ? `${peer.lastProgress.applied}/${peer.lastProgress.total}` : '-'}`);
      lines.push(...contentProblems(peer.name, simRegistry, this.oracle, snapshot, 4).map((l) => `  ${l}`));
      lines.push(...watermarkProblems(peer.name, this.oracle, snapshot).slice(0, 4).map((l) => `  ${l}`));
    }
    return lines.join('\n');
  }

  /** Crashes every process and removes the files (the end of a run, passed or failed). */
  dispose(): void {
    for (const peer of this.peers) peer.crashSwitch?.trip('end of run');
    rmSync(this.directory, { recursive: true, force: true });
  }
}

function sameData(a: RecordData | null, b: RecordData | null): boolean {
  return canonicalData(a) === canonicalData(b);
}

export { streamOf };
