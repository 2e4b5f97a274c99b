import { compareHlc, GC_PRUNED_UP_TO, parseHlc, type Hlc, type ModelRegistry, type RecordCursor, type RecordData, type RecordStore, type SyncStore } from '@highwater/core';

const PAGE = 5000;

/** What one node has stored, read straight from its files (not through the node). */
export interface NodeSnapshot {
  /** model → id → record. */
  readonly records: Map<string, Map<string, { owner: string; hlc: Hlc; data: RecordData }>>;
  /** model → id → tombstone HLC. */
  readonly tombstones: Map<string, Map<string, Hlc>>;
  /** model → id → HLCs of changes stored as waiting for a dependency. */
  readonly parked: Map<string, Map<string, Hlc[]>>;
  /** streamKey → watermark. */
  readonly watermarks: Map<string, Hlc>;
  /** streamKey → checkpoint cursor (only checkpoints that have one). */
  readonly checkpoints: Map<string, RecordCursor>;
  /** streamKey → the node's prune point: tombstones up to it may be gone (GC_PRUNED_UP_TO). */
  readonly prunedUpTo: Map<string, Hlc>;
}

export const streamOf = (owner: string, model: string): string => `${owner}\u0000${model}`;

export async function readSnapshot(registry: ModelRegistry, records: RecordStore, sync: SyncStore): Promise<NodeSnapshot> {
  const snapshot: NodeSnapshot = { records: new Map(), tombstones: new Map(), parked: new Map(), watermarks: new Map(), checkpoints: new Map(), prunedUpTo: new Map() };
  for (const model of registry.syncOrder()) {
    const byId = new Map<string, { owner: string; hlc: Hlc; data: RecordData }>();
    let after: RecordCursor | null = null;
    for (;;) {
      const page = await records.page(model, { after, limit: PAGE });
      for (const r of page) byId.set(r.id, { owner: r.ownerDeviceId, hlc: r.hlc, data: r.data });
      if (page.length < PAGE) break;
      after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
    }
    snapshot.records.set(model, byId);
    const tombs = new Map<string, Hlc>();
    let tAfter: RecordCursor | null = null;
    for (;;) {
      const page = await sync.tombstonesAfter(model, { after: tAfter, limit: PAGE });
      for (const t of page) tombs.set(t.recordId, t.hlc);
      if (page.length < PAGE) break;
      tAfter = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.recordId };
    }
    snapshot.tombstones.set(model, tombs);
  }
  for (const p of await sync.listParkedChanges()) {
    let byId = snapshot.parked.get(p.model);
    if (!byId) snapshot.parked.set(p.model, (byId = new Map()));
    byId.set(p.recordId, [...(byId.get(p.recordId) ?? []), p.hlc]);
  }
  for (const w of await sync.listWatermarks()) snapshot.watermarks.set(streamOf(w.ownerDeviceId, w.resourceType), w.watermark);
  for (const c of await sync.listCheckpoints()) if (c.cursor) snapshot.checkpoints.set(streamOf(c.ownerDeviceId, c.resourceType), c.cursor);
  const pruned = await sync.getSyncState(GC_PRUNED_UP_TO);
  for (const [stream, hlc] of Object.entries(pruned ? (JSON.parse(pruned) as Record<string, string>) : {})) snapshot.prunedUpTo.set(stream, parseHlc(hlc));
  return snapshot;
}

/**
 * The newest version of a record a node holds: its stored HLC, its tombstone's, or that of a
 * change it stored as waiting for a dependency, whichever is latest.
 */
export function versionOf(snapshot: NodeSnapshot, model: string, id: string): Hlc | null {
  let newest: Hlc | null = snapshot.records.get(model)?.get(id)?.hlc ?? null;
  for (const h of [snapshot.tombstones.get(model)?.get(id), ...(snapshot.parked.get(model)?.get(id) ?? [])]) {
    if (h && (!newest || compareHlc(h, newest) > 0)) newest = h;
  }
  return newest;
}

/** Whether the node may have pruned the tombstone of a delete at `hlc` (its stream is the HLC's device's). */
export function mayBePruned(snapshot: NodeSnapshot, model: string, hlc: Hlc): boolean {
  const point = snapshot.prunedUpTo.get(streamOf(hlc.deviceId, model));
  return point !== undefined && compareHlc(hlc, point) <= 0;
}
