import { afterEach, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, formatHlc, type HighwaterError, type InProcessNetwork, type MessageBody, type SyncMessage, type WireChange } from '@highwater/core';
import { RawPeer } from './support/raw-peer.js';
import { closePeer, createPeer, eventually, id, locationData, waitForState, type TestPeer } from './support/library.js';

// Issue #20, item 3: a broken or hostile source. A page whose cursor does not name its last
// change, whose changes are out of HLC order or start before the cursor asked for, or an empty
// page that says it has more, is refused whole (HW_PROTOCOL_MALFORMED): nothing of it is stored
// and no watermark moves past what was stored; the same stream then comes whole from an honest
// answer. A source that stalls mid-pull times out and the pull moves on to another holder.

const COUNT = 30;
const PAGE = 10;
const changes: WireChange[] = Array.from({ length: COUNT }, (_, n) => ({
  model: 'location',
  id: id('loc-x', n),
  owner: 'device-x',
  hlc: formatHlc({ time: Date.now() - 60_000 + n, counter: 0, deviceId: 'device-x' }),
  op: 'upsert',
  data: locationData(n),
}));
type StateRequest = Extract<SyncMessage, { type: 'state-request' }>;
const cursorOf = (c: WireChange) => ({ hlc: c.hlc, id: c.id });

/** Where an honest source's page after `request`'s cursor starts. */
function startOf(request: StateRequest): number {
  return request.after ? changes.findIndex((c) => c.id === request.after!.id) + 1 : 0;
}

function honest(request: StateRequest): MessageBody {
  const from = startOf(request);
  const page = changes.slice(from, from + request.limit);
  return { type: 'state-response', requestId: request.requestId, model: 'location', owner: 'device-x', changes: page, next: page.length > 0 ? cursorOf(page.at(-1)!) : null, hasMore: from + page.length < COUNT };
}

const hostile: Record<string, (request: StateRequest) => MessageBody> = {
  'a cursor past its last change (would skip what lies between)': (r) => ({ ...honest(r), changes: changes.slice(0, PAGE), next: cursorOf(changes[24]!), hasMore: true }),
  'a cursor before its last change (would fetch again without end)': (r) => ({ ...honest(r), changes: changes.slice(0, PAGE), next: cursorOf(changes[0]!), hasMore: true }),
  'changes out of HLC order': (r) => ({ ...honest(r), changes: changes.slice(0, PAGE).reverse(), next: cursorOf(changes[0]!), hasMore: true }),
  'a page that says it has more but names no cursor': (r) => ({ ...honest(r), changes: changes.slice(0, PAGE), next: null, hasMore: true }),
  'an empty page that says it has more': (r) => ({ ...honest(r), changes: [], next: null, hasMore: true }),
  // The first page is honest; the second starts inside it.
  'a page that starts before the cursor asked for': (r) => (r.after ? { ...honest(r), changes: changes.slice(5, 5 + PAGE), next: cursorOf(changes[14]!) } : honest(r)),
};

describe('hostile and stalling sources', () => {
  const peers: TestPeer[] = [];
  const raws: RawPeer[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) await r.stop();
    for (const p of peers.splice(0)) await closePeer(p);
  });

  async function receiver(network: InProcessNetwork, deviceId = 'device-b', options: Parameters<typeof createPeer>[2] = {}) {
    const peer = await createPeer(network, deviceId, { pageSize: PAGE, pagesPerRequest: 1, ...options });
    peers.push(peer);
    const errors: HighwaterError[] = [];
    peer.node.errors$.subscribe((e) => errors.push(e));
    await peer.node.start();
    return { peer, errors };
  }

  function source(network: InProcessNetwork): RawPeer {
    const x = new RawPeer(network, 'device-x');
    raws.push(x);
    x.heads = [{ owner: 'device-x', resource: 'location', hlc: changes.at(-1)!.hlc, count: COUNT }];
    return x;
  }

  const xWatermark = (peer: TestPeer) => peer.node.watermarks().find((w) => w.owner === 'device-x' && w.resource === 'location');

  it.each(Object.keys(hostile))('refuses %s whole, moves no watermark past what it stored, and takes the stream whole from an honest answer', async (name) => {
    const network = createInProcessNetwork();
    const { peer: b, errors } = await receiver(network);
    const x = source(network);
    x.statePage = hostile[name]!;
    await x.connect('device-b');
    await eventually(() => errors.some((e) => e.code === 'HW_PROTOCOL_MALFORMED'), `B refusing ${name}`, 10_000);

    // Only an honest first page (the last case's) is stored; the watermark covers at most that.
    const stored = await b.node.count('location');
    expect(stored).toBe(name === 'a page that starts before the cursor asked for' ? PAGE : 0);
    const mark = xWatermark(b);
    if (stored === 0) expect(mark).toBeUndefined();
    else if (mark) expect(formatHlc(mark.hlc) <= changes[stored - 1]!.hlc).toBe(true);

    // The source mends its ways; the next pass takes the whole stream.
    x.statePage = honest;
    network.disconnect('device-x', 'device-b');
    const ready = waitForState(b.node, 'ready');
    network.connect('device-x', 'device-b');
    await ready;
    await eventually(async () => (await b.node.count('location')) === COUNT, 'B holding all of X', 10_000);
    expect(formatHlc(xWatermark(b)!.hlc)).toBe(changes.at(-1)!.hlc);
  });

  it('a source that stalls mid-pull times out, and the pull takes the rest from another holder', async () => {
    const network = createInProcessNetwork();
    const x = source(network);
    x.statePage = honest;
    // C, an honest node, holds X's stream.
    const { peer: c } = await receiver(network, 'device-c');
    await x.connect('device-c');
    await eventually(async () => (await c.node.count('location')) === COUNT, 'C holding all of X', 10_000);

    // X answers B's first page, then never answers again.
    let asked = 0;
    x.statePage = (r) => (++asked === 1 ? honest(r) : new Promise<MessageBody>(() => undefined));
    const { peer: b, errors } = await receiver(network, 'device-b', { requestTimeoutMs: 300 });
    await x.connect('device-b');
    await eventually(() => asked >= 2, 'X stalling B', 10_000);
    const ready = waitForState(b.node, 'ready', 20_000);
    network.connect('device-c', 'device-b');
    await ready;
    await eventually(async () => (await b.node.count('location')) === COUNT, 'B holding all of X', 10_000);
    expect(errors.some((e) => e.code === 'HW_REQUEST_TIMEOUT')).toBe(true);
    expect(formatHlc(xWatermark(b)!.hlc)).toBe(changes.at(-1)!.hlc);
  });
});
