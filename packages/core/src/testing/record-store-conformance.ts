import { describe, expect, it } from '@jest/globals';
import { compareHlc } from '../clock/hlc.js';
import { UnknownModelError } from '../errors.js';
import type { ModelDefinition } from '../models/model-definition.js';
import type { RecordCursor, RecordStore, SyncRecord } from '../ports/record-store.js';
import { DEVICE_A, DEVICE_B, entryRecord, hlc, tagRecord, testModels, testSig } from './fixtures.js';
import { expectSameWithSigs } from './signatures.js';
import { useStoreHarness, type StoreHarness } from './harness.js';

/** Reads a whole model through keyset pages of `limit`, as backfill does. */
async function readAll(store: RecordStore, model: string, limit: number, owner?: string): Promise<SyncRecord[]> {
  const out: SyncRecord[] = [];
  let after: RecordCursor | null = null;
  for (;;) {
    const page: SyncRecord[] = await store.page(model, { after, limit, ...(owner ? { owner } : {}) });
    out.push(...page);
    if (page.length < limit) return out;
    const last = page[page.length - 1]!;
    after = { hlc: last.hlc, id: last.id };
  }
}

const byId = (a: SyncRecord, b: SyncRecord): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byHlcThenId = (a: SyncRecord, b: SyncRecord): number => compareHlc(a.hlc, b.hlc) || byId(a, b);

/** `record` with its owner's signature (a deterministic test value per `seed`). */
const signed = (record: SyncRecord, seed: string | number): SyncRecord => ({ ...record, sig: testSig(seed) });

/**
 * The behaviour every RecordStore adapter must show, on the models in `fixtures.ts`
 * (locations, volumes, entries with parents, shared tags). `newHarness` receives the models
 * the store must be opened with.
 */
