#!/usr/bin/env node
/**
 * The `highwater` command. Each subcommand's work lives in its own module, imported when the
 * subcommand runs (so `--help` does not load libp2p); this is the argument parsing and output.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { DeviceConfig } from './config.js';

// Validation errors of a config file are the user's to fix: their message alone, exit 2.
class UsageError extends Error {}

async function loadDeviceConfig(path: string): Promise<DeviceConfig> {
  const { ConfigError, loadDeviceConfig: load } = await import('./config.js');
  try {
    return load(path);
  } catch (error) {
    throw error instanceof ConfigError ? new UsageError(error.message) : error;
  }
}

const program = new Command('highwater')
  .description('Leaderless peer-to-peer library sync: run a device, ask whether it is in sync, check that devices hold the same library.')
  .addHelpText(
    'after',
    `
A device is described by a JSON config file (see the @highwater/cli README):
  { "library": "photos", "device": "laptop", "dir": "./laptop", "models": "./models.js",
    "storage": { "kind": "sqlite" },
    "transport": { "kind": "libp2p", "port": 4001, "peers": [ { "deviceId": "desktop", "publicKey": "x3F…", "addresses": ["/ip4/…/tcp/4001/p2p/12D3…"] } ] },
    "devices": [ { "deviceId": "laptop", "publicKey": "Qm0…" }, { "deviceId": "desktop", "publicKey": "x3F…" } ] }
  "devices" (optional) lists every device's public key: changes are then signed and checked
  against their owner's key, whoever relays them; "members" (device ids) defaults to them.

Examples:
  highwater demo                              three devices, a crash, live writes and deletes, verified
  highwater id laptop.json                    this device's public key and peer ids, to put in the others' configs
  highwater invite laptop.json                a one-time code for a new device (laptop's serve must run)
  highwater join tablet.json HW1-…            pair tablet: writes the library's devices and laptop into tablet.json
  highwater devices laptop.json               the library's devices: members and revoked ones
  highwater revoke laptop.json tablet         revoke tablet: disconnected and refused wherever the change arrives
  highwater serve laptop.json                 run the device until Ctrl-C
  highwater status laptop.json                state, peers with round-trip times, watermarks, sync.db size
  highwater verify laptop.json desktop.json   same library? exit 1 and the differing streams if not
  highwater status laptop.json --json         the same, for scripts`,
  )
  .showHelpAfterError('(run highwater --help for usage)');

const configs = (paths: string[]) => Promise.all(paths.map((p) => loadDeviceConfig(p)));
const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));

program
  .command('serve')
  .description('run one device from its config: sync with its peers until SIGINT/SIGTERM; answers `status` on <dir>/highwater.sock')
  .argument('<config>', 'the device config file')
  .option('--json', 'print events as JSON lines')
  .option('--log-level <level>', 'engine logs on stderr (pino level: debug, info, warn, …)')
  .action(async (path: string, opts: { json?: boolean; logLevel?: string }) => {
    const { serve } = await import('./serve.js');
    const device = await serve(await loadDeviceConfig(path), { ...(opts.json ? { json: true } : {}), ...(opts.logLevel ? { logLevel: opts.logLevel } : {}) });
    const stop = (): void => void device.stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await device.done;
  });

program
  .command('status')
  .description("a device's state, progress, peers (with RTT), per-(owner, resource) watermarks and records, sync metadata size — from its running serve, else from its stores")
  .argument('<config>', 'the device config file')
  .option('--json', 'machine-readable output')
  .action(async (path: string, opts: { json?: boolean }) => {
    const { deviceStatus, renderStatus } = await import('./status.js');
    const status = await deviceStatus(await loadDeviceConfig(path));
    if (opts.json) printJson(status);
    else console.log(renderStatus(status));
  });

program
  .command('verify')
  .description('compare two or more devices\' stores per (owner, resource): records and digest side by side; exit 1 naming the streams that differ')
  .argument('<configs...>', 'device config files (two or more)')
  .option('--by <what>', 'stream (owner, resource) or resource', (v) => {
    if (v !== 'stream' && v !== 'resource') throw new InvalidArgumentError('stream or resource');
    return v;
  }, 'stream')
  .option('--json', 'machine-readable output')
  .action(async (paths: string[], opts: { json?: boolean; by: 'stream' | 'resource' }) => {
    const { renderVerify, verify } = await import('./verify.js');
    const report = await verify(await configs(paths));
    if (opts.json) printJson(report);
    else console.log(renderVerify(report, opts.by));
    process.exitCode = report.converged ? 0 : 1;
  });

program
  .command('scrub')
  .description("scrub a running device now: every stream checked against its owners' signatures and its peers' digests, and what its stores lost or altered repaired from a peer; exit 1 if something stays diverged")
  .argument('<config>', 'the config of a device whose serve is running')
  .option('--json', 'machine-readable output')
  .action(async (path: string, opts: { json?: boolean }) => {
    const { renderScrub, scrubDevice } = await import('./scrub.js');
    const report = await scrubDevice(await loadDeviceConfig(path));
    if (opts.json) printJson(report);
    else console.log(renderScrub(report));
    const repaired = new Set(report.repaired.map((r) => `${r.owner}\u0000${r.resource}`));
    process.exitCode = report.diverged.every((d) => repaired.has(`${d.owner}\u0000${d.resource}`)) && report.damaged.every((d) => repaired.has(`${d.owner}\u0000${d.resource}`)) ? 0 : 1;
  });

program
  .command('id')
  .description("this device's identity: its public key (the device key is created on first use), its libp2p and HTTP peer ids, and where it listens — what the other members list in their config's peers")
  .argument('<config>', 'the device config file')
  .option('--json', 'machine-readable output')
  .action(async (path: string, opts: { json?: boolean }) => {
    const { deviceIdentity } = await import('./device.js');
    const identity = await deviceIdentity(await loadDeviceConfig(path));
    if (opts.json) printJson(identity);
    else console.log(Object.entries(identity).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}`).join('\n'));
  });

program
  .command('invite')
  .description('a one-time invite code for a new device, from this device\'s running serve (signed mode: its config lists devices)')
  .argument('<config>', 'the config of a device of the library, whose serve is running')
  .option('--ttl <minutes>', 'how long the invite is open', (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number of minutes');
    return n;
  })
  .option('--json', 'machine-readable output')
  .action(async (path: string, opts: { ttl?: number; json?: boolean }) => {
    const { createInvite } = await import('./pairing.js');
    const invite = await createInvite(await loadDeviceConfig(path), opts.ttl);
    if (opts.json) printJson(invite);
    else console.log(`${invite.code}\n\nOn the new device: highwater join <its config> ${invite.code}\nOpen until ${new Date(invite.expiresAt).toISOString()}; it pairs one device.`);
  });

program
  .command('join')
  .description('pair this device with a library: redeem an invite code, then write the library\'s devices and the inviter into this config')
  .argument('<config>', 'this (new) device\'s config file; its library must be the invite\'s')
  .argument('<code>', 'the invite code (HW1-…), from `highwater invite` on a device of the library')
  .option('--name <name>', 'the name the other devices see for this one')
  .option('--json', 'machine-readable output')
  .action(async (path: string, code: string, opts: { name?: string; json?: boolean }) => {
    const { joinLibrary } = await import('./pairing.js');
    const { paired, path: written } = await joinLibrary(await loadDeviceConfig(path), code, opts.name);
    if (opts.json) printJson(paired);
    else console.log(`joined ${paired.libraryId} through ${paired.inviter.deviceId}: ${paired.devices.length} devices (${paired.devices.map((d) => d.deviceId).join(', ')})\nwrote ${written}; now run: highwater serve ${path}`);
  });

program
  .command('devices')
  .description('the library\'s devices as this device\'s running serve knows them: id, name, member or revoked, added by, public key')
  .argument('<config>', 'the config of a device of the library, whose serve is running')
  .option('--json', 'machine-readable output')
  .action(async (path: string, opts: { json?: boolean }) => {
    const { listDevices, renderDevices } = await import('./pairing.js');
    const devices = await listDevices(await loadDeviceConfig(path));
    console.log(opts.json ? JSON.stringify(devices, null, 2) : renderDevices(devices));
  });

program
  .command('revoke')
  .description('revoke a device through the roster: every device that receives the change disconnects it and refuses its later changes')
  .argument('<config>', 'the config of a device of the library, whose serve is running')
  .argument('<device>', 'the device id to revoke')
  .option('--json', 'machine-readable output')
  .action(async (path: string, deviceId: string, opts: { json?: boolean }) => {
    const { revokeDevice, renderDevices } = await import('./pairing.js');
    const devices = await revokeDevice(await loadDeviceConfig(path), deviceId);
    console.log(opts.json ? JSON.stringify(devices, null, 2) : renderDevices(devices));
  });

program
  .command('demo')
  .description('three devices, each its own process over libp2p on loopback: backfill with a crash, live writes and deletes, then a verification table')
  .option('--dir <folder>', 'keep the devices here (default: a temp folder, removed afterwards)')
  .option('--entries <n>', 'entries in the generated library', (v) => Number(v), 15_000)
  .action(async (opts: { dir?: string; entries: number }) => {
    const { runDemo } = await import('./demo.js');
    process.exitCode = (await runDemo({ ...(opts.dir ? { dir: opts.dir } : {}), entries: opts.entries })) ? 0 : 1;
  });

try {
  await program.parseAsync();
} catch (error) {
  // A config problem (also one found while loading its models) is the user's to fix: exit 2; anything else failed: exit 1.
  const usage = error instanceof UsageError || (error as Error).name === 'ConfigError';
  console.error(usage ? (error as Error).message : `highwater: ${(error as Error).message}`);
  process.exitCode = usage ? 2 : 1;
}
