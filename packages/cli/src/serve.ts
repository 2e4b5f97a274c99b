/**
 * `highwater serve`: runs one device from its config until SIGINT/SIGTERM (or a `stop` on the
 * control socket). It prints what happens — state changes, backfill progress, peers coming and
 * going, where an interrupted backfill resumes — as lines, or as JSON lines with `--json`, and
 * answers `highwater status` (and scripts) on the control socket in the device's folder.
 */
import type { Server } from 'node:net';
import { pino } from 'pino';
import type { RecordInput, SyncProgress } from '@highwater/core';
import type { DeviceConfig } from './config.js';
import { controlSocketPath, listenForControl } from './control.js';
import { openDevice } from './device.js';
import { rememberPairedPeer } from './paired-peers.js';
import { storedStatus, type DeviceStatus, type PeerStatusLine, type StreamStatus } from './status.js';

export interface ServeOptions {
  /** JSON lines instead of text. */
  readonly json?: boolean;
  /** Engine logs (pino) on stderr at this level. */
  readonly logLevel?: string;
  readonly write?: (line: string) => void;
}

export interface ServingDevice {
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function serve(config: DeviceConfig, options: ServeOptions = {}): Promise<ServingDevice> {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const emit = (event: string, fields: Record<string, unknown>, text: string): void =>
    write(options.json ? JSON.stringify({ event, device: config.device, at: new Date().toISOString(), ...fields }) : `[${config.device}] ${text}`);

  const logger = options.logLevel ? pino({ level: options.logLevel }, pino.destination(2)) : undefined;
  const device = await openDevice(config, logger);
  const { node, storage } = device;

  // Where this device picks up: a restart (also after a crash) goes on from the durable
  // position of each stream — a backfill checkpoint, or the watermark — not from the start.
  const stored = await storedStatus(config, storage);
  const held = stored.streams.filter((s) => s.records > 0);
  if (held.length > 0) {
    const records = held.reduce((n, s) => n + s.records, 0);
    const position = (s: StreamStatus): string => (s.resumeAfter ? `checkpoint after ${s.resumeAfter.id}` : `watermark ${s.watermark ?? '-'}`);
    emit(
      'resume',
      {
        records,
        backfillCompleted: stored.backfillCompleted,
        streams: held.map((s) => ({ owner: s.owner, resource: s.resource, records: s.records, watermark: s.watermark, resumeAfter: s.resumeAfter })),
        changesFetched: node.metrics().changesFetched,
      },
      `opened with ${records} records in ${held.length} streams; sync goes on from each stream's ${stored.backfillCompleted ? 'watermark' : 'checkpoint or watermark'}: ` +
        held.map((s) => `${s.resource} of ${s.owner} (${s.records}, ${position(s)})`).join(', '),
    );
  }

  const peers = new Map<string, PeerStatusLine>();
  let progress: SyncProgress | null = null;
  let lastDecile = -1;
  node.state$.subscribe((state) => {
    emit('state', { state }, `state: ${state}`);
    if (state === 'ready') lastDecile = -1;
  });
  node.progress$.subscribe((p) => {
    progress = p;
    const decile = Math.floor(p.ratio * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      emit('progress', { ...p }, `${p.phase} ${Math.floor(p.ratio * 100)}% (${p.applied}/${p.total} records)`);
    }
  });
  node.peers$.subscribe((p) => {
    const deviceId = p.deviceId ?? device.deviceOfPeer.get(p.peerId) ?? null;
    const before = peers.get(p.peerId);
    peers.set(p.peerId, { peerId: p.peerId, deviceId, connected: p.connected, rttMs: p.rttMs ?? null });
    if (before?.connected !== p.connected) emit('peer', { peerId: p.peerId, deviceId, connected: p.connected }, `${p.connected ? 'connected to' : 'lost'} ${deviceId ?? p.peerId}`);
  });
  node.errors$.subscribe((e) => emit('error', { code: e.code, message: e.message }, `error ${e.code}: ${e.message}`));
  node.paired$.subscribe((d) => {
    // Kept beside the device's data: its transport reaches the new device again after a restart.
    rememberPairedPeer(config.dir, d);
    emit('paired', { ...d }, `paired ${d.deviceId}${d.name ? ` (${d.name})` : ''}${d.addresses.length ? ` at ${d.addresses.join(', ')}` : ''}`);
  });

  const status = async (): Promise<DeviceStatus> => ({
    library: config.library,
    device: config.device,
    running: true,
    state: node.state,
    progress,
    peers: [...peers.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : 1)),
    ...(await storedStatus(config, storage)),
    identity: device.identity(),
    metrics: node.metrics(),
    versionsBehind: node.versionStatus().filter((v) => v.newestSeen > v.version || v.keptAside > 0),
  });

  let control: Server | undefined;
  let stopping: Promise<void> | undefined;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      control?.close();
      await device.stop();
      emit('stopped', {}, 'stopped');
      finished();
    })());

  await node.start();
  control = await listenForControl(controlSocketPath(config.dir), {
    ping: async () => 'pong',
    status,
    identity: async () => device.identity(),
    write: async (args) => (await node.write(String(args['model']), args['records'] as RecordInput[])).length,
    delete: async (args) => (await node.delete(String(args['model']), args['ids'] as string[])).length,
    settle: () => node.settle(),
    invite: async (args) => node.createInvite(typeof args['ttlMs'] === 'number' ? { ttlMs: args['ttlMs'] } : {}),
    devices: () => node.devices(),
    scrub: () => node.scrub(),
    revoke: async (args) => {
      await node.revokeDevice(String(args['deviceId']));
      return node.devices();
    },
    stop: async () => {
      setImmediate(() => void stop());
    },
  });
  const id = device.identity();
  emit('listening', { identity: id, control: controlSocketPath(config.dir) }, `up as ${id.peerId}${id.addresses ? ` on ${id.addresses.join(', ')}` : ''}${id.url ? ` at ${id.url}` : ''}`);
  return { done, stop };
}
