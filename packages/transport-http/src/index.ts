/**
 * @highwater/transport-http — the Highwater Transport port over HTTP(S).
 *
 * Every call is one HTTP exchange signed with the caller's Ed25519 key and answered with a
 * response signed by the callee, so both directions are authenticated even over plain HTTP
 * (TLS adds confidentiality). Only the configured members of the library may call a node, but
 * for one unsigned pairing exchange while `acceptPairing` has a handler set (the payloads prove themselves).
 * Reachability comes from signed heartbeats.
 *
 * ```ts
 * import { DeviceKey } from '@highwater/core';
 * import { createHttpTransport } from '@highwater/transport-http';
 *
 * // 1. Each device has one key (the libp2p transport can use the same file) and shares its public key.
 * const deviceKey = DeviceKey.loadOrCreate('/var/lib/myapp/device.key');
 *
 * // 2. Each device lists the other members and where they listen (the peer id derives from the key).
 * const transport = createHttpTransport({
 *   deviceKey, // or keyPath: '/var/lib/myapp/device.key'
 *   listen: { host: '0.0.0.0', port: 7400 },
 *   peers: [{ publicKey: 'base64url…', url: 'http://10.0.0.6:7400' }],
 * });
 * transport.handle(async ({ from, payload, expectsResponse }) => (expectsResponse ? payload : undefined));
 * await transport.start();
 * transport.peers$.subscribe((e) => console.log(e.type, e.peerId));
 * ```
 */
export { HttpTransport, createHttpTransport, type HttpTransportInit } from './http-transport.js';
export { httpPeerIdOf, loadOrCreateHttpIdentity, peerIdFromPublicKey, parsePublicKey, type HttpIdentity } from './identity.js';
export type { ConfiguredHttpPeer, HttpPeer } from './peer-directory.js';
export type { TlsOptions } from './inbound-server.js';
export { HttpTransportError, HttpTransportConfigError, type HttpTransportErrorDetails } from './errors.js';
export {
  MESSAGE_PATH,
  PING_PATH,
  PAIR_PATH,
  MAX_CONCURRENT_PAIRINGS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_REPLAY_WINDOW_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './constants.js';
