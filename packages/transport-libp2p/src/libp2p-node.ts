import './polyfill.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { mdns } from '@libp2p/mdns';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { frameStreamOptions } from './frames.js';
import { noiseCrypto } from './noise-crypto.js';
import type { Libp2pTransportConfig } from './init.js';
import type { Membership } from './membership.js';

/** Services the transport's libp2p node runs. */
export interface TransportServices extends Record<string, unknown> {
  /** Answers pings: RTT probes of peers and libp2p's connection monitor use them. */
  ping: Ping;
}

/**
 * Builds (without starting) the libp2p node of a transport: TCP, Noise, Yamux, the members-only
 * connection gater, ping, and mDNS when asked for. Nothing else: no DHT, no relay, no identify
 * push — a library's members are few and known.
 */
export async function createTransportNode(
  config: Libp2pTransportConfig,
  privateKey: PrivateKey,
  membership: Membership,
): Promise<Libp2p<TransportServices>> {
  const { maxBufferSize = config.maxMessageBytes } = frameStreamOptions(config.maxMessageBytes);
  return createLibp2p<TransportServices>({
    start: false,
    privateKey,
    addresses: { listen: [...config.listen], ...(config.announce.length > 0 ? { announce: [...config.announce] } : {}) },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [
      yamux({
        // Bytes that arrive before the sync handler reads them wait in the stream's buffer; it
        // must fit one whole frame, or a large request is reset before it is read.
        streamOptions: { maxReadBufferLength: maxBufferSize },
      }),
    ],
    connectionGater: membership.gater(),
    peerDiscovery: config.mdns ? [mdns()] : [],
    // Two outbound pings per peer: libp2p's connection monitor and the RTT probe may overlap
    // (the ping spec has listeners accept two streams per peer).
    services: { ping: ping({ maxOutboundStreams: 2 }) },
  });
}
