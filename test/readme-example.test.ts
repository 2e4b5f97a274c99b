import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const root = new URL('..', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

// The root README shows examples/two-peers-libp2p/src/main.ts verbatim; that file is compiled
// by `tsc -b` (npm test's first step) and run by test/examples.test.ts. This keeps the copy true.
describe('README integration example', () => {
  it('is the two-peers-libp2p example, character for character', () => {
    const readme = read('README.md');
    const block = /<!-- example: ([^ ]+) -->\n```ts\n([^]*?)```\n<!-- end example -->/.exec(readme);
    expect(block).not.toBeNull();
    expect(block![1]).toBe('examples/two-peers-libp2p/src/main.ts');
    expect(block![2]).toBe(read(block![1]!));
  });

  it('links every package README and BENCHMARKS.md, and names the two commands', () => {
    const readme = read('README.md');
    for (const pkg of ['core', 'storage-sqlite', 'storage-postgres', 'transport-libp2p', 'transport-http', 'cli', 'sim']) {
      expect(readme).toContain(`(packages/${pkg}/README.md)`);
    }
    expect(readme).toContain('(BENCHMARKS.md)');
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toMatch(/^npm test\s/m);
    expect(readme).not.toContain('two-nodes-demo');
  });
});
