import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { compareHlc, ModelRegistry, type Hlc, type SyncRecord } from '@highwater/core';
import { entryRecord, hlc, testModels } from '@highwater/core/testing';
import { SqliteRecordStore } from '@highwater/storage-sqlite';

// Counting one owner's records, or those after an HLC, goes in slices along (hlc, key) so a
// large count does not hold the event loop. Slices of 7 over 60 records with HLC ties make
// slice edges fall inside tie groups, on owner boundaries and on the watermark.
describe('SqliteRecordStore sliced counts', () => {
  const dirs: string[] = [];
  const stores: SqliteRecordStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function storeWith(records: SyncRecord[], countSliceRows: number): Promise<SqliteRecordStore> {
    const dir = mkdtempSync(join(tmpdir(), 'hw-sqlite-count-'));
    dirs.push(dir);
    const store = new SqliteRecordStore({ path: join(dir, 'database.db'), registry: new ModelRegistry(testModels), countSliceRows });
    stores.push(store);
    await store.applyBatch('entry', { upserts: records });
    return store;
  }

  // Three records per HLC value; owners alternate in runs of five.
  const records = Array.from({ length: 60 }, (_, i) => {
    const owner = Math.floor(i / 5) % 2 === 0 ? 'device-a' : 'device-b';
    return entryRecord(i, hlc(Math.floor(i / 3), 0, owner), owner);
  });
  const expected = (owner: string | undefined, after: Hlc | null): number =>
    records.filter((r) => (owner === undefined || r.ownerDeviceId === owner) && (after === null || compareHlc(r.hlc, after) > 0)).length;

  it('counts exactly what a single count would, whatever the slice size', async () => {
    for (const slice of [1, 3, 7, 60, 1000]) {
      const store = await storeWith(records, slice);
      for (const owner of ['device-a', 'device-b', 'nobody', undefined]) {
        for (const after of [null, hlc(0, 0, 'device-a'), hlc(6, 0, 'device-a'), hlc(6, 0, 'device-b'), hlc(19, 0, 'device-b'), hlc(40)]) {
          expect({ slice, owner, after, n: await store.count('entry', owner, after) }).toEqual({ slice, owner, after, n: expected(owner, after) });
        }
      }
    }
  });

  /** Counts the event loop's turns from now on (up to 100). */
  function loopTurns(): () => number {
    let turns = 0;
    const tick = (): void => {
      turns++;
      if (turns < 100) setImmediate(tick);
    };
    setImmediate(tick);
    return () => turns;
  }

  it('lets the event loop run between slices', async () => {
    const store = await storeWith(records, 7);
    const turns = loopTurns();
    expect(await store.count('entry', 'device-a')).toBe(30);
    // 30 rows in slices of 7: four full slices, each followed by a turn of the loop.
    expect(turns()).toBeGreaterThanOrEqual(4);
    // A whole-table count is SQLite's own and takes no turns.
    const before = turns();
    expect(await store.count('entry')).toBe(60);
    expect(turns()).toBe(before);
  });

  it("counts an owner holding every row with SQLite's own count, in no slices", async () => {
    const mine = records.map((_, i) => entryRecord(i, hlc(Math.floor(i / 3), 0, 'device-a'), 'device-a'));
    const store = await storeWith(mine, 7);
    const turns = loopTurns();
    expect(await store.count('entry', 'device-a')).toBe(60);
    expect(turns()).toBe(0);
    // After a watermark it still counts in slices (only what is newer).
    expect(await store.count('entry', 'device-a', hlc(2, 0, 'device-a'))).toBe(51);
    expect(turns()).toBeGreaterThanOrEqual(7);
  });
});
