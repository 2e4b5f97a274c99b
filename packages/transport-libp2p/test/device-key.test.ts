import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { DeviceKey } from '@highwater/core';
import {
  createLibp2pTransport,
  libp2pPeerIdOf,
  Libp2pTransportConfigError,
  loadOrCreateDeviceKey,
  loadOrCreatePeerId,
  type Libp2pTransport,
} from '../src/index.js';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { bytes, TestNetwork, text } from './support.js';

/** Answers every request with `<its own peer id> got <payload> from <sender>`. */
function answerWithSender(transport: Libp2pTransport): void {
  transport.handle(async (message) => bytes(`${transport.localPeerId} got ${text(message.payload)} from ${message.from}`));
}

describe('the device key', () => {
  const network = new TestNetwork();
  afterEach(() => network.cleanup());

  it('gives the transport its peer id: localPeerId = peerIdOf(publicKey) = libp2pPeerIdOf(publicKey), and authenticates with it', async () => {
    const keyA = DeviceKey.generate();
    const keyB = DeviceKey.generate();
    const a = await network.create({ deviceKey: keyA });
    const b = await network.create({ deviceKey: keyB });
    expect(a.localPeerId).toMatch(/^12D3KooW/);
    expect(a.localPeerId).toBe(a.peerIdOf(keyA.publicKey));
    expect(a.localPeerId).toBe(libp2pPeerIdOf(keyA.publicKey));
    expect(a.publicKey).toBe(keyA.publicKey);
    // Any node derives a member's peer id from the member's public key alone.
    expect(a.peerIdOf(keyB.publicKey)).toBe(b.localPeerId);

    answerWithSender(b);
    await network.connect(a, b);
    // The Noise handshake proved keyA: b sees the request come from the id keyA's public key gives.
    expect(text(await a.request(b.localPeerId, bytes('hi')))).toBe(`${b.localPeerId} got hi from ${b.peerIdOf(keyA.publicKey)}`);
  });

  it('reads every form of a public key alike, and refuses anything else with HW_TRANSPORT_CONFIG', async () => {
    const key = DeviceKey.generate();
    const transport = await createLibp2pTransport({ deviceKey: key, allowAnyPeer: true });
    const pem = key.publicKeyObject.export({ format: 'pem', type: 'spki' }).toString();
    const base64 = Buffer.from(key.publicKey, 'base64url').toString('base64');
    expect(libp2pPeerIdOf(pem)).toBe(transport.localPeerId);
    expect(libp2pPeerIdOf(base64)).toBe(transport.localPeerId);
    for (const bad of ['', 'not a key', Buffer.alloc(31).toString('base64url'), transport.localPeerId]) {
      expect(() => libp2pPeerIdOf(bad)).toThrow(Libp2pTransportConfigError);
      expect(() => transport.peerIdOf(bad)).toThrow(expect.objectContaining({ code: 'HW_TRANSPORT_CONFIG' }));
    }
  });

  it('keyPath names a device key file: PKCS#8 PEM, mode 0600, the same key DeviceKey.loadOrCreate reads', async () => {
    const keyPath = join(await network.dir(), 'device.key');
    const transport = await createLibp2pTransport({ keyPath, allowAnyPeer: true });
    expect((await readFile(keyPath, 'utf8')).startsWith('-----BEGIN PRIVATE KEY-----')).toBe(true);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const deviceKey = DeviceKey.loadOrCreate(keyPath);
    expect(transport.publicKey).toBe(deviceKey.publicKey);
    expect(transport.localPeerId).toBe(libp2pPeerIdOf(deviceKey.publicKey));
    expect(await loadOrCreatePeerId(keyPath)).toBe(transport.localPeerId);
    expect((await loadOrCreateDeviceKey(keyPath)).publicKey).toBe(deviceKey.publicKey);

    // A file DeviceKey created (for another transport, say) is read the same way.
    const shared = join(await network.dir(), 'shared.key');
    const made = DeviceKey.loadOrCreate(shared);
    expect((await createLibp2pTransport({ keyPath: shared, allowAnyPeer: true })).localPeerId).toBe(libp2pPeerIdOf(made.publicKey));
  });

  it('still loads a libp2p protobuf key file of earlier versions with its old peer id, without rewriting it', async () => {
    const legacy = await generateKeyPair('Ed25519');
    const oldPeerId = peerIdFromPrivateKey(legacy).toString();
    const keyPath = join(await network.dir(), 'node.key');
    const fileBytes = privateKeyToProtobuf(legacy);
    await writeFile(keyPath, fileBytes, { mode: 0o600 });

    const transport = await network.create({ keyPath });
    expect(transport.localPeerId).toBe(oldPeerId);
    expect(await loadOrCreatePeerId(keyPath)).toBe(oldPeerId);
    const deviceKey = await loadOrCreateDeviceKey(keyPath);
    expect(libp2pPeerIdOf(deviceKey.publicKey)).toBe(oldPeerId);
    expect(Buffer.from(deviceKey.publicKey, 'base64url')).toEqual(Buffer.from(legacy.publicKey.raw));
    expect(new Uint8Array(await readFile(keyPath))).toEqual(fileBytes);

    // And it still authenticates as that id: a member that knew the old id talks to it.
    const other = await network.create();
    answerWithSender(other);
    await network.connect(transport, other);
    expect(text(await transport.request(other.localPeerId, bytes('still me')))).toBe(`${other.localPeerId} got still me from ${oldPeerId}`);
  });

  it('refuses a legacy key file that is not Ed25519 with HW_KEY_FILE (a device key is Ed25519)', async () => {
    const keyPath = join(await network.dir(), 'node.key');
    await writeFile(keyPath, privateKeyToProtobuf(await generateKeyPair('secp256k1')));
    await expect(createLibp2pTransport({ keyPath, allowAnyPeer: true })).rejects.toMatchObject({ code: 'HW_KEY_FILE' });
    await expect(loadOrCreateDeviceKey(keyPath)).rejects.toBeInstanceOf(Libp2pTransportConfigError);
  });

  it('needs exactly one of keyPath and deviceKey (HW_TRANSPORT_CONFIG)', async () => {
    const keyPath = join(await network.dir(), 'node.key');
    const deviceKey = DeviceKey.generate();
    const both = createLibp2pTransport({ keyPath, deviceKey, allowAnyPeer: true });
    await expect(both).rejects.toBeInstanceOf(Libp2pTransportConfigError);
    await expect(both).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG', message: expect.stringContaining('only one') });
    await expect(createLibp2pTransport({ allowAnyPeer: true })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG', message: expect.stringContaining('missing') });
    await expect(createLibp2pTransport({ keyPath: '', allowAnyPeer: true })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    const notAKey = { publicKey: deviceKey.publicKey } as unknown as DeviceKey;
    await expect(createLibp2pTransport({ deviceKey: notAKey, allowAnyPeer: true })).rejects.toMatchObject({ code: 'HW_TRANSPORT_CONFIG' });
    // Nothing was written for the refused keyPath.
    await expect(stat(keyPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
