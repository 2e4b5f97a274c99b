import { describe, expect, it } from '@jest/globals';
import { formatHlc } from '../src/clock/hlc.js';
import type { PageQuery, RecordStore, SyncRecord } from '../src/ports/record-store.js';
import type { SyncStore } from '../src/ports/sync-store.js';
import { DependencyParking } from '../src/sync/apply/dependency-parking.js';
import { compareChanges } from '../src/sync/change.js';
import { StatePageReader } from '../src/sync/serve/state-page-reader.js';

/** 1000 records of one owner in (HLC, id) order, and the limit of every page the reader reads. */
function library() {
  const records: SyncRecord[] = Array.from({ length: 1000 }, (_, n) => ({
    id: `rec-${String(n).padStart(4, '0')}`,
    ownerDeviceId: 'device-a',
    hlc: { time: 1_790_000_000_000 + n, counter: 0, deviceId: 'device-a' },
    data: { n },
  }));
  const reads: number[] = [];
  const store = {
    page: async (_model: string, q: PageQuery) => {
      reads.push(q.limit);
      const after = q.after;
      return records.filter((r) => !after || compareChanges(r, after) > 0).slice(0, q.limit);
    },
  } as unknown as RecordStore;
  const syncStore = { tombstonesAfter: async () => [] } as unknown as SyncStore;
  const cursor = (n: number) => ({ hlc: records[n]!.hlc, id: records[n]!.id });
  const parking = new DependencyParking();
  return { reader: new StatePageReader(store, syncStore, parking), reads, cursor, records, parking };
}

const ids = (page: { changes: readonly { id: string }[] }) => page.changes.map((c) => Number(c.id.slice(4)));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('StatePageReader read-ahead', () => {
  it('answers a larger request by continuing after the page it read ahead, and a smaller one by cutting it', async () => {
    const { reader, reads, cursor } = library();
    const query = { model: 'item', owner: 'device-a' };

    expect(ids(await reader.read({ ...query, limit: 100 }))).toEqual(range(0, 100));
    await turn(); // the read-ahead of 100 after record 99
    expect(reads).toEqual([100, 100]);

    // Twice as many: the 100 read ahead, then 100 more read after them.
    const grown = await reader.read({ ...query, limit: 200, after: cursor(99) });
    expect(ids(grown)).toEqual(range(100, 300));
    expect(grown).toMatchObject({ hasMore: true, next: { hlc: formatHlc(cursor(299).hlc), id: cursor(299).id } });
    await turn();
    expect(reads).toEqual([100, 100, 100, 200]);

    // Fewer than was read ahead (200 after record 299): the first 50, ending at their last.
    const cut = await reader.read({ ...query, limit: 50, after: cursor(299) });
    expect(ids(cut)).toEqual(range(300, 350));
    expect(cut).toMatchObject({ hasMore: true, next: { hlc: formatHlc(cursor(349).hlc), id: cursor(349).id } });
    await turn();
    expect(reads).toEqual([100, 100, 100, 200, 50]);

    // At the end of the stream a page read ahead is the answer to any larger request.
    await reader.read({ ...query, limit: 600, after: cursor(349) });
    await turn();
    const last = await reader.read({ ...query, limit: 900, after: cursor(949) });
    expect(ids(last)).toEqual(range(950, 1000));
    expect(last.hasMore).toBe(false);
    expect(reads.slice(5)).toEqual([550, 600]); // the 50 after the cut, continued by 550; then 600 ahead
  });
});

describe('StatePageReader and what changed after a read-ahead', () => {
  const query = { model: 'item', owner: 'device-a' };
  const record = (n: number): SyncRecord => ({
    id: `rec-${String(n).padStart(4, '0')}`,
    ownerDeviceId: 'device-a',
    hlc: { time: 1_790_000_000_000 + n, counter: 0, deviceId: 'device-a' },
    data: { n },
  });

  it('drops pages of a model read ahead once something of it is stored: a last page never hides what came after it', async () => {
    const { reader, records, cursor } = library();
    records.length = 150;
    expect(ids(await reader.read({ ...query, limit: 100 }))).toEqual(range(0, 100));
    await turn(); // read ahead: records 100-149, and no more
    records.push(...range(150, 180).map(record));
    reader.invalidate('other-model'); // another model's write leaves it
    reader.invalidate('item');
    const next = await reader.read({ ...query, limit: 100, after: cursor(99) });
    expect(ids(next)).toEqual(range(100, 180));
    expect(next.hasMore).toBe(false);
  });

  it('serves changes parked for a dependency in their place in the stream', async () => {
    const { reader, records, parking } = library();
    records.length = 10;
    const waiting = { model: 'item', id: 'rec-0004x', owner: 'device-a', hlc: { time: 1_790_000_000_004, counter: 1, deviceId: 'device-a' }, op: 'upsert' as const, data: { n: 4.5 } };
    parking.park(waiting, [{ model: 'parent', id: 'p1' }]);
    parking.park({ ...waiting, owner: 'device-b', id: 'other-owner', hlc: { ...waiting.hlc, deviceId: 'device-b' } }, [{ model: 'parent', id: 'p1' }]);
    const page = await reader.read({ ...query, limit: 6 });
    expect(page.changes.map((c) => c.id)).toEqual(['rec-0000', 'rec-0001', 'rec-0002', 'rec-0003', 'rec-0004', 'rec-0004x']);
    expect(page.hasMore).toBe(true);
    const rest = await reader.read({ ...query, limit: 100, after: { hlc: waiting.hlc, id: waiting.id } });
    expect(rest.changes.map((c) => c.id)).toEqual(['rec-0005', 'rec-0006', 'rec-0007', 'rec-0008', 'rec-0009']);
  });
});
