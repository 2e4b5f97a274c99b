import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PEER_ID_HASH_CHARS, PEER_ID_PREFIX } from './constants.js';
import { HttpTransportConfigError } from './errors.js';

/** What a device shares with the other members of a library so they can list it in `peers`. */
export interface HttpIdentity {
  /** Stable id derived from the public key: `hw1` + base64url(sha256(raw key)), 32 characters of it. */
  readonly peerId: string;
  /** The raw 32-byte Ed25519 public key, base64url (43 characters). */
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

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new HttpTransportConfigError('Expected an Ed25519 key');
  }
  return Buffer.from(jwk.x, 'base64url');
}

/** The peer id of an Ed25519 public key. */
export function peerIdFromPublicKey(publicKey: KeyObject): string {
  const digest = createHash('sha256').update(rawPublicKey(publicKey)).digest('base64url');
  return PEER_ID_PREFIX + digest.slice(0, PEER_ID_HASH_CHARS);
}

/**
 * Parses a member's public key as shared: SPKI PEM, or the raw 32-byte key in base64 or
 * base64url. Anything that is not an Ed25519 public key is refused.
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } else {
      const raw = Buffer.from(trimmed, trimmed.includes('+') || trimmed.includes('/') || trimmed.endsWith('=') ? 'base64' : 'base64url');
      if (raw.length !== 32) throw new Error(`a raw Ed25519 key has 32 bytes, got ${raw.length}`);
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (cause) {
    throw new HttpTransportConfigError(`Cannot read public key: ${(cause as Error).message}`, { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new HttpTransportConfigError(`Expected an Ed25519 public key, got ${String(key.asymmetricKeyType)}`);
  }
  return key;
}

function identityOf(privateKey: KeyObject): LocalIdentity {
  const publicKeyObject = createPublicKey(privateKey);
  return {
    peerId: peerIdFromPublicKey(publicKeyObject),
    publicKey: rawPublicKey(publicKeyObject).toString('base64url'),
    publicKeyPem: publicKeyObject.export({ format: 'pem', type: 'spki' }).toString(),
    privateKey,
    publicKeyObject,
  };
}

/** @internal Loads the key file, creating it (mode 0600, parent folders 0700) when missing. */
export function loadOrCreateLocalIdentity(keyPath: string): LocalIdentity {
  let pem: string;
  try {
    pem = readFileSync(keyPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new HttpTransportConfigError(`Cannot read key file ${keyPath}: ${(error as Error).message}`, { cause: error });
    }
    const { privateKey } = generateKeyPairSync('ed25519');
    const fresh = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    try {
      mkdirSync(dirname(keyPath), { recursive: true, mode: 0o700 });
      // 'wx' fails if another process created the file meanwhile; then its key wins, so both agree.
      writeFileSync(keyPath, fresh, { mode: 0o600, flag: 'wx' });
      pem = fresh;
    } catch (writeError) {
      if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new HttpTransportConfigError(`Cannot create key file ${keyPath}: ${(writeError as Error).message}`, { cause: writeError });
      }
      pem = readFileSync(keyPath, 'utf8');
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new HttpTransportConfigError(`Key file ${keyPath} does not hold a PEM private key`, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new HttpTransportConfigError(`Key file ${keyPath} holds a ${String(privateKey.asymmetricKeyType)} key; expected Ed25519`);
  }
  return identityOf(privateKey);
}

/**
 * Loads this device's identity from `keyPath` (a PEM Ed25519 private key), creating the file
 * with mode 0600 if it does not exist. Returns only what is safe to share: give `peerId` and
 * `publicKey` to the other members, who list them in their `peers`.
 */
export function loadOrCreateHttpIdentity(keyPath: string): HttpIdentity {
  const { peerId, publicKey, publicKeyPem } = loadOrCreateLocalIdentity(keyPath);
  return { peerId, publicKey, publicKeyPem };
}
