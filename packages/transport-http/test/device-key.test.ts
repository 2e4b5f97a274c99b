import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceKey } from '@highwater/core';
import { HttpTransportConfigError, createHttpTransport, httpPeerIdOf, loadOrCreateHttpIdentity, type HttpTransport } from '../src/index.js';
import { TestNodes, bytes, text, waitFor } from './helpers.js';

/** Answers every request with `got <payload> from <sender>`. */
function answerWithSender(transport: HttpTransport): void {
  transport.handle(async (message) => (message.expectsResponse ? bytes(`got ${text(message.payload)} from ${message.from}`) : undefined));
}

describe('HTTP transport on the device key', () => {
  let nodes: TestNodes;
  beforeEach(() => {
    nodes = new TestNodes();
  });
  afterEach(async () => nodes.cleanup());

  it('takes its public key and peer id from the device key: localPeerId = peerIdOf(publicKey) = httpPeerIdOf(publicKey)', () => {
    const key = DeviceKey.generate();
    const transport = createHttpTransport({ deviceKey: key });
    expect(transport.publicKey).toBe(key.publicKey);
    expect(transport.publicIdentity.publicKey).toBe(key.publicKey);
    expect(transport.localPeerId).toMatch(/^hw1[A-Za-z0-9_-]{32}$/);
    expect(transport.localPeerId).toBe(httpPeerIdOf(key.publicKey));
    expect(transport.localPeerId).toBe(transport.peerIdOf(key.publicKey));
    // Every spelling of the key gives the same id; anything else is refused with the config error.
    expect(httpPeerIdOf(transport.publicIdentity.publicKeyPem)).toBe(transport.localPeerId);
    expect(httpPeerIdOf(Buffer.from(key.publicKey, 'base64url').toString('base64'))).toBe(transport.localPeerId);
    for (const bad of ['', 'not a key', Buffer.alloc(31).toString('base64url'), transport.localPeerId]) {
      expect(() => httpPeerIdOf(bad)).toThrow(HttpTransportConfigError);
      expect(() => transport.peerIdOf(bad)).toThrow(HttpTransportConfigError);
    }
  });

  it('keyPath names a device key file: the file DeviceKey.loadOrCreate writes and reads', () => {
    const written = nodes.keyPath();
    const transport = createHttpTransport({ keyPath: written });
    expect(readFileSync(written, 'utf8').startsWith('-----BEGIN PRIVATE KEY-----')).toBe(true);
    expect(statSync(written).mode & 0o777).toBe(0o600);
    expect(DeviceKey.loadOrCreate(written).publicKey).toBe(transport.publicKey);

    const made = nodes.keyPath();
    const key = DeviceKey.loadOrCreate(made);
    expect(createHttpTransport({ keyPath: made }).localPeerId).toBe(httpPeerIdOf(key.publicKey));
    expect(loadOrCreateHttpIdentity(made)).toMatchObject({ publicKey: key.publicKey, peerId: httpPeerIdOf(key.publicKey) });
  });

  it('needs exactly one of keyPath and deviceKey, and refuses a file that is not a device key (HttpTransportConfigError)', () => {
    const keyPath = nodes.keyPath();
    const deviceKey = DeviceKey.generate();
    expect(() => createHttpTransport({ keyPath, deviceKey })).toThrow(HttpTransportConfigError);
    expect(() => createHttpTransport({ keyPath, deviceKey })).toThrow(/only one/);
    expect(() => createHttpTransport({})).toThrow(HttpTransportConfigError);
    expect(() => createHttpTransport({})).toThrow(/missing/);
    expect(() => createHttpTransport({ keyPath: '' })).toThrow(HttpTransportConfigError);
    expect(() => createHttpTransport({ deviceKey: { publicKey: deviceKey.publicKey } as unknown as DeviceKey })).toThrow(HttpTransportConfigError);
    expect(() => statSync(keyPath)).toThrow(expect.objectContaining({ code: 'ENOENT' }));

    const corrupt = nodes.keyPath();
    writeFileSync(corrupt, 'not a key');
    expect(() => createHttpTransport({ keyPath: corrupt })).toThrow(HttpTransportConfigError);
    expect(readFileSync(corrupt, 'utf8')).toBe('not a key');
  });

  it('connects to peers given only by their public key, and checks a peerId given with one', async () => {
    const keyA = DeviceKey.generate();
    const keyB = DeviceKey.generate();
    const a = await nodes.create({ deviceKey: keyA });
    const b = await nodes.create({ deviceKey: keyB });
    answerWithSender(a);
    answerWithSender(b);
    a.addPeer({ publicKey: keyB.publicKey, url: b.url });
    b.addPeer({ publicKey: keyA.publicKey, url: a.url });
    expect(a.peers()).toEqual([{ peerId: httpPeerIdOf(keyB.publicKey), publicKey: keyB.publicKey, url: b.url }]);
    await waitFor(() => a.connectedPeers().includes(b.localPeerId) && b.connectedPeers().includes(a.localPeerId), 'a and b to see each other');

    // The signature proved keyA: b sees the call come from the id keyA's public key gives.
    expect(text(await a.request(b.localPeerId, bytes('hi')))).toBe(`got hi from ${b.peerIdOf(keyA.publicKey)}`);
    expect(text(await b.request(a.localPeerId, bytes('hello')))).toBe(`got hello from ${a.peerIdOf(keyB.publicKey)}`);

    // A peerId given alongside must be the one the key gives.
    const keyC = DeviceKey.generate();
    expect(() => a.addPeer({ peerId: b.localPeerId, publicKey: keyC.publicKey, url: b.url })).toThrow(HttpTransportConfigError);
    expect(() => a.addPeer({ publicKey: 'not a key', url: b.url })).toThrow(HttpTransportConfigError);
    expect(() => a.addPeer({ publicKey: keyA.publicKey, url: b.url })).toThrow(/this node itself/);
    a.addPeer({ peerId: httpPeerIdOf(keyC.publicKey), publicKey: keyC.publicKey, url: 'http://127.0.0.1:1' });
    expect(a.peers().map((p) => p.peerId).sort()).toEqual([b.localPeerId, httpPeerIdOf(keyC.publicKey)].sort());

    // In the init too.
    const c = createHttpTransport({ deviceKey: keyC, peers: [{ publicKey: keyA.publicKey, url: a.url }] });
    expect(c.peers().map((p) => p.peerId)).toEqual([a.localPeerId]);
  });
});
