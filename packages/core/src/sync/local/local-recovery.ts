import { compareHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordCursor, RecordStore } from '../../ports/record-store.js';
import type { SyncStore, Tombstone } from '../../ports/sync-store.js';
import { changeFromRecord, changeFromTombstone, compareChanges, type Change } from '../change.js';
import type { WatermarkCache } from '../watermark-cache.js';

const PAGE = 1000;

/**
 * This device's changes a crash interrupted, per model. A local write stores tombstones, then
 * records, then shared-log entries, then moves this device's watermark; a crash in between
 * leaves own changes beyond the own watermark. They are this device's latest writes: storing
 * them again is idempotent, and the watermark then covers them (normally there are none: one
 * index range per model).
 */
export async function interruptedLocalWrites(
  deviceId: string,
  registry: ModelRegistry,
  records: RecordStore,
  syncStore: SyncStore,
  watermarks: WatermarkCache,
): Promise<Map<string, Change[]>> {
  const found = new Map<string, Change[]>();
  for (const model of registry.syncOrder()) {
    const mark = watermarks.get(deviceId, model);
    const changes = [...(await ownRecordsAfter(records, model, deviceId, mark)), ...(await ownTombstonesAfter(syncStore, model, deviceId, mark)).map(changeFromTombstone)];
    if (changes.length > 0) found.set(model, changes.sort(compareChanges));
  }
  return found;
}

async function ownRecordsAfter(records: RecordStore, model: string, owner: string, mark: Hlc | null): Promise<Change[]> {
  const out: Change[] = [];
  let after: RecordCursor | null = null;
  for (;;) {
    const page = await records.page(model, after ? { owner, after, limit: PAGE } : { owner, afterHlc: mark, limit: PAGE });
    for (const r of page) if (!mark || compareHlc(r.hlc, mark) > 0) out.push(changeFromRecord(model, r));
    if (page.length < PAGE) return out;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
  }
}

async function ownTombstonesAfter(syncStore: SyncStore, model: string, owner: string, mark: Hlc | null): Promise<Tombstone[]> {
  const out: Tombstone[] = [];
  let after: RecordCursor | null = null;
  for (;;) {
    const page = await syncStore.tombstonesAfter(model, after ? { owner, after, limit: PAGE } : { owner, afterHlc: mark, limit: PAGE });
    for (const t of page) if (!mark || compareHlc(t.hlc, mark) > 0) out.push(t);
    if (page.length < PAGE) return out;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.recordId };
  }
}
