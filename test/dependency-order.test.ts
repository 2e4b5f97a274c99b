import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  createInProcessNetwork,
  decodeMessage,
  encodeMessage,
  formatHlc,
  parseHlc,
  jsonCodec,
  type HighwaterError,
  type Hlc,
  type InProcessNetwork,
  type InProcessTransport,
  type SyncMessage,
  type WireChange,
} from '@highwater/core';
import { closePeer, createPeer, eventually, id, LIBRARY_ID, locationData, waitForState, type TestPeer } from './support/library.js';

// Records whose referenced records (location, parent entry) have not arrived are parked — not
// stored, not failed — and applied once what they wait for arrives; their stream's watermark
// does not move past them meanwhile.

const RAW = 'device-x-dep';

/** Clocks of the raw device: one millisecond apart, in the past (so never refused as drift). */
const BASE_TIME = Date.now() - 30_000;
const hlcText = (n: number): string => formatHlc({ time: BASE_TIME + n, counter: 0, deviceId: RAW });
const hlc = (n: number): Hlc => parseHlc(hlcText(n));

function entryFields(n: number, locationId: string, parentId: string | null): Record<string, unknown> {
  return { name: `file-${n}`, size: 100 + n, mtime: 1_700_000_000_000 + n, kind: 'file', locationId, volumeId: null, parentId };
}

const upsert = (model: string, recordId: string, n: number, data: Record<string, unknown>): WireChange => ({
  model,
  id: recordId,
  owner: RAW,
  hlc: hlcText(n),
  op: 'upsert',
  data,
});
const remove = (model: string, recordId: string, n: number): WireChange => ({ model, id: recordId, owner: RAW, hlc: hlcText(n), op: 'delete' });

