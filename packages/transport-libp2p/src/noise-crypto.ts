import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { ICryptoInterface } from '@chainsafe/libp2p-noise';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';

/** The KeyObject of each X25519 private key this module made, by the bytes handed to Noise. */
const privateKeyObjects = new WeakMap<Uint8Array, KeyObject>();

type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[1];

function bytes(value: KeyBytes): Uint8Array {
  return value instanceof Uint8Array ? value : value.subarray();
}

/**
 * Noise's default Node crypto, with X25519 done on KeyObjects it keeps instead of importing
 * both keys from DER for every Diffie-Hellman (OpenSSL 3 decodes a PKCS#8 private key slowly,
 * and a handshake does three DHs on each side). Key pairs made here keep their private
 * KeyObject (the static key and every ephemeral key); peers' public keys are imported as JWK.
 * Anything else — and a private key this module did not make — goes to the default
 * implementation unchanged.
 * Guarded by test/noise-crypto.test.ts (same results as the default) and the bench's libp2p catch-up rows.
 */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair() {
    const { privateKey } = generateKeyPairSync('x25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const secret = Buffer.from(jwk.d!, 'base64url');
    privateKeyObjects.set(secret, privateKey);
    return { publicKey: Buffer.from(jwk.x!, 'base64url'), privateKey: secret };
  },
  generateX25519SharedKey(privateKey, publicKey) {
    const own = privateKey instanceof Uint8Array ? privateKeyObjects.get(privateKey) : undefined;
    if (own === undefined) return defaultCrypto.generateX25519SharedKey(privateKey, publicKey);
    const theirs = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(bytes(publicKey)).toString('base64url') }, format: 'jwk' });
    return diffieHellman({ privateKey: own, publicKey: theirs });
  },
};
