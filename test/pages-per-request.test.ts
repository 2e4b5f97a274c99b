import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  createInProcessNetwork,
  decodeMessage,
  formatHlc,
  jsonCodec,
  PROTOCOL_LIMITS,
  SyncNode,
  type BackfillCheckpointInput,
  type InProcessNetwork,
  type PageQuery,
  type RecordBatch,
  type SyncMessage,
  type SyncNodeOptions,
} from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { closePeer, createPeer, dumpModel, entryData, id, LIBRARY_ID, locationData, registry, waitForState, writeMany, type TestPeer } from './support/library.js';

const PAGE = 100;
const ENTRIES = 2_600;

/** What a puller asked for and got for one model: each state-request, and the changes of each state-response. */
function watchPulls(network: InProcessNetwork, requester: string, model: string) {
  const seen = { requests: [] as Extract<SyncMessage, { type: 'state-request' }>[], changes: 0 };
  const sub = network.wire$.subscribe((e) => {
    const m = decodeMessage(jsonCodec, e.payload, LIBRARY_ID);
    if (m.type === 'state-request' && e.from === requester && m.model === model) seen.requests.push(m);
    if (m.type === 'state-response' && e.to === requester && m.model === model) seen.changes += m.changes.length;
  });
  return { seen, stop: () => sub.unsubscribe() };
}

/** Starts `peer`, connects it to device-a and waits until it is ready: what it pulled of `model`. */
async function syncWatching(network: InProcessNetwork, peer: TestPeer, model: string) {
  const pulls = watchPulls(network, peer.deviceId, model);
  await peer.node.start();
  const ready = waitForState(peer.node, 'ready');
  network.connect('device-a', peer.deviceId);
  await ready;
  pulls.stop();
  return pulls.seen;
}

/** What a test watches of a node's stores: each saved checkpoint, each record batch (false: it never finishes), each page read. */
interface StoreHooks {
  readonly onCheckpoint?: (checkpoint: BackfillCheckpointInput) => void;
  readonly onBatch?: (model: string, batch: RecordBatch) => boolean | void;
  readonly onRead?: (model: string, records: number) => void;
}

function watched(hooks: StoreHooks): (storage: SyncNodeOptions['storage']) => SyncNodeOptions['storage'] {
  return ({ syncStore, recordStore }) => ({
    syncStore: new Proxy(syncStore, {
      get: (target, prop) =>
        prop === 'saveCheckpoint'
          ? (c: BackfillCheckpointInput) => (hooks.onCheckpoint?.(c), target.saveCheckpoint(c))
          : Reflect.get(target, prop).bind(target),
    }),
    recordStore: new Proxy(recordStore, {
      get: (target, prop) =>
        prop === 'applyBatch'
          ? (model: string, batch: RecordBatch) => (hooks.onBatch?.(model, batch) === false ? new Promise(() => undefined) : target.applyBatch(model, batch))
          : prop === 'page'
            ? async (model: string, query: PageQuery) => {
                const records = await target.page(model, query);
                hooks.onRead?.(model, records.length);
                return records;
              }
            : Reflect.get(target, prop).bind(target),
    }),
  });
}

