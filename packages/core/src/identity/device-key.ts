import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HighwaterError } from '../errors.js';

/** A device key file that cannot be read, created or understood, or a public key that is not Ed25519. */
export class DeviceKeyError extends HighwaterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HW_DEVICE_KEY', message, options);
  }
}

/**
 * A device's one Ed25519 key. It signs the device's changes, and both transports authenticate
 * the device with it (libp2p derives its peer id from it; HTTP signs its calls with it), so
 * the public key names the device everywhere. The private key never leaves the process.
 */
export class DeviceKey {
  /** The raw 32-byte public key, base64url (43 characters): what the other devices list. */
  readonly publicKey: string;
  readonly publicKeyObject: KeyObject;

  private constructor(readonly privateKeyObject: KeyObject) {
    this.publicKeyObject = createPublicKey(privateKeyObject);
    this.publicKey = rawPublicKey(this.publicKeyObject).toString('base64url');
  }

  static generate(): DeviceKey {
    return new DeviceKey(generateKeyPairSync('ed25519').privateKey);
  }

  /** From a PKCS#8 PEM Ed25519 private key (what `loadOrCreate` writes). */
  static fromPem(pem: string, source = 'the key'): DeviceKey {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch (cause) {
      throw new DeviceKeyError(`${source} does not hold a PEM private key`, { cause });
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new DeviceKeyError(`${source} holds a ${String(key.asymmetricKeyType)} key; a device key is Ed25519`);
    }
    return new DeviceKey(key);
  }

  /** From the 32-byte Ed25519 seed (the private scalar's source). */
  static fromSeed(seed: Uint8Array): DeviceKey {
    if (seed.length !== 32) throw new DeviceKeyError(`an Ed25519 seed has 32 bytes, got ${seed.length}`);
    // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): a fixed 16-byte prefix, then the seed.
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    return new DeviceKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  }

  /**
   * Reads the device key from `path` (PKCS#8 PEM), creating it (mode 0600, parent folders 0700)
   * when the file does not exist. Keep the file across restarts: it is the device's identity.
   */
  static loadOrCreate(path: string): DeviceKey {
    if (typeof path !== 'string' || path.length === 0) throw new DeviceKeyError('a device key path must name a file');
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new DeviceKeyError(`Cannot read device key file ${path}: ${(error as Error).message}`, { cause: error });
      }
      const fresh = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      // Written whole to a private temporary file, then hard-linked into place: no reader ever
      // sees a partial key, and `link` fails if another process created the file meanwhile —
      // then its key wins, so both agree on one identity.
      const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        writeFileSync(temporary, fresh, { mode: 0o600, flag: 'wx' });
        linkSync(temporary, path);
        pem = fresh;
      } catch (writeError) {
        if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new DeviceKeyError(`Cannot create device key file ${path}: ${(writeError as Error).message}`, { cause: writeError });
        }
        pem = readFileSync(path, 'utf8');
      } finally {
        rmSync(temporary, { force: true });
      }
    }
    return DeviceKey.fromPem(pem, `Device key file ${path}`);
  }

  /** The 32-byte seed, for adapters whose libraries take raw keys (libp2p). Keep it in process. */
  seed(): Buffer {
    const jwk = this.privateKeyObject.export({ format: 'jwk' });
    return Buffer.from(jwk.d as string, 'base64url');
  }

  /** The PKCS#8 PEM of the private key. */
  toPem(): string {
    return this.privateKeyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  sign(bytes: Uint8Array): Buffer {
    return sign(null, bytes, this.privateKeyObject);
  }
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new DeviceKeyError('expected an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/**
 * Parses a device's public key as shared: the raw 32 bytes in base64url or base64, or SPKI
 * PEM. Anything that is not an Ed25519 public key is refused (HW_DEVICE_KEY).
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } else {
      const raw = Buffer.from(trimmed, /[+/=]/.test(trimmed) ? 'base64' : 'base64url');
      if (raw.length !== 32) throw new Error(`a raw Ed25519 public key has 32 bytes, got ${raw.length}`);
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (cause) {
    throw new DeviceKeyError(`Cannot read public key ${JSON.stringify(trimmed.slice(0, 60))}: ${(cause as Error).message}`, { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new DeviceKeyError(`Expected an Ed25519 public key, got ${String(key.asymmetricKeyType)}`);
  return key;
}

/** The canonical text of a public key given in any form `parsePublicKey` reads: raw base64url. */
export function canonicalPublicKey(text: string): string {
  return rawPublicKey(parsePublicKey(text)).toString('base64url');
}

/** True if `signature` is `key`'s Ed25519 signature of `bytes`; false for any malformed input. */
export function verifySignature(key: KeyObject, bytes: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, bytes, key, signature);
  } catch {
    return false;
  }
}
