import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { PG_URL, requirePostgres } from './support/postgres.js';

// Each example as its README runs it (`npm start -w @highwater/example-<name>`, minus the build):
// its built main.js in a process of its own, which exits 0 only when what it shows happened.

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runExample(name: string, env: Record<string, string> = {}): Promise<Run> {
  const main = new URL(`../examples/${name}/dist/main.js`, import.meta.url).pathname;
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve) => {
    execFile(process.execPath, [main], { timeout: 60_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0; // null: killed by the timeout
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit code 0, or a failure that shows what the example printed. */
function expectSuccess(run: Run): void {
  if (run.code !== 0) throw new Error(`exited with ${run.code ?? 'a timeout'}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  expect(run.code).toBe(0);
}

describe('examples', () => {
  it('two-peers-libp2p: device B receives the note device A wrote', async () => {
    const run = await runExample('two-peers-libp2p');
    expectSuccess(run);
    expect(run.stdout).toContain('device B received note-1 from device-a: {"text":"Hello from device A"}');
  }, 90_000);

  it('custom-model: TypeORM entities sync in dependency order, with a waiting note, updates and a delete', async () => {
    const run = await runExample('custom-model');
    expectSuccess(run);
    expect(run.stdout).toMatch(/^models in sync order: label → notebook → note$/m);
    // The first sync brings the notebook before the notes in it.
    expect(run.stdout).toMatch(/^1\. first sync +phone applied: notebook ×1, note ×2; laptop got label-todo \{"name":"todo"\}$/m);
    expect(run.stdout).toContain('phone: note-3 waits for notebook nb-work (1 parked, 2 notes stored)');
    expect(run.stdout).toMatch(/notebook next phone applied: notebook ×1, note ×1; 0 parked$/m);
    expect(run.stdout).toContain('note-1 is now "Passport and charger" (pinned: true), label-todo "to do"');
    expect(run.stdout).toContain('phone applied: note ×1 deleted; 2 notes left');
    expect(run.stdout).toMatch(/^in sync: laptop label 1, notebook 2, note 2 \| phone label 1, notebook 2, note 2$/m);
  }, 90_000);

  // Never skipped: with PostgreSQL down this fails, saying how to start it.
  it('http-hub-postgres: both laptops get each other\'s records through the hub, and all three match', async () => {
    await requirePostgres();
    const run = await runExample('http-hub-postgres', { PG_URL });
    expectSuccess(run);
    expect(run.stdout).toMatch(/laptop A wrote 1 album, 3 photos: on the hub after \d+ ms, on laptop B \d+ ms later/);
    expect(run.stdout).toMatch(/laptop B wrote 1 photo, renamed the album: on laptop A after \d+ ms, through the hub/);
    expect(run.stdout).toMatch(/^hub +postgres +1 +4$/m);
    expect(run.stdout).toMatch(/^laptop-a +sqlite +1 +4$/m);
    expect(run.stdout).toMatch(/^laptop-b +sqlite +1 +4$/m);
    expect(run.stdout).toContain('identical on all three');

    // Its library lived in a schema of its own, dropped at the end.
    const schema = /schema (hw_example_hub_[0-9a-f]+)/.exec(run.stdout)?.[1];
    expect(schema).toBeDefined();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const left = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      expect(left.rowCount).toBe(0);
    } finally {
      await client.end();
    }
  }, 90_000);

  it('http-hub-postgres: without PostgreSQL, exits 1 saying how to start it', async () => {
    const port = await freePort(); // nothing listens there
    const url = `postgres://postgres@127.0.0.1:${port}/test`;
    const run = await runExample('http-hub-postgres', { PG_URL: url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`PostgreSQL is not reachable at ${url}: start it with \`pg_ctlcluster --skip-systemctl-redirect 15 main start\``);
  }, 90_000);
});

/** A loopback port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
