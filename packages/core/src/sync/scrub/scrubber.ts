import { compareHlc, formatHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import { HighwaterError } from '../../errors.js';
import type { SyncRecord } from '../../ports/record-store.js';
import type { StateResponseMessage, WireCursor, WireStreamDigest, WireStreamPoint } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import { changeFromRecord, changesFromWire, type Change } from '../change.js';
import { streamKey } from '../stream-key.js';
import { changeSigningBytes } from '../trust/change-signatures.js';
import { contradictingSignatures } from '../trust/content-check.js';
import { digestOfStream, readStream, StreamDigest } from './stream-digest.js';

/** How long a digest answered to a peer is reused for the same stream and watermark. */
const DIGEST_ANSWER_TTL_MS = 60_000;

/** One stream a scrub repaired from a peer. */
export interface StreamRepair {
  readonly owner: string;
  readonly resource: string;
  /** The device whose copy it was repaired from. */
  readonly from: string;
  /** Stored records replaced by the peer's version (altered here). */
  readonly replaced: number;
  /** Records the peer holds that were missing here (lost here). */
  readonly restored: number;
  /** Records removed: not in the peer's stream, and not as their owner signed them (or, without trust, not in the owner's). */
  readonly removed: number;
}

/** What `SyncNode.scrub()` found and did. */
export interface ScrubReport {
  /** Streams read (settled ones: nothing waiting, nothing past the watermark). */
  readonly streams: number;
  /** Stream digests compared with a peer's. */
  readonly compared: number;
  /** Records whose content contradicts their owner's signature (with `trust`). */
  readonly damaged: readonly { readonly owner: string; readonly resource: string; readonly ids: readonly string[] }[];
  /** Streams whose digest differs from a peer's at the same watermark. */
  readonly diverged: readonly { readonly owner: string; readonly resource: string; readonly device: string }[];
  readonly repaired: readonly StreamRepair[];
}

interface LocalStream {
  readonly owner: string;
  readonly resource: string;
  readonly upTo: Hlc;
  readonly digest: StreamDigest;
  readonly ids: Set<string>;
  readonly damaged: Set<string>;
}

/**
 * Finds records a store lost or altered, and repairs them from a peer (issue #20: storage that
 * lies). A scrub reads every settled stream this node holds up to its watermark (see
 * `settled`; a shared model's only with all its origins' at the same watermarks): with
 * `trust`, each record is checked against its owner's signature; and every connected peer is
 * asked for its digest of the streams it holds at the same watermark (StreamDigest). A stream
 * with damaged records, or whose digest differs from a peer's, is read again from a peer and
 * what differs is put right, in place (a repair replaces a stored row whatever its HLC):
 * - with `trust`, from any peer, every change of its pages checked against its owner's key
 *   (a peer's damaged copy is refused, not copied); only records found damaged here are
 *   replaced or removed, and missing ones restored;
 * - without `trust`, only from the stream's owner, whose copy is the stream: nothing else can
 *   tell which of two copies is right, so a divergence from another peer (or of a shared
 *   model, which has no such owner) is reported only.
 * Runs every `scrubIntervalMs` (0: only when called), and reports on `errors$`: damaged records
 * (HW_STORE_DAMAGED) and divergences it could not repair (HW_STREAM_DIVERGED).
 */
export class Scrubber implements Startable {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScrubReport> | undefined;
  /** Digests answered to peers, reused for a while: a peer asking again and again costs one read of each stream. */
  private readonly answered = new Map<string, { at: number; count: number; digest: string }>();

  constructor(
    private readonly components: Pick<
      NodeComponents,
      'modelRegistry' | 'recordStore' | 'syncStore' | 'watermarks' | 'applier' | 'messenger' | 'transport' | 'signatures' | 'batchProofs' | 'settings' | 'syncEvents' | 'logger' | 'identity'
    >,
  ) {}

  start(): void {
    const every = this.components.settings.scrubIntervalMs;
    if (every > 0) this.timer = setInterval(() => void this.scrub().catch((error: unknown) => this.components.logger.warn({ err: (error as Error).message }, 'scrub failed')), every);
    this.timer?.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One scrub; a call while one runs gets that one's report. */
  scrub(): Promise<ScrubReport> {
    this.running ??= this.scrubNow().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * This node's digests of the streams a peer asks about: those it holds at exactly the
   * watermark the peer names, with nothing of them waiting here.
   */
  async digestsFor(streams: readonly WireStreamPoint[]): Promise<WireStreamDigest[]> {
    const { modelRegistry: registry, recordStore, watermarks } = this.components;
    if (this.answered.size > 10_000) this.answered.clear();
    const out: WireStreamDigest[] = [];
    for (const s of streams) {
      if (!registry.has(s.resource)) continue;
      const mark = watermarks.get(s.owner, s.resource);
      if (!mark || formatHlc(mark) !== s.upTo || !(await this.settled(s.owner, s.resource, mark))) continue;
      // A shared record's row is its last writer's: equal rows need every origin's stream equal.
      if (registry.get(s.resource).ownership === 'shared' && !this.sameOrigins(s.resource, streams)) continue;
      const key = `${streamKey(s.owner, s.resource)}\u0000${s.upTo}`;
      let answer = this.answered.get(key);
      if (!answer || Date.now() - answer.at > DIGEST_ANSWER_TTL_MS) {
        const digest = await digestOfStream(registry, recordStore, s.resource, s.owner, mark);
        answer = { at: Date.now(), count: digest.count, digest: digest.text };
        this.answered.set(key, answer);
      }
      out.push({ owner: s.owner, resource: s.resource, upTo: s.upTo, count: answer.count, digest: answer.digest });
    }
    return out;
  }

  private async scrubNow(): Promise<ScrubReport> {
    const { watermarks, modelRegistry: registry } = this.components;
    const local = new Map<string, LocalStream>();
    for (const w of watermarks.all()) {
      if (!registry.has(w.resource) || !(await this.settled(w.owner, w.resource, w.hlc))) continue;
      local.set(streamKey(w.owner, w.resource), await this.readLocal(w.owner, w.resource, w.hlc));
    }
    const damaged = [...local.values()].filter((s) => s.damaged.size > 0).map((s) => ({ owner: s.owner, resource: s.resource, ids: [...s.damaged].sort() }));
    for (const d of damaged) {
      this.components.syncEvents.reportError(
        new HighwaterError('HW_STORE_DAMAGED', `${d.ids.length} stored ${d.resource} records of ${d.owner} are not as their owner signed them (the store altered them): ${d.ids.slice(0, 5).join(', ')}`),
      );
    }
    // Each peer's digests of the streams it holds at this node's watermarks.
    const points = [...local.values()].map((s) => ({ owner: s.owner, resource: s.resource, upTo: formatHlc(s.upTo) }));
    const answers: { peerId: string; device: string; digests: WireStreamDigest[] }[] = [];
    if (points.length > 0) {
      for (const peerId of this.components.transport.connectedPeers()) {
        try {
          const response = await this.components.messenger.request(
            peerId,
            { type: 'stream-digest-request', requestId: this.components.messenger.newRequestId(), streams: points },
            'stream-digest-response',
            this.components.settings.requestTimeoutMs,
          );
          answers.push({ peerId, device: response.deviceId, digests: [...response.digests] });
        } catch (error) {
          // A peer from before scrubs answers HW_UNKNOWN_MESSAGE_TYPE; one that fails is compared next time.
          this.components.logger.info({ peerId, err: (error as Error).message }, 'no stream digests from peer');
        }
      }
    }
    let compared = 0;
    const diverged: ScrubReport['diverged'][number][] = [];
    const sources = new Map<string, { peerId: string; device: string }[]>();
    for (const answer of answers) {
      for (const d of answer.digests) {
        const mine = local.get(streamKey(d.owner, d.resource));
        if (!mine || formatHlc(mine.upTo) !== d.upTo) continue;
        compared++;
        const key = streamKey(d.owner, d.resource);
        const list = sources.get(key) ?? [];
        list.push({ peerId: answer.peerId, device: answer.device });
        sources.set(key, list);
        if (d.count !== mine.digest.count || d.digest !== mine.digest.text) diverged.push({ owner: d.owner, resource: d.resource, device: answer.device });
      }
    }
    const repaired: StreamRepair[] = [];
    const trusted = this.components.signatures.enabled;
    for (const stream of local.values()) {
      const key = streamKey(stream.owner, stream.resource);
      const divergedHere = diverged.filter((d) => streamKey(d.owner, d.resource) === key);
      if (stream.damaged.size === 0 && divergedHere.length === 0) continue;
      // Without trust only the owner's copy can settle it, and only if it differs from this one.
      // A shared stream has no owner whose copy is the stream: only signatures can repair it.
      const shared = this.components.modelRegistry.get(stream.resource).ownership === 'shared';
      const candidates = (sources.get(key) ?? []).filter((p) => trusted || (!shared && p.device === stream.owner && divergedHere.some((d) => d.device === p.device)));
      let repair: StreamRepair | null = null;
      for (const source of candidates) {
        repair = await this.repairFrom(stream, source).catch((error: unknown) => {
          this.components.logger.warn({ peer: source.device, owner: stream.owner, resource: stream.resource, err: (error as Error).message }, 'stream repair failed');
          return null;
        });
        if (repair) break;
      }
      if (repair) repaired.push(repair);
      else if (divergedHere.length > 0) {
        this.components.syncEvents.reportError(
          new HighwaterError(
            'HW_STREAM_DIVERGED',
            `${stream.resource} of ${stream.owner} differs from ${divergedHere.map((d) => d.device).join(', ')} at the same watermark` +
              (trusted ? '; no peer could repair it' : shared ? '; a shared model is repaired only with trust' : '; without trust only the stream’s owner can repair it'),
          ),
        );
      }
    }
    return { streams: local.size, compared, damaged, diverged, repaired };
  }

  /**
   * Whether the stream's records are exactly what its watermark covers: nothing of it waits here
   * (parked), and nothing beyond the watermark is stored (a live change past a gap). Only then
   * must two nodes at the same watermark hold the same rows.
   */
  private async settled(owner: string, resource: string, mark: Hlc): Promise<boolean> {
    if (this.components.applier.parking.after(resource, owner, {}, 1).length > 0) return false;
    return (await this.components.recordStore.page(resource, { owner, afterHlc: mark, limit: 1 })).length === 0;
  }

  /** Whether `asked` names every stream of the shared `model` this node holds, each at this node's watermark, and no other. */
  private sameOrigins(model: string, asked: readonly WireStreamPoint[]): boolean {
    const mine = new Map(this.components.watermarks.all().filter((w) => w.resource === model).map((w) => [w.owner, formatHlc(w.hlc)]));
    const theirs = asked.filter((p) => p.resource === model);
    return theirs.length === mine.size && theirs.every((p) => mine.get(p.owner) === p.upTo);
  }

  /** The stream as stored up to `upTo`: its digest, its ids, and (with trust) the records not as signed. */
  private async readLocal(owner: string, resource: string, upTo: Hlc): Promise<LocalStream> {
    const { modelRegistry: registry, recordStore, signatures, batchProofs } = this.components;
    const stream: LocalStream = { owner, resource, upTo, digest: new StreamDigest(), ids: new Set(), damaged: new Set() };
    await readStream(recordStore, resource, owner, upTo, async (page) => {
      for (const r of page) {
        stream.digest.add(registry, resource, r);
        stream.ids.add(r.id);
      }
      if (signatures.enabled) {
        const wrong = await contradictingSignatures({ registry, signatures, batchProofs }, page.map((r) => changeFromRecord(resource, r)));
        for (const c of wrong) stream.damaged.add(c.id);
      }
    });
    return stream;
  }

  /** Reads the stream from `source` up to this node's watermark and puts right what differs here (see the class). */
  private async repairFrom(stream: LocalStream, source: { peerId: string; device: string }): Promise<StreamRepair> {
    const { modelRegistry: registry, recordStore, syncStore, messenger, signatures, settings } = this.components;
    const trusted = signatures.enabled;
    const { owner, resource, upTo } = stream;
    const seen = new Set<string>();
    const upserts: Change[] = [];
    let replaced = 0;
    let restored = 0;
    for (let after: WireCursor | null = null; ; ) {
      const page: StateResponseMessage = await messenger.request(
        source.peerId,
        { type: 'state-request', requestId: messenger.newRequestId(), model: resource, owner, after, afterHlc: null, limit: settings.pageSize },
        'state-response',
        settings.requestTimeoutMs,
      );
      const changes = changesFromWire(registry, page.changes).filter((c) => c.model === resource && c.owner === owner && compareHlc(c.hlc, upTo) <= 0);
      if (changes.some((c) => c.newerFields !== undefined)) throw new HighwaterError('HW_STREAM_DIVERGED', 'the source holds a newer version of the model');
      // Every change checked, the owner's own too: a damaged copy must not be copied.
      if (trusted) signatures.verify(changes, null);
      const live = changes.filter((c) => c.op === 'upsert');
      const stored = new Map((await recordStore.getMany(resource, live.map((c) => c.id))).map((r) => [r.id, r]));
      const deleted = await syncStore.getTombstones(resource, live.filter((c) => !stored.has(c.id)).map((c) => c.id));
      for (const c of live) {
        seen.add(c.id);
        const mine = stored.get(c.id);
        if (!mine) {
          const tombstone = deleted.get(c.id);
          if (tombstone && compareHlc(tombstone.hlc, c.hlc) >= 0) continue;
          upserts.push(c);
          restored++;
        } else if (differs(registry, resource, mine, c) && (!trusted || stream.damaged.has(c.id))) {
          upserts.push(c);
          replaced++;
        }
      }
      const last = page.changes.at(-1);
      if (!page.hasMore || !page.next || (last && compareHlc(parseHlc(last.hlc), upTo) > 0)) break;
      after = page.next;
    }
    const removals = [...stream.ids].filter((id) => !seen.has(id) && (!trusted || stream.damaged.has(id)));
    const removed = removals.length > 0 ? (await recordStore.getMany(resource, removals)).map((r) => ({ id: r.id, ownerDeviceId: r.ownerDeviceId, hlc: r.hlc })) : [];
    await this.components.applier.repair(resource, upTo, upserts, removed);
    this.components.logger.info({ owner, resource, from: source.device, replaced, restored, removed: removed.length }, 'stream repaired');
    return { owner, resource, from: source.device, replaced, restored, removed: removed.length };
  }
}

/** Whether a stored record differs from a peer's change of it (HLC, or any signed value). */
function differs(registry: NodeComponents['modelRegistry'], model: string, mine: SyncRecord, theirs: Change): boolean {
  if (compareHlc(mine.hlc, theirs.hlc) !== 0) return true;
  return !changeSigningBytes(registry, changeFromRecord(model, mine)).equals(changeSigningBytes(registry, theirs));
}
