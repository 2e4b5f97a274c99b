import { compareHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordCursor, RecordStore } from '../../ports/record-store.js';
import type { SyncStore, Tombstone } from '../../ports/sync-store.js';
import { changeFromRecord, changeFromTombstone, changeToShared, compareChanges, type Change } from '../change.js';
import type { WatermarkCache } from '../watermark-cache.js';

const PAGE = 1000;

/**
 * Finishes local writes a crash interrupted. A local write stores its records (database.db),
 * then its tombstones and shared-log entries (sync.db), then moves this device's watermark; a
 * crash in between leaves own changes beyond the own watermark. They are this device's latest
 * writes, so: deletes whose tombstone was saved are applied to the records again, own shared
 * changes go to the log again (both idempotent), and the own watermark moves over them — peers
 * then get them, and the clock, seeded from that watermark, never issues an HLC below them.
 * Returns the changes recovered (normally none: one index range per model).
 */
export async function recoverLocalWrites(
  deviceId: string,
  registry: ModelRegistry,
  records: RecordStore,
  syncStore: SyncStore,
  watermarks: WatermarkCache,
): Promise<number> {
  let recovered = 0;
  for (const model of registry.syncOrder()) {
    const mark = watermarks.get(deviceId, model);
    const changes = [...(await ownRecordsAfter(records, model, deviceId, mark)), ...(await ownTombstonesAfter(syncStore, model, deviceId, mark)).map(changeFromTombstone)].sort(compareChanges);
    if (changes.length === 0) continue;
    const deletes = changes.filter((c) => c.op === 'delete');
    if (deletes.length > 0) await records.applyBatch(model, { deletes: deletes.map((d) => ({ id: d.id, ownerDeviceId: d.owner, hlc: d.hlc })) });
    if (registry.get(model).ownership === 'shared') await syncStore.appendSharedChanges(changes.map(changeToShared));
    await watermarks.advance(deviceId, model, changes.at(-1)!.hlc);
    recovered += changes.length;
  }
  return recovered;
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
