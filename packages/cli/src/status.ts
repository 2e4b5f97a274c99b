/**
 * `highwater status`: is this device in sync? From a running `serve` (over its control socket)
 * it is the node's state, progress, peers with their round-trip times, and per stream the
 * watermark, the records held and any unfinished backfill checkpoint. With no serve running,
 * the same is read from the stores, state `stopped`.
 */
import { BACKFILL_COMPLETED_AT, formatHlc, type ModelVersionStatus, type SyncMetricsSnapshot, type SyncProgress, type SyncState } from '@highwater/core';
import type { DeviceConfig } from './config.js';
import { controlRequest, controlSocketPath, NotRunningError } from './control.js';
import type { DeviceIdentity, DeviceStorage } from './device.js';

export interface StreamStatus {
  readonly owner: string;
  readonly resource: string;
  /** Highest HLC applied from this stream (formatted), or null before the first. */
  readonly watermark: string | null;
  readonly records: number;
  /** An unfinished backfill of this stream resumes after this record. */
  readonly resumeAfter: { readonly hlc: string; readonly id: string } | null;
}

export interface PeerStatusLine {
  readonly peerId: string;
  readonly deviceId: string | null;
  readonly connected: boolean;
  readonly rttMs: number | null;
}

export interface DeviceStatus {
  readonly library: string;
  readonly device: string;
  readonly running: boolean;
  readonly state: SyncState | 'stopped';
  /** Whether a first full backfill has completed (later passes only catch up). */
  readonly backfillCompleted: boolean;
  readonly progress: SyncProgress | null;
  readonly peers: readonly PeerStatusLine[];
  readonly streams: readonly StreamStatus[];
  readonly syncMetadataBytes: number;
  readonly identity: DeviceIdentity;
  readonly metrics: SyncMetricsSnapshot | null;
  /** Models a peer has, or has heard of, at a newer version than this device (running serve only). */
  readonly versionsBehind: readonly (ModelVersionStatus & { readonly keptAside: number })[];
}

/** The stored part of a status: streams, backfill state and sync metadata size. */
export async function storedStatus(
  config: DeviceConfig,
  storage: DeviceStorage,
): Promise<Pick<DeviceStatus, 'streams' | 'syncMetadataBytes' | 'backfillCompleted'>> {
  const [watermarks, checkpoints, completedAt, syncMetadataBytes] = await Promise.all([
    storage.syncStore.listWatermarks(),
    storage.syncStore.listCheckpoints(),
    storage.syncStore.getSyncState(BACKFILL_COMPLETED_AT),
    storage.syncMetadataBytes(),
  ]);
  const owners = new Set([config.device, ...(config.members ?? config.devices?.map((d) => d.deviceId) ?? []), ...watermarks.map((w) => w.ownerDeviceId)]);
  const streams: StreamStatus[] = [];
  for (const resource of storage.registry.syncOrder()) {
    for (const owner of [...owners].sort()) {
      const mark = watermarks.find((w) => w.ownerDeviceId === owner && w.resourceType === resource);
      const checkpoint = checkpoints.find((c) => c.ownerDeviceId === owner && c.resourceType === resource && !c.completed && c.cursor);
      const records = await storage.recordStore.count(resource, owner);
      if (!mark && !checkpoint && records === 0) continue;
      streams.push({
        owner,
        resource,
        watermark: mark ? formatHlc(mark.watermark) : null,
        records,
        resumeAfter: checkpoint?.cursor ? { hlc: formatHlc(checkpoint.cursor.hlc), id: checkpoint.cursor.id } : null,
      });
    }
  }
  return { streams, syncMetadataBytes, backfillCompleted: completedAt !== null };
}

/** The status of the device `config` describes: from its running serve, else from its stores. */
export async function deviceStatus(config: DeviceConfig): Promise<DeviceStatus> {
  try {
    return await controlRequest<DeviceStatus>(controlSocketPath(config.dir), 'status', {}, 10_000);
  } catch (error) {
    if (!(error instanceof NotRunningError)) throw error;
  }
  // Only now the storage and transport packages: asking a running serve needs neither.
  const { deviceIdentity, openDeviceStorage } = await import('./device.js');
  const storage = await openDeviceStorage(config);
  try {
    return {
      library: config.library,
      device: config.device,
      running: false,
      state: 'stopped',
      progress: null,
      peers: [],
      ...(await storedStatus(config, storage)),
      identity: await deviceIdentity(config),
      metrics: null,
      versionsBehind: [],
    };
  } finally {
    await storage.close();
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function renderStatus(s: DeviceStatus): string {
  const out: string[] = [];
  const progress =
    s.progress && s.state !== 'ready' && s.state !== 'stopped'
      ? ` — ${s.progress.phase} ${Math.floor(s.progress.ratio * 100)}% (${s.progress.applied}/${s.progress.total} records)`
      : '';
  out.push(`${s.device} · library ${s.library} · ${s.state}${progress}${s.backfillCompleted ? '' : ' · first backfill not finished'}`);
  out.push(`peer id ${s.identity.peerId}${s.identity.addresses?.length ? ` on ${s.identity.addresses.join(', ')}` : ''}${s.identity.url ? ` at ${s.identity.url}` : ''}`);
  if (s.running) {
    out.push('', s.peers.length ? table(['peer', 'device', 'link', 'rtt'], s.peers.map((p) => [p.peerId, p.deviceId ?? '?', p.connected ? 'connected' : 'away', p.rttMs === null ? '-' : `${p.rttMs.toFixed(1)} ms`])) : 'no peers yet');
  }
  out.push(
    '',
    table(
      ['owner', 'resource', 'records', 'watermark (HLC)', 'backfill'],
      s.streams.map((st) => [st.owner, st.resource, String(st.records), st.watermark ?? '-', st.resumeAfter ? `resumes after ${st.resumeAfter.id}` : '']),
    ),
  );
  for (const v of s.versionsBehind) {
    const where = v.newerOn.length > 0 ? `on ${v.newerOn.join(', ')}` : 'seen by its peers';
    out.push('', `model ${v.model}: version ${v.version} here, version ${v.newestSeen} ${where}; ${v.keptAside} changes kept aside until this device is upgraded`);
  }
  out.push('', `sync metadata: ${formatBytes(s.syncMetadataBytes)}`);
  return out.join('\n');
}
