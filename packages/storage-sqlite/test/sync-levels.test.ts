import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { parseHlc } from '@highwater/core';
import { SqliteSyncStore } from '@highwater/storage-sqlite';

// Watermarks and checkpoints are written without syncing the WAL (losing the last of them only
// re-fetches a page); everything else keeps the connection's FULL sync.
describe('SqliteSyncStore sync levels', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** `during` collects the sync level at the moment each write reads the clock (inside it). */
  function open(synchronous?: 'full' | 'normal'): { store: SqliteSyncStore; level: () => number; during: number[] } {
    const dir = mkdtempSync(join(tmpdir(), 'hw-sqlite-sync-'));
    dirs.push(dir);
    const during: number[] = [];
    const wallClock = { now: () => (during.push(level()), 1_700_000_000_000) };
    const store = new SqliteSyncStore({ path: join(dir, 'sync.db'), synchronous, wallClock });
    // The connection itself: PRAGMA synchronous is per connection (2 = FULL, 1 = NORMAL).
    const db = (store as unknown as { db: { pragma(sql: string, options: { simple: true }): number } }).db;
    const level = (): number => db.pragma('synchronous', { simple: true });
    return { store, level, during };
  }

  it('writes watermarks and checkpoints at NORMAL, returns to FULL after each, and they persist', async () => {
    const { store, level, during } = open();
    expect(level()).toBe(2);
    const hlc = parseHlc('000000000001-000000-device-a');
    expect(await store.advanceWatermark('device-a', 'entry', hlc)).toBe(true);
    expect(level()).toBe(2);
    await store.saveCheckpoint({ ownerDeviceId: 'device-a', resourceType: 'entry', cursor: { hlc, id: 'r1' }, completed: false, recordsApplied: 1, recordsTotal: 10 });
    expect(level()).toBe(2);
    expect(during).toEqual([1, 1]);
    expect(await store.getWatermark('device-a', 'entry')).toEqual(hlc);
    expect((await store.loadCheckpoint('device-a', 'entry'))?.cursor).toEqual({ hlc, id: 'r1' });
    await store.close();
  });

  it('leaves a NORMAL connection at NORMAL', async () => {
    const { store, level } = open('normal');
    await store.advanceWatermark('device-a', 'entry', parseHlc('000000000001-000000-device-a'));
    expect(level()).toBe(1);
    await store.close();
  });
});
