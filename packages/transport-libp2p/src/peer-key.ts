import { readFile } from 'node:fs/promises';
import { DeviceKey, DeviceKeyError, parsePublicKey, rawPublicKey } from '@highwater/core';
import { privateKeyFromProtobuf, privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import { Libp2pTransportConfigError } from './errors.js';

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

/**
 * A key file this package wrote before device keys (libp2p protobuf). Only Ed25519 keys can
 * become a device key; their raw bytes are seed || public key, so the peer id stays the same.
 */
function deviceKeyFromProtobuf(bytes: Uint8Array, keyPath: string): DeviceKey {
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (cause) {
    throw new Libp2pTransportConfigError(
      'HW_KEY_FILE',
      `Key file ${keyPath} holds neither a device key (PKCS#8 PEM) nor a libp2p private key (protobuf): restore it from a ` +
        'backup, or delete it to generate a new identity (the other members must then be given the new peer id)',
      { cause },
    );
  }
  if (key.type !== 'Ed25519') {
    throw new Libp2pTransportConfigError('HW_KEY_FILE', `Key file ${keyPath} holds a ${key.type} libp2p key; a device key is Ed25519`);
  }
  return DeviceKey.fromSeed(key.raw.subarray(0, 32));
}

/**
 * Reads the device key file at `keyPath`, creating it (PKCS#8 PEM, mode 0600, parent folders
 * 0700) if missing: the same file `DeviceKey.loadOrCreate` and the HTTP transport read. A
 * libp2p protobuf key file written by earlier versions is read as is (never rewritten) and
 * keeps its peer id. The key is the device's identity: keep the file across restarts and out
 * of backups you share.
 */
export async function loadOrCreateDeviceKey(keyPath: string): Promise<DeviceKey> {
  if (typeof keyPath !== 'string' || keyPath.length === 0) {
    throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', 'keyPath must name the file that holds (or will hold) the device key');
  }
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(keyPath);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') {
      throw new Libp2pTransportConfigError('HW_KEY_FILE', `Cannot read key file ${keyPath}: ${(error as Error).message}`, { cause: error });
    }
  }
  try {
    if (bytes === undefined) return DeviceKey.loadOrCreate(keyPath);
    const text = bytes.toString('utf8').trimStart();
    return text.startsWith('-----BEGIN') ? DeviceKey.fromPem(text, `Key file ${keyPath}`) : deviceKeyFromProtobuf(bytes, keyPath);
  } catch (error) {
    if (error instanceof DeviceKeyError) throw new Libp2pTransportConfigError('HW_KEY_FILE', error.message, { cause: error });
    throw error;
  }
}

/** The libp2p form of a device key (libp2p's Ed25519 raw private key is seed || public key). */
export function libp2pPrivateKey(deviceKey: DeviceKey): PrivateKey {
  return privateKeyFromRaw(Buffer.concat([deviceKey.seed(), Buffer.from(deviceKey.publicKey, 'base64url')]));
}

/**
 * The libp2p peer id of the device whose Ed25519 public key is `publicKey` (raw 32 bytes in
 * base64url or base64, or SPKI PEM): what `localPeerId` is on that device. Lets a member be
 * listed by its device public key.
 *
 * @throws Libp2pTransportConfigError (HW_TRANSPORT_CONFIG) when `publicKey` is not an Ed25519 public key.
 */
export function libp2pPeerIdOf(publicKey: string): string {
  let raw: Buffer;
  try {
    raw = rawPublicKey(parsePublicKey(publicKey));
  } catch (cause) {
    throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', `Not a device public key: ${(cause as Error).message}`, { cause });
  }
  return peerIdFromPublicKey(publicKeyFromRaw(raw)).toString();
}

/** The libp2p private key of the device key file at `keyPath` (see {@link loadOrCreateDeviceKey}). */
export async function loadOrCreatePrivateKey(keyPath: string): Promise<PrivateKey> {
  return libp2pPrivateKey(await loadOrCreateDeviceKey(keyPath));
}

/**
 * The libp2p peer id of the device key file at `keyPath`, creating the key if needed. Give it
 * (or the device's public key) to the other members of the library before this node starts.
 */
export async function loadOrCreatePeerId(keyPath: string): Promise<string> {
  return libp2pPeerIdOf((await loadOrCreateDeviceKey(keyPath)).publicKey);
}
