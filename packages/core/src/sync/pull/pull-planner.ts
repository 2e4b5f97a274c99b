import { compareHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { WireChange, WireHead } from '../../protocol/messages.js';
import type { WatermarkCache } from '../watermark-cache.js';
import { streamKey } from '../stream-key.js';

/** What one peer holds, from its watermark exchange response. */
export interface PeerHeads {
  readonly peerId: string;
  readonly deviceId: string;
  readonly heads: readonly WireHead[];
  /**
   * Streams whose new changes came inline with the heads (all of them, in order), by
   * `streamKey`, with the watermark this node had sent for the stream (they follow it).
   */
  readonly inline?: ReadonlyMap<string, InlineChanges>;
}

/** Every change of a stream after `from` (this node's watermark when it sent its heads). */
export interface InlineChanges {
  readonly from: Hlc | null;
  readonly changes: readonly WireChange[];
}

/** A peer able to serve one (owner, resource) up to `head`. */
export interface PullSource {
  readonly peerId: string;
  readonly deviceId: string;
  readonly head: Hlc;
  readonly count: number;
  /** Every change of the stream after this node's watermark, sent with the heads: no request needed. */
  readonly inline?: InlineChanges;
}

/** One (owner, resource) this node lacks something of, and who can serve it (best first). */
export interface PullTask {
  readonly owner: string;
  readonly resource: string;
  readonly shared: boolean;
  readonly sources: readonly PullSource[];
}

/**
 * Compares every peer's heads with this node's watermarks and lists what to fetch: shared
 * resources first, then device-owned ones in the registry's sync order (dependencies before
 * dependents), owners sorted within a resource. Sources are ranked: the owner itself first;
 * then the holders of the whole stream (the highest head announced) by measured round trip,
 * fastest first; then holders that are behind, highest head first (a pull from one ends at its
 * head). Any holder of an owner's data can serve it, since resume tokens are the owner's (HLC, id).
 */
export function planPull(
  registry: ModelRegistry,
  watermarks: WatermarkCache,
  peers: readonly PeerHeads[],
  rttOf: (peerId: string) => number | undefined = () => undefined,
): PullTask[] {
  const byKey = new Map<string, { owner: string; resource: string; sources: PullSource[] }>();
  for (const peer of peers) {
    for (const h of peer.heads) {
      if (!registry.has(h.resource)) continue;
      const head = parseHlc(h.hlc);
      const mine = watermarks.get(h.owner, h.resource);
      if (mine && compareHlc(head, mine) <= 0) continue;
      const key = streamKey(h.owner, h.resource);
      let entry = byKey.get(key);
      if (!entry) byKey.set(key, (entry = { owner: h.owner, resource: h.resource, sources: [] }));
      const inline = peer.inline?.get(key);
      entry.sources.push({ peerId: peer.peerId, deviceId: peer.deviceId, head, count: h.count ?? 0, ...(inline ? { inline } : {}) });
    }
  }
  const rtt = (s: PullSource): number => rttOf(s.peerId) ?? Number.POSITIVE_INFINITY;
  const rank = (a: PullSource, b: PullSource, owner: string, head: Hlc): number =>
    Number(b.deviceId === owner) - Number(a.deviceId === owner) ||
    Number(compareHlc(b.head, head) === 0) - Number(compareHlc(a.head, head) === 0) ||
    compareHlc(b.head, a.head) ||
    rtt(a) - rtt(b) ||
    (a.peerId < b.peerId ? -1 : 1);
  const order = [...registry.shared(), ...registry.deviceOwned()].map((m) => m.name);
  const tasks: PullTask[] = [];
  for (const resource of order) {
    const entries = [...byKey.values()].filter((e) => e.resource === resource).sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
    for (const e of entries) {
      tasks.push({
        owner: e.owner,
        resource,
        shared: registry.get(resource).ownership === 'shared',
        sources: [...e.sources].sort((a, b) => rank(a, b, e.owner, highestHead(e.sources))),
      });
    }
  }
  return tasks;
}

function highestHead(sources: readonly PullSource[]): Hlc {
  let head = sources[0]!.head;
  for (const s of sources) if (compareHlc(s.head, head) > 0) head = s.head;
  return head;
}
