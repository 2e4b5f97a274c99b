import { compareHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordCursor, RecordStore } from '../../ports/record-store.js';
import type { SyncStore, Tombstone } from '../../ports/sync-store.js';
import { changeFromRecord, changeFromTombstone, compareChanges, type Change } from '../change.js';
import type { WatermarkCache } from '../watermark-cache.js';

const PAGE = 1000;

/**
 * This device's changes a crash interrupted, per model, in (HLC, id) order and in chunks of up
 * to a page. A local write stores tombstones, then records, then shared-log entries, then moves
 * this device's watermark; a crash in between leaves own changes beyond the own watermark. They
 * are this device's latest writes: storing them again is idempotent, and the watermark then
 * covers them (normally there are none: one index range per model). After sync.db was made
 * anew (a damaged one moved aside) there is no own watermark and every own record is here:
 * chunks keep that to a page in memory at a time (test: storage-faults).
 */
export async function* interruptedLocalWrites(
  deviceId: string,
  registry: ModelRegistry,
  records: RecordStore,
  syncStore: SyncStore,
  watermarks: WatermarkCache,
): AsyncGenerator<[string, Change[]]> {
  for (const model of registry.syncOrder()) {
    const mark = watermarks.get(deviceId, model);
    const own = mergedInOrder(ownRecordsAfter(records, model, deviceId, mark), ownTombstonesAfter(syncStore, model, deviceId, mark));
    let chunk: Change[] = [];
    for await (const change of own) {
      chunk.push(change);
      if (chunk.length === PAGE) {
        yield [model, chunk];
        chunk = [];
      }
    }
    if (chunk.length > 0) yield [model, chunk];
  }
}

/** Two streams of changes, each in (HLC, id) order, as one. */
async function* mergedInOrder(a: AsyncGenerator<Change>, b: AsyncGenerator<Change>): AsyncGenerator<Change> {
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && compareChanges(x.value, y.value) <= 0)) {
      yield x.value as Change;
      x = await a.next();
    } else {
      yield y.value;
      y = await b.next();
    }
  }
}

async function* ownRecordsAfter(records: RecordStore, model: string, owner: string, mark: Hlc | null): AsyncGenerator<Change> {
  let after: RecordCursor | null = null;
  for (;;) {
    const page = await records.page(model, after ? { owner, after, limit: PAGE } : { owner, afterHlc: mark, limit: PAGE });
    for (const r of page) if (!mark || compareHlc(r.hlc, mark) > 0) yield changeFromRecord(model, r);
    if (page.length < PAGE) return;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
  }
}

async function* ownTombstonesAfter(syncStore: SyncStore, model: string, owner: string, mark: Hlc | null): AsyncGenerator<Change> {
  let after: RecordCursor | null = null;
  for (;;) {
    const page: Tombstone[] = await syncStore.tombstonesAfter(model, after ? { owner, after, limit: PAGE } : { owner, afterHlc: mark, limit: PAGE });
    for (const t of page) if (!mark || compareHlc(t.hlc, mark) > 0) yield changeFromTombstone(t);
    if (page.length < PAGE) return;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.recordId };
  }
}
