import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import type { IssuedInvite, PairedLibrary } from '@highwater/core';
import { locationRecords } from '../src/demo-library.js';
import { loadDeviceConfig } from '../src/config.js';
import { controlRequest, controlSocketPath } from '../src/control.js';
import { ServeProcess } from '../src/serve-process.js';
import type { DeviceStatus } from '../src/status.js';
import { freePort, until } from '../src/wait.js';
import { bin, highwater, json } from './run-command.js';

// Issue #19: pairing with the command. `highwater invite` asks a running device for a code;
// `highwater join` redeems it from a new device's config and writes the library's devices and
// the inviter into that config; `serve` then runs the new device signed and connected.


describe.each(['libp2p', 'http'] as const)('highwater invite / join over %s', (kind) => {
  const root = mkdtempSync(join(tmpdir(), `hw-cli-pair-${kind}-`));
  const serves: ServeProcess[] = [];
  afterEach(async () => {
    for (const s of serves.splice(0)) await s.stop();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function config(name: string, fields: Record<string, unknown>): string {
    const path = join(root, `${name}.json`);
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(path, JSON.stringify({ library: 'pair-test', device: name, dir: `./${name}`, models: 'demo', storage: { kind: 'sqlite' }, ...fields }, null, 2));
    return path;
  }

  it('id gives the announced address or public url (behind NAT or a proxy)', async () => {
    const transport = kind === 'libp2p' ? { kind, announce: ['/ip4/203.0.113.7/tcp/4001'] } : { kind, publicUrl: 'https://sync.example.org/hw' };
    const id = json<{ addresses?: string[]; url?: string; libp2pPeerId: string }>(await highwater('id', config('dev-public', { transport }), '--json'));
    if (kind === 'libp2p') expect(id.addresses).toEqual([`/ip4/203.0.113.7/tcp/4001/p2p/${id.libp2pPeerId}`]);
    else expect(id.url).toBe('https://sync.example.org/hw');
  });

  it('a new device joins with a code, then syncs signed; the code does not pair a second device', async () => {
    const [portA, portC] = await Promise.all([freePort(), freePort()]);
    const pathA = config('dev-a', { transport: { kind, port: portA } });
    const idA = json<{ publicKey: string }>(await highwater('id', pathA, '--json'));
    config('dev-a', { transport: { kind, port: portA }, devices: [{ deviceId: 'dev-a', publicKey: idA.publicKey }] });
    let a = new ServeProcess(loadDeviceConfig(pathA), bin);
    serves.push(a);
    await a.start();
    await controlRequest(controlSocketPath(join(root, 'dev-a')), 'write', { model: 'location', records: locationRecords(3) });

    const invite = json<IssuedInvite>(await highwater('invite', pathA, '--json', '--ttl', '5'));
    expect(invite.code).toMatch(/^HW1-/);
    expect(invite.expiresAt).toBeGreaterThan(Date.now() + 4 * 60_000);

    // The new device's config names the library and its transport, nothing of the others.
    const pathC = config('dev-c', { transport: { kind, port: portC } });
    const paired = json<PairedLibrary>(await highwater('join', pathC, invite.code, '--name', 'tablet', '--json'));
    expect(paired.libraryId).toBe('pair-test');
    expect(paired.devices.map((d) => d.deviceId).sort()).toEqual(['dev-a', 'dev-c']);
    const written = JSON.parse(readFileSync(pathC, 'utf8')) as { devices: { deviceId: string }[]; transport: { peers: Record<string, unknown>[] } };
    expect(written.devices.map((d) => d.deviceId).sort()).toEqual(['dev-a', 'dev-c']);
    expect(written.transport.peers).toEqual([
      kind === 'libp2p'
        ? { deviceId: 'dev-a', publicKey: idA.publicKey, addresses: [expect.stringContaining(`/tcp/${portA}/p2p/`)] }
        : { deviceId: 'dev-a', publicKey: idA.publicKey, url: `http://127.0.0.1:${portA}` },
    ]);

    // A has C in its roster (status lists the hw_device stream), and C, served, backfills A's records.
    const c = new ServeProcess(loadDeviceConfig(pathC), bin);
    serves.push(c);
    await c.start();
    const statusOf = (device: string): Promise<DeviceStatus> => controlRequest<DeviceStatus>(controlSocketPath(join(root, device)), 'status');
    const synced = await until('dev-c to hold A’s 3 locations', async () => {
      const s = await statusOf('dev-c');
      return s.streams.find((x) => x.owner === 'dev-a' && x.resource === 'location')?.records === 3 ? s : undefined;
    });
    expect(synced.streams.some((s) => s.resource === 'hw_device')).toBe(true);
    await controlRequest(controlSocketPath(join(root, 'dev-c')), 'write', { model: 'location', records: locationRecords(1).map((r) => ({ ...r, id: 'c-loc-1' })) });
    await until('dev-a to accept C’s signed location', async () => {
      const s = await statusOf('dev-a');
      return s.streams.find((x) => x.owner === 'dev-c' && x.resource === 'location')?.records === 1 ? true : undefined;
    });
    expect(a.events.filter((e) => e['event'] === 'error')).toEqual([]);
    expect(a.events.find((e) => e['event'] === 'paired')).toMatchObject({ deviceId: 'dev-c', name: 'tablet' });

    // A kept where C listens (paired-peers.json): restarted, A reaches C by itself.
    const kept = JSON.parse(readFileSync(join(root, 'dev-a', 'paired-peers.json'), 'utf8')) as { deviceId: string; addresses: string[] }[];
    expect(kept).toEqual([expect.objectContaining({ deviceId: 'dev-c', addresses: [expect.stringContaining(String(portC))] })]);
    await a.stop();
    a = new ServeProcess(loadDeviceConfig(pathA), bin);
    serves.push(a);
    await a.start();
    await until('restarted A to be connected to C', async () => ((await statusOf('dev-a')).peers.some((p) => p.deviceId === 'dev-c' && p.connected) ? true : undefined));

    // The code is spent: a third device cannot use it.
    const pathD = config('dev-d', { transport: { kind, port: 0 } });
    const again = await highwater('join', pathD, invite.code);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no open invite|not accepting pairings|accepting pairing requests/);
    expect(JSON.parse(readFileSync(pathD, 'utf8'))).not.toHaveProperty('devices');

    // A lists both devices; revoking C reaches C's own roster too, and A stops taking C's writes.
    const listed = await highwater('devices', pathA);
    expect(listed.stdout).toMatch(/^dev-c\s+tablet\s+member\s+dev-a\s+\S+$/m);
    const revoked = json<{ deviceId: string; revokedAt?: number }[]>(await highwater('revoke', pathA, 'dev-c', '--json'));
    expect(revoked.find((d) => d.deviceId === 'dev-c')?.revokedAt).toEqual(expect.any(Number));
    expect((await highwater('devices', pathA)).stdout).toMatch(/^dev-c\s+tablet\s+revoked \d{4}-/m);
    await new Promise((r) => setTimeout(r, 5));
    await controlRequest(controlSocketPath(join(root, 'dev-c')), 'write', { model: 'location', records: locationRecords(1).map((r) => ({ ...r, id: 'c-loc-2' })) });
    await new Promise((r) => setTimeout(r, 1000));
    const afterRevoke = await statusOf('dev-a');
    expect(afterRevoke.streams.find((x) => x.owner === 'dev-c' && x.resource === 'location')?.records).toBe(1);
    expect(afterRevoke.peers.filter((p) => p.connected)).toEqual([]);
    expect((await highwater('revoke', pathA, 'dev-nobody')).stderr).toContain('not a device of this library');

    // Without a running serve, invite says what to do.
    await a.stop();
    const stopped = await highwater('invite', pathA);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('highwater serve');
  });
});
