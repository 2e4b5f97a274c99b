import { DeviceKey } from '@highwater/core';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import {
  DEFAULT_BOOTSTRAP_INTERVAL_MS,
  DEFAULT_LISTEN,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_MAX_MESSAGE_BYTES,
  MIN_MAX_MESSAGE_BYTES,
  MAX_TIMER_MS,
  SYNC_PROTOCOL,
} from './constants.js';
import { Libp2pTransportConfigError } from './errors.js';

/**
 * Who may exchange sync messages: a fixed list of peer ids, or a function returning the current
 * list (called on every connection, stream and event, so keep it cheap and synchronous).
 */
export type MembersOption = readonly string[] | (() => Iterable<string>);

/** Options of {@link createLibp2pTransport}. */
export interface Libp2pTransportInit {
  /**
   * The device key file (PKCS#8 PEM, as `DeviceKey.loadOrCreate` writes it; the HTTP transport
   * reads the same file). Created with a new Ed25519 key, mode 0600, if missing. A libp2p
   * protobuf key file of earlier versions is read as is and keeps its peer id. Give this or
   * `deviceKey`, not both.
   */
  readonly keyPath?: string;
  /**
   * The device's key, already loaded. The peer id derives from its public key
   * (`libp2pPeerIdOf(deviceKey.publicKey)`). Give this or `keyPath`, not both.
   */
  readonly deviceKey?: DeviceKey;
  /**
   * Peer ids of the library's members: only they can connect, open sync streams and appear
   * on `peers$`. Required unless `allowAnyPeer` is set.
   */
  readonly members?: MembersOption;
  /**
   * Accept every peer that completes the Noise handshake. Only for closed test networks: it
   * must be set explicitly, and not together with `members`.
   *
   * @default false
   */
  readonly allowAnyPeer?: boolean;
  /**
   * Multiaddrs to listen on.
   *
   * @default ['/ip4/127.0.0.1/tcp/0'] (loopback, a free port; use '/ip4/0.0.0.0/tcp/4001' to be reachable)
   */
  readonly listen?: readonly string[];
  /**
   * Multiaddrs other devices should dial instead of the listen addresses (a public address
   * behind NAT or a port forward): what `addresses()` and `listenAddresses()` give, and so what
   * an invite carries. Default: the listen addresses.
   */
  readonly announce?: readonly string[];
  /**
   * Multiaddrs (ideally with `/p2p/<peer id>`) dialed on start and redialed every
   * `bootstrapIntervalMs` while not connected.
   *
   * @default []
   */
  readonly bootstrap?: readonly string[];
  /**
   * How often unconnected bootstrap addresses are redialed.
   *
   * @default 10_000
   */
  readonly bootstrapIntervalMs?: number;
  /**
   * Discover peers on the local network with multicast DNS and dial the members among them.
   *
   * @default false
   */
  readonly mdns?: boolean;
  /**
   * Largest payload of one request, response or one-way message. Larger ones fail with
   * HW_FRAME_TOO_LARGE; a peer announcing a larger frame has its stream dropped before the
   * bytes are buffered. Both sides hold one frame in memory.
   *
   * @default 16 MiB
   */
  readonly maxMessageBytes?: number;
  /**
   * Timeout of `request()` and `send()` when the caller gives none; also how long an inbound
   * stream may take to deliver its frame.
   *
   * @default 30_000
   */
  readonly requestTimeoutMs?: number;
  /**
   * libp2p protocol id of sync streams. Nodes with different ids cannot talk.
   *
   * @default '/highwater/sync/1.0.0'
   */
  readonly protocol?: string;
  /**
   * How often each connected member is pinged to refresh `rttMs()` (it is also pinged once
   * shortly after connecting unless a request measured it first, and every request is
   * measured). 0 turns the periodic ping off.
   *
   * @default 10_000
   */
  readonly pingIntervalMs?: number;
  /**
   * Sync streams open at once per connection and direction; more are refused by libp2p.
   *
   * @default 256
   */
  readonly maxConcurrentStreams?: number;
}

/** {@link Libp2pTransportInit} with defaults applied and values checked. */
export interface Libp2pTransportConfig {
  /** Exactly one of `keyPath` and `deviceKey` is set. */
  readonly keyPath: string | undefined;
  readonly deviceKey: DeviceKey | undefined;
  /** `undefined` = any peer (allowAnyPeer). */
  readonly members: MembersOption | undefined;
  readonly listen: readonly string[];
  readonly announce: readonly string[];
  readonly bootstrap: readonly Multiaddr[];
  readonly bootstrapIntervalMs: number;
  readonly mdns: boolean;
  readonly maxMessageBytes: number;
  readonly requestTimeoutMs: number;
  readonly protocol: string;
  readonly pingIntervalMs: number;
  readonly maxConcurrentStreams: number;
}

