import { createHash, type KeyObject } from 'node:crypto';
import { DeviceKey, DeviceKeyError, parsePublicKey as parseDevicePublicKey, rawPublicKey } from '@highwater/core';
import { PEER_ID_HASH_CHARS, PEER_ID_PREFIX } from './constants.js';
import { HttpTransportConfigError } from './errors.js';

/** What a device shares with the other members of a library so they can list it in `peers`. */
export interface HttpIdentity {
  /** Stable id derived from the public key: `hw1` + base64url(sha256(raw key)), 32 characters of it. */
  readonly peerId: string;
  /** The device key's raw 32-byte Ed25519 public key, base64url (43 characters). */
  readonly publicKey: string;
  /** The same key as SPKI PEM, for tools that prefer it; `peers[].publicKey` accepts either. */
  readonly publicKeyPem: string;
}

/** @internal The identity plus the private key, which never leaves this process. */
export interface LocalIdentity extends HttpIdentity {
  readonly privateKey: KeyObject;
  readonly publicKeyObject: KeyObject;
}

const PEER_ID_PATTERN = new RegExp(`^${PEER_ID_PREFIX}[A-Za-z0-9_-]{${PEER_ID_HASH_CHARS}}$`);

/** True when `value` has the shape of a peer id (says nothing about whether it is a member). */
export function isPeerIdShape(value: string): boolean {
  return PEER_ID_PATTERN.test(value);
}

/** Runs `fn`, turning core's key errors into this package's config error (what callers catch). */
function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof DeviceKeyError) throw new HttpTransportConfigError(error.message, { cause: error });
    throw error;
  }
}

/** The peer id of an Ed25519 public key. */
export function peerIdFromPublicKey(publicKey: KeyObject): string {
  const digest = createHash('sha256')
    .update(asConfigError(() => rawPublicKey(publicKey)))
    .digest('base64url');
  return PEER_ID_PREFIX + digest.slice(0, PEER_ID_HASH_CHARS);
}

/**
 * Parses a member's public key as shared: SPKI PEM, or the raw 32-byte key in base64 or
 * base64url. Anything that is not an Ed25519 public key is refused (HttpTransportConfigError).
 */
export function parsePublicKey(text: string): KeyObject {
  return asConfigError(() => parseDevicePublicKey(text));
}

/**
 * The HTTP peer id of the device whose Ed25519 public key is `publicKey` (raw base64url or
 * base64, or SPKI PEM): what `localPeerId` is on that device.
 *
 * @throws HttpTransportConfigError when `publicKey` is not an Ed25519 public key.
 */
export function httpPeerIdOf(publicKey: string): string {
  return peerIdFromPublicKey(parsePublicKey(publicKey));
}

/** @internal The identity of a device key. */
export function localIdentity(deviceKey: DeviceKey): LocalIdentity {
  const publicKeyObject = deviceKey.publicKeyObject;
  return {
    peerId: peerIdFromPublicKey(publicKeyObject),
    publicKey: deviceKey.publicKey,
    publicKeyPem: publicKeyObject.export({ format: 'pem', type: 'spki' }).toString(),
    privateKey: deviceKey.privateKeyObject,
    publicKeyObject,
  };
}

/** @internal Loads the device key file, creating it (mode 0600, parent folders 0700) when missing. */
export function loadOrCreateLocalIdentity(keyPath: string): LocalIdentity {
  return localIdentity(asConfigError(() => DeviceKey.loadOrCreate(keyPath)));
}

/**
 * Loads this device's identity from the device key file `keyPath` (a PKCS#8 PEM Ed25519
 * private key, as `DeviceKey.loadOrCreate` writes it), creating the file with mode 0600 if it
 * does not exist. Returns only what is safe to share: give `publicKey` (and `peerId`) to the
 * other members, who list them in their `peers`.
 */
export function loadOrCreateHttpIdentity(keyPath: string): HttpIdentity {
  const { peerId, publicKey, publicKeyPem } = loadOrCreateLocalIdentity(keyPath);
  return { peerId, publicKey, publicKeyPem };
}
