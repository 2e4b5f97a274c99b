import { batchRemainder } from '../trust/change-signatures.js';
import { formatHlc, parseHlc } from '../../clock/hlc.js';
import type { SyncEvents } from '../../events/sync-events.js';
import { HighwaterError, ProtocolError } from '../../errors.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordStore } from '../../ports/record-store.js';
import type { SyncStore } from '../../ports/sync-store.js';
import type {
  MessageBody,
  SharedChangeRequestMessage,
  StateRequestMessage,
  SyncMessage,
  WatermarkExchangeRequestMessage,
  WireChange,
  WireHead,
  WireSpan,
} from '../../protocol/messages.js';
import {
  changeFromShared,
  changeToWire,
  changesFromWire,
  cursorFromWire,
  spanFromWire,
  type Change,
  type Span,
} from '../change.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { ChangeSignatures } from '../trust/change-signatures.js';
import { fieldsOfVersion, servedToVersion, type PeerVersions } from '../peer-versions.js';
import type { Scrubber } from '../scrub/scrubber.js';
import type { BatchProofs } from '../trust/batch-proofs.js';
import type { SignedHeads } from '../trust/signed-heads.js';
import type { EngineSignals } from '../engine-signals.js';
import type { LiveInbox } from '../live/live-inbox.js';
import type { GarbageCollector } from '../gc/garbage-collector.js';
import type { SyncMetrics } from '../sync-metrics.js';
import type { WatermarkCache } from '../watermark-cache.js';
import { streamKey } from '../stream-key.js';
import { StatePageReader } from './state-page-reader.js';

/**
 * Answers what peers ask of this node — watermark exchange, state pages, shared-log pages —
 * and hands live changes and acks to their owners. Every message reaching it has already
 * been decoded and validated by the Messenger.
 */
export class RequestServer {
  private readonly pages: StatePageReader;
  private readonly deviceId: string;
  private readonly registry: ModelRegistry;
  private readonly records: RecordStore;
  private readonly syncStore: SyncStore;
  private readonly watermarks: WatermarkCache;
  private readonly inbox: LiveInbox;
  private readonly collector: GarbageCollector;
  private readonly events: SyncEvents;
  private readonly metrics: SyncMetrics;
  private readonly signals: EngineSignals;
  private readonly signatures: ChangeSignatures;
  private readonly signedHeads: SignedHeads;
  private readonly batchProofs: BatchProofs;
  private readonly versions: PeerVersions;
  private readonly scrubber: () => Scrubber;
  /** The device a peer authenticated as (read when a message comes: the messenger is built after this). */
  private readonly sender: (peerId: string) => string | null;

  constructor(
    components: Pick<
      NodeComponents,
      'identity' | 'modelRegistry' | 'recordStore' | 'syncStore' | 'watermarks' | 'inbox' | 'collector' | 'syncEvents' | 'metrics' | 'applier' | 'signals' | 'signatures' | 'messenger' | 'signedHeads' | 'batchProofs' | 'versions' | 'scrubber'
    >,
  ) {
    this.batchProofs = components.batchProofs;
    this.versions = components.versions;
    this.signedHeads = components.signedHeads;
    this.sender = (peerId) => components.messenger.authenticatedDevice(peerId);
    // Read when asked (the scrubber is built after this part).
    this.scrubber = () => components.scrubber;
    /** This node's device: the owner of the streams it may send inline. */
    this.deviceId = components.identity.deviceId;
    this.signatures = components.signatures;
    this.registry = components.modelRegistry;
    this.records = components.recordStore;
    this.syncStore = components.syncStore;
    this.watermarks = components.watermarks;
    this.inbox = components.inbox;
    this.collector = components.collector;
    this.events = components.syncEvents;
    this.metrics = components.metrics;
    this.signals = components.signals;
    this.pages = new StatePageReader(this.records, this.syncStore, components.applier.parking);
    // Whatever is stored of a model makes the pages of it read ahead stale.
    this.signals.stored$.subscribe((model) => this.pages.invalidate(model));
  }

