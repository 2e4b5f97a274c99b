import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, decodeMessage, encodeMessage, formatHlc, jsonCodec, type SyncMessage, type WireChange } from '@highwater/core';
import { RawPeer } from './support/raw-peer.js';
import { closePeer, LIBRARY_ID, createPeer, dumpModel, id, locationData, waitForState, writeMany, type TestPeer } from './support/library.js';

// State pages travel as rows of values when the requester asks (see the JSON codec); a peer
// that does not know rows answers with change objects, and both are read the same.
describe('state pages as rows', () => {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await closePeer(p);
  });

  const firstLine = (payload: Uint8Array) => JSON.parse(new TextDecoder().decode(payload).split('\n')[0]!);

  it("a backfill's pages go as rows, at least a fifth smaller than as objects, and B ends with A's records", async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a', { pageSize: 8 });
    const b = await createPeer(network, 'device-b', { pageSize: 8 });
    peers.push(a, b);
    await a.node.start();
    await b.node.start();
    await writeMany(a, 'location', 20, (n) => ({ id: id('loc', n), data: locationData(n) }));

    const pages: Uint8Array[] = [];
    const subscription = network.wire$.subscribe((e) => {
      if (e.to === 'device-b' && firstLine(e.payload).type === 'state-response') pages.push(e.payload);
    });
    const ready = waitForState(b.node, 'ready');
    network.connect('device-a', 'device-b');
    await ready;
    subscription.unsubscribe();

    expect(pages).toHaveLength(2); // one page of 8, then two (8 + 4) in one response
    for (const page of pages) {
      const [head, ...rows] = new TextDecoder().decode(page).split('\n').map((line) => JSON.parse(line));
      expect(head).toMatchObject({ model: 'location', owner: 'device-a', fields: ['name', 'path'] });
      expect(head).not.toHaveProperty('changes');
      expect(head.rows).toBe(rows.length);
      for (const row of rows) expect(row).toEqual([expect.any(String), expect.any(String), expect.any(String), expect.any(String)]);
      const decoded = decodeMessage(jsonCodec, page, LIBRARY_ID);
      expect(page.byteLength).toBeLessThan(encodeMessage(jsonCodec, { ...decoded, fields: undefined } as SyncMessage).byteLength * 0.8);
    }
    expect(await dumpModel(b, 'location')).toEqual(await dumpModel(a, 'location'));
  });

  it('a node answers a request without `rows` (a peer that predates them) with change objects', async () => {
    const network = createInProcessNetwork();
    const a = await createPeer(network, 'device-a');
    peers.push(a);
    await a.node.start();
    await writeMany(a, 'location', 3, (n) => ({ id: id('loc', n), data: locationData(n) }));
    const old = new RawPeer(network, 'device-x');
    try {
      await old.connect('device-a');
      const ask = (rows?: boolean) =>
        old.transport.request(
          'device-a',
          old.encode({ type: 'state-request', requestId: `r-${String(rows)}`, model: 'location', owner: 'device-a', after: null, afterHlc: null, limit: 10, ...(rows === undefined ? {} : { rows }) }),
        );
      const asObjects = await ask();
      expect(firstLine(asObjects)).toMatchObject({ changes: 3 });
      expect(firstLine(asObjects)).not.toHaveProperty('fields');
      expect(firstLine(await ask(false))).toMatchObject({ changes: 3 });
      expect(firstLine(await ask(true))).toMatchObject({ rows: 3, fields: ['name', 'path'] });
    } finally {
      await old.stop();
    }
  });

  it('a node backfills from a peer that answers its rows request with change objects', async () => {
    const network = createInProcessNetwork();
    const b = await createPeer(network, 'device-b');
    peers.push(b);
    await b.node.start();
    const changes: WireChange[] = Array.from({ length: 3 }, (_, n) => ({
      model: 'location',
      id: id('loc-x', n),
      owner: 'device-x',
      hlc: formatHlc({ time: Date.now() - 1000 + n, counter: 0, deviceId: 'device-x' }),
      op: 'upsert',
      data: locationData(n),
    }));
    const old = new RawPeer(network, 'device-x');
    old.heads = [{ owner: 'device-x', resource: 'location', hlc: changes[2]!.hlc, count: 3 }];
    old.statePage = (request) => ({
      type: 'state-response',
      requestId: request.requestId,
      model: 'location',
      owner: 'device-x',
      changes,
      next: { hlc: changes[2]!.hlc, id: changes[2]!.id },
      hasMore: false,
    });
    try {
      const ready = waitForState(b.node, 'ready');
      await old.connect('device-b');
      await ready;
      expect(old.received.some((m) => m.type === 'state-request' && m.rows === true)).toBe(true);
      expect(await b.node.count('location')).toBe(3);
      expect((await dumpModel(b, 'location')).map((r) => (r as { id: string }).id)).toEqual(changes.map((c) => c.id));
    } finally {
      await old.stop();
    }
  });
});
