import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { DeviceKey, PAIRING_MAX_BYTES, TransportError, type PairingHandler } from '@highwater/core';
import { answerOrHang as serve, disconnectedFrom, recordPeerEvents as record, within } from '@highwater/core/testing';
import {
  createLibp2pTransport,
  FrameKind,
  Libp2pTransportConfigError,
  libp2pPeerIdOf,
  PAIR_PROTOCOL,
  SYNC_PROTOCOL,
  type Libp2pTransport,
  type Libp2pTransportInit,
} from '../src/index.js';
import type { Libp2p, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { bytes, createRawNode, rawExchange, text, waitFor } from './support.js';

/** A bound on loopback for things that should happen at once (a hang guard, not a timing assertion). */
const SHORT_MS = 3_000;

/** An address without its /p2p/ part: what `pair` completes with the key's peer id. */
const withoutPeerId = (address: string): string => address.replace(/\/p2p\/[^/]+$/, '');

/** The peer id of a device key, as the transport derives it. */
const libp2pIdOf = (key: DeviceKey): string => libp2pPeerIdOf(key.publicKey);

/** Copies into a plain Uint8Array, so a payload compares by its bytes alone. */
const plain = (data: Uint8Array): Uint8Array => new Uint8Array(data);

/** A pairing handler that records what it got and answers `answer(payload)`. */
function recordingHandler(answer: (payload: Uint8Array) => Uint8Array | Promise<Uint8Array>): { handler: PairingHandler; seen: Uint8Array[] } {
  const seen: Uint8Array[] = [];
  return {
    seen,
    handler: async (payload) => {
      seen.push(plain(payload));
      return answer(payload);
    },
  };
}

/** A well-formed single-exchange frame, varint-length-prefixed (payloads under 127 bytes). */
function frame(kind: number, payload: string): Uint8Array {
  const body = new Uint8Array([kind, ...bytes(payload)]);
  if (body.byteLength >= 0x80) throw new Error('test frames stay under 128 bytes (one-byte varint)');
  return new Uint8Array([body.byteLength, ...body]);
}

describe('pairing', () => {
  const started: Libp2pTransport[] = [];
  const raw: Libp2p[] = [];
  const inviterKey = DeviceKey.generate();
  const joinerKey = DeviceKey.generate();
  const otherKey = DeviceKey.generate();

  afterEach(async () => {
    await Promise.all(raw.splice(0).map((node) => node.stop()));
    await Promise.all(started.splice(0).map((transport) => transport.stop()));
  });

  /** A started transport on 127.0.0.1 (members: nobody but itself unless given). */
  async function start(deviceKey: DeviceKey, init: Partial<Libp2pTransportInit> = {}): Promise<Libp2pTransport> {
    const transport = await createLibp2pTransport({ deviceKey, members: [], requestTimeoutMs: 5_000, pingIntervalMs: 0, ...init });
    started.push(transport);
    await transport.start();
    return transport;
  }

  /** The inviter's first listen address (with /p2p/). */
  const addressOf = (transport: Libp2pTransport): string => {
    const address = transport.listenAddresses()[0];
    if (!address) throw new Error('not listening');
    return address;
  };

  it('answers a non-member joiner with exactly the handler\'s bytes, having handed the handler exactly the joiner\'s', async () => {
    // Created with a members callback listing nobody: the joiner is not a member, and stays none.
    const inviter = await start(inviterKey, { members: () => [] });
    const joiner = await start(joinerKey);
    const inviterEvents = record(inviter);
    const joinerEvents = record(joiner);
    const handled: string[] = [];
    inviter.handle(async (message) => {
      handled.push(message.from);
      return bytes('sync');
    });
    const answers = [randomBytes(300), randomBytes(1)];
    let n = 0;
    const { handler, seen } = recordingHandler(() => answers[n++]!);
    inviter.acceptPairing(handler);

    expect(inviter.listenAddresses()).toEqual(inviter.addresses());
    const first = randomBytes(512);
    const second = new Uint8Array(0);
    // With the inviter's /p2p/ in the address, and without it (pair adds it from the key).
    expect(plain(await joiner.pair(addressOf(inviter), inviterKey.publicKey, first))).toEqual(plain(answers[0]!));
    expect(plain(await joiner.pair(withoutPeerId(addressOf(inviter)), inviterKey.publicKey, second))).toEqual(plain(answers[1]!));
    expect(seen).toEqual([plain(first), plain(second)]);

    // Neither side counts the other as a peer, and the sync handler heard nothing.
    expect(inviterEvents).toEqual([]);
    expect(joinerEvents).toEqual([]);
    expect(inviter.connectedPeers()).toEqual([]);
    expect(joiner.connectedPeers()).toEqual([]);
    expect(handled).toEqual([]);
  });

  it('refuses pairing while no handler is set, before one is set and after it is set back to null', async () => {
    const inviter = await start(inviterKey);
    const joiner = await start(joinerKey);
    // A member of the inviter is refused too: the door is about pairing, not membership.
    const member = await start(otherKey, { members: [inviter.localPeerId] });
    inviter.setMembers([inviterKey.publicKey, otherKey.publicKey]);
    const { handler, seen } = recordingHandler((payload) => payload);

    const closed = async (from: Libp2pTransport): Promise<void> => {
      const failure = await from.pair(addressOf(inviter), inviterKey.publicKey, bytes('let me in')).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(TransportError);
      expect(failure).toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    };
    await closed(joiner);
    await closed(member);

    inviter.acceptPairing(handler);
    expect(text(await joiner.pair(addressOf(inviter), inviterKey.publicKey, bytes('open')))).toBe('open');
    expect(text(await member.pair(addressOf(inviter), inviterKey.publicKey, bytes('member')))).toBe('member');

    inviter.acceptPairing(null);
    await closed(joiner);
    await closed(member);
    expect(seen.map(text)).toEqual(['open', 'member']);
  });

  it('keeps an admitted non-member out of peers$ and sync while the door is open, and hangs it up when the door closes', async () => {
    const inviter = await start(inviterKey);
    // The joiner already lists the inviter, so it opens sync sessions: the inviter must refuse them.
    const joiner = await start(joinerKey, { members: [libp2pIdOf(inviterKey)] });
    const inviterEvents = record(inviter);
    const joinerEvents = record(joiner);
    const handled: string[] = [];
    inviter.handle(async (message) => {
      handled.push(message.from);
      return bytes('sync answer');
    });
    const { handler, seen } = recordingHandler(() => bytes('paired'));
    inviter.acceptPairing(handler);

    // The gater admits the connection (door open); the sync protocol does not.
    const dialed = await joiner.dial(addressOf(inviter)).then(
      () => 'connected',
      (e: unknown) => e,
    );
    if (dialed !== 'connected') expect(dialed).toBeInstanceOf(TransportError);
    await expect(joiner.request(inviter.localPeerId, bytes('sync?'), { timeoutMs: 2_000 })).rejects.toBeInstanceOf(TransportError);
    await expect(joiner.send(inviter.localPeerId, bytes('one-way?'))).rejects.toBeInstanceOf(TransportError);
    // Pairing works all the same (the refused sync streams did not cost the exchange).
    expect(text(await joiner.pair(addressOf(inviter), inviterKey.publicKey, bytes('hello')))).toBe('paired');
    expect(seen.map(text)).toEqual(['hello']);
    expect(handled).toEqual([]);
    expect(inviterEvents).toEqual([]);
    expect(inviter.connectedPeers()).toEqual([]);
    // And the inviter will not dial it or call it.
    await expect(inviter.dial(addressOf(joiner))).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });
    await expect(inviter.request(joiner.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });

    // The joiner keeps its connection (it lists the inviter; the door admits it); closing the
    // door hangs it up.
    expect(joiner.connectedPeers()).toEqual([inviter.localPeerId]);
    inviter.acceptPairing(null);
    await waitFor('the inviter to hang up the joiner', () => !joiner.connectedPeers().includes(inviter.localPeerId), SHORT_MS);
    expect(disconnectedFrom(joinerEvents, inviter.localPeerId)).toBe(true);
    expect(inviterEvents).toEqual([]);
    expect(handled).toEqual([]);
  });

  it('answers a raw libp2p stranger on the pairing protocol only, and hangs up its bare connection when the door closes', async () => {
    const inviter = await start(inviterKey);
    const handled: string[] = [];
    inviter.handle(async (message) => {
      handled.push(message.from);
      return bytes('sync answer');
    });
    const { handler, seen } = recordingHandler((payload) => bytes(`answer to ${text(payload)}`));
    inviter.acceptPairing(handler);
    const node = await createRawNode();
    raw.push(node);
    const open = (): boolean => node.getConnections().some((c) => c.status === 'open');

    const connection = await node.dial(multiaddr(addressOf(inviter)));
    const paired = await rawExchange(connection, PAIR_PROTOCOL, frame(FrameKind.Request, 'raw'));
    expect(paired).toMatchObject({ kind: 'response', status: 0 });
    expect(text((paired as { payload: Uint8Array }).payload)).toBe('answer to raw');
    // A one-way frame is not a pairing request: dropped, the handler not called.
    expect((await rawExchange(connection, PAIR_PROTOCOL, frame(FrameKind.OneWay, 'one-way'), 5_000)).kind).toBe('dropped');
    // The sync protocol refuses it (the connection stays: the door admits it).
    expect((await rawExchange(connection, SYNC_PROTOCOL, frame(FrameKind.Request, 'sync'), 5_000)).kind).toBe('dropped');
    expect(seen.map(text)).toEqual(['raw']);
    expect(handled).toEqual([]);
    expect(inviter.connectedPeers()).toEqual([]);
    expect(open()).toBe(true);

    inviter.acceptPairing(null);
    await waitFor('the inviter to hang up the stranger', () => !open(), SHORT_MS);
    // And refuses it again at the gater.
    await node.dial(multiaddr(addressOf(inviter))).catch(() => undefined);
    await waitFor('the inviter to refuse the stranger again', () => !open(), SHORT_MS);
    expect((await rawExchange(connection, PAIR_PROTOCOL, frame(FrameKind.Request, 'again'), 5_000)).kind).toBe('dropped');
    expect(seen.map(text)).toEqual(['raw']);
  });

  it('hangs up after the exchange, on the joiner\'s side, unless the peer was listed meanwhile', async () => {
    // A raw libp2p node plays the inviter, so the test sees the joiner's connection to it.
    const node = await createRawNode();
    raw.push(node);
    let onRequest = (): void => undefined;
    await node.handle(PAIR_PROTOCOL, async (stream: Stream) => {
      const lp = lpStream(stream);
      const request = (await lp.read()).subarray();
      onRequest();
      await lp.write(new Uint8Array([0, ...request.subarray(1)]));
      await stream.close();
    });
    const key = Buffer.from(node.peerId.publicKey!.raw).toString('base64url');
    const address = node.getMultiaddrs()[0]!.toString();
    const open = (): boolean => node.getConnections().some((c) => c.status === 'open');
    const joiner = await start(joinerKey);
    const joinerEvents = record(joiner);

    expect(text(await joiner.pair(address, key, bytes('echo')))).toBe('echo');
    await waitFor('the joiner to hang up', () => !open(), SHORT_MS);
    expect(joinerEvents).toEqual([]);

    // Listed by the joiner while the exchange runs: the connection stays, and the peer is a member.
    onRequest = () => joiner.setMembers([joinerKey.publicKey, key]);
    expect(text(await joiner.pair(address, key, bytes('again')))).toBe('again');
    expect(open()).toBe(true);
    expect(joiner.connectedPeers()).toEqual([node.peerId.toString()]);
    expect(joinerEvents.map((e) => e.type)).toEqual(['connected']);
  });

  it('reports a joiner listed while still connected from its pairing at once, without a redial', async () => {
    const inviter = await start(inviterKey);
    // The joiner lists the inviter before pairing, so it keeps the pairing connection.
    const joiner = await start(joinerKey, { members: [libp2pIdOf(inviterKey)] });
    const inviterEvents = record(inviter);
    serve(inviter);
    serve(joiner);
    inviter.acceptPairing(async () => bytes('welcome'));
    expect(text(await joiner.pair(addressOf(inviter), inviterKey.publicKey, bytes('hi')))).toBe('welcome');
    expect(joiner.connectedPeers()).toEqual([inviter.localPeerId]);
    expect(inviterEvents).toEqual([]);

    inviter.setMembers([inviterKey.publicKey, joinerKey.publicKey]);
    expect(inviterEvents.map((e) => `${e.type}:${e.peerId}`)).toEqual([`connected:${joiner.localPeerId}`]);
    expect(inviter.connectedPeers()).toEqual([joiner.localPeerId]);
    inviter.acceptPairing(null); // the joiner is a member now: not hung up
    expect(text(await joiner.request(inviter.localPeerId, bytes('sync')))).toBe(`${inviter.localPeerId} got sync from ${joiner.localPeerId}`);
    expect(text(await inviter.request(joiner.localPeerId, bytes('back')))).toBe(`${joiner.localPeerId} got back from ${inviter.localPeerId}`);
    expect(inviterEvents).toHaveLength(1);
  });

  it('fails a pairing in flight when the door closes, and the late answer goes nowhere', async () => {
    const inviter = await start(inviterKey);
    const joiner = await start(joinerKey);
    let arrive!: () => void;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    let finish!: (answer: Uint8Array) => void;
    inviter.acceptPairing(async () => {
      arrive();
      return new Promise<Uint8Array>((resolve) => (finish = resolve));
    });

    const pairing = joiner.pair(addressOf(inviter), inviterKey.publicKey, bytes('wait'), { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await within(arrived, 10_000, 'the request to reach the pairing handler');
    inviter.acceptPairing(null);
    const failure = await within(pairing, SHORT_MS, 'the pairing in flight');
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    finish(bytes('too late')); // answered after the hang-up: nothing to write it to, nothing thrown
  });

  it('fails typed, without calling the handler, when another key answers at the address', async () => {
    const inviter = await start(inviterKey);
    const joiner = await start(joinerKey);
    const { handler, seen } = recordingHandler(() => bytes('should not happen'));
    inviter.acceptPairing(handler);

    // The address names the inviter, the key another device: refused before dialing.
    const mismatch = await joiner.pair(addressOf(inviter), otherKey.publicKey, bytes('x')).catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(Libp2pTransportConfigError);
    expect(mismatch).toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });

    // The address names nobody (or the other device): Noise finds the inviter's key where the
    // other's was expected.
    for (const address of [withoutPeerId(addressOf(inviter)), `${withoutPeerId(addressOf(inviter))}/p2p/${libp2pIdOf(otherKey)}`]) {
      const failure = await joiner.pair(address, otherKey.publicKey, bytes('x')).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(TransportError);
      expect(failure).toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    }
    expect(seen).toEqual([]);
    // The right key still works.
    expect(text(await joiner.pair(withoutPeerId(addressOf(inviter)), inviterKey.publicKey, bytes('ok')))).toBe('should not happen');
  });

  it('holds to PAIRING_MAX_BYTES both ways and reports handler failures, bad input and a stopped transport typed', async () => {
    const inviter = await start(inviterKey);
    const joiner = await start(joinerKey);
    let answer: Uint8Array | Error = new Uint8Array(PAIRING_MAX_BYTES).fill(7);
    const { handler, seen } = recordingHandler(() => {
      if (answer instanceof Error) throw answer;
      return answer;
    });
    inviter.acceptPairing(handler);
    const address = addressOf(inviter);

    // Too large: refused before anything is sent.
    await expect(joiner.pair(address, inviterKey.publicKey, new Uint8Array(PAIRING_MAX_BYTES + 1))).rejects.toMatchObject({
      code: 'HW_FRAME_TOO_LARGE',
    });
    expect(seen).toEqual([]);
    // Exactly the limit, both ways: fine.
    const largest = randomBytes(PAIRING_MAX_BYTES);
    expect(plain(await joiner.pair(address, inviterKey.publicKey, largest))).toEqual(plain(answer));
    expect(seen).toEqual([plain(largest)]);

    // An answer over the limit is not sent; the joiner learns why.
    answer = new Uint8Array(PAIRING_MAX_BYTES + 1);
    await expect(joiner.pair(address, inviterKey.publicKey, bytes('big answer'))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    // A handler that throws: a typed failure carrying its reason.
    answer = new Error('invite expired');
    const failure = await joiner.pair(address, inviterKey.publicKey, bytes('late')).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: 'HW_PEER_UNREACHABLE', message: expect.stringContaining('invite expired') });
    expect(seen).toHaveLength(3);

    // Malformed input.
    await expect(joiner.pair('not a multiaddr', inviterKey.publicKey, bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    await expect(joiner.pair(address, 'not a key', bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    // A caller's abort rejects with its reason; nothing reaches the handler.
    const abort = new AbortController();
    abort.abort(new Error('changed my mind'));
    await expect(joiner.pair(address, inviterKey.publicKey, bytes('x'), { signal: abort.signal })).rejects.toThrow('changed my mind');
    expect(seen).toHaveLength(3);

    await joiner.stop();
    await expect(joiner.pair(address, inviterKey.publicKey, bytes('x'))).rejects.toMatchObject({ code: 'HW_TRANSPORT_STOPPED' });
    expect(joiner.listenAddresses()).toEqual([]);
  });

  it.each(['inside', 'after'] as const)(
    'connects the joiner as a member with reach once the inviter lists it (%s the exchange)',
    async (when) => {
      // Created with a fixed members list (the inviter alone); setMembers replaces it.
      const inviter = await start(inviterKey, { members: [libp2pIdOf(inviterKey)] });
      const joiner = await start(joinerKey);
      const inviterEvents = record(inviter);
      const joinerEvents = record(joiner);
      serve(inviter);
      serve(joiner);
      const admit = (): void => inviter.setMembers([inviterKey.publicKey, joinerKey.publicKey]);
      inviter.acceptPairing(async (payload) => {
        if (when === 'inside') admit();
        return bytes(`welcome ${text(payload)}`);
      });

      expect(text(await joiner.pair(addressOf(inviter), inviterKey.publicKey, bytes('joiner')))).toBe('welcome joiner');
      if (when === 'after') admit();
      inviter.acceptPairing(null);
      joiner.setMembers([joinerKey.publicKey, inviterKey.publicKey]);
      await joiner.reach(inviterKey.publicKey, [withoutPeerId(addressOf(inviter))]);
      // The inviter's side of the same: already connected, so nothing to dial.
      await inviter.reach(joinerKey.publicKey, joiner.listenAddresses());

      await waitFor(
        'both to list each other',
        () => inviter.connectedPeers().includes(joiner.localPeerId) && joiner.connectedPeers().includes(inviter.localPeerId),
        SHORT_MS,
      );
      expect(inviterEvents.at(-1)).toMatchObject({ type: 'connected', peerId: joiner.localPeerId });
      expect(joinerEvents.at(-1)).toMatchObject({ type: 'connected', peerId: inviter.localPeerId });
      expect(joinerEvents.filter((e) => e.type === 'connected')).toHaveLength(1);
      expect(text(await joiner.request(inviter.localPeerId, bytes('hi')))).toBe(`${inviter.localPeerId} got hi from ${joiner.localPeerId}`);
      expect(text(await inviter.request(joiner.localPeerId, bytes('hey')))).toBe(`${joiner.localPeerId} got hey from ${inviter.localPeerId}`);
    },
  );

  it('listenAddresses are the announce addresses when given (a public address behind NAT), each with this peer id', async () => {
    const key = DeviceKey.generate();
    const transport = await start(key, { announce: ['/ip4/203.0.113.7/tcp/4001'] });
    expect(transport.listenAddresses()).toEqual([`/ip4/203.0.113.7/tcp/4001/p2p/${libp2pIdOf(key)}`]);
    const plainNode = await start(DeviceKey.generate());
    expect(plainNode.listenAddresses()).toEqual([expect.stringMatching(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)]);
    await expect(createLibp2pTransport({ deviceKey: key, members: [], announce: ['not a multiaddr'] })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
  });

  it('reach refuses malformed input, resolves for unreachable or non-member peers, and dials remembered members on start', async () => {
    const inviter = await start(inviterKey, { members: [libp2pIdOf(joinerKey)] });
    const joiner = await start(joinerKey);
    serve(inviter);
    serve(joiner);

    await expect(joiner.reach('not a key', [])).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    await expect(joiner.reach(inviterKey.publicKey, ['nope'])).rejects.toBeInstanceOf(Libp2pTransportConfigError);
    await expect(joiner.reach(otherKey.publicKey, [addressOf(inviter)])).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    await expect(joiner.reach(inviterKey.publicKey, 'nope' as unknown as string[])).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });

    // Not a member of the joiner: only remembered.
    await joiner.reach(inviterKey.publicKey, [addressOf(inviter)]);
    expect(joiner.connectedPeers()).toEqual([]);
    // A member nobody listens for (a closed port): resolves, nothing connected.
    joiner.setMembers([joinerKey.publicKey, inviterKey.publicKey, otherKey.publicKey]);
    const offline = await start(otherKey);
    const offlineAddress = addressOf(offline);
    await offline.stop();
    await joiner.reach(otherKey.publicKey, [offlineAddress]);
    expect(joiner.connectedPeers()).toEqual([]);

    // Remembered while not a member, dialed on the next start now that it is one.
    await joiner.stop();
    await joiner.start();
    await waitFor('the joiner to reach the inviter', () => joiner.connectedPeers().includes(inviter.localPeerId), SHORT_MS);
    await waitFor('the inviter to list the joiner', () => inviter.connectedPeers().includes(joiner.localPeerId), SHORT_MS);
    expect(text(await joiner.request(inviter.localPeerId, bytes('back')))).toBe(`${inviter.localPeerId} got back from ${joiner.localPeerId}`);
  });
});
