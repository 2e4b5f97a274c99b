/**
 * The devices a `serve` paired (the inviter's side), kept beside the device's data so that its
 * transport reaches them again after a restart: libp2p redials their addresses, HTTP calls
 * their url. Read by `openDevice`, written on each pairing.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PairedDevice } from '@highwater/core';

/**
 * The file in a device's folder where its `serve` keeps the devices it paired and where they
 * listen, so it reaches them again after a restart without anyone editing its config.
 */
export const PAIRED_PEERS_FILE = 'paired-peers.json';

/** The devices this device paired, with their addresses (empty when none). */
export function pairedPeers(dir: string): PairedDevice[] {
  const path = join(dir, PAIRED_PEERS_FILE);
  if (!existsSync(path)) return [];
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  return Array.isArray(parsed) ? (parsed as PairedDevice[]) : [];
}

/** Adds (or replaces, by key) a device this device paired. */
export function rememberPairedPeer(dir: string, device: PairedDevice): void {
  const peers = pairedPeers(dir).filter((p) => p.publicKey !== device.publicKey);
  peers.push(device);
  writeAtomically(join(dir, PAIRED_PEERS_FILE), JSON.stringify(peers, null, 2) + '\n');
}

/** Writes a file whole or not at all: a temp file, then a rename. */
export function writeAtomically(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