function configError(message: string, cause?: unknown): Libp2pTransportConfigError {
  return new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', message, cause === undefined ? undefined : { cause });
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw configError(`${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return v;
}

function multiaddrs(name: string, values: readonly string[]): Multiaddr[] {
  if (!Array.isArray(values)) throw configError(`${name} must be an array of multiaddr strings`);
  return values.map((value) => {
    try {
      return multiaddr(value);
    } catch (cause) {
      throw configError(`${name} holds an invalid multiaddr ${JSON.stringify(value)}: ${(cause as Error).message}`, cause);
    }
  });
}

function checkMembers(members: MembersOption | undefined, allowAnyPeer: boolean | undefined): MembersOption | undefined {
  if (members === undefined) {
    if (allowAnyPeer === true) return undefined;
    throw configError(
      'members is required: list the peer ids of the library members (each gets its own with loadOrCreatePeerId), ' +
        'or set allowAnyPeer: true to accept any peer on a closed test network',
    );
  }
  if (allowAnyPeer === true) {
    throw configError('members and allowAnyPeer: true contradict each other; drop one of them');
  }
  if (typeof members === 'function') return members;
  if (!Array.isArray(members)) throw configError('members must be an array of peer ids or a function returning them');
  for (const member of members) {
    try {
      peerIdFromString(member);
    } catch (cause) {
      throw configError(`members holds an invalid peer id ${JSON.stringify(member)}`, cause);
    }
  }
  return [...members];
}

function checkKey(keyPath: string | undefined, deviceKey: DeviceKey | undefined): void {
  if (keyPath !== undefined && deviceKey !== undefined) {
    throw configError('keyPath and deviceKey both name the device key; give only one of them');
  }
  if (deviceKey !== undefined) {
    if (!(deviceKey instanceof DeviceKey)) throw configError('deviceKey must be a DeviceKey of @highwater/core (the copy this package uses)');
    return;
  }
  if (typeof keyPath !== 'string' || keyPath.length === 0) {
    throw configError('the device key is missing: give keyPath (the file that holds, or will hold, it) or deviceKey');
  }
}

/** Applies defaults and checks every option; throws {@link Libp2pTransportConfigError}. */
export function resolveInit(init: Libp2pTransportInit): Libp2pTransportConfig {
  if (typeof init !== 'object' || init === null) throw configError('createLibp2pTransport needs an options object');
  checkKey(init.keyPath, init.deviceKey);
  const protocol = init.protocol ?? SYNC_PROTOCOL;
  if (typeof protocol !== 'string' || !protocol.startsWith('/') || /\s/.test(protocol)) {
    throw configError(`protocol must look like '/name/version' without spaces, got ${JSON.stringify(protocol)}`);
  }
  const listen = [...(init.listen ?? DEFAULT_LISTEN)];
  multiaddrs('listen', listen);
  const announce = [...(init.announce ?? [])];
  multiaddrs('announce', announce);
  return {
    keyPath: init.keyPath,
    deviceKey: init.deviceKey,
    members: checkMembers(init.members, init.allowAnyPeer),
    listen,
    announce,
    bootstrap: multiaddrs('bootstrap', init.bootstrap ?? []),
    bootstrapIntervalMs: integer('bootstrapIntervalMs', init.bootstrapIntervalMs, DEFAULT_BOOTSTRAP_INTERVAL_MS, 100, MAX_TIMER_MS),
    mdns: init.mdns ?? false,
    maxMessageBytes: integer('maxMessageBytes', init.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES, MAX_MAX_MESSAGE_BYTES),
    requestTimeoutMs: integer('requestTimeoutMs', init.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 1, MAX_TIMER_MS),
    protocol,
    pingIntervalMs: integer('pingIntervalMs', init.pingIntervalMs, DEFAULT_PING_INTERVAL_MS, 0, MAX_TIMER_MS),
    maxConcurrentStreams: integer('maxConcurrentStreams', init.maxConcurrentStreams, DEFAULT_MAX_CONCURRENT_STREAMS, 1, 10_000),
  };
}
