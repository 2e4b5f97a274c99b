/**
 * @highwater/transport-libp2p — Highwater's peer transport on libp2p 3: TCP, Noise-encrypted,
 * Yamux-multiplexed, members only. One long-lived session stream per peer carries every request
 * and one-way message, as length-prefixed frames with ids on protocol `/highwater/sync/2.0.0`.
 *
 * ```ts
 * import { createLibp2pTransport, loadOrCreatePeerId } from '@highwater/transport-libp2p';
 *
 * // Each device learns its peer id once and shares it with the other members.
 * const myId = await loadOrCreatePeerId('./data/node.key');
 *
 * const transport = await createLibp2pTransport({
 *   keyPath: './data/node.key',
 *   members: ['12D3KooW…laptop', '12D3KooW…desktop'],
 *   listen: ['/ip4/0.0.0.0/tcp/4001'],
 *   bootstrap: ['/ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…desktop'],
 * });
 * const node = await SyncNode.create({ ..., transport }); // SyncNode.start() starts the transport
 * ```
 *
 * @packageDocumentation
 */
// Must stay first: libp2p needs Promise.withResolvers, which Node 20 lacks.
import './polyfill.js';
import { resolveInit, type Libp2pTransportInit } from './init.js';
import { Libp2pTransport } from './libp2p-transport.js';
import { loadOrCreatePrivateKey } from './peer-key.js';

/**
 * Loads (or creates) the node key and returns a transport that is not started yet: call
 * `start()` — `SyncNode.start()` does — after subscribing to `peers$`.
 *
 * @throws Libp2pTransportConfigError when an option is invalid (for instance no `members` and
 *   no `allowAnyPeer: true`) or the key file cannot be read or created.
 */
export async function createLibp2pTransport(init: Libp2pTransportInit): Promise<Libp2pTransport> {
  const config = resolveInit(init);
  const privateKey = await loadOrCreatePrivateKey(config.keyPath);
  return new Libp2pTransport(config, privateKey);
}

export { Libp2pTransport } from './libp2p-transport.js';
export type { Libp2pTransportInit, MembersOption } from './init.js';
export { loadOrCreatePeerId, loadOrCreatePrivateKey } from './peer-key.js';
export { Libp2pTransportConfigError, type Libp2pTransportConfigErrorCode } from './errors.js';
export {
  SYNC_PROTOCOL,
  FrameKind,
  ResponseStatus,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_LISTEN,
} from './constants.js';