describe('several pages per request', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  async function source(network: InProcessNetwork, entries = ENTRIES, pageSize = PAGE, hooks: StoreHooks = {}): Promise<TestPeer> {
    const a = await createPeer(network, 'device-a', { pageSize, wrapStorage: watched(hooks) });
    peers.push(a);
    await a.node.start();
    await writeMany(a, 'location', 10, (n) => ({ id: id('loc', n), data: locationData(n) }));
    await writeMany(a, 'entry', entries, (n) => ({ id: id('ent', n), data: entryData(n, 10) }));
    return a;
  }

  it('asks for one page, then two, then pagesPerRequest, and applies and checkpoints every page on its own', async () => {
    const network = createInProcessNetwork();
    const a = await source(network);
    const checkpoints: BackfillCheckpointInput[] = [];
    const batches: number[] = [];
    const b = await createPeer(network, 'device-b', {
      pageSize: PAGE,
      pagesPerRequest: 4,
      wrapStorage: watched({
        onCheckpoint: (c) => void (c.resourceType === 'entry' && checkpoints.push(c)),
        onBatch: (model, batch) => void (model === 'entry' && batches.push(batch.upserts?.length ?? 0)),
      }),
    });
    peers.push(b);
    const seen = await syncWatching(network, b, 'entry');

    // 100 + 200 + 400 × 5 = 2300 records in seven requests; the eighth brings the last 300.
    expect(seen.requests.map((r) => r.limit)).toEqual([100, 200, 400, 400, 400, 400, 400, 400]);
    expect(seen.changes).toBe(ENTRIES);
    // Every checkpoint is a page boundary, also inside a response, and only the last completes.
    expect(checkpoints.map((c) => c.recordsApplied)).toEqual(Array.from({ length: ENTRIES / PAGE }, (_, i) => (i + 1) * PAGE));
    expect(checkpoints.map((c) => c.completed)).toEqual([...Array<boolean>(ENTRIES / PAGE - 1).fill(false), true]);
    const order = (await a.storage.recordStore.page('entry', { limit: ENTRIES })).map((r) => ({ hlc: formatHlc(r.hlc), id: r.id }));
    expect(checkpoints.map((c) => c.cursor && { hlc: formatHlc(c.cursor.hlc), id: c.cursor.id })).toEqual(order.filter((_, i) => (i + 1) % PAGE === 0));
    // No store batch spans two pages (entries referencing entries may split a page in two).
    expect(batches.every((n) => n <= PAGE)).toBe(true);
    expect(batches.reduce((sum, n) => sum + n, 0)).toBe(ENTRIES);
    expect(await dumpModel(b, 'entry')).toEqual(await dumpModel(a, 'entry'));
  });

  it('serves the growing requests from its read-ahead, reading every record once', async () => {
    const network = createInProcessNetwork();
    let entriesRead = 0;
    let reading = false;
    const a = await source(network, ENTRIES, PAGE, { onRead: (model, records) => void (reading && model === 'entry' && (entriesRead += records)) });
    reading = true;
    const b = await createPeer(network, 'device-b', { pageSize: PAGE, pagesPerRequest: 4 });
    peers.push(b);
    const seen = await syncWatching(network, b, 'entry');
    expect(seen.requests.map((r) => r.limit)).toEqual([100, 200, 400, 400, 400, 400, 400, 400]);
    // A page read ahead with 100 answers the request for 200 with another 100 read after it,
    // and so on: nothing is read twice or thrown away (the last read-ahead finds the last 300).
    expect(entriesRead).toBe(ENTRIES);
    expect(await dumpModel(b, 'entry')).toEqual(await dumpModel(a, 'entry'));
  });

  it('resumes after a crash from the last page applied inside a response', async () => {
    const network = createInProcessNetwork();
    const a = await source(network);
    // The fifth page of entries is the second page of the third response (100, 200, 400): the
    // process "dies" there, its store never finishing that page's batch.
    let entryCheckpoints = 0;
    let hung = false;
    const crashed = await createPeer(network, 'device-b', {
      pageSize: PAGE,
      pagesPerRequest: 4,
      wrapStorage: watched({
        onCheckpoint: (c) => void (c.resourceType === 'entry' && (entryCheckpoints += 1)),
        onBatch: (model) => {
          if (model !== 'entry' || entryCheckpoints < 4) return true;
          hung = true;
          return false;
        },
      }),
    });
    await crashed.node.start();
    network.connect('device-a', 'device-b');
    const deadline = Date.now() + 30_000;
    while (!hung && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(hung).toBe(true);
    await crashed.transport.stop();
    await crashed.storage.close(); // the files stay, as on process exit

    const probe = await createPeer(createInProcessNetwork(), 'device-b', { directory: crashed.directory });
    const checkpoint = await probe.storage.syncStore.loadCheckpoint('device-a', 'entry');
    await probe.storage.close();
    const order = (await a.storage.recordStore.page('entry', { limit: 4 * PAGE })).map((r) => ({ hlc: formatHlc(r.hlc), id: r.id }));
    expect(checkpoint).toMatchObject({ completed: false, recordsApplied: 4 * PAGE });
    expect({ hlc: formatHlc(checkpoint!.cursor!.hlc), id: checkpoint!.cursor!.id }).toEqual(order.at(-1));

    const resumed = await createPeer(network, 'device-b', { directory: crashed.directory, pageSize: PAGE, pagesPerRequest: 4 });
    peers.push(resumed);
    const seen = await syncWatching(network, resumed, 'entry');
    // It continues after the checkpoint's page, ramping up again (2200 records: 100 + 200 +
    // 400 × 4, then the last 200), and fetches nothing twice.
    expect(seen.requests[0]!.after).toEqual(order.at(-1));
    expect(seen.requests.map((r) => r.limit)).toEqual([100, 200, 400, 400, 400, 400, 400]);
    expect(seen.changes).toBe(ENTRIES - 4 * PAGE);
    expect(await resumed.node.count('entry')).toBe(ENTRIES);
    expect(await dumpModel(resumed, 'entry')).toEqual(await dumpModel(a, 'entry'));
  });

  it('asks for fewer pages when a response of several would be too large for the transport', async () => {
    // Pages of 100 entries are ~12 KB on the wire, two ~24 KB, four ~48 KB: with a 32 KiB
    // frame limit two fit and four do not.
    const network = createInProcessNetwork({ maxMessageBytes: 32 * 1024 });
    const a = await source(network);
    const checkpoints: number[] = [];
    const b = await createPeer(network, 'device-b', {
      pageSize: PAGE,
      pagesPerRequest: 4,
      wrapStorage: watched({ onCheckpoint: (c) => void (c.resourceType === 'entry' && checkpoints.push(c.recordsApplied)) }),
    });
    peers.push(b);
    const seen = await syncWatching(network, b, 'entry');
    // 100 and 200 arrive; 400 is refused (HW_FRAME_TOO_LARGE) and asked again as 200, and the
    // pull stays at 200: 2100 more in ten full requests and one of the last 100.
    expect(seen.requests.map((r) => r.limit)).toEqual([100, 200, 400, ...Array<number>(12).fill(200)]);
    expect(seen.changes).toBe(ENTRIES);
    expect(checkpoints).toEqual(Array.from({ length: ENTRIES / PAGE }, (_, i) => (i + 1) * PAGE));
    expect(await dumpModel(b, 'entry')).toEqual(await dumpModel(a, 'entry'));
  });

  it('ramps the shared log catch-up the same way, applying page by page', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 10, pagesPerRequest: 4 });
    const batches: number[] = [];
    const b = await createPeer(network, 'device-b', {
      pageSize: 10,
      pagesPerRequest: 4,
      wrapStorage: watched({ onBatch: (model, batch) => void (model === 'tag' && batches.push(batch.upserts?.length ?? 0)) }),
    });
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    const tag = (n: number) => ({ id: id('tag', n), data: { name: `tag ${n}`, color: null } });
    await writeMany(a, 'tag', 5, tag);
    const synced = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await synced;
    network.disconnect('device-a', 'device-b');
    await writeMany(a, 'tag', 75, tag, 25, 5);
    batches.length = 0;

    const requests: number[] = [];
    let changes = 0;
    const sub = network.wire$.subscribe((e) => {
      const m = decodeMessage(jsonCodec, e.payload, LIBRARY_ID);
      if (m.type === 'shared-change-request' && e.from === 'device-b') requests.push(m.limit);
      if (m.type === 'shared-change-response' && e.to === 'device-b') changes += m.changes.length;
    });
    const caughtUp = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await caughtUp;
    await b.node.settle();
    sub.unsubscribe();
    // 10 + 20 + 40 = 70 in three requests; the fourth brings the last 5.
    expect(requests).toEqual([10, 20, 40, 40]);
    expect(changes).toBe(75);
    expect(batches).toEqual([10, 10, 10, 10, 10, 10, 10, 5]);
    expect(await dumpModel(b, 'tag')).toEqual(await dumpModel(a, 'tag'));
  });

  it('keeps a request within the protocol page limit', async () => {
    const network = createInProcessNetwork();
    const pageSize = 3_000;
    const a = await source(network, 9_001, pageSize);
    const b = await createPeer(network, 'device-b', { pageSize, pagesPerRequest: 8 });
    peers.push(b);
    const seen = await syncWatching(network, b, 'entry');
    // 10 000 records at most per request: three pages of 3000, not four or eight.
    expect(PROTOCOL_LIMITS.maxPageSize).toBe(10_000);
    expect(seen.requests.map((r) => r.limit)).toEqual([3_000, 6_000, 9_000]);
    expect(await b.node.count('entry')).toBe(9_001);
    expect(await dumpModel(b, 'entry')).toEqual(await dumpModel(a, 'entry'));
  });

  it('refuses a page size or pages per request it cannot use', async () => {
    const network = createInProcessNetwork();
    const dir = mkdtempSync(join(tmpdir(), 'hw-options-'));
    const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
    try {
      for (const bad of [{ pagesPerRequest: 0 }, { pagesPerRequest: 2.5 }, { pageSize: 0 }, { pageSize: PROTOCOL_LIMITS.maxPageSize + 1 }]) {
        const created = SyncNode.create({ libraryId: LIBRARY_ID, deviceId: 'device-x', registry, storage, transport: network.transport('device-x'), ...bad });
        await expect(created).rejects.toMatchObject({ code: 'HW_INVALID_OPTION', message: expect.stringMatching(/must be an integer from 1 to 10000, got/) });
      }
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
