/**
 * `highwater demo` (`npm run demo`): what Highwater is for, in under a minute. Three devices,
 * each a `highwater serve` process with SQLite files over libp2p on loopback. Device A holds a
 * library; B and C backfill it (a progress bar each); C is SIGKILLed mid-backfill and restarted,
 * and resumes from its checkpoints; 10 new records travel as 10 changes; deletes arrive; and
 * `highwater verify` sets every device's records side by side. True only if all converged.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { loadDeviceConfig, type DeviceConfig } from './config.js';
import { entryRecords, generateLibrary, recordKey, type LibrarySize } from './demo-library.js';
import { deviceIdentity } from './device.js';
import { ServeProcess } from './serve-process.js';
import type { DeviceStatus } from './status.js';
import { freePort, until } from './wait.js';

export interface DemoOptions {
  /** Where the devices' folders go; default a temp folder, removed at the end. */
  readonly dir?: string;
  readonly entries?: number;
  readonly write?: (line: string) => void;
}

const bin = fileURLToPath(new URL('./bin.js', import.meta.url));
const DEVICES = ['device-a', 'device-b', 'device-c'] as const;
type DeviceName = (typeof DEVICES)[number];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const entryCount = (s: DeviceStatus): number => s.streams.filter((x) => x.resource === 'entry').reduce((n, x) => n + x.records, 0);
const totalRecords = (s: DeviceStatus): number => s.streams.reduce((n, x) => n + x.records, 0);
const n = (value: number): string => value.toLocaleString('en-US');

/** What arrived at a device between two of its statuses: changes applied, and duplicates (the same change relayed by another peer) dropped. */
function traffic(now: DeviceStatus, before: DeviceStatus): string {
  const delta = (k: 'changesApplied' | 'changesStale' | 'bytesReceived'): number => now.metrics![k] - before.metrics![k];
  const duplicates = delta('changesStale');
  return `  ${now.device}  applied ${delta('changesApplied')} changes, ${n(delta('bytesReceived'))} bytes in${duplicates ? `; dropped ${duplicates} second copies (relayed by the other peer)` : ''}`;
}