export function runRecordStoreConformance(
  adapterName: string,
  newHarness: (models: readonly ModelDefinition[]) => Promise<StoreHarness<RecordStore>>,
): void {
  describe(`RecordStore conformance: ${adapterName}`, () => {
    const current = useStoreHarness(() => newHarness(testModels));
    const reopen = (): Promise<void> => current.reopen();

    it('stores every field type and reads it back exactly', async () => {
      const records = Array.from({ length: 8 }, (_, i) => entryRecord(i, hlc(i)));
      expect(await current.store.applyBatch('entry', { upserts: records })).toEqual({ upserted: 8, deleted: 0, unchanged: 0 });
      const got = (await current.store.getMany('entry', records.map((r) => r.id).concat('missing'))).sort(byId);
      expect(got).toEqual(records);
      expect(got[0]!.data['hidden']).toBe(true);
      expect(got[1]!.data['meta']).toEqual({ tags: ['a', 'b'], depth: 1, nested: { ok: true } });
      expect(got[0]!.data['parentId']).toBeNull();
      expect(await current.store.count('entry')).toBe(8);
    });

    it('is idempotent: the same batch twice leaves the same state', async () => {
      await current.store.applyBatch('entry', { upserts: [entryRecord(99, hlc(0))] });
      const batch = {
        upserts: Array.from({ length: 50 }, (_, i) => entryRecord(i, hlc(i))),
        deletes: [{ id: 'entry-000099', ownerDeviceId: DEVICE_A, hlc: hlc(100) }],
      };
      expect(await current.store.applyBatch('entry', batch)).toEqual({ upserted: 50, deleted: 1, unchanged: 0 });
      const first = await readAll(current.store, 'entry', 1000);
      expect(await current.store.applyBatch('entry', batch)).toEqual({ upserted: 0, deleted: 0, unchanged: 51 });
      expect(await readAll(current.store, 'entry', 1000)).toEqual(first);
      expect(first).toHaveLength(50);
    });

    it('keeps the last writer by HLC: older and equal writes change nothing', async () => {
      await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'v2', hlc(20, 0, DEVICE_B))] });
      const older = await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'v1', hlc(10, 5, DEVICE_A))] });
      const equal = await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'other', hlc(20, 0, DEVICE_B))] });
      expect([older.unchanged, equal.unchanged]).toEqual([1, 1]);
      expect((await current.store.getMany('tag', ['t1']))[0]!.data['name']).toBe('v2');
      // Same time and counter, higher device id: a later clock in the total order.
      await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'v3', hlc(20, 0, 'device-z'))] });
      const [t1] = await current.store.getMany('tag', ['t1']);
      expect(t1).toEqual(tagRecord('t1', 'v3', hlc(20, 0, 'device-z')));
    });

    it('deletes only what an older write stored', async () => {
      await current.store.applyBatch('entry', { upserts: [entryRecord(1, hlc(10)), entryRecord(2, hlc(10))] });
      const result = await current.store.applyBatch('entry', {
        deletes: [
          { id: 'entry-000001', ownerDeviceId: DEVICE_A, hlc: hlc(11) },
          { id: 'entry-000002', ownerDeviceId: DEVICE_A, hlc: hlc(9) },
          { id: 'entry-999999', ownerDeviceId: DEVICE_A, hlc: hlc(11) },
        ],
      });
      expect(result).toEqual({ upserted: 0, deleted: 1, unchanged: 2 });
      expect((await current.store.getMany('entry', ['entry-000001', 'entry-000002'])).map((r) => r.id)).toEqual(['entry-000002']);
    });

    it('stores a resolved batch whatever HLC is stored: a ConflictResolver chose those versions', async () => {
      await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'newest', hlc(30, 0, DEVICE_B)), tagRecord('t2', 'kept', hlc(30, 0, DEVICE_B))] });
      const replaced = await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'chosen', hlc(10, 0, DEVICE_A))] }, { resolved: true });
      const removed = await current.store.applyBatch('tag', { deletes: [{ id: 't2', ownerDeviceId: DEVICE_A, hlc: hlc(5, 0, DEVICE_A) }] }, { resolved: true });
      expect([replaced.upserted, removed.deleted]).toEqual([1, 1]);
      expect(await current.store.getMany('tag', ['t1', 't2'])).toEqual([tagRecord('t1', 'chosen', hlc(10, 0, DEVICE_A))]);
      // Without the option, last writer by HLC wins again.
      expect((await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'older', hlc(9, 0, DEVICE_B))] })).unchanged).toBe(1);
    });

    it('applies a batch all or nothing', async () => {
      await current.store.applyBatch('entry', { upserts: [entryRecord(1, hlc(1))] });
      const bad = entryRecord(3, hlc(3), DEVICE_A, { name: null });
      await expect(current.store.applyBatch('entry', { upserts: [entryRecord(2, hlc(2)), bad], deletes: [{ id: 'entry-000001', ownerDeviceId: DEVICE_A, hlc: hlc(9) }] })).rejects.toThrow();
      expect((await readAll(current.store, 'entry', 10)).map((r) => r.id)).toEqual(['entry-000001']);
    });

    it("counts an owner's records when that owner holds every row, and after another's arrive", async () => {
      expect(await current.store.count('entry', DEVICE_A)).toBe(0);
      await current.store.applyBatch('entry', { upserts: Array.from({ length: 12 }, (_, i) => entryRecord(i, hlc(i))) });
      expect(await current.store.count('entry', DEVICE_A)).toBe(12);
      expect(await current.store.count('entry', DEVICE_A, hlc(8))).toBe(3);
      expect(await current.store.count('entry', DEVICE_B)).toBe(0);
      // Owners sorting before and after DEVICE_A: it no longer holds every row.
      await current.store.applyBatch('entry', { upserts: [entryRecord(50, hlc(1, 0, DEVICE_B), DEVICE_B)] });
      await current.store.applyBatch('entry', { upserts: [entryRecord(51, hlc(1, 0, 'a-first'), 'a-first')] });
      expect(await current.store.count('entry', DEVICE_A)).toBe(12);
      expect(await current.store.count('entry', DEVICE_B)).toBe(1);
      expect(await current.store.count('entry', 'a-first')).toBe(1);
      expect(await current.store.count('entry')).toBe(14);
    });

    it('pages by (HLC, id) through ties without gaps or repeats, per owner', async () => {
      // 3 HLC values shared by many records: the cursor must break ties by id.
      const mine = Array.from({ length: 25 }, (_, i) => entryRecord(i, hlc(Math.floor(i / 10), 0, DEVICE_A)));
      const theirs = Array.from({ length: 6 }, (_, i) => entryRecord(100 + i, hlc(1, 0, DEVICE_B)));
      await current.store.applyBatch('entry', { upserts: [...theirs, ...[...mine].reverse()] });
      const pagedMine = await readAll(current.store, 'entry', 7, DEVICE_A);
      expect(pagedMine.map((r) => r.id)).toEqual(mine.map((r) => r.id));
      const pagedAll = await readAll(current.store, 'entry', 4);
      const expected = [...mine, ...theirs].sort((a, b) => compareHlc(a.hlc, b.hlc) || byId(a, b));
      expect(pagedAll.map((r) => r.id)).toEqual(expected.map((r) => r.id));
      expect(await current.store.count('entry', DEVICE_A)).toBe(25);
      expect(await current.store.count('entry', DEVICE_B)).toBe(6);
      expect(await current.store.count('entry', 'nobody')).toBe(0);
      // Counting after a watermark counts only what is newer.
      expect(await current.store.count('entry', DEVICE_A, hlc(1))).toBe(5);
      expect(await current.store.count('entry', undefined, hlc(0, 0, DEVICE_B))).toBe(expected.filter((r) => compareHlc(r.hlc, hlc(0, 0, DEVICE_B)) > 0).length);
      expect(await current.store.count('entry', DEVICE_A, null)).toBe(25);
      const afterCursor = await current.store.page('entry', { owner: DEVICE_A, after: { hlc: hlc(1), id: 'entry-000014' }, limit: 3 });
      expect(afterCursor.map((r) => r.id)).toEqual(['entry-000015', 'entry-000016', 'entry-000017']);
      // A watermark bound (HLC only) skips the whole tie group at that HLC.
      const afterWatermark = await current.store.page('entry', { owner: DEVICE_A, afterHlc: hlc(1), limit: 100 });
      expect(afterWatermark.map((r) => r.id)).toEqual(mine.slice(20).map((r) => r.id));
      const allAfterWatermark = await current.store.page('entry', { afterHlc: hlc(0, 0, DEVICE_B), limit: 100 });
      expect(allAfterWatermark.map((r) => r.id)).toEqual(expected.filter((r) => compareHlc(r.hlc, hlc(0, 0, DEVICE_B)) > 0).map((r) => r.id));
    });

    it('never changes the owner of a device-owned record', async () => {
      await current.store.applyBatch('entry', { upserts: [entryRecord(1, hlc(1, 0, DEVICE_A))] });
      const forged = entryRecord(1, hlc(5, 0, DEVICE_B), DEVICE_B, { name: 'forged' });
      expect(await current.store.applyBatch('entry', { upserts: [forged] })).toEqual({ upserted: 0, deleted: 0, unchanged: 1 });
      expect((await current.store.getMany('entry', ['entry-000001']))[0]).toEqual(entryRecord(1, hlc(1, 0, DEVICE_A)));
      const forgedDelete = await current.store.applyBatch('entry', { deletes: [{ id: 'entry-000001', ownerDeviceId: DEVICE_B, hlc: hlc(6, 0, DEVICE_B) }] });
      expect(forgedDelete.deleted).toBe(0);
      // Shared records change hands with every write.
      await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'a', hlc(1, 0, DEVICE_A))] });
      await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'b', hlc(2, 0, DEVICE_B))] });
      expect((await current.store.getMany('tag', ['t1']))[0]!.ownerDeviceId).toBe(DEVICE_B);
    });

    it('applies a record named several times in one batch as if its writes came one by one', async () => {
      // 260 rows: adapters that write many rows per statement see repeats inside one
      // statement and across two.
      const first = Array.from({ length: 200 }, (_, i) => entryRecord(i, hlc(100 + i), DEVICE_A, { name: `first ${i}` }));
      // Records 0–29 again, newer: these win. Records 30–59 again, older: these lose.
      const newer = Array.from({ length: 30 }, (_, i) => entryRecord(i, hlc(1000 + i), DEVICE_A, { name: `newer ${i}` }));
      const older = Array.from({ length: 30 }, (_, i) => entryRecord(30 + i, hlc(i), DEVICE_A, { name: `older ${30 + i}` }));
      // Records 60–69 twice more: older, then newest.
      const interleaved = first.flatMap((r, i) => (i >= 60 && i < 70 ? [r, entryRecord(i, hlc(50 + i)), entryRecord(i, hlc(5000 + i), DEVICE_A, { name: `newest ${i}` })] : [r]));
      const result = await current.store.applyBatch('entry', { upserts: [...interleaved, ...newer, ...older] });
      // Writes that a later write of the same batch superseded may count as upserted (written,
      // then replaced) or as unchanged (never written): the port leaves that to the adapter.
      expect(result.upserted + result.unchanged).toBe(interleaved.length + newer.length + older.length);
      expect(result.upserted).toBeGreaterThanOrEqual(200);
      expect(result.upserted).toBeLessThanOrEqual(200 + 10 + 30);
      expect(result.deleted).toBe(0);
      const stored = new Map((await readAll(current.store, 'entry', 1000)).map((r) => [r.id, r]));
      expect(stored.size).toBe(200);
      expect(stored.get('entry-000007')).toEqual(newer[7]);
      expect(stored.get('entry-000045')).toEqual(first[45]);
      expect(stored.get('entry-000065')!.data['name']).toBe('newest 65');
      expect(stored.get('entry-000065')!.hlc).toEqual(hlc(5065));
      expect(stored.get('entry-000150')).toEqual(first[150]);
    });

    it('applies a large batch in one go and survives reopening', async () => {
      const records = Array.from({ length: 5000 }, (_, i) => entryRecord(i, hlc(i, 0)));
      expect((await current.store.applyBatch('entry', { upserts: records })).upserted).toBe(5000);
      await reopen();
      expect(await current.store.count('entry')).toBe(5000);
      const sample = (await current.store.getMany('entry', ['entry-004321']))[0];
      expect(sample).toEqual(records[4321]);
    });

    // Signatures: stored with the row as they came, returned by every read, replaced with the
    // row. Compared by expectSameWithSigs, so an unsigned record must come back without a `sig`
    // property at all (not undefined, not null).
    it('returns each record with the signature it was stored with, from every read; an unsigned one without any', async () => {
      // 250 entries: adapters that write many rows per statement mix signed and unsigned rows
      // inside one statement and across several. Every third is unsigned.
      const mine = Array.from({ length: 250 }, (_, i) => {
        const record = entryRecord(i, hlc(Math.floor(i / 10)));
        return i % 3 === 0 ? record : signed(record, `entry ${i}`);
      });
      const theirs = Array.from({ length: 10 }, (_, i) => {
        const record = entryRecord(500 + i, hlc(i, 1, DEVICE_B), DEVICE_B);
        return i % 2 === 0 ? record : signed(record, `theirs ${i}`);
      });
      const tags = [signed(tagRecord('t1', 'one', hlc(1, 0, DEVICE_B)), 't1'), tagRecord('t2', 'two', hlc(2, 0, DEVICE_A))];
      expect((await current.store.applyBatch('entry', { upserts: [...theirs, ...mine] })).upserted).toBe(260);
      await current.store.applyBatch('tag', { upserts: tags });
      const all = [...mine, ...theirs].sort(byHlcThenId);

      const readsBack = async (): Promise<void> => {
        const ids = all.map((r) => r.id);
        expectSameWithSigs((await current.store.getMany('entry', [...ids, 'missing'])).sort(byId), [...all].sort(byId));
        expectSameWithSigs(await readAll(current.store, 'entry', 7), all);
        expectSameWithSigs(await readAll(current.store, 'entry', 50, DEVICE_A), mine);
        expectSameWithSigs(await readAll(current.store, 'entry', 3, DEVICE_B), theirs);
        expectSameWithSigs(await current.store.page('entry', { owner: DEVICE_A, after: { hlc: hlc(4), id: 'entry-000044' }, limit: 4 }), mine.slice(45, 49));
        expectSameWithSigs(await current.store.page('entry', { afterHlc: hlc(23), limit: 100 }), all.filter((r) => compareHlc(r.hlc, hlc(23)) > 0));
        expectSameWithSigs((await current.store.getMany('tag', ['t1', 't2'])).sort(byId), tags);
        expectSameWithSigs(await current.store.page('tag', { limit: 10 }), tags);
      };
      await readsBack();
      expect(mine[1]!.sig).toHaveLength(86);
      expect(all.filter((r) => r.sig !== undefined)).toHaveLength(166 + 5);
      await reopen();
      await readsBack();
    });

    it("replaces a record's signature with the newer version's, also with none; older and equal writes keep it", async () => {
      const version = (time: number, name: string, owner = DEVICE_A): SyncRecord => entryRecord(1, hlc(time, 0, owner), owner, { name });
      const stored = async (id = 'entry-000001'): Promise<SyncRecord | undefined> => (await current.store.getMany('entry', [id]))[0];

      await current.store.applyBatch('entry', { upserts: [signed(version(10, 'v1'), 'v1')] });
      expectSameWithSigs(await stored(), signed(version(10, 'v1'), 'v1'));
      await current.store.applyBatch('entry', { upserts: [signed(version(20, 'v2'), 'v2')] });
      expectSameWithSigs(await stored(), signed(version(20, 'v2'), 'v2'));
      // A newer unsigned version leaves no signature behind.
      expect((await current.store.applyBatch('entry', { upserts: [version(30, 'v3')] })).upserted).toBe(1);
      expectSameWithSigs(await stored(), version(30, 'v3'));
      // Older and equal writes, signed, change nothing; nor does another owner's (device-owned).
      const losers = [signed(version(25, 'older'), 'older'), signed(version(30, 'equal'), 'equal'), signed(version(99, 'forged', DEVICE_B), 'forged')];
      for (const loser of losers) expect((await current.store.applyBatch('entry', { upserts: [loser] })).unchanged).toBe(1);
      expectSameWithSigs(await stored(), version(30, 'v3'));
      await current.store.applyBatch('entry', { upserts: [signed(version(40, 'v4'), 'v4')] });
      expectSameWithSigs(await stored(), signed(version(40, 'v4'), 'v4'));

      // A record named twice in one batch ends with the signature of the version that wins.
      const twice = (first: SyncRecord, second: SyncRecord): Promise<unknown> => current.store.applyBatch('entry', { upserts: [first, second] });
      await twice(signed(entryRecord(2, hlc(10)), 'e2 old'), entryRecord(2, hlc(20)));
      await twice(entryRecord(3, hlc(10)), signed(entryRecord(3, hlc(20)), 'e3 new'));
      await twice(signed(entryRecord(4, hlc(20)), 'e4 new'), entryRecord(4, hlc(10)));
      const winners = [signed(version(40, 'v4'), 'v4'), entryRecord(2, hlc(20)), signed(entryRecord(3, hlc(20)), 'e3 new'), signed(entryRecord(4, hlc(20)), 'e4 new')];
      expectSameWithSigs((await current.store.getMany('entry', ['entry-000001', 'entry-000002', 'entry-000003', 'entry-000004'])).sort(byId), winners);

      // Shared records: each newer write, by any device, brings its own signature or none.
      await current.store.applyBatch('tag', { upserts: [signed(tagRecord('t1', 'a', hlc(1, 0, DEVICE_A)), 't1 a')] });
      await current.store.applyBatch('tag', { upserts: [signed(tagRecord('t1', 'b', hlc(2, 0, DEVICE_B)), 't1 b')] });
      expectSameWithSigs(await current.store.getMany('tag', ['t1']), [signed(tagRecord('t1', 'b', hlc(2, 0, DEVICE_B)), 't1 b')]);
      // A resolved batch replaces the row whatever its HLC, and its signature with it.
      await current.store.applyBatch('tag', { upserts: [tagRecord('t1', 'chosen', hlc(1, 5, DEVICE_A))] }, { resolved: true });
      expectSameWithSigs(await current.store.getMany('tag', ['t1']), [tagRecord('t1', 'chosen', hlc(1, 5, DEVICE_A))]);
      await current.store.applyBatch('tag', { upserts: [signed(tagRecord('t1', 'again', hlc(1, 6, DEVICE_B)), 't1 again')] }, { resolved: true });
      expectSameWithSigs(await current.store.getMany('tag', ['t1']), [signed(tagRecord('t1', 'again', hlc(1, 6, DEVICE_B)), 't1 again')]);

      await reopen();
      expectSameWithSigs(await readAll(current.store, 'entry', 100), [...winners].sort(byHlcThenId));
      expectSameWithSigs(await current.store.page('tag', { limit: 10 }), [signed(tagRecord('t1', 'again', hlc(1, 6, DEVICE_B)), 't1 again')]);
    });

    it('rejects an unknown model with a typed error', async () => {
      await expect(current.store.applyBatch('nope', { upserts: [] })).rejects.toBeInstanceOf(UnknownModelError);
      await expect(current.store.count('nope')).rejects.toMatchObject({ code: 'HW_UNKNOWN_MODEL' });
    });
  });
}
