import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { TransportError, type PeerEvent } from '@highwater/core';
import {
  createLibp2pTransport,
  FrameKind,
  Libp2pTransportConfigError,
  loadOrCreatePeerId,
  SYNC_PROTOCOL,
  type Libp2pTransport,
} from '../src/index.js';
import type { Libp2p } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { bytes, createRawNode, rawExchange, TestNetwork, text, waitFor } from './support.js';

describe('membership', () => {
  let network: TestNetwork;
  let member: Libp2pTransport;
  let other: Libp2pTransport;
  let handled: string[];
  let events: PeerEvent[];
  const raw: Libp2p[] = [];

  beforeEach(async () => {
    network = new TestNetwork();
    member = await network.create();
    other = await network.create();
    handled = [];
    events = [];
    member.peers$.subscribe((event) => events.push(event));
    member.handle(async (message) => {
      handled.push(message.from);
      return message.expectsResponse ? bytes(`ok:${text(message.payload)}`) : undefined;
    });
  });

  afterEach(async () => {
    await Promise.all(raw.splice(0).map((node) => node.stop()));
    await network.cleanup();
  });

  /** A transport with its own identity that lists `member` but is not listed by anyone. */
  async function outsider(): Promise<Libp2pTransport> {
    const keyPath = join(await network.dir(), 'outsider.key');
    const transport = await createLibp2pTransport({ keyPath, members: [member.localPeerId] });
    await transport.start();
    // Stopped by the test's cleanup through a raw-node-like list.
    raw.push({ stop: () => transport.stop() } as unknown as Libp2p);
    return transport;
  }

  it('refuses a non-member transport at the gater: no connection, no event, no stream', async () => {
    const stranger = await outsider();
    expect(network.members.has(stranger.localPeerId)).toBe(false);

    // Noise finishes on the dialer's side one message before the listener's, so the dial may
    // fail or may succeed for an instant before the member's gater closes the connection.
    const dialed = await stranger.dial(member.addresses()[0]!).then(
      () => 'connected',
      (e: unknown) => e,
    );
    if (dialed !== 'connected') expect(dialed).toBeInstanceOf(TransportError);
    await waitFor('the member to close the stranger\'s connection', () => stranger.connectedPeers().length === 0);

    // Member's side: the stranger never shows up.
    expect(member.connectedPeers()).toEqual([]);
    expect(events.filter((e) => e.peerId === stranger.localPeerId)).toEqual([]);
    await expect(stranger.request(member.localPeerId, bytes('hi'), { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
    expect(handled).toEqual([]);

    // The member refuses to dial the stranger, before any packet leaves.
    const address = stranger.addresses()[0]!;
    await expect(member.dial(address)).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });
    await expect(member.request(stranger.localPeerId, bytes('x'))).rejects.toMatchObject({ code: 'HW_UNAUTHORIZED' });

    // And it keeps serving members.
    await network.connect(other, member);
    expect(text(await other.request(member.localPeerId, bytes('still here')))).toBe('ok:still here');
  });

  it('drops a raw sync stream from a non-member libp2p node without calling the handler', async () => {
    const node = await createRawNode();
    raw.push(node);
    const target = multiaddr(member.addresses()[0]!);

    // The gater closes the connection right after the handshake — before any stream is tried
    // (the dial may even report success for that instant).
    const connection = await node.dial(target).catch(() => undefined);
    await waitFor('the member to close the non-member connection', () => node.getConnections().every((c) => c.status !== 'open'));
    const outcome = connection
      ? await rawExchange(connection, SYNC_PROTOCOL, frame(FrameKind.Request, 'let me in'), 5_000)
      : { kind: 'dropped' as const };
    expect(outcome.kind).toBe('dropped');
    expect(handled).toEqual([]);
    expect(member.connectedPeers()).toEqual([]);
    expect(events).toEqual([]);

    await network.connect(other, member);
    expect(text(await other.request(member.localPeerId, bytes('next')))).toBe('ok:next');
  });

  it('drops streams from a peer removed from the members list, on its open connection, and hangs up', async () => {
    const node = await createRawNode();
    raw.push(node);
    const nodeId = node.peerId.toString();
    network.members.add(nodeId);
    const connection = await node.dial(multiaddr(member.addresses()[0]!));
    await waitFor('the member to list the raw node', () => member.connectedPeers().includes(nodeId));

    // While a member, the raw node is answered (proves the raw client speaks the protocol).
    const before = await rawExchange(connection, SYNC_PROTOCOL, frame(FrameKind.Request, 'while member'));
    expect(before).toMatchObject({ kind: 'response', status: 0 });
    expect(text((before as { payload: Uint8Array }).payload)).toBe('ok:while member');
    expect(handled).toEqual([nodeId]);

    // Membership revoked: the gater has nothing to say about an open connection, the handler does.
    network.members.delete(nodeId);
    expect(member.connectedPeers()).not.toContain(nodeId);
    const after = await rawExchange(connection, SYNC_PROTOCOL, frame(FrameKind.Request, 'after removal'), 5_000);
    expect(after.kind).toBe('dropped');
    expect(handled).toEqual([nodeId]);
    await waitFor('the member to report the removed peer disconnected', () =>
      events.some((e) => e.type === 'disconnected' && e.peerId === nodeId),
    );
    expect(node.getConnections().filter((c) => c.status === 'open')).toEqual([]);

    await network.connect(other, member);
    expect(text(await other.request(member.localPeerId, bytes('members only')))).toBe('ok:members only');
  });

  it('reports a member once on peers$ however many connections it has', async () => {
    const node = await createRawNode();
    raw.push(node);
    const nodeId = node.peerId.toString();
    network.members.add(nodeId);
    const target = multiaddr(member.addresses()[0]!);
    const first = await node.dial(target);
    const second = await node.dial(target, { force: true }); // a second connection to the same peer
    expect(second.id).not.toBe(first.id);
    await waitFor('the member to list the raw node', () => member.connectedPeers().includes(nodeId));
    expect(member.connectedPeers()).toEqual([nodeId]);

    await first.close();
    // Still connected through the second connection: no event either way.
    await rawExchange(second, SYNC_PROTOCOL, frame(FrameKind.OneWay, 'sync point'));
    await waitFor('the one-way message', () => handled.length === 1);
    expect(member.connectedPeers()).toEqual([nodeId]);
    expect(events.map((e) => `${e.type}:${e.peerId}`)).toEqual([`connected:${nodeId}`]);

    await second.close();
    await waitFor('the disconnect', () => events.length === 2);
    expect(events.map((e) => `${e.type}:${e.peerId}`)).toEqual([`connected:${nodeId}`, `disconnected:${nodeId}`]);
    expect(member.connectedPeers()).toEqual([]);
  });
});

describe('identity and configuration', () => {
  const network = new TestNetwork();
  afterEach(() => network.cleanup());

  it('keeps the peer id of a key file across transports and restarts', async () => {
    const keyPath = join(await network.dir(), 'nested', 'node.key');
    const announced = await loadOrCreatePeerId(keyPath);
    const first = await createLibp2pTransport({ keyPath, allowAnyPeer: true });
    const second = await createLibp2pTransport({ keyPath, allowAnyPeer: true });
    expect(first.localPeerId).toBe(announced);
    expect(second.localPeerId).toBe(announced);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);

    await first.start();
    expect(first.addresses().every((a) => a.endsWith(`/p2p/${announced}`))).toBe(true);
    await first.stop();
    await first.start(); // a restart keeps the identity, and works
    expect(first.addresses()[0]).toContain(announced);
    await first.stop();

    const elsewhere = join(await network.dir(), 'node.key');
    expect(await loadOrCreatePeerId(elsewhere)).not.toBe(announced);
  });

  it('refuses to start without a members list unless allowAnyPeer is explicit', async () => {
    const keyPath = join(await network.dir(), 'node.key');
    await expect(createLibp2pTransport({ keyPath })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    await expect(createLibp2pTransport({ keyPath })).rejects.toBeInstanceOf(Libp2pTransportConfigError);
    await expect(createLibp2pTransport({ keyPath, members: ['not a peer id'] })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    await expect(createLibp2pTransport({ keyPath, members: [], allowAnyPeer: true })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    await expect(createLibp2pTransport({ keyPath, allowAnyPeer: true, maxMessageBytes: 0 })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    const open = await createLibp2pTransport({ keyPath, allowAnyPeer: true });
    expect(open.localPeerId).toBe(await loadOrCreatePeerId(keyPath));
  });

  it('refuses a corrupt key file with HW_KEY_FILE instead of replacing the identity', async () => {
    const keyPath = join(await network.dir(), 'node.key');
    await writeFile(keyPath, 'not a key');
    await expect(loadOrCreatePeerId(keyPath)).rejects.toMatchObject({ code: 'HW_KEY_FILE' });
    await expect(createLibp2pTransport({ keyPath, allowAnyPeer: true })).rejects.toMatchObject({ code: 'HW_KEY_FILE' });
  });
});

/** A well-formed first frame: the kind byte and a UTF-8 payload, varint-length-prefixed. */
function frame(kind: number, payload: string): Uint8Array {
  const body = new Uint8Array([kind, ...bytes(payload)]);
  if (body.byteLength >= 0x80) throw new Error('test frames stay under 128 bytes (one-byte varint)');
  return new Uint8Array([body.byteLength, ...body]);
}
