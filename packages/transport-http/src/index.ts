/**
 * @highwater/transport-http — the Highwater Transport port over HTTP(S).
 *
 * Every call is one HTTP exchange signed with the caller's Ed25519 key and answered with a
 * response signed by the callee, so both directions are authenticated even over plain HTTP
 * (TLS adds confidentiality). Only the configured members of the library may call a node.
 * Reachability comes from signed heartbeats.
 *
 * ```ts
 * import { createHttpTransport, loadOrCreateHttpIdentity } from '@highwater/transport-http';
 *
 * // 1. Each device creates its key once and shares { peerId, publicKey } with the others.
 * const me = loadOrCreateHttpIdentity('/var/lib/myapp/hw-key.pem');
 *
 * // 2. Each device lists the other members and where they listen.
 * const transport = createHttpTransport({
 *   keyPath: '/var/lib/myapp/hw-key.pem',
 *   listen: { host: '0.0.0.0', port: 7400 },
 *   peers: [{ peerId: 'hw1…', publicKey: 'base64url…', url: 'http://10.0.0.6:7400' }],
 * });
 * transport.handle(async ({ from, payload, expectsResponse }) => (expectsResponse ? payload : undefined));
 * await transport.start();
 * transport.peers$.subscribe((e) => console.log(e.type, e.peerId));
 * ```
 */
export { HttpTransport, createHttpTransport, type HttpTransportInit } from './http-transport.js';
export { loadOrCreateHttpIdentity, peerIdFromPublicKey, parsePublicKey, type HttpIdentity } from './identity.js';
export type { HttpPeer } from './peer-directory.js';
export type { TlsOptions } from './inbound-server.js';
export { HttpTransportError, HttpTransportConfigError, type HttpTransportErrorDetails } from './errors.js';
export {
  MESSAGE_PATH,
  PING_PATH,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_REPLAY_WINDOW_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './constants.js';
