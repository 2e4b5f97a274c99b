/**
 * `highwater invite` and `highwater join`: pairing a new device with the CLI. The running
 * `serve` of a device of the library issues the invite (its node keeps the invite and answers
 * the redemption); `join` redeems it from the new device's config, then writes what it received
 * — the library's devices and how to reach the inviter — into that config, so `serve` runs it
 * signed and connected from then on.
 */
import { readFileSync } from 'node:fs';
import type { IssuedInvite, PairedLibrary, RosterDevice } from '@highwater/core';
import type { DeviceConfig } from './config.js';
import { controlRequest, controlSocketPath, NotRunningError } from './control.js';
import { openDevice } from './device.js';
import { writeAtomically } from './paired-peers.js';

/** One request to the device's running `serve`, saying how to start it when none runs. */
async function ask<T>(config: DeviceConfig, cmd: string, args: Record<string, unknown> = {}): Promise<T> {
  try {
    return await controlRequest<T>(controlSocketPath(config.dir), cmd, args);
  } catch (error) {
    if (error instanceof NotRunningError) throw new Error(`${config.device} is not running: start \`highwater serve ${config.path}\` first`);
    throw error;
  }
}

/** Asks the device's running `serve` for an invite (it answers the new device). */
export function createInvite(config: DeviceConfig, ttlMinutes: number | undefined): Promise<IssuedInvite> {
  return ask<IssuedInvite>(config, 'invite', ttlMinutes !== undefined ? { ttlMs: ttlMinutes * 60_000 } : {});
}

/** The library's devices as the running `serve` knows them (founders, roster, pairing). */
export function listDevices(config: DeviceConfig): Promise<RosterDevice[]> {
  return ask<RosterDevice[]>(config, 'devices');
}

/** Revokes a device through the running `serve`; resolves with the devices afterwards. */
export function revokeDevice(config: DeviceConfig, deviceId: string): Promise<RosterDevice[]> {
  return ask<RosterDevice[]>(config, 'revoke', { deviceId });
}

/** The devices as a table: id, name, state, who added it, key. */
export function renderDevices(devices: readonly RosterDevice[]): string {
  const rows = devices.map((d) => [d.deviceId, d.name ?? '-', d.revokedAt !== undefined ? `revoked ${new Date(d.revokedAt).toISOString()}` : 'member', d.addedBy ?? '(config)', d.publicKey]);
  const header = ['device', 'name', 'state', 'added by', 'public key'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export interface JoinResult {
  readonly paired: PairedLibrary;
  /** The config file, rewritten. */
  readonly path: string;
}

/**
 * Redeems `code` for the device of `config` (its device key is created on first use), and
 * writes into the config file the library's devices (signed mode) and the inviter as a peer.
 */
export async function joinLibrary(config: DeviceConfig, code: string, name: string | undefined): Promise<JoinResult> {
  const device = await openDevice(config, undefined, { signed: true });
  let paired: PairedLibrary;
  try {
    await device.node.start();
    paired = await device.node.joinLibrary(code, name !== undefined ? { name } : {});
  } finally {
    await device.stop();
  }
  writeJoinedConfig(config, paired);
  return { paired, path: config.path };
}

/** The config as it was written, with `devices` replaced and the inviter added to the peers (atomically: temp file, then rename). */
function writeJoinedConfig(config: DeviceConfig, paired: PairedLibrary): void {
  const raw = JSON.parse(readFileSync(config.path, 'utf8')) as Record<string, unknown> & { transport: { kind: string; peers?: Record<string, unknown>[] } };
  raw['devices'] = paired.devices.map((d) => ({ deviceId: d.deviceId, publicKey: d.publicKey, ...(d.revokedAt !== undefined ? { revokedAt: d.revokedAt } : {}) }));
  const { inviter } = paired;
  const peers = (raw.transport.peers ?? []).filter((p) => p['publicKey'] !== inviter.publicKey && p['deviceId'] !== inviter.deviceId);
  if (raw.transport.kind === 'libp2p') {
    const addresses = inviter.addresses.filter((a) => a.startsWith('/'));
    peers.push({ deviceId: inviter.deviceId, publicKey: inviter.publicKey, addresses });
  } else {
    const url = inviter.addresses.find((a) => /^https?:\/\//.test(a));
    if (url) peers.push({ deviceId: inviter.deviceId, publicKey: inviter.publicKey, url });
  }
  raw.transport.peers = peers;
  writeAtomically(config.path, JSON.stringify(raw, null, 2) + '\n');
}
