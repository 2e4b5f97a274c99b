import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

const run = promisify(execFile);
const bin = new URL('../packages/cli/dist/bin.js', import.meta.url).pathname;

// `npm run demo` as the README promises it: three `highwater serve` processes over libp2p, a
// SIGKILL mid-backfill, live writes and deletes, and an exit code that says whether all converged.
describe('npm run demo', () => {
  it('backfills two devices, resumes the killed one, carries 10 writes and 5 deletes, and verifies every device', async () => {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first (npm test does)`);
    const { stdout } = await run(process.execPath, [bin, 'demo'], { timeout: 120_000 });
    const number = (text: string | undefined): number => Number((text ?? 'NaN').replaceAll(',', ''));

    expect(stdout).toContain('device-a wrote the library: 50 locations, 15,000 entries, 10 volumes, 60 shared tags (15,120 records');
    const killed = /device-c SIGKILLed at \d+% \(([\d,]+) records stored\)/.exec(stdout);
    expect(killed).not.toBeNull();
    const killedAt = number(killed![1]);
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(15_120);
    // Resumed, not restarted: it fetched what it lacked (at most a response of pages again), not the library.
    const resumed = /device-c restarted holding ([\d,]+) records [^]*?then it fetched ([\d,]+) changes more for the ([\d,]+) records it lacked/.exec(stdout);
    expect(resumed).not.toBeNull();
    const [held, fetched, lacked] = [number(resumed![1]), number(resumed![2]), number(resumed![3])];
    expect(held).toBeGreaterThanOrEqual(killedAt);
    expect(held + lacked).toBe(15_120);
    expect(fetched).toBeGreaterThanOrEqual(lacked);
    expect(fetched).toBeLessThanOrEqual(lacked + 1_000); // at most one response of pages (4 × 250) again
    // Only the new records travel: 10 applied on each of the others, then 5 deletes.
    expect(stdout).toMatch(/device-a wrote 10 new entries; what reached the others:\n  device-b  applied 10 changes.*\n  device-c  applied 10 changes/);
    expect(stdout).toMatch(/device-a deleted 5 entries; every device now holds 15,005 entries:\n  device-b  applied 5 changes.*\n  device-c  applied 5 changes/);
    expect(stdout).toMatch(/^  entry of device-a\s+[\d,]+ records  (checkpoint after ent-\d+|watermark)$/m);
    // The verification table, from `highwater verify`.
    for (const [resource, count] of [
      ['location', 50],
      ['entry', 15_005],
      ['tag', 60],
      ['volume', 10],
    ] as const) {
      expect(stdout).toMatch(new RegExp(`^${resource}\\s+${count} ([0-9a-f]{12})\\s+${count} \\1\\s+${count} \\1\\s+identical$`, 'm'));
    }
    expect(stdout).toContain('converged: 3 devices hold the same library');
    expect(stdout).toMatch(/^converged in [\d.]+ s$/m);
  });
});