/** Runs the demo; resolves true only if every device ends with the same library. */
export async function runDemo(options: DemoOptions = {}): Promise<boolean> {
  const say = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const started = Date.now();
  const root = options.dir ?? mkdtempSync(join(tmpdir(), 'highwater-demo-'));
  const size: LibrarySize = { locations: 50, entries: options.entries ?? 15_000, volumes: 10, tags: 60 };
  const librarySize = size.locations + size.entries + size.volumes + size.tags;
  const devices = new Map<DeviceName, ServeProcess>();
  try {
    // 1. Three configs: SQLite in each device's folder, libp2p on a fixed loopback port, every device a member.
    const ports = await Promise.all(DEVICES.map(() => freePort()));
    const base = (name: DeviceName, i: number) => ({
      library: 'demo-library',
      device: name,
      dir: `./${name}`,
      models: 'demo',
      storage: { kind: 'sqlite' },
      transport: { kind: 'libp2p', host: '127.0.0.1', port: ports[i], peers: [] as unknown[], redialMs: 500 },
      members: [...DEVICES],
      // Small pages: more checkpoints, so the crash below lands between two of them.
      node: { pageSize: 250 },
    });
    const configPath = (name: DeviceName): string => join(root, `${name}.json`);
    const identities = [];
    for (const [i, name] of DEVICES.entries()) {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(configPath(name), JSON.stringify(base(name, i), null, 2));
      identities.push(await deviceIdentity(loadDeviceConfig(configPath(name))));
    }
    for (const [i, name] of DEVICES.entries()) {
      // Signed changes: each device's key is in every config, so every change is checked against its owner's.
      const config = { ...base(name, i), devices: identities.map(({ deviceId, publicKey }) => ({ deviceId, publicKey })) };
      config.transport.peers = identities.filter((id) => id.deviceId !== name).map(({ deviceId, peerId, addresses }) => ({ deviceId, peerId, addresses }));
      writeFileSync(configPath(name), JSON.stringify(config, null, 2));
      devices.set(name, new ServeProcess(loadDeviceConfig(configPath(name))));
    }
    say(`Highwater demo: three devices, each its own process (highwater serve), SQLite files in ${root}, libp2p on loopback`);
    for (const id of identities) say(`  ${id.deviceId}  ${id.peerId}  ${id.addresses?.[0] ?? ''}`);
    say('Each device signs its changes with its device key; every device checks each change against its owner\'s key, whoever relays it.');

    // 2. Device A creates the library.
    const a = devices.get('device-a')!;
    const b = devices.get('device-b')!;
    const c = devices.get('device-c')!;
    await a.start();
    let t = Date.now();
    await generateLibrary((model, records) => a.request('write', { model, records }), size);
    say(`\ndevice-a wrote the library: ${n(size.locations)} locations, ${n(size.entries)} entries, ${n(size.volumes)} volumes, ${n(size.tags)} shared tags (${n(librarySize)} records, ${Date.now() - t} ms)`);

    // 3. B and C join and backfill; C is killed part-way and restarted.
    say('\ndevice-b and device-c join and backfill; device-c will be killed (SIGKILL) part-way:');
    t = Date.now();
    await Promise.all([b.start(), c.start()]);
    const bars = process.stdout.isTTY && !options.write ? new cliProgress.MultiBar({ format: ' {device} [{bar}] {percentage}% {value}/{total} records {note}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic) : undefined;
    const bar = new Map(DEVICES.slice(1).map((name) => [name, bars?.create(librarySize, 0, { device: name, note: '' })]));
    const reported = new Map<DeviceName, number>();
    const show = (name: DeviceName, s: DeviceStatus, note = ''): void => {
      const held = totalRecords(s);
      bar.get(name)?.update(held, { note });
      const quarter = Math.floor((held / librarySize) * 4);
      if (!bars && (reported.get(name) ?? -1) < quarter) {
        reported.set(name, quarter);
        say(`  ${name} ${s.state} ${Math.floor((held / librarySize) * 100)}% (${n(held)}/${n(librarySize)} records)${note ? ' ' + note : ''}`);
      }
    };
    let killedAt = -1;
    await until('device-c to get part-way', async () => {
      const [sb, sc] = await Promise.all([b.status(), c.status()]);
      show('device-b', sb);
      show('device-c', sc);
      const held = totalRecords(sc);
      if (held >= librarySize * 0.25 || sc.state === 'ready') {
        await c.kill();
        killedAt = held;
        return held;
      }
      return undefined;
    });
    const killNote = `killed at ${n(killedAt)} records`;
    bar.get('device-c')?.update(killedAt, { note: killNote });
    if (!bars) say(`  device-c SIGKILLed at ${Math.floor((killedAt / librarySize) * 100)}% (${n(killedAt)} records stored)`);
    if (killedAt >= librarySize) throw new Error('device-c finished its backfill before it could be killed; run with more --entries');
    await sleep(300);
    await c.start();
    const resumed = c.events.find((e) => e['event'] === 'resume');
    await until('device-b and device-c to finish', async () => {
      const [sb, sc] = await Promise.all([b.status(), c.status()]);
      show('device-b', sb);
      show('device-c', sc, killNote + ', resumed');
      return totalRecords(sb) === librarySize && totalRecords(sc) === librarySize && sb.state === 'ready' && sc.state === 'ready' ? true : undefined;
    });
    bars?.stop();
    const fetchedAfterRestart = (await c.status()).metrics!.changesFetched - Number(resumed?.['changesFetched'] ?? 0);
    say(`backfill done in ${Date.now() - t} ms`);
    if (!resumed) throw new Error('device-c restarted without reporting where it resumes');
    const streams = resumed['streams'] as { resource: string; owner: string; records: number; resumeAfter: { id: string } | null }[];
    say(`device-c restarted holding ${n(Number(resumed['records']))} records and went on from each stream's durable position:`);
    for (const st of streams) say(`  ${`${st.resource} of ${st.owner}`.padEnd(20)} ${n(st.records).padStart(7)} records  ${st.resumeAfter ? `checkpoint after ${st.resumeAfter.id}` : 'watermark'}`);
    say(`  then it fetched ${n(fetchedAfterRestart)} changes more for the ${n(librarySize - Number(resumed['records']))} records it lacked, not the whole library again`);

    // 4. Ten new records: only they travel.
    const before = await Promise.all([b.status(), c.status()]);
    const newEntries = entryRecords(size.entries, 10, size.locations).map((r) => ({ ...r, data: { ...r.data, parentId: null } }));
    await a.request('write', { model: 'entry', records: newEntries });
    const after = await until('the 10 new entries on every device', async () => {
      const now = await Promise.all([b.status(), c.status()]);
      return now.every((s) => entryCount(s) === size.entries + 10) ? now : undefined;
    });
    say('\ndevice-a wrote 10 new entries; what reached the others:');
    after.forEach((s, i) => say(traffic(s, before[i]!)));

    // 5. Deletes arrive.
    const deleted = [1, 2, 3, 4, 5].map((i) => recordKey('ent', i));
    await a.request('delete', { model: 'entry', ids: deleted });
    const afterDelete = await until('the deletes on every device', async () => {
      const now = await Promise.all([a.status(), b.status(), c.status()]);
      return now.every((s) => entryCount(s) === size.entries + 5) ? now : undefined;
    });
    say(`device-a deleted 5 entries; every device now holds ${n(entryCount(afterDelete[0]!))} entries:`);
    afterDelete.slice(1).forEach((s, i) => say(traffic(s, after[i]!)));

    // 6. Stop the devices and compare their stores with `highwater verify`.
    await Promise.all([...devices.values()].map((d) => d.stop()));
    say('\nhighwater verify --by resource device-a.json device-b.json device-c.json');
    const verified = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'verify', '--by', 'resource', ...DEVICES.map(configPath)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.once('exit', (code) => resolve({ code, out }));
    });
    say(verified.out.trimEnd());
    say(`\n${verified.code === 0 ? 'converged' : 'NOT converged'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return verified.code === 0;
  } finally {
    await Promise.all([...devices.values()].map((d) => d.stop()));
    if (!options.dir) rmSync(root, { recursive: true, force: true });
  }
}