  async handle(message: SyncMessage, fromPeer: string): Promise<MessageBody | undefined> {
    switch (message.type) {
      case 'watermark-exchange-request':
        return this.exchange(message);
      case 'state-request':
        return this.statePage(message);
      case 'shared-change-request':
        return this.sharedPage(message);
      case 'state-change':
        await this.inbox.receive(this.liveChanges([message.change], 'device', fromPeer), spansOf(message.spans), fromPeer);
        return undefined;
      case 'state-batch':
        await this.inbox.receive(this.liveChanges(message.changes, 'device', fromPeer), spansOf(message.spans), fromPeer);
        return undefined;
      case 'shared-change':
        await this.inbox.receive(this.liveChanges(message.changes, 'shared', fromPeer), spansOf(message.spans), fromPeer);
        return undefined;
      case 'stream-digest-request':
        return { type: 'stream-digest-response', requestId: message.requestId, digests: await this.scrubber().digestsFor(message.streams) };
      case 'heads-announce':
        await this.collector.onHeads(message.deviceId, message.heads);
        if (this.isBehind(message.heads)) this.signals.behind();
        return undefined;
      case 'stream-acks':
        await this.collector.onHeads(message.deviceId, message.heads);
        return undefined;
      case 'error':
        this.events.reportError(new HighwaterError(message.code, `Peer ${fromPeer} reported: ${message.message}`));
        return undefined;
      default:
        throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Unexpected ${message.type}: responses only answer requests`);
    }
  }

  /**
   * What this node holds: a head per (owner, resource). Answering a requester, each head also
   * counts the records after the requester's watermark — an index range over what is new, so a
   * catch-up after a million synced records counts ten, not a million.
   */
  heads(requesterHeads?: readonly WireHead[]): Promise<WireHead[]> {
    return this.headsAgainst(requesterHeads ? hlcByStream(requesterHeads) : undefined);
  }

  /** `heads` against the requester's head HLC per `streamKey`, if answering one. */
  private async headsAgainst(theirs: ReadonlyMap<string, string> | undefined): Promise<WireHead[]> {
    const heads: WireHead[] = [];
    for (const w of this.watermarks.all()) {
      if (!this.registry.has(w.resource)) continue;
      const head: WireHead = this.signedHeads.withSigned({ owner: w.owner, resource: w.resource, hlc: formatHlc(w.hlc) });
      if (!theirs) {
        heads.push(head);
        continue;
      }
      const theirText = theirs.get(streamKey(w.owner, w.resource));
      if (theirText !== undefined && theirText >= head.hlc) {
        heads.push({ ...head, count: 0 });
        continue;
      }
      const after = theirText === undefined ? null : parseHlc(theirText);
      // A requester behind this stream's prune point pulls it from its beginning: count it all.
      const from = this.collector.isPrunedPast(w.owner, w.resource, after) ? null : after;
      heads.push({ ...head, count: await this.records.count(w.resource, w.owner, from) });
    }
    return heads;
  }

  /**
   * The response to a watermark exchange. A requester that takes changes inline gets, for each
   * stream this node owns whose new changes fit whole in what is left of its allowance, those
   * changes in the response: its catch-up of them needs no further round trip. Only own streams
   * go inline — the owner is every requester's first source for them — so a node connected to
   * many peers does not receive the same changes from each.
   */
  private async exchange(req: WatermarkExchangeRequestMessage): Promise<MessageBody> {
    // The handshake: a requester whose protocol does not meet this node's gets HW_PROTOCOL_VERSION, nothing else.
    this.versions.note(req.deviceId, req.versions);
    const versions = this.versions.local;
    await this.collector.onHeads(req.deviceId, req.heads);
    const theirs = hlcByStream(req.heads);
    const heads = await this.headsAgainst(theirs);
    let allowance = req.inline ?? 0;
    if (allowance === 0) return { type: 'watermark-exchange-response', requestId: req.requestId, heads, versions };
    const changes: WireChange[] = [];
    const answered: WireHead[] = [];
    for (const head of heads) {
      const after = theirs.get(streamKey(head.owner, head.resource));
      const fits =
        allowance > 0 &&
        head.owner === this.deviceId &&
        this.registry.get(head.resource).ownership === 'device' &&
        (after === undefined || after < head.hlc) &&
        (head.count ?? 0) <= allowance && // records only: tombstones may still make it too long
        !this.collector.isPrunedPast(head.owner, head.resource, after === undefined ? null : parseHlc(after));
      if (fits) {
        const page = await this.pages.readOnce({ model: head.resource, owner: head.owner, limit: allowance, ...(after !== undefined ? { afterHlc: parseHlc(after) } : {}) });
        if (!page.hasMore) {
          changes.push(...page.changes);
          allowance -= page.changes.length;
          answered.push({ ...head, inline: true });
          this.metrics.add('pagesServed');
          continue;
        }
      }
      answered.push(head);
    }
    return { type: 'watermark-exchange-response', requestId: req.requestId, heads: answered, ...(changes.length > 0 ? { changes: await this.batchProofs.attach(this.forRequester(req.deviceId, changes)) } : {}), versions };
  }

  /** Whether any announced head of a known model is beyond this node's watermark of its stream. */
  private isBehind(heads: readonly WireHead[]): boolean {
    return heads.some((h) => {
      if (!this.registry.has(h.resource)) return false;
      const mine = this.watermarks.get(h.owner, h.resource);
      return !mine || formatHlc(mine) < h.hlc;
    });
  }

  private liveChanges(wire: Parameters<typeof changesFromWire>[1], ownership: 'device' | 'shared', fromPeer: string): Change[] {
    const changes = changesFromWire(this.registry, wire);
    this.versions.admit(changes);
    this.signatures.verify(changes, this.sender(fromPeer));
    for (const c of changes) {
      if (this.registry.get(c.model).ownership !== ownership) {
        throw new ProtocolError('HW_PROTOCOL_MALFORMED', `${c.model} is not a ${ownership === 'device' ? 'device-owned' : 'shared'} model`);
      }
    }
    return changes;
  }

  /** Upserts and tombstones of one (owner, model) merged in (HLC, id) order. */
  private async statePage(req: StateRequestMessage): Promise<MessageBody> {
    const model = this.registry.get(req.model);
    const bound = req.after ? { after: cursorFromWire(req.after) } : req.afterHlc ? { afterHlc: parseHlc(req.afterHlc) } : {};
    const page = await this.pages.read({ model: req.model, owner: req.owner, limit: req.limit, ...bound });
    this.metrics.add('pagesServed');
    const from = req.after ? parseHlc(req.after.hlc) : req.afterHlc ? parseHlc(req.afterHlc) : null;
    const pruned = this.collector.isPrunedPast(req.owner, req.model, from) ? this.collector.prunedPoint(req.owner, req.model) : null;
    // A requester on an older version of the model is served its version's fields where the rest are unset.
    const version = this.versions.versionOf(req.deviceId, model);
    const changes = this.forRequester(req.deviceId, page.changes);
    // Asked for rows: naming the fields lets the codec send each change as a row of values.
    const fields = req.rows === true ? fieldsOfVersion(model, version) : [];
    return { type: 'state-response', requestId: req.requestId, model: req.model, owner: req.owner, ...page, changes: await this.batchProofs.attach(changes), ...(fields.length > 0 ? { fields } : {}), ...(pruned ? { prunedUpTo: formatHlc(pruned) } : {}) };
  }

  private async sharedPage(req: SharedChangeRequestMessage): Promise<MessageBody> {
    if (this.registry.get(req.model).ownership !== 'shared') {
      throw new ProtocolError('HW_PROTOCOL_MALFORMED', `${req.model} is not a shared model`);
    }
    const after = req.afterHlc ? parseHlc(req.afterHlc) : null;
    if (this.collector.isLogPrunedPast(req.origin, req.model, after)) {
      return { type: 'shared-change-response', requestId: req.requestId, changes: [], hasMore: false, complete: false };
    }
    const query = { originDeviceId: req.origin, model: req.model };
    let changes = await this.syncStore.sharedChangesSince({ ...query, after, limit: req.limit });
    let hasMore = changes.length === req.limit;
    // A page that would end inside a batch of signed changes goes on to its end (see StatePageReader).
    const remainder = hasMore ? batchRemainder(changes.at(-1)!.sig) : 0;
    if (remainder > 0) {
      const rest = await this.syncStore.sharedChangesSince({ ...query, after: changes.at(-1)!.hlc, limit: remainder });
      changes = changes.concat(rest);
      hasMore = rest.length === remainder;
    }
    this.metrics.add('pagesServed');
    return {
      type: 'shared-change-response',
      requestId: req.requestId,
      changes: await this.batchProofs.attach(this.forRequester(req.deviceId, changes.map((c) => changeToWire(changeFromShared(c))))),
      hasMore,
      complete: true,
    };
  }

  /** Changes as the requester's versions of their models read them (see `servedToVersion`). */
  private forRequester(deviceId: string, changes: WireChange[]): WireChange[] {
    if (changes.length === 0) return changes;
    let out = changes;
    for (const model of this.registry.all()) {
      if (model.version === 1) continue;
      const version = this.versions.versionOf(deviceId, model);
      if (version < model.version) out = servedToVersion(model, version, out);
    }
    return out;
  }
}

function spansOf(wire: readonly WireSpan[] | undefined): Span[] {
  return wire ? wire.map(spanFromWire) : [];
}

function hlcByStream(heads: readonly WireHead[]): Map<string, string> {
  return new Map(heads.map((h) => [streamKey(h.owner, h.resource), h.hlc]));
}
