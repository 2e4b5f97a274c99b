/**
 * The two real transports behind one small interface, so a peer process can run either:
 * who am I, who are the members, connect to one, drop one. Both run on the device's one key.
 */
import type { DeviceKey, Transport } from '@highwater/core';
import { createHttpTransport, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, loadOrCreateDeviceKey, type Libp2pTransport } from '@highwater/transport-libp2p';

/** How to reach a member: libp2p multiaddrs, or an HTTP url and public key. */
export interface PeerRef {
  readonly peerId: string;
  readonly addresses?: readonly string[];
  readonly url?: string;
  /** The member's device public key (always in `identity()`; HTTP needs it to reach a member). */
  readonly publicKey?: string;
}

export interface PeerTransport {
  readonly transport: Transport;
  identity(): Promise<PeerRef>;
  setMembers(peers: readonly PeerRef[]): Promise<void>;
  connect(peer: PeerRef): Promise<void>;
  disconnect(peerId: string): Promise<void>;
}

export interface PeerTransportOptions {
  /** The device key file (created if missing; a libp2p protobuf key file of earlier versions works too), or… */
  readonly keyPath?: string;
  /** …the device key itself. */
  readonly deviceKey?: DeviceKey;
  readonly host: string;
  readonly port: number;
}

export async function openPeerTransport(kind: 'libp2p' | 'http', options: PeerTransportOptions): Promise<PeerTransport> {
  if ((options.keyPath === undefined) === (options.deviceKey === undefined)) throw new Error('openPeerTransport needs either keyPath or deviceKey');
  // Loaded here for both kinds, so one key file serves either transport.
  const deviceKey = options.deviceKey ?? (await loadOrCreateDeviceKey(options.keyPath!));
  return kind === 'libp2p' ? openLibp2p(deviceKey, options) : openHttp(deviceKey, options);
}

async function openLibp2p(deviceKey: DeviceKey, options: PeerTransportOptions): Promise<PeerTransport> {
  const members = new Set<string>();
  const transport: Libp2pTransport = await createLibp2pTransport({
    deviceKey,
    listen: [`/ip4/${options.host}/tcp/${options.port}`],
    members: () => members,
  });
  return {
    transport,
    identity: async () => ({ peerId: transport.localPeerId, addresses: transport.addresses(), publicKey: transport.publicKey }),
    setMembers: async (peers) => {
      members.clear();
      for (const p of peers) members.add(p.peerId);
      await transport.enforceMembership();
    },
    connect: async (peer) => {
      members.add(peer.peerId);
      let lastError: unknown = new Error(`no address for ${peer.peerId}`);
      for (const address of peer.addresses ?? []) {
        try {
          await transport.dial(address);
          return;
        } catch (error) {
          lastError = error;
        }
      }
      throw lastError;
    },
    disconnect: (peerId) => transport.hangUp(peerId),
  };
}

async function openHttp(deviceKey: DeviceKey, options: PeerTransportOptions): Promise<PeerTransport> {
  const transport: HttpTransport = createHttpTransport({ deviceKey, listen: { host: options.host, port: options.port } });
  const toHttpPeer = (p: PeerRef) => {
    if (!p.url || !p.publicKey) throw new Error(`HTTP peer ${p.peerId} needs a url and a publicKey`);
    return { peerId: p.peerId, url: p.url, publicKey: p.publicKey };
  };
  const connectedTo = (peerId: string): Promise<void> =>
    new Promise((resolve) => {
      if (transport.connectedPeers().includes(peerId)) return resolve();
      const sub = transport.peers$.subscribe((e) => {
        if (e.type === 'connected' && e.peerId === peerId) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
  return {
    transport,
    identity: async () => ({ peerId: transport.localPeerId, url: transport.url, publicKey: transport.publicKey }),
    setMembers: async (peers) => {
      for (const known of transport.peers()) if (!peers.some((p) => p.peerId === known.peerId)) transport.removePeer(known.peerId);
      for (const p of peers) transport.addPeer(toHttpPeer(p));
    },
    connect: async (peer) => {
      // An HTTP peer is "connected" once a heartbeat succeeds; (re)adding it starts one now.
      transport.removePeer(peer.peerId);
      transport.addPeer(toHttpPeer(peer));
      await connectedTo(peer.peerId);
    },
    disconnect: async (peerId) => {
      transport.removePeer(peerId);
    },
  };
}