describe('dependency order', () => {
  const peers: TestPeer[] = [];
  const raws: InProcessTransport[] = [];
  afterEach(async () => {
    for (const t of raws.splice(0)) await t.stop();
    for (const p of peers.splice(0)) await closePeer(p);
  });

  describe('live changes from a raw peer', () => {
    let network: InProcessNetwork;
    let b: TestPeer;
    let raw: InProcessTransport;
    let bErrors: HighwaterError[];
    let rawErrors: SyncMessage[];

    // The raw device is the owner: each message completes its streams from the last one sent.
    let sentUpTo = new Map<string, string>();
    const send = (changes: WireChange[]): Promise<void> => {
      const spans = [...new Set(changes.map((c) => c.model))].map((model) => {
        const to = changes.filter((c) => c.model === model).map((c) => c.hlc).sort().at(-1)!;
        const span = { owner: RAW, resource: model, from: sentUpTo.get(model) ?? null, to };
        sentUpTo.set(model, to);
        return span;
      });
      return raw.send(b.deviceId, encodeMessage(jsonCodec, { v: 1, libraryId: LIBRARY_ID, deviceId: RAW, type: 'state-batch', changes, spans }));
    };
    const parked = (): number => b.node.metrics().changesParked;
    const mark = (resource: string): Hlc | undefined => b.node.watermarks().find((w) => w.owner === RAW && w.resource === resource)?.hlc;
    const stored = async (model: string, ids: string[]): Promise<string[]> => (await b.node.get(model, ids)).map((r) => r.id).sort();

    beforeEach(async () => {
      sentUpTo = new Map();
      network = createInProcessNetwork();
      b = await createPeer(network, `device-b-${Math.random().toString(36).slice(2, 8)}`);
      peers.push(b);
      bErrors = [];
      rawErrors = [];
      b.node.errors$.subscribe((e) => bErrors.push(e));
      await b.node.start();
      await waitForState(b.node, 'paused', 10_000); // its first pass found nobody

      raw = network.transport(RAW);
      raws.push(raw);
      raw.handle(async ({ payload }) => {
        const m = decodeMessage(jsonCodec, payload, LIBRARY_ID);
        if (m.type === 'watermark-exchange-request') {
          return encodeMessage(jsonCodec, {
            v: 1,
            libraryId: LIBRARY_ID,
            deviceId: RAW,
            type: 'watermark-exchange-response',
            requestId: m.requestId,
            heads: [],
          });
        }
        if (m.type === 'error') rawErrors.push(m);
        return undefined;
      });
      await raw.start();
      network.connect(RAW, b.deviceId);
      await b.node.syncNow();
      expect(b.node.state).toBe('ready');
    });

    /** Ids of the changes B has stored as waiting for a dependency. */
    const parkedOnDisk = async (): Promise<string[]> => (await b.storage.syncStore.listParkedChanges()).map((p) => p.recordId).sort();

    /** No refusal, no foreign-key failure, no "dependency missing" along the way. */
    const expectNoErrors = (): void => {
      expect(bErrors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
      expect(rawErrors).toEqual([]);
    };
    const isMark = (resource: string, n: number): boolean => {
      const m = mark(resource);
      return m !== undefined && m.time === BASE_TIME + n && m.counter === 0 && m.deviceId === RAW;
    };

    it('parks entries whose location has not arrived and applies them when it does', async () => {
      const entries = [1, 2, 3].map((n) => upsert('entry', `x-ent-${n}`, 10 + n, entryFields(n, 'x-loc-1', null)));
      await send(entries);
      await eventually(() => parked() === 3, 'B parking the three entries', 10_000);
      await b.node.settle();
      expect(await b.node.count('entry')).toBe(0);
      // Parked durably, so the watermark covers them: B holds them, and serves them to its peers.
      expect(await parkedOnDisk()).toEqual(['x-ent-1', 'x-ent-2', 'x-ent-3']);
      expect(mark('entry')).toEqual(hlc(13));

      // The location, with a clock below the entries': entries follow, watermark = highest entry.
      await send([upsert('location', 'x-loc-1', 5, locationData(1))]);
      await eventually(async () => (await b.node.count('entry')) === 3, 'B applying the released entries', 10_000);
      await b.node.settle();
      expect(mark('entry')).toEqual(hlc(13));
      expect(mark('location')).toEqual(hlc(5));
      const onB = await b.node.get('entry', ['x-ent-1', 'x-ent-2', 'x-ent-3']);
      expect(onB.map((r) => ({ id: r.id, owner: r.ownerDeviceId, hlc: r.hlc, data: r.data })).sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(
        entries.map((e) => ({ id: e.id, owner: RAW, hlc: parseHlc(e.hlc), data: e.data })),
      );
      expect(parked()).toBe(3); // nothing parked a second time
      expect(await parkedOnDisk()).toEqual([]);
      expectNoErrors();
    });

    it('parks a child entry that arrives before its parent, even with a lower clock', async () => {
      await send([upsert('location', 'x-loc-2', 1, locationData(2))]);
      await eventually(async () => (await b.node.count('location')) === 1, 'location on B', 10_000);

      // Child (clock 10) before its parent (clock 11), in separate messages.
      await send([upsert('entry', 'x-child', 10, entryFields(10, 'x-loc-2', 'x-parent'))]);
      await eventually(() => parked() === 1, 'B parking the child', 10_000);
      await b.node.settle();
      expect(await b.node.count('entry')).toBe(0);
      expect(await parkedOnDisk()).toEqual(['x-child']);
      expect(mark('entry')).toEqual(hlc(10));

      await send([upsert('entry', 'x-parent', 11, entryFields(11, 'x-loc-2', null))]);
      await eventually(async () => (await b.node.count('entry')) === 2, 'B applying parent and child', 10_000);
      await b.node.settle();
      expect(await stored('entry', ['x-child', 'x-parent'])).toEqual(['x-child', 'x-parent']);
      expect((await b.node.get('entry', ['x-child']))[0]?.hlc).toEqual(hlc(10));
      expect(mark('entry')).toEqual(hlc(11));

      // Three generations in reverse: grandchild (20), child (21), parent (22). The watermark
      // covers the two parked ones: they are stored, waiting.
      await send([upsert('entry', 'x-g-grandchild', 20, entryFields(20, 'x-loc-2', 'x-g-child'))]);
      await send([upsert('entry', 'x-g-child', 21, entryFields(21, 'x-loc-2', 'x-g-parent'))]);
      await eventually(() => parked() === 3, 'B parking grandchild and child', 10_000);
      await b.node.settle();
      expect(await b.node.count('entry')).toBe(2);
      expect(await parkedOnDisk()).toEqual(['x-g-child', 'x-g-grandchild']);
      expect(mark('entry')).toEqual(hlc(21));
      await send([upsert('entry', 'x-g-parent', 22, entryFields(22, 'x-loc-2', null))]);
      await eventually(async () => (await b.node.count('entry')) === 5, 'B applying three generations', 10_000);
      await b.node.settle();
      expect(mark('entry')).toEqual(hlc(22));

      // Child and parent in one message, child first by clock: applied together, nothing parked.
      await send([
        upsert('entry', 'x-same-child', 30, entryFields(30, 'x-loc-2', 'x-same-parent')),
        upsert('entry', 'x-same-parent', 31, entryFields(31, 'x-loc-2', null)),
      ]);
      await eventually(async () => (await b.node.count('entry')) === 7, 'B applying child and parent of one batch', 10_000);
      expect(parked()).toBe(3);
      expect(mark('entry')).toEqual(hlc(31));
      expectNoErrors();
    });

    it('does not wait for a dependency that was deleted', async () => {
      await send([upsert('location', 'x-loc-gone', 1, locationData(7))]);
      await send([remove('location', 'x-loc-gone', 2)]);
      await eventually(() => isMark('location', 2), 'B applying the delete', 10_000);
      expect(await b.node.count('location')).toBe(0);

      await send([upsert('entry', 'x-orphan', 3, entryFields(3, 'x-loc-gone', null))]);
      await eventually(async () => (await b.node.count('entry')) === 1, 'B applying the entry of a deleted location', 10_000);
      await b.node.settle();
      expect(parked()).toBe(0);
      expect(mark('entry')).toEqual(hlc(3));
      expectNoErrors();
    });

    // Regression: a tombstone satisfies a reference, so it must also release what waits on it.
    it('releases an entry parked for a location when that location\'s delete arrives', async () => {
      await send([upsert('entry', 'x-waits', 5, entryFields(5, 'x-loc-late', null))]);
      await eventually(() => parked() === 1, 'B parking the entry', 10_000);
      await send([remove('location', 'x-loc-late', 6)]);
      await eventually(() => isMark('location', 6), 'B applying the delete', 10_000);
      await eventually(async () => (await b.node.count('entry')) === 1, 'B releasing the entry of a deleted location', 3_000);
      await b.node.settle();
      expect(mark('entry')).toEqual(hlc(5));
      expectNoErrors();
    });
  });

  it('backfills entries written before their parents (children first in page order) with no dependency error', async () => {
    const network = createInProcessNetwork();
    const suffix = Math.random().toString(36).slice(2, 8);
    const a = await createPeer(network, `device-a-${suffix}`);
    const b = await createPeer(network, `device-b-${suffix}`, { pageSize: 7 });
    peers.push(a, b);
    await a.node.start();
    await a.node.write('location', [{ id: id('loc', 0), data: locationData(0) }]);
    // Entry i's parent is a later entry (written by a later call, so with a higher clock).
    const parentOf = (i: number): string | null => (i === 29 ? null : id('ent', Math.min(29, i + 1 + (i % 5))));
    const ids = Array.from({ length: 30 }, (_, i) => id('ent', i));
    for (let i = 0; i < 30; i++) {
      await a.node.write('entry', [{ id: ids[i]!, data: entryFields(i, id('loc', 0), parentOf(i)) }]);
    }

    const bErrors: HighwaterError[] = [];
    b.node.errors$.subscribe((e) => bErrors.push(e));
    await b.node.start();
    await waitForState(b.node, 'paused', 10_000); // its first pass found nobody
    const ready = waitForState(b.node, 'ready', 15_000);
    network.connect(a.deviceId, b.deviceId);
    await ready;

    expect(await b.node.count('entry')).toBe(30);
    expect(await b.node.get('entry', ids)).toEqual(await a.node.get('entry', ids));
    expect(b.node.metrics().changesParked).toBeGreaterThan(0); // the pages really came children first
    expect(bErrors.filter((e) => e.code === 'HW_DEPENDENCY_MISSING')).toEqual([]);
    expect(b.node.state).toBe('ready');
    const markOf = (p: TestPeer) => p.node.watermarks().find((w) => w.owner === a.deviceId && w.resource === 'entry')?.hlc;
    expect(markOf(b)).toBeDefined();
    expect(markOf(b)).toEqual(markOf(a));
  });
});
