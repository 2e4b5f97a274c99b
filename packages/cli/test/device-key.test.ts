import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { DeviceKey, type Transport } from '@highwater/core';
import { createHttpTransport, httpPeerIdOf, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, libp2pPeerIdOf, type Libp2pTransport } from '@highwater/transport-libp2p';
import { ConfigError, loadDeviceConfig } from '../src/config.js';
import { openDevice, type DeviceIdentity, type RunningDevice } from '../src/device.js';
import { openPeerTransport } from '../src/peer-transports.js';
import { freePort, until } from '../src/wait.js';

// The built command, as an integrator runs it (npm test builds first).
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

function highwater(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function idOf(configPath: string): Promise<DeviceIdentity> {
  const run = await highwater('id', configPath, '--json');
  if (run.code !== 0) throw new Error(`highwater id exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as DeviceIdentity;
}

/** The libp2p protobuf key file earlier versions wrote: PrivateKey { Type: Ed25519, Data: seed || public key }. */
function legacyLibp2pKeyFile(key: DeviceKey): Buffer {
  return Buffer.concat([Buffer.from([0x08, 0x01, 0x12, 0x40]), key.seed(), Buffer.from(key.publicKey, 'base64url')]);
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Answers every request with the id the transport saw it come from. */
function answerWithSender(transport: Transport): void {
  transport.handle(async (message) => (message.expectsResponse ? bytes(`from ${message.from}`) : undefined));
}

describe('one device key for both transports', () => {
  const root = mkdtempSync(join(tmpdir(), 'hw-device-key-'));
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  async function started<T extends Transport>(transport: T): Promise<T> {
    stops.push(() => transport.stop());
    await transport.start();
    return transport;
  }

  /**
   * `device` talks to a fresh peer over libp2p and over HTTP (real connections on 127.0.0.1);
   * each peer answers with the id it authenticated the call as.
   */
  async function talkOverBoth(device: { libp2p: Libp2pTransport; members: Set<string>; http: HttpTransport }, publicKey: string): Promise<void> {
    const libp2pPeer = await started(await createLibp2pTransport({ deviceKey: DeviceKey.generate(), members: [libp2pPeerIdOf(publicKey)] }));
    device.members.add(libp2pPeer.localPeerId);
    answerWithSender(libp2pPeer);
    await device.libp2p.dial(libp2pPeer.addresses()[0]!);
    expect(text(await device.libp2p.request(libp2pPeer.localPeerId, bytes('hi')))).toBe(`from ${libp2pPeer.peerIdOf(publicKey)}`);

    const httpPeer = await started(createHttpTransport({ deviceKey: DeviceKey.generate(), heartbeatMs: 200 }));
    answerWithSender(httpPeer);
    httpPeer.addPeer({ publicKey, url: device.http.url });
    device.http.addPeer({ publicKey: httpPeer.publicKey, url: httpPeer.url });
    await until('the HTTP peers to see each other', async () =>
      device.http.connectedPeers().includes(httpPeer.localPeerId) && httpPeer.connectedPeers().includes(device.http.localPeerId) ? true : undefined,
    );
    expect(text(await device.http.request(httpPeer.localPeerId, bytes('hi')))).toBe(`from ${httpPeer.peerIdOf(publicKey)}`);
  }

  it('one DeviceKey: the libp2p and HTTP peer ids both derive from its public key, and both transports authenticate with it', async () => {
    const key = DeviceKey.generate();
    const members = new Set<string>();
    const libp2p = await started(await createLibp2pTransport({ deviceKey: key, members: () => members }));
    const http = await started(createHttpTransport({ deviceKey: key, heartbeatMs: 200 }));
    expect(libp2p.localPeerId).toBe(libp2p.peerIdOf(key.publicKey));
    expect(libp2p.localPeerId).toBe(libp2pPeerIdOf(key.publicKey));
    expect(http.publicKey).toBe(key.publicKey);
    expect(libp2p.publicKey).toBe(key.publicKey);
    expect(http.localPeerId).toBe(httpPeerIdOf(key.publicKey));
    expect(http.localPeerId).toBe(http.peerIdOf(key.publicKey));
    // Each transport knows the other's id for the same key.
    expect(http.peerIdOf(libp2p.publicKey)).toBe(http.localPeerId);
    expect(libp2p.peerIdOf(http.publicKey)).toBe(libp2p.localPeerId);
    await talkOverBoth({ libp2p, members, http }, key.publicKey);
  });

  it('one key file: a libp2p node and an HTTP node started from it are the same device', async () => {
    const keyPath = join(root, 'shared', 'device.key');
    const members = new Set<string>();
    const libp2p = await started(await createLibp2pTransport({ keyPath, members: () => members }));
    const http = await started(createHttpTransport({ keyPath, heartbeatMs: 200 }));
    const publicKey = DeviceKey.loadOrCreate(keyPath).publicKey;
    expect(libp2p.publicKey).toBe(publicKey);
    expect(http.publicKey).toBe(publicKey);
    expect(libp2p.localPeerId).toBe(libp2pPeerIdOf(publicKey));
    expect(http.localPeerId).toBe(httpPeerIdOf(publicKey));
    await talkOverBoth({ libp2p, members, http }, publicKey);
  });

  it('openPeerTransport runs either transport on one key file, also a legacy libp2p one', async () => {
    const key = DeviceKey.generate();
    const keyPath = join(root, 'peer-legacy', 'libp2p.key');
    mkdirSync(join(root, 'peer-legacy'));
    writeFileSync(keyPath, legacyLibp2pKeyFile(key), { mode: 0o600 });
    const libp2p = await openPeerTransport('libp2p', { keyPath, host: '127.0.0.1', port: 0 });
    const http = await openPeerTransport('http', { keyPath, host: '127.0.0.1', port: 0 });
    stops.push(() => libp2p.transport.stop(), () => http.transport.stop());
    await Promise.all([libp2p.transport.start(), http.transport.start()]);
    expect(await libp2p.identity()).toMatchObject({ peerId: libp2pPeerIdOf(key.publicKey), publicKey: key.publicKey });
    expect(await http.identity()).toMatchObject({ peerId: httpPeerIdOf(key.publicKey), publicKey: key.publicKey });
    expect(readFileSync(keyPath)).toEqual(legacyLibp2pKeyFile(key));
    await expect(openPeerTransport('http', { host: '127.0.0.1', port: 0 })).rejects.toThrow(/keyPath or deviceKey/);
  });

  describe('in a device folder', () => {
    function config(name: string, fields: Record<string, unknown>): string {
      const path = join(root, `${name}.json`);
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(path, JSON.stringify({ library: 'key-test', device: name, dir: `./${name}`, models: 'demo', storage: { kind: 'sqlite' }, ...fields }, null, 2));
      return path;
    }

    it('highwater id creates <dir>/device.key and prints the public key and both peer ids; the transport kind only picks peerId', async () => {
      const path = config('fresh', { transport: { kind: 'libp2p' } });
      const id = await idOf(path);
      expect(existsSync(join(root, 'fresh', 'device.key'))).toBe(true);
      expect(existsSync(join(root, 'fresh', 'libp2p.key'))).toBe(false);
      const publicKey = DeviceKey.loadOrCreate(join(root, 'fresh', 'device.key')).publicKey;
      expect(id).toEqual({
        deviceId: 'fresh',
        publicKey,
        peerId: libp2pPeerIdOf(publicKey),
        libp2pPeerId: libp2pPeerIdOf(publicKey),
        httpPeerId: httpPeerIdOf(publicKey),
      });
      const textOut = await highwater('id', path);
      expect(textOut.stdout).toContain(`publicKey: ${publicKey}\n`);
      expect(textOut.stdout).toContain(`libp2pPeerId: ${id.libp2pPeerId}\n`);
      expect(textOut.stdout).toContain(`httpPeerId: ${id.httpPeerId}`);

      config('fresh', { transport: { kind: 'http', port: 7777 } });
      expect(await idOf(path)).toEqual({ ...id, peerId: id.httpPeerId, url: 'http://127.0.0.1:7777' });
    });

    it('keeps the per-transport key file a folder already holds, so the device keeps its peer id', async () => {
      const key = DeviceKey.generate();
      const libp2pPath = config('old-libp2p', { transport: { kind: 'libp2p' } });
      writeFileSync(join(root, 'old-libp2p', 'libp2p.key'), legacyLibp2pKeyFile(key), { mode: 0o600 });
      expect(await idOf(libp2pPath)).toMatchObject({ publicKey: key.publicKey, peerId: libp2pPeerIdOf(key.publicKey) });
      // The same key if the device moves to HTTP; no second key appears.
      config('old-libp2p', { transport: { kind: 'http' } });
      expect(await idOf(libp2pPath)).toMatchObject({ publicKey: key.publicKey, peerId: httpPeerIdOf(key.publicKey) });
      expect(existsSync(join(root, 'old-libp2p', 'device.key'))).toBe(false);
      expect(readFileSync(join(root, 'old-libp2p', 'libp2p.key'))).toEqual(legacyLibp2pKeyFile(key));

      const httpKey = DeviceKey.generate();
      const httpPath = config('old-http', { transport: { kind: 'http' } });
      writeFileSync(join(root, 'old-http', 'http.key'), httpKey.toPem(), { mode: 0o600 });
      expect(await idOf(httpPath)).toMatchObject({ publicKey: httpKey.publicKey, peerId: httpPeerIdOf(httpKey.publicKey) });
      expect(existsSync(join(root, 'old-http', 'device.key'))).toBe(false);
    });

    it('connects two devices whose configs list each other by public key only (libp2p and HTTP)', async () => {
      for (const kind of ['libp2p', 'http'] as const) {
        const [portA, portB] = await Promise.all([freePort(), freePort()]);
        const a = `${kind}-a`;
        const b = `${kind}-b`;
        const base = (port: number) => ({ members: [a, b], transport: { kind, port } });
        const [idA, idB] = [await idOf(config(a, base(portA))), await idOf(config(b, base(portB)))];
        // No peerId: each side derives it from the public key. (A libp2p address without /p2p/ names no peer either.)
        const peer = (id: DeviceIdentity, port: number) =>
          kind === 'libp2p'
            ? { deviceId: id.deviceId, publicKey: id.publicKey, addresses: [`/ip4/127.0.0.1/tcp/${port}`] }
            : { deviceId: id.deviceId, publicKey: id.publicKey, url: id.url };
        const devices: RunningDevice[] = [];
        for (const [name, port, other, otherPort] of [[a, portA, idB, portB], [b, portB, idA, portA]] as const) {
          const transport = { kind, port, ...(kind === 'libp2p' ? { redialMs: 300 } : {}), peers: [peer(other, otherPort)] };
          const device = await openDevice(loadDeviceConfig(config(name, { ...base(port), transport })));
          stops.push(() => device.stop());
          devices.push(device);
        }
        const [deviceA, deviceB] = devices as [RunningDevice, RunningDevice];
        await Promise.all([deviceA.node.start(), deviceB.node.start()]);
        await until(`${kind} devices listed by public key to connect`, async () =>
          deviceA.transport.connectedPeers().includes(idB.peerId) && deviceB.transport.connectedPeers().includes(idA.peerId) ? true : undefined,
        );
        expect(deviceA.deviceOfPeer.get(idB.peerId)).toBe(b);
        expect(deviceA.identity()).toMatchObject({ publicKey: idA.publicKey, peerId: idA.peerId, libp2pPeerId: idA.libp2pPeerId, httpPeerId: idA.httpPeerId });
        for (const stop of stops.splice(0).reverse()) await stop();
      }
    });

    it('with `devices` listed, a device signs its writes with its device key and the other stores them signed; a list giving it another key is refused', async () => {
      const [portA, portB] = await Promise.all([freePort(), freePort()]);
      const [idA, idB] = [await idOf(config('signed-a', { transport: { kind: 'libp2p', port: portA } })), await idOf(config('signed-b', { transport: { kind: 'libp2p', port: portB } }))];
      const devices = [idA, idB].map((id) => ({ deviceId: id.deviceId, publicKey: id.publicKey }));
      const running: RunningDevice[] = [];
      for (const [name, port, other, otherPort] of [['signed-a', portA, idB, portB], ['signed-b', portB, idA, portA]] as const) {
        const transport = { kind: 'libp2p', port, redialMs: 300, peers: [{ deviceId: other.deviceId, publicKey: other.publicKey, addresses: [`/ip4/127.0.0.1/tcp/${otherPort}`] }] };
        const device = await openDevice(loadDeviceConfig(config(name, { transport, devices })));
        stops.push(() => device.stop());
        running.push(device);
      }
      const [a, b] = running as [RunningDevice, RunningDevice];
      await Promise.all([a.node.start(), b.node.start()]);
      const written = await a.node.write('location', [{ id: 'signed-1', data: { name: 'photos', path: '/photos' } }]);
      await until('B to hold the signed record', async () => ((await b.node.get('location', ['signed-1'])).length === 1 ? true : undefined));
      const [stored] = await b.storage.recordStore.getMany('location', ['signed-1']);
      expect(stored?.sig).toMatch(/^[A-Za-z0-9_-]{86}(\.\d+\.\d+(\.[A-Za-z0-9_-]{86})?)?$/);
      expect(stored?.hlc).toEqual(written[0]!.hlc);
      for (const stop of stops.splice(0).reverse()) await stop();

      const wrongKey = config('signed-wrong', { transport: { kind: 'libp2p' }, devices: [{ deviceId: 'signed-wrong', publicKey: DeviceKey.generate().publicKey }] });
      await expect(openDevice(loadDeviceConfig(wrongKey))).rejects.toThrow(/another public key than trust\.deviceKey/);
    });

    it('refuses a peer whose peerId is not its public key’s, or whose publicKey is not a key, as a config error', async () => {
      const other = DeviceKey.generate();
      const mismatch = config('mismatch', {
        transport: { kind: 'libp2p', peers: [{ peerId: libp2pPeerIdOf(DeviceKey.generate().publicKey), publicKey: other.publicKey, addresses: ['/ip4/127.0.0.1/tcp/1'] }] },
      });
      await expect(openDevice(loadDeviceConfig(mismatch))).rejects.toThrow(ConfigError);
      await expect(openDevice(loadDeviceConfig(mismatch))).rejects.toThrow(/transport\.peers\.0: peerId .* is not the libp2p peer id of its publicKey/);

      const badKey = config('bad-key', { transport: { kind: 'libp2p', peers: [{ publicKey: 'not a key', addresses: ['/ip4/127.0.0.1/tcp/1'] }] } });
      expect(() => loadDeviceConfig(badKey)).toThrow(/transport\.peers\.0\.publicKey: not an Ed25519 public key/);
      const neither = config('neither', { transport: { kind: 'libp2p', peers: [{ addresses: ['/ip4/127.0.0.1/tcp/1'] }] } });
      expect(() => loadDeviceConfig(neither)).toThrow(/a libp2p peer needs a peerId or a publicKey/);
      const run = await highwater('status', badKey);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('transport.peers.0.publicKey');
    });
  });
});
