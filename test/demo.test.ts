import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

const run = promisify(execFile);
const demo = new URL('../examples/dist/two-nodes-demo.js', import.meta.url).pathname;

// `npm run demo` as the README promises it: a separate process that exits 0 only on convergence.
describe('npm run demo', () => {
  it('converges and prints the counts per resource on both sides', async () => {
    if (!existsSync(demo)) throw new Error(`${demo} is missing: run \`npm run build\` first (npm test does)`);
    const { stdout } = await run(process.execPath, [demo], { timeout: 120_000 });
    expect(stdout).toMatch(/^entry\s+19997\s+19997\s+identical$/m);
    expect(stdout).toMatch(/^location\s+51\s+51\s+identical$/m);
    expect(stdout).toMatch(/^tag\s+25\s+25\s+identical$/m);
    expect(stdout).toMatch(/^volume\s+10\s+10\s+identical$/m);
    expect(stdout).toContain('converged: both devices hold the same library');
  });
});
