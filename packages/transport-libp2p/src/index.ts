/**
 * @highwater/transport-libp2p — Highwater's peer transport on libp2p 3: TCP, Noise-encrypted,
 * Yamux-multiplexed, members only. One long-lived session stream per peer carries every request
 * and one-way message, as length-prefixed frames with ids on protocol `/highwater/sync/2.0.0`.
 *
 * ```ts
 * import { DeviceKey } from '@highwater/core';
 * import { createLibp2pTransport, libp2pPeerIdOf } from '@highwater/transport-libp2p';
 *
 * // The device's one key (the HTTP transport can use the same file); its peer id derives from it.
 * const deviceKey = DeviceKey.loadOrCreate('./data/device.key');
 * const myId = libp2pPeerIdOf(deviceKey.publicKey); // share it, or the public key, with the other members
 *
 * const transport = await createLibp2pTransport({
 *   deviceKey, // or keyPath: './data/device.key'
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
import { loadOrCreateDeviceKey } from './peer-key.js';

/**
 * Takes the device key (or loads or creates it at `keyPath`) and returns a transport that is
 * not started yet: call `start()` — `SyncNode.start()` does — after subscribing to `peers$`.
 *
 * @throws Libp2pTransportConfigError when an option is invalid (for instance no `members` and
 *   no `allowAnyPeer: true`, or both or neither of `keyPath` and `deviceKey`) or the key file
 *   cannot be read or created.
 */
export async function createLibp2pTransport(init: Libp2pTransportInit): Promise<Libp2pTransport> {
  const config = resolveInit(init);
  const deviceKey = config.deviceKey ?? (await loadOrCreateDeviceKey(config.keyPath!));
  return new Libp2pTransport(config, deviceKey);
}

export { Libp2pTransport } from './libp2p-transport.js';
export type { Libp2pTransportInit, MembersOption } from './init.js';
export { libp2pPeerIdOf, loadOrCreateDeviceKey, loadOrCreatePeerId, loadOrCreatePrivateKey } from './peer-key.js';
export { Libp2pTransportConfigError, type Libp2pTransportConfigErrorCode } from './errors.js';
export {
  SYNC_PROTOCOL,
  PAIR_PROTOCOL,
  FrameKind,
  ResponseStatus,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_LISTEN,
} from './constants.js';
