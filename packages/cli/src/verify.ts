/**
 * `highwater verify`: do two or more devices hold the same library? Each store is read (it may
 * be in use by a running serve) and summed up per stream — (owner, resource): records and a
 * digest of them — and the stores are set side by side. Divergent streams are named.
 */
import type { DeviceConfig } from './config.js';
import { openDeviceStorage } from './device.js';
import { byResource, libraryDigest, type StreamDigest } from './library-digest.js';
import { table } from './status.js';

export interface VerifiedStream {
  readonly owner: string;
  readonly resource: string;
  /** Per device (in the order given): records and digest, or null when it holds none of this stream. */
  readonly devices: readonly ({ readonly count: number; readonly digest: string } | null)[];
  readonly identical: boolean;
}

export interface VerifyReport {
  readonly devices: readonly string[];
  readonly streams: readonly VerifiedStream[];
  readonly resources: readonly { readonly resource: string; readonly devices: readonly { readonly count: number; readonly digest: string }[]; readonly identical: boolean }[];
  readonly converged: boolean;
  /** `owner/resource` of each stream that differs. */
  readonly differing: readonly string[];
}

export async function verify(configs: readonly DeviceConfig[]): Promise<VerifyReport> {
  if (configs.length < 2) throw new Error('verify needs two or more device configs');
  const digests: StreamDigest[][] = [];
  let resourceNames: readonly string[] = [];
  for (const config of configs) {
    const storage = await openDeviceStorage(config);
    try {
      resourceNames = storage.registry.syncOrder();
      digests.push(await libraryDigest(storage.registry, storage.recordStore));
    } finally {
      await storage.close();
    }
  }
  const keys = new Map<string, { owner: string; resource: string }>();
  for (const ds of digests) for (const d of ds) keys.set(`${d.owner}/${d.resource}`, { owner: d.owner, resource: d.resource });
  const order = (r: string): number => resourceNames.indexOf(r);
  const streams: VerifiedStream[] = [...keys.values()]
    .sort((a, b) => order(a.resource) - order(b.resource) || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0))
    .map(({ owner, resource }) => {
      const devices = digests.map((ds) => {
        const d = ds.find((x) => x.owner === owner && x.resource === resource);
        return d ? { count: d.count, digest: d.digest } : null;
      });
      const identical = devices.every((d) => d !== null && d.digest === devices[0]!.digest);
      return { owner, resource, devices, identical };
    });
  const perDevice = digests.map((ds) => new Map(byResource(ds).map((r) => [r.resource, r])));
  const resources = resourceNames.map((resource) => {
    const devices = perDevice.map((m) => m.get(resource) ?? { count: 0, digest: '-' });
    return { resource, devices: devices.map(({ count, digest }) => ({ count, digest })), identical: devices.every((d) => d.digest === devices[0]!.digest) };
  });
  const differing = streams.filter((s) => !s.identical).map((s) => `${s.owner}/${s.resource}`);
  return { devices: configs.map((c) => c.device), streams, resources, converged: differing.length === 0, differing };
}

const short = (digest: string): string => digest.slice(0, 12);

export function renderVerify(report: VerifyReport, by: 'stream' | 'resource' = 'stream'): string {
  const cells = (d: { count: number; digest: string } | null): string => (d ? `${d.count} ${short(d.digest)}` : '(none)');
  const body =
    by === 'stream'
      ? table(
          ['owner', 'resource', ...report.devices, ''],
          report.streams.map((s) => [s.owner, s.resource, ...s.devices.map(cells), s.identical ? 'identical' : 'DIFFERS']),
        )
      : table(['resource', ...report.devices, ''], report.resources.map((r) => [r.resource, ...r.devices.map(cells), r.identical ? 'identical' : 'DIFFERS']));
  const verdict = report.converged
    ? `converged: ${report.devices.length} devices hold the same library (${report.streams.length} streams)`
    : `DIVERGED: ${report.differing.length} stream(s) differ: ${report.differing.join(', ')}`;
  return `${body}\n\n${verdict}`;
}
