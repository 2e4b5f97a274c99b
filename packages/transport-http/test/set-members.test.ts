import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceKey, TransportError } from '@highwater/core';
import { answerOrHang as serve, disconnectedFrom, recordPeerEvents as record, within } from '@highwater/core/testing';
import { HttpTransportConfigError, HttpTransportError, type HttpTransport } from '../src/index.js';
import { TestNodes, bytes, connect, text, waitFor } from './helpers.js';

/** How soon a revoked peer must be gone, on both sides (a bound on loopback, not a benchmark). */
const SHORT_MS = 3_000;


describe('setMembers (revoking a device)', () => {
  let nodes: TestNodes;
  const keyA = DeviceKey.generate();
  const keyB = DeviceKey.generate();
  const keyC = DeviceKey.generate();

  beforeEach(() => {
    nodes = new TestNodes();
  });
  afterEach(async () => nodes.cleanup());

  it('drops a device no longer listed, fails the calls in flight both ways, refuses its calls, and admits it again once listed and added', async () => {
    const a = await nodes.create({ deviceKey: keyA });
    const b = await nodes.create({ deviceKey: keyB });
    const c = await nodes.create({ deviceKey: keyC });
    const aServes = serve(a);
    const bServes = serve(b);
    serve(c);
    await connect(a, b);
    await connect(a, c);
    await connect(b, c);
    const eventsA = record(a);
    const eventsB = record(b);

    // A request each way between A and B, both waiting in the other's handler.
    const aToB = a.request(b.localPeerId, bytes('hang'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    const bToA = b.request(a.localPeerId, bytes('hang'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(await bServes.arrived).toBe(a.localPeerId);
    expect(await aServes.arrived).toBe(b.localPeerId);

    // The device list now holds A itself (as PEM: any form of the key is read) and C, not B.
    a.setMembers([keyA.publicKeyObject.export({ format: 'pem', type: 'spki' }).toString(), keyC.publicKey]);

    // A drops B at once: no longer configured, reported disconnected.
    expect(eventsA.map((e) => `${e.type}:${e.peerId}`)).toEqual([`disconnected:${b.localPeerId}`]);
    expect(a.peers().map((p) => p.peerId)).toEqual([c.localPeerId]);
    expect(a.connectedPeers()).toEqual([c.localPeerId]);
    // Both requests in flight fail at once, typed: A's own, and B's, which A refuses instead of answering later.
    expect(await within(aToB, SHORT_MS, 'A\'s request to B')).toMatchObject({ code: 'HW_UNAUTHORIZED' });
    const refused = await within(bToA, SHORT_MS, 'B\'s request to A');
    expect(refused).toBeInstanceOf(HttpTransportError);
    expect(refused).toMatchObject({ code: 'HW_UNAUTHORIZED', status: 401 });

    // A refuses B's calls from now on (401), and does not call B.
    await expect(b.request(a.localPeerId, bytes('let me in'))).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED', status: 401 });
    await expect(a.request(b.localPeerId, bytes('hi'))).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });
    await expect(a.send(b.localPeerId, bytes('hi'))).rejects.toBeInstanceOf(TransportError);
    // B's heartbeats to A are refused too: B soon sees A as gone.
    await waitFor(() => disconnectedFrom(eventsB, a.localPeerId) && !b.connectedPeers().includes(a.localPeerId), 'B to see A gone', SHORT_MS);
    await expect(b.request(a.localPeerId, bytes('again'))).rejects.toBeInstanceOf(TransportError);

    // Adding B back without listing it is refused, so a revoked device is not re-admitted by accident.
    expect(() => a.addPeer({ ...b.publicIdentity, url: b.url })).toThrow(HttpTransportConfigError);
    expect(() => a.addPeer({ publicKey: keyB.publicKey, url: b.url })).toThrow(/setMembers/);
    expect(a.peers().map((p) => p.peerId)).toEqual([c.localPeerId]);

    // A and C keep talking both ways, and B and C are not affected.
    expect(text(await a.request(c.localPeerId, bytes('still')))).toBe(`${c.localPeerId} got still from ${a.localPeerId}`);
    expect(text(await c.request(a.localPeerId, bytes('here')))).toBe(`${a.localPeerId} got here from ${c.localPeerId}`);
    expect(text(await b.request(c.localPeerId, bytes('b-c')))).toBe(`${c.localPeerId} got b-c from ${b.localPeerId}`);
    expect(a.connectedPeers()).toEqual([c.localPeerId]);

    // Listed again: B stays absent (A has no url for it) until added, then both talk again.
    a.setMembers([keyA.publicKey, keyB.publicKey, keyC.publicKey]);
    expect(a.peers().map((p) => p.peerId)).toEqual([c.localPeerId]);
    await expect(b.request(a.localPeerId, bytes('not yet'))).rejects.toBeInstanceOf(TransportError);
    a.addPeer({ publicKey: keyB.publicKey, url: b.url });
    await waitFor(() => a.connectedPeers().includes(b.localPeerId) && b.connectedPeers().includes(a.localPeerId), 'A and B to see each other again');
    expect(text(await b.request(a.localPeerId, bytes('back')))).toBe(`${a.localPeerId} got back from ${b.localPeerId}`);
    expect(text(await a.request(b.localPeerId, bytes('welcome')))).toBe(`${b.localPeerId} got welcome from ${a.localPeerId}`);
  });

  it('leaves addPeer as it was until setMembers is first called, and works before start too', async () => {
    const a = await nodes.create({ deviceKey: keyA });
    const b = await nodes.create({ deviceKey: keyB });
    const c = await nodes.create({ deviceKey: keyC });
    serve(a);
    // No setMembers yet: any valid peer may be added.
    a.addPeer({ publicKey: keyB.publicKey, url: b.url });
    expect(a.peers().map((p) => p.peerId)).toEqual([b.localPeerId]);

    // setMembers on a stopped transport: B is dropped, C must be listed to be added.
    await a.stop();
    a.setMembers([keyC.publicKey]);
    expect(a.peers()).toEqual([]);
    expect(() => a.addPeer({ publicKey: keyB.publicKey, url: b.url })).toThrow(HttpTransportConfigError);
    await a.start();
    await connect(a, c);
    expect(text(await c.request(a.localPeerId, bytes('hi')))).toBe(`${a.localPeerId} got hi from ${c.localPeerId}`);
    b.addPeer({ ...a.publicIdentity, url: a.url });
    await expect(b.request(a.localPeerId, bytes('hi'), { timeoutMs: 2_000 })).rejects.toBeInstanceOf(TransportError);
  });

  it('refuses a list holding something other than a device public key, and changes nothing then', async () => {
    const a = await nodes.create({ deviceKey: keyA });
    const b = await nodes.create({ deviceKey: keyB });
    serve(a);
    await connect(a, b);
    for (const bad of [[keyC.publicKey, 'not a key'], [b.localPeerId], [Buffer.alloc(31).toString('base64url')]]) {
      expect(() => a.setMembers(bad)).toThrow(HttpTransportConfigError);
    }
    expect(() => a.setMembers('nope' as unknown as string[])).toThrow(HttpTransportConfigError);
    expect(a.connectedPeers()).toEqual([b.localPeerId]);
    // Still no list: adding another device is allowed as before.
    const c = await nodes.create({ deviceKey: keyC });
    a.addPeer({ publicKey: keyC.publicKey, url: c.url });
    expect(text(await b.request(a.localPeerId, bytes('fine')))).toBe(`${a.localPeerId} got fine from ${b.localPeerId}`);
  });
});
