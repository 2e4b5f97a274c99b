import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createSqliteStorage, WorkerRecordStore } from '@highwater/storage-sqlite';
import { compareHlc, createInProcessNetwork, StorageError, type HighwaterError, type SyncRecord } from '@highwater/core';
import { closePeer, createPeer, dumpModel, eventually, id, locationData, registry, writeMany, type TestPeer } from './support/library.js';

// better-sqlite3, as the adapter has it: a second connection holding a lock.
const Sqlite = createRequire(new URL('../packages/storage-sqlite/package.json', import.meta.url))('better-sqlite3') as new (path: string) => { exec(sql: string): void; close(): void };

/** Overwrites `bytes` at `offset` of `path` with 0xff. */
function damage(path: string, offset: number, bytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(bytes, 0xff), 0, bytes, offset);
  } finally {
    closeSync(fd);
  }
}

/** The StorageError `open` throws (fails the test if it throws anything else, or nothing). */
function refusal(open: () => unknown): StorageError {
  try {
    open();
  } catch (error) {
    if (error instanceof StorageError) return error;
    throw error;
  }
  throw new Error('opened without complaint');
}

// Issue #20, item 2: storage that fails. A full disk (here the library database's size limit,
// which fails SQLite's writes as a full disk does: SQLITE_FULL) fails the page being written,
// with a typed error; what is stored, the checkpoint and the watermarks stay consistent; and
// once there is space again the node goes on by itself. Files that are damaged, not databases
// at all, or held by another process are refused at start with the reason named.

const RECORDS = 4_000;

