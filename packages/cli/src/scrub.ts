/**
 * `highwater scrub`: asks a device's running `serve` to scrub now (see `SyncNode.scrub`): every
 * settled stream checked against its owners' signatures and its peers' digests, and what its
 * stores lost or altered repaired from a peer.
 */
import type { ScrubReport } from '@highwater/core';
import type { DeviceConfig } from './config.js';
import { controlRequest, controlSocketPath, NotRunningError } from './control.js';

/** Scrubs through the running serve (a scrub reads every stream: it may take a while). */
export async function scrubDevice(config: DeviceConfig, timeoutMs = 30 * 60_000): Promise<ScrubReport> {
  try {
    return await controlRequest<ScrubReport>(controlSocketPath(config.dir), 'scrub', {}, timeoutMs);
  } catch (error) {
    if (error instanceof NotRunningError) throw new Error(`${config.device} is not running: start \`highwater serve ${config.path}\` first (a scrub compares with its peers)`);
    throw error;
  }
}

/** What a scrub found and did, one line each. */
export function renderScrub(report: ScrubReport): string {
  const out = [`${report.streams} streams read, ${report.compared} digests compared with peers`];
  for (const d of report.damaged) out.push(`damaged: ${d.ids.length} ${d.resource} records of ${d.owner} not as signed (${d.ids.slice(0, 5).join(', ')}${d.ids.length > 5 ? ', …' : ''})`);
  for (const d of report.diverged) out.push(`diverged: ${d.resource} of ${d.owner} differs from ${d.device}`);
  for (const r of report.repaired) out.push(`repaired: ${r.resource} of ${r.owner} from ${r.from}: ${r.replaced} replaced, ${r.restored} restored, ${r.removed} removed`);
  if (report.damaged.length === 0 && report.diverged.length === 0) out.push('nothing lost or altered');
  return out.join('\n');
}
