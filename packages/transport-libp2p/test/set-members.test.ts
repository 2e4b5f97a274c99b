import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceKey, TransportError } from '@highwater/core';
import { answerOrHang as serve, disconnectedFrom, recordPeerEvents as record, within } from '@highwater/core/testing';
import { createLibp2pTransport, Libp2pTransportConfigError, type Libp2pTransport } from '../src/index.js';
import { bytes, TestNetwork, text, waitFor } from './support.js';

/** How soon a revoked peer must be gone, on both sides (a bound on loopback, not a benchmark). */
const SHORT_MS = 3_000;

const hasOpenConnection = (from: Libp2pTransport, to: Libp2pTransport): boolean => from.connectedPeers().includes(to.localPeerId);

describe('setMembers (revoking a device)', () => {
  let network: TestNetwork;
  const keyA = DeviceKey.generate();
  const keyB = DeviceKey.generate();
  const keyC = DeviceKey.generate();

  beforeEach(() => {
    network = new TestNetwork();
  });
  afterEach(() => network.cleanup());

  it('hangs up on a device no longer listed, fails its calls in flight, refuses its redial, and admits it again once listed', async () => {
    // Created with the network's members callback (everyone): setMembers replaces it.
    const a = await network.create({ deviceKey: keyA });
    const b = await network.create({ deviceKey: keyB });
    const c = await network.create({ deviceKey: keyC });
    const aServes = serve(a);
    const bServes = serve(b);
    serve(c);
    await network.connect(b, a);
    await network.connect(c, a);
    await network.connect(b, c);
    const eventsA = record(a);
    const eventsB = record(b);

    // A request each way between A and B, both waiting in the other's handler.
    const aToB = a.request(b.localPeerId, bytes('hang'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    const bToA = b.request(a.localPeerId, bytes('hang'), { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(await bServes.arrived).toBe(a.localPeerId);
    expect(await aServes.arrived).toBe(b.localPeerId);

    // The device list now holds A itself (as PEM: any form of the key is read) and C, not B.
    a.setMembers([keyA.publicKeyObject.export({ format: 'pem', type: 'spki' }).toString(), keyC.publicKey]);

    // A reports B gone at once; B sees its connection to A closed soon after.
    expect(eventsA.map((e) => `${e.type}:${e.peerId}`)).toEqual([`disconnected:${b.localPeerId}`]);
    expect(a.connectedPeers()).toEqual([c.localPeerId]);
    await waitFor('B to see A hang up', () => disconnectedFrom(eventsB, a.localPeerId) && !hasOpenConnection(b, a), SHORT_MS);

    // Both requests in flight failed, typed: A's says why.
    const failedAToB = await within(aToB, SHORT_MS, 'A\'s request to B');
    expect(failedAToB).toBeInstanceOf(TransportError);
    expect(failedAToB).toMatchObject({ code: 'HW_UNAUTHORIZED' });
    expect(await within(bToA, SHORT_MS, 'B\'s request to A')).toBeInstanceOf(TransportError);
    // New calls fail typed as well, both ways.
    await expect(a.request(b.localPeerId, bytes('hi'))).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });
    await expect(b.request(a.localPeerId, bytes('hi'), { timeoutMs: 2_000 })).rejects.toBeInstanceOf(TransportError);

    // B redials A: A's gater refuses it right after the handshake (Noise finishes on the dialer's
    // side first, so the dial may fail or succeed for an instant before A closes the connection).
    const redial = await b.dial(a.addresses()[0]!).then(
      () => 'connected',
      (e: unknown) => e,
    );
    if (redial !== 'connected') expect(redial).toBeInstanceOf(TransportError);
    await waitFor('A to close the redialed connection', () => !hasOpenConnection(b, a), SHORT_MS);
    await expect(b.request(a.localPeerId, bytes('let me in'), { timeoutMs: 2_000 })).rejects.toBeInstanceOf(TransportError);
    expect(eventsA.filter((e) => e.type === 'connected')).toEqual([]);
    // And A does not dial B either.
    await expect(a.dial(b.addresses()[0]!)).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });

    // A and C keep talking both ways, and B and C are not affected.
    expect(text(await a.request(c.localPeerId, bytes('still')))).toBe(`${c.localPeerId} got still from ${a.localPeerId}`);
    expect(text(await c.request(a.localPeerId, bytes('here')))).toBe(`${a.localPeerId} got here from ${c.localPeerId}`);
    expect(text(await b.request(c.localPeerId, bytes('b-c')))).toBe(`${c.localPeerId} got b-c from ${b.localPeerId}`);

    // Listed again, B may dial A again.
    a.setMembers([keyA.publicKey, keyB.publicKey, keyC.publicKey]);
    await network.connect(b, a);
    expect(text(await b.request(a.localPeerId, bytes('back')))).toBe(`${a.localPeerId} got back from ${b.localPeerId}`);
    expect(text(await a.request(b.localPeerId, bytes('welcome')))).toBe(`${b.localPeerId} got welcome from ${a.localPeerId}`);
    expect(eventsA.at(-1)).toMatchObject({ type: 'connected', peerId: b.localPeerId });
  });

  it('refuses a redial made at once, before the revoked side has noticed the hang-up', async () => {
    const a = await network.create({ deviceKey: keyA });
    const b = await network.create({ deviceKey: keyB });
    serve(a);
    await network.connect(b, a);
    // Dialing a peer already connected resolves (a fresh round trip on the open connection).
    expect(await b.dial(a.addresses()[0]!)).toBe(a.localPeerId);

    a.setMembers([keyA.publicKey]);
    // B's side of the connection may still look open: the dial must not take that for a yes.
    await expect(b.dial(a.addresses()[0]!)).rejects.toMatchObject({ code: 'HW_PEER_UNREACHABLE', message: expect.stringContaining('hung up') });
    await waitFor('B to see A hang up', () => !hasOpenConnection(b, a), SHORT_MS);
    expect(a.connectedPeers()).toEqual([]);
  });

  it('restricts an allowAnyPeer transport too, also when called before start', async () => {
    const open = await createLibp2pTransport({ deviceKey: keyA, allowAnyPeer: true });
    open.setMembers([keyC.publicKey]);
    await open.start();
    network.members.add(open.localPeerId); // the others list it
    const b = await network.create({ deviceKey: keyB });
    const c = await network.create({ deviceKey: keyC });
    try {
      serve(open);
      await network.connect(c, open);
      expect(text(await c.request(open.localPeerId, bytes('hi')))).toBe(`${open.localPeerId} got hi from ${c.localPeerId}`);

      const dialed = await b.dial(open.addresses()[0]!).then(
        () => 'connected',
        (e: unknown) => e,
      );
      if (dialed !== 'connected') expect(dialed).toBeInstanceOf(TransportError);
      await waitFor('the restricted transport to close B\'s connection', () => !hasOpenConnection(b, open), SHORT_MS);
      expect(open.connectedPeers()).toEqual([c.localPeerId]);
    } finally {
      await open.stop();
    }
  });

  it('refuses a list holding something other than a device public key, and changes nothing then', async () => {
    const a = await network.create({ deviceKey: keyA });
    const b = await network.create({ deviceKey: keyB });
    serve(a);
    await network.connect(b, a);
    for (const bad of [[keyC.publicKey, 'not a key'], [b.localPeerId], [Buffer.alloc(31).toString('base64url')]]) {
      expect(() => a.setMembers(bad)).toThrow(Libp2pTransportConfigError);
      expect(() => a.setMembers(bad)).toThrow(expect.objectContaining({ code: 'HW_TRANSPORT_CONFIG' }));
    }
    expect(() => a.setMembers('nope' as unknown as string[])).toThrow(Libp2pTransportConfigError);
    expect(a.connectedPeers()).toEqual([b.localPeerId]);
    expect(text(await b.request(a.localPeerId, bytes('fine')))).toBe(`${a.localPeerId} got fine from ${b.localPeerId}`);
  });
});
