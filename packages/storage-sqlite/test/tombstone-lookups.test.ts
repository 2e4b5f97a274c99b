import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { parseHlc } from '@highwater/core';
import { SqliteSyncStore } from '@highwater/storage-sqlite';

// getTombstones skips the lookup for a model it has seen without tombstones. That shortcut must
// not hide a tombstone: not one written through the same store, nor one another connection
// (a second process on the same file) committed meanwhile.
describe('SqliteSyncStore tombstone lookups', () => {
  const dirs: string[] = [];
  const stores: SqliteSyncStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function openTwo(): [SqliteSyncStore, SqliteSyncStore] {
    const dir = mkdtempSync(join(tmpdir(), 'hw-sqlite-tombstones-'));
    dirs.push(dir);
    const a = new SqliteSyncStore({ path: join(dir, 'sync.db') });
    const b = new SqliteSyncStore({ path: join(dir, 'sync.db') });
    stores.push(a, b);
    return [a, b];
  }
  const tombstone = (recordId: string, model = 'entry') => ({ model, recordId, ownerDeviceId: 'device-a', hlc: parseHlc('000000000005-000000-device-a') });

  it('finds a tombstone written through the same store after a lookup found none', async () => {
    const [a] = openTwo();
    expect((await a.getTombstones('entry', ['e1'])).size).toBe(0);
    await a.putTombstones([tombstone('e1')]);
    expect([...(await a.getTombstones('entry', ['e1', 'e2'])).keys()]).toEqual(['e1']);
  });

  it('finds a tombstone another connection committed after a lookup found none', async () => {
    const [a, b] = openTwo();
    expect((await a.getTombstones('entry', ['e1'])).size).toBe(0);
    expect((await a.getTombstones('tag', ['t1'])).size).toBe(0);
    await b.putTombstones([tombstone('e1'), tombstone('t1', 'tag')]);
    expect((await a.getTombstones('entry', ['e1'])).get('e1')?.ownerDeviceId).toBe('device-a');
    expect([...(await a.getTombstones('tag', ['t1', 't2'])).keys()]).toEqual(['t1']);
  });

  it('keeps answering per model: tombstones of one model do not show under another', async () => {
    const [a] = openTwo();
    await a.putTombstones([tombstone('x', 'tag')]);
    expect((await a.getTombstones('entry', ['x'])).size).toBe(0);
    expect((await a.getTombstones('tag', ['x'])).size).toBe(1);
  });
});
