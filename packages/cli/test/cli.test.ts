import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { entryRecords, locationRecords } from '../src/demo-library.js';
import { loadDeviceConfig } from '../src/config.js';
import { controlRequest, controlSocketPath } from '../src/control.js';
import { ServeProcess } from '../src/serve-process.js';
import type { DeviceStatus } from '../src/status.js';
import type { VerifyReport } from '../src/verify.js';
import { PG_URL, requirePostgres } from '../../storage-postgres/test/pg-test-helper.js';
import { freePort, until } from '../src/wait.js';
import { bin, highwater, json } from './run-command.js';


describe('highwater (the command)', () => {
  const root = mkdtempSync(join(tmpdir(), 'hw-cli-'));
  const serves: ServeProcess[] = [];
  afterEach(async () => {
    for (const s of serves.splice(0)) await s.stop();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** Writes a config; `peers` are filled in afterwards from `highwater id`. */
  function config(name: string, fields: Record<string, unknown>): string {
    const path = join(root, `${name}.json`);
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(path, JSON.stringify({ library: 'cli-test', device: name, dir: `./${name}`, models: 'demo', ...fields }, null, 2));
    return path;
  }

  it('teaches with --help: every command, the config shape and examples', async () => {
    const top = await highwater('--help');
    expect(top.code).toBe(0);
    for (const command of ['serve', 'status', 'verify', 'scrub', 'id', 'demo']) expect(top.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    expect(top.stdout).toContain('Examples:');
    expect(top.stdout).toContain('"transport": { "kind": "libp2p"');
    const verifyHelp = await highwater('verify', '--help');
    expect(verifyHelp.stdout).toContain('--by <what>');
    expect(verifyHelp.stdout).toContain('--json');
  });

  it('refuses a config that does not match, naming the field, with exit 2', async () => {
    const path = config('bad', { storage: { kind: 'sqlite' }, transport: { kind: 'carrier-pigeon' } });
    const run = await highwater('status', path);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not a valid Highwater device config');
    expect(run.stderr).toMatch(/transport\.kind/);
    const missing = await highwater('status', join(root, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('ENOENT');
    const unknown = await highwater('frobnicate');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it('loads models from a module next to the config, and says what a module must export', async () => {
    writeFileSync(
      join(root, 'models.mjs'),
      "export const models = [{ name: 'note', ownership: 'device', key: 'id', fields: { text: { type: 'text' } } }];\n",
    );
    const path = config('notes', { models: './models.mjs', storage: { kind: 'sqlite' }, transport: { kind: 'http' } });
    const status = json<DeviceStatus>(await highwater('status', path, '--json'));
    expect(status).toMatchObject({ device: 'notes', running: false, state: 'stopped', streams: [], backfillCompleted: false });
    expect(status.identity.publicKey).toEqual(expect.any(String));

    writeFileSync(join(root, 'empty.mjs'), 'export const something = 1;\n');
    const bad = config('empty', { models: './empty.mjs', storage: { kind: 'sqlite' }, transport: { kind: 'http' } });
    const run = await highwater('status', bad);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('empty.mjs must export `models`');
  });

  it('serves two SQLite devices over libp2p; status shows peers, RTT and watermarks; verify compares, then names the stream that differs', async () => {
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    const base = { storage: { kind: 'sqlite' }, members: ['dev-a', 'dev-b'], node: { pageSize: 100 } };
    const pathA = config('dev-a', { ...base, transport: { kind: 'libp2p', port: portA } });
    const pathB = config('dev-b', { ...base, transport: { kind: 'libp2p', port: portB } });
    const idA = json<{ peerId: string; addresses: string[] }>(await highwater('id', pathA, '--json'));
    const idB = json<{ peerId: string; addresses: string[] }>(await highwater('id', pathB, '--json'));
    expect(idA.addresses).toEqual([`/ip4/127.0.0.1/tcp/${portA}/p2p/${idA.peerId}`]);
    // The key is created once: asking again gives the same identity.
    expect(json<{ peerId: string }>(await highwater('id', pathA, '--json')).peerId).toBe(idA.peerId);
    config('dev-a', { ...base, transport: { kind: 'libp2p', port: portA, redialMs: 300, peers: [{ deviceId: 'dev-b', ...idB }] } });
    config('dev-b', { ...base, transport: { kind: 'libp2p', port: portB, redialMs: 300, peers: [{ deviceId: 'dev-a', ...idA }] } });

    const a = new ServeProcess(loadDeviceConfig(pathA), bin);
    serves.push(a);
    await a.start();
    const socketA = controlSocketPath(join(root, 'dev-a'));
    await controlRequest(socketA, 'write', { model: 'location', records: locationRecords(3) });
    await controlRequest(socketA, 'write', { model: 'entry', records: entryRecords(0, 500, 3) });
    const b = new ServeProcess(loadDeviceConfig(pathB), bin);
    serves.push(b);
    await b.start();

    const synced = await until('dev-b to hold the 503 records', async () => {
      const s = json<DeviceStatus>(await highwater('status', pathB, '--json'));
      return s.state === 'ready' && s.streams.reduce((n, x) => n + x.records, 0) === 503 && s.peers[0]?.rttMs !== null ? s : undefined;
    });
    expect(synced.running).toBe(true);
    expect(synced.backfillCompleted).toBe(true);
    expect(synced.peers).toEqual([{ peerId: idA.peerId, deviceId: 'dev-a', connected: true, rttMs: expect.any(Number) }]);
    expect(synced.streams.map((s) => [s.owner, s.resource, s.records])).toEqual([
      ['dev-a', 'location', 3],
      ['dev-a', 'entry', 500],
    ]);
    expect(synced.streams.every((s) => s.watermark !== null && s.resumeAfter === null)).toBe(true);
    expect(synced.syncMetadataBytes).toBeGreaterThan(0);
    expect(synced.metrics!.changesApplied).toBe(503);
    const text = await highwater('status', pathB);
    expect(text.stdout).toMatch(/^dev-b · library cli-test · ready/m);
    expect(text.stdout).toMatch(new RegExp(`^${idA.peerId}\\s+dev-a\\s+connected\\s+[0-9.]+ ms$`, 'm'));
    expect(text.stdout).toMatch(/^dev-a\s+entry\s+500\s+\S+/m);
    expect(text.stdout).toMatch(/^sync metadata: [0-9.]+ kB$/m);

    const same = await highwater('verify', pathA, pathB);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/^dev-a\s+entry\s+500 [0-9a-f]{12}\s+500 [0-9a-f]{12}\s+identical$/m);
    expect(same.stdout).toContain('converged: 2 devices hold the same library (2 streams)');

    // A scrub of the running B: its streams read and compared with A's digests, nothing to repair.
    const scrubbed = await highwater('scrub', pathB, '--json');
    expect(scrubbed.code).toBe(0);
    expect(JSON.parse(scrubbed.stdout)).toEqual({ streams: 2, compared: 2, damaged: [], diverged: [], repaired: [] });
    expect((await highwater('scrub', pathB)).stdout).toBe('2 streams read, 2 digests compared with peers\nnothing lost or altered\n');

    // Stopped, status reads the stores: the same streams, state `stopped`.
    expect(await b.stop()).toBe(0);
    expect(b.events.at(-1)).toMatchObject({ event: 'stopped' });
    const offline = json<DeviceStatus>(await highwater('status', pathB, '--json'));
    expect(offline).toMatchObject({ running: false, state: 'stopped', peers: [], metrics: null });
    expect(offline.streams).toEqual(synced.streams);

    // A write B has not seen: verify fails and names the stream.
    await controlRequest(socketA, 'write', { model: 'entry', records: entryRecords(500, 1, 3) });
    const differs = await highwater('verify', pathA, pathB, '--json');
    expect(differs.code).toBe(1);
    const report = JSON.parse(differs.stdout) as VerifyReport;
    expect(report.converged).toBe(false);
    expect(report.differing).toEqual(['dev-a/entry']);
    expect(report.streams.find((s) => s.resource === 'entry')!.devices.map((d) => d?.count)).toEqual([501, 500]);
    const differsText = await highwater('verify', pathA, pathB);
    expect(differsText.stdout).toContain('DIVERGED: 1 stream(s) differ: dev-a/entry');

    // B restarted says where it goes on from, and catches up the one change.
    const again = new ServeProcess(loadDeviceConfig(pathB), bin);
    serves.push(again);
    await again.start();
    expect(again.events.find((e) => e['event'] === 'resume')).toMatchObject({ records: 503, backfillCompleted: true });
    await until('dev-b to catch up', async () => (json<DeviceStatus>(await highwater('status', pathB, '--json')).streams[1]?.records === 501 ? true : undefined));
    expect((await highwater('verify', pathA, pathB)).code).toBe(0);
  });

  describe('with PostgreSQL', () => {
    const schema = `hw_cli_${process.pid}`;
    beforeAll(() => requirePostgres());

    it('serves a Postgres device and a SQLite one over HTTP; verify finds the same digests across engines', async () => {
      const [portHub, portLaptop] = await Promise.all([freePort(), freePort()]);
      const members = ['hub', 'laptop'];
      const hub = config('hub', { storage: { kind: 'postgres', url: PG_URL, schema }, transport: { kind: 'http', port: portHub }, members });
      const laptop = config('laptop', { storage: { kind: 'sqlite' }, transport: { kind: 'http', port: portLaptop }, members });
      const idHub = json<{ peerId: string; url: string; publicKey: string }>(await highwater('id', hub, '--json'));
      const idLaptop = json<{ peerId: string; url: string; publicKey: string }>(await highwater('id', laptop, '--json'));
      expect(idHub.url).toBe(`http://127.0.0.1:${portHub}`);
      const peer = (id: typeof idHub, deviceId: string) => ({ deviceId, peerId: id.peerId, url: id.url, publicKey: id.publicKey });
      config('hub', { storage: { kind: 'postgres', url: PG_URL, schema }, transport: { kind: 'http', port: portHub, peers: [peer(idLaptop, 'laptop')] }, members });
      config('laptop', { storage: { kind: 'sqlite' }, transport: { kind: 'http', port: portLaptop, peers: [peer(idHub, 'hub')] }, members });

      const servers = [new ServeProcess(loadDeviceConfig(hub), bin), new ServeProcess(loadDeviceConfig(laptop), bin)];
      serves.push(...servers);
      await Promise.all(servers.map((s) => s.start()));
      const socket = controlSocketPath(join(root, 'laptop'));
      await controlRequest(socket, 'write', { model: 'location', records: locationRecords(2) });
      await controlRequest(socket, 'write', { model: 'entry', records: entryRecords(0, 200, 2) });
      await controlRequest(socket, 'write', { model: 'tag', records: [{ id: 'tag-1', data: { name: 'holiday', color: null } }] });
      const status = await until('the hub to hold 203 records', async () => {
        const s = json<DeviceStatus>(await highwater('status', hub, '--json'));
        return s.streams.reduce((n, x) => n + x.records, 0) === 203 ? s : undefined;
      });
      expect(status.syncMetadataBytes).toBeGreaterThan(0);
      const run = await highwater('verify', hub, laptop, '--json');
      const report = JSON.parse(run.stdout) as VerifyReport;
      expect(run.code).toBe(0);
      expect(report.streams.map((s) => `${s.owner}/${s.resource}`)).toEqual(['laptop/location', 'laptop/entry', 'laptop/tag']);
      for (const s of report.streams) expect(s.devices[0]!.digest).toBe(s.devices[1]!.digest);

      for (const s of servers) await s.stop();
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });
  });
});
