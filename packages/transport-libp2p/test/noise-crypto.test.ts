import { describe, expect, it } from '@jest/globals';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import { noiseCrypto } from '../src/noise-crypto.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('Noise crypto with kept X25519 key objects', () => {
  it('makes key pairs whose public key is the one of their private key', () => {
    for (let i = 0; i < 20; i++) {
      const pair = noiseCrypto.generateX25519KeyPair();
      expect(pair.privateKey).toHaveLength(32);
      expect(hex(defaultCrypto.generateX25519KeyPairFromSeed(pair.privateKey).publicKey)).toBe(hex(pair.publicKey));
    }
  });

  it('derives the same shared secret as the default crypto, both ways and with keys it did not make', () => {
    for (let i = 0; i < 20; i++) {
      const ours = noiseCrypto.generateX25519KeyPair();
      const theirs = defaultCrypto.generateX25519KeyPair();
      const expected = hex(defaultCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey));
      // Kept key object on our side; the default's DER import on theirs (a key made elsewhere).
      expect(hex(noiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey))).toBe(expected);
      expect(hex(noiseCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey))).toBe(expected);
      // The same bytes in another array are not a key this module made: the default path, same result.
      expect(hex(noiseCrypto.generateX25519SharedKey(Uint8Array.from(ours.privateKey), theirs.publicKey))).toBe(expected);
    }
  });

  it('refuses a peer key that is not 32 bytes, or a low-order point, as the default does', () => {
    const ours = noiseCrypto.generateX25519KeyPair();
    for (const bad of [new Uint8Array(31), new Uint8Array(32)]) {
      expect(() => noiseCrypto.generateX25519SharedKey(ours.privateKey, bad)).toThrow();
      expect(() => defaultCrypto.generateX25519SharedKey(ours.privateKey, bad)).toThrow();
    }
  });

  it('leaves everything else to the default crypto', () => {
    expect(noiseCrypto.chaCha20Poly1305Encrypt).toBe(defaultCrypto.chaCha20Poly1305Encrypt);
    expect(noiseCrypto.hashSHA256).toBe(defaultCrypto.hashSHA256);
    expect(noiseCrypto.getHKDF).toBe(defaultCrypto.getHKDF);
  });
});