describe('storage faults', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  /** A library folder holding 2 000 records, closed (its WAL checkpointed into the files). */
  async function closedLibrary(): Promise<string> {
    const peer = await createPeer(createInProcessNetwork(), 'device-a');
    await peer.node.start();
    await writeMany(peer, 'location', 2_000, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await closePeer(peer, false);
    return peer.directory;
  }

  it.each(['database.db', 'sync.db'])('refuses a damaged %s at start (reason corrupt), naming the file (sync.db: when asked to refuse)', async (file) => {
    const directory = await closedLibrary();
    const path = join(directory, file);
    const pageSize = 4096;
    const pages = statSync(path).size / pageSize;
    expect(pages).toBeGreaterThan(2);
    // A page in the middle whose header is overwritten: its b-tree no longer parses.
    damage(path, Math.floor(pages / 2) * pageSize, 16);
    const error = refusal(() => createSqliteStorage({ directory, registry, damagedSyncDb: 'refuse' }));
    expect(error.reason).toBe('corrupt');
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/damaged/);
    // Asked not to check, it opens (and the damage would show when the page is read).
    const unchecked = createSqliteStorage({ directory, registry, integrityCheck: 'off' });
    await unchecked.close();
    if (file === 'database.db') {
      // With the record store on a worker thread, every call fails with the same reason.
      const worker = WorkerRecordStore.open({ path, registry });
      const fromWorker = await worker.count('location').then(
        () => null,
        (e: unknown) => e,
      );
      expect(fromWorker).toBeInstanceOf(StorageError);
      expect((fromWorker as StorageError).reason).toBe('corrupt');
      expect((fromWorker as StorageError).message).toContain(path);
      await worker.close();
    }
  });

  it('moves a damaged sync.db aside and rebuilds it: the node takes up its own records, backfills the rest from a peer, and its new writes reach the peer', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 200 });
    const b = await createPeer(network, 'device-b', { pageSize: 200 });
    peers.push(b);
    await a.node.start();
    await b.node.start();
    // More than a page of its own: the own records are taken up in chunks of a page.
    await writeMany(a, 'location', 2_500, (n) => ({ id: id('loc-a', n), data: locationData(n) }));
    await writeMany(b, 'location', 300, (n) => ({ id: id('loc-b', n), data: locationData(n) }));
    network.connect('device-a', 'device-b');
    await eventually(async () => (await a.node.count('location')) === 2_800 && (await b.node.count('location')) === 2_800, 'A and B holding both', 20_000);
    const ownMark = a.node.watermarks().find((w) => w.owner === 'device-a')!.hlc;
    await closePeer(a, false);

    const path = join(a.directory, 'sync.db');
    damage(path, Math.floor(statSync(path).size / 4096 / 2) * 4096, 16);
    const rebuilt = await createPeer(network, 'device-a', { directory: a.directory, pageSize: 200 });
    peers.push(rebuilt);
    expect(rebuilt.storage.rebuiltSyncDb).toMatch(/sync\.db\.damaged-/);
    expect(statSync(rebuilt.storage.rebuiltSyncDb!).size).toBeGreaterThan(0); // kept, for whoever wants to look
    await rebuilt.node.start();
    // Its own stream, taken up from database.db: watermark and clock where they were.
    expect(compareHlc(rebuilt.node.watermarks().find((w) => w.owner === 'device-a')!.hlc, ownMark)).toBe(0);
    network.connect('device-a', 'device-b');
    await eventually(() => rebuilt.node.watermarks().some((w) => w.owner === 'device-b'), "A taking up B's stream again", 20_000);
    expect(await dumpModel(rebuilt, 'location')).toEqual(await dumpModel(b, 'location'));

    const [written] = await rebuilt.node.write('location', [{ id: id('loc-a', 2_500), data: locationData(2_500) }]);
    expect(compareHlc(written!.hlc, ownMark)).toBeGreaterThan(0);
    await eventually(async () => (await b.node.count('location')) === 2_801, 'B getting A’s new write', 20_000);
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(rebuilt, 'location'));
  });

  it('refuses a database.db that is not a database at all (reason corrupt)', async () => {
    const directory = await closedLibrary();
    damage(join(directory, 'database.db'), 0, 100);
    expect(refusal(() => createSqliteStorage({ directory, registry })).reason).toBe('corrupt');
  });

  it('refuses a library another process holds locked, after waiting for it (reason locked)', async () => {
    const directory = await closedLibrary();
    const holder = new Sqlite(join(directory, 'database.db'));
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const error = refusal(() => createSqliteStorage({ directory, registry }));
      expect(error.reason).toBe('locked');
      expect(error.message).toMatch(/another process/);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  }, 20_000);

  it.each([
    ['its database files', ['database.db', 'sync.db']],
    ['its folder and files', ['.', 'database.db', 'sync.db']],
  ])('refuses a library whose files cannot be written (reason read-only), even as root: %s marked immutable', async (_what, names) => {
    const directory = await closedLibrary();
    // chattr +i holds against root too (this suite runs as root, where chmod would not).
    const files = names.map((name) => join(directory, name));
    execFileSync('chattr', ['+i', ...files]);
    try {
      const error = refusal(() => createSqliteStorage({ directory, registry }));
      expect(error.reason).toBe('read-only');
      expect(error.message).toContain(directory);
      expect(error.message).toMatch(/cannot be written/);
    } finally {
      execFileSync('chattr', ['-i', ...files]);
    }
  });

  it('a full disk fails the page being written with StorageError reason full, keeps the checkpoint and watermark on what is stored, and the backfill goes on once space returns', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 200 });
    const b = await createPeer(network, 'device-b', { pageSize: 200, maxDatabaseBytes: 160_000, antiEntropyMs: 300 });
    peers.push(a, b);
    const errors: HighwaterError[] = [];
    b.node.errors$.subscribe((e) => errors.push(e));
    await a.node.start();
    await b.node.start();
    await writeMany(a, 'location', RECORDS, (n) => ({ id: id('loc', n), data: locationData(n) }));

    network.connect('device-a', 'device-b');
    await eventually(() => errors.some((e) => e instanceof StorageError && e.reason === 'full'), 'B running out of space', 5_000);
    const full = errors.find((e) => e instanceof StorageError && e.reason === 'full')!;
    expect(full.code).toBe('HW_STORAGE');
    expect(full.message).toMatch(/full/);

    // What B holds is a prefix of A's stream, in whole pages; the checkpoint and the watermark
    // of the stream cover no more of it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const held = (await dumpModel(b, 'location')) as SyncRecord[];
    expect(held.length).toBeGreaterThan(0);
    expect(held.length).toBeLessThan(RECORDS);
    expect(held.length % 200).toBe(0);
    const all = (await dumpModel(a, 'location')) as SyncRecord[];
    expect(held).toEqual(all.slice(0, held.length));
    const checkpoint = await b.storage.syncStore.loadCheckpoint('device-a', 'location');
    expect(checkpoint?.recordsApplied ?? 0).toBeLessThanOrEqual(held.length);
    if (checkpoint?.cursor) expect(compareHlc(checkpoint.cursor.hlc, held.at(-1)!.hlc)).toBeLessThanOrEqual(0);
    const mark = b.node.watermarks().find((w) => w.owner === 'device-a' && w.resource === 'location');
    if (mark) expect(compareHlc(mark.hlc, held.at(-1)!.hlc)).toBeLessThanOrEqual(0);
    // The failed page is retried (the pass fails and is tried again, later each time), and fails again while the disk is full.
    const failures = errors.filter((e) => e instanceof StorageError && e.reason === 'full').length;
    await eventually(() => errors.filter((e) => e instanceof StorageError && e.reason === 'full').length > failures, 'B trying again', 10_000);
    expect(await b.node.count('location')).toBe(held.length);

    // Space returns: the node goes on by itself and ends with all of A's records.
    await b.storage.recordStore.setMaxDatabaseBytes(null);
    await eventually(async () => (await b.node.count('location')) === RECORDS, 'B holding all of A after space returned', 20_000);
    expect(await dumpModel(b, 'location')).toEqual(all);
    await eventually(() => {
      const w = b.node.watermarks().find((x) => x.owner === 'device-a' && x.resource === 'location');
      return w !== undefined && compareHlc(w.hlc, all.at(-1)!.hlc) === 0;
    }, 'the watermark of A’s stream at its head', 10_000);
  });
});
