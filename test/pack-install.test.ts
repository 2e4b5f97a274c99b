import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

/**
 * The packages as an integrator gets them: every non-private package under packages/ is packed
 * with `npm pack` (from its built dist; `npm run build` first), installed by `file:` tarball into
 * a fresh project in the OS temp folder with a plain `npm install` (dependencies from the
 * registry, better-sqlite3 compiled there), and used from a plain .mjs file in that project:
 * two nodes on SQLite over libp2p on loopback, one write on A arriving on B.
 *
 * One install for every assertion; it compiles better-sqlite3 (~70–100 s on 2 cores).
 * HIGHWATER_PACK_EXCLUDE=@highwater/cli (comma-separated names) leaves packages out, for a
 * package that is mid-edit; never set it in CI.
 */
const run = promisify(execFile);
const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '..');
const INSTALL_TIMEOUT_MS = 330_000;

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  main?: string;
  types?: string;
  bin?: string | Record<string, string>;
  exports?: unknown;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
interface Workspace {
  folder: string; // packages/<x>
  manifest: Manifest;
}
interface Packed {
  workspace: Workspace;
  tarball: string;
  files: string[];
}

const excluded = new Set(
  (process.env['HIGHWATER_PACK_EXCLUDE'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

function publishable(): Workspace[] {
  const all = readdirSync(join(repoRoot, 'packages'))
    .map((name) => join('packages', name))
    .filter((folder) => existsSync(join(repoRoot, folder, 'package.json')))
    .map((folder) => ({ folder, manifest: JSON.parse(readFileSync(join(repoRoot, folder, 'package.json'), 'utf8')) as Manifest }))
    .filter((w) => w.manifest.private !== true);
  const skipped = all.filter((w) => excluded.has(w.manifest.name) || excluded.has(w.folder.split('/')[1]!));
  if (skipped.length > 0) console.warn(`pack-install: HIGHWATER_PACK_EXCLUDE leaves out ${skipped.map((w) => w.manifest.name).join(', ')}`);
  return all.filter((w) => !skipped.includes(w));
}

/** Every file a manifest points at (main, types, bin, each exports target). */
function entryFiles(manifest: Manifest): string[] {
  const files = new Set<string>();
  const add = (p: unknown) => {
    if (typeof p === 'string') files.add(p.replace(/^\.\//, ''));
    else if (p && typeof p === 'object') for (const v of Object.values(p)) add(v);
  };
  add(manifest.main);
  add(manifest.types);
  add(manifest.bin);
  add(manifest.exports);
  return [...files];
}

/** The environment of an integrator's shell: none of npm's or jest's per-run settings, nothing of the repo on PATH. */
function integratorEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_cafile', 'npm_config_nodedir']);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.has(key.toLowerCase())) continue;
    if (['NODE_OPTIONS', 'INIT_CWD', 'NODE_ENV', 'NODE_PATH'].includes(key) || key.startsWith('JEST_')) continue;
    env[key] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((p) => p && !p.startsWith(repoRoot + sep) && !p.split(sep).includes('node_modules'))
    .join(delimiter);
  return env;
}

const inside = (child: string, parent: string) => {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep);
};

// The integrator's program. Prints `REPORT {json}` last; exits non-zero on any failure.
const INTEGRATION = `
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelRegistry, SyncNode, Syncable, modelFromEntity } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { createLibp2pTransport, loadOrCreatePeerId } from '@highwater/transport-libp2p';
import { Column, Entity, PrimaryColumn } from 'typeorm';

const names = JSON.parse(process.argv[2]);
const report = { resolved: {}, coreSeenBy: {}, loaded: [], testingEntry: null, cjsRequire: null, typeormModel: null, received: null };
const require = createRequire(import.meta.url);

// Where each package resolves from, and which @highwater/core each adapter sees (one copy).
for (const name of names) {
  const url = import.meta.resolve(name);
  report.resolved[name] = fileURLToPath(url);
  await import(name);
  report.loaded.push(name);
  if (name !== '@highwater/core') report.coreSeenBy[name] = createRequire(url).resolve('@highwater/core');
}
report.testingEntry = fileURLToPath(import.meta.resolve('@highwater/core/testing'));
report.cjsRequire = typeof require('@highwater/core').ModelRegistry;

// @Syncable on a TypeORM entity of the app's own typeorm (decorators applied by hand: plain .mjs).
class Note {}
PrimaryColumn('text')(Note.prototype, 'id');
Column('text')(Note.prototype, 'text');
Entity()(Note);
Syncable({ name: 'note', ownership: 'device' })(Note);
report.typeormModel = modelFromEntity(Note);

const registry = new ModelRegistry([report.typeormModel]);
const folder = await mkdtemp(join(tmpdir(), 'highwater-pack-install-run-'));
const keyPath = (device) => join(folder, device, 'node.key');
const peerIds = { a: await loadOrCreatePeerId(keyPath('a')), b: await loadOrCreatePeerId(keyPath('b')) };
const devices = [];
async function openDevice(name, other) {
  const storage = createSqliteStorage({ directory: join(folder, name), registry });
  const transport = await createLibp2pTransport({ keyPath: keyPath(name), members: [peerIds[other]] });
  const node = await SyncNode.create({ libraryId: 'notes', deviceId: 'device-' + name, registry, storage, transport, members: ['device-a', 'device-b'] });
  devices.push({ node, storage });
  await node.start();
  return { node, transport };
}
try {
  const a = await openDevice('a', 'b');
  const b = await openDevice('b', 'a');
  const received = new Promise((resolve) => {
    b.node.applied$.subscribe((change) => {
      if (change.model === 'note' && change.source !== 'local') resolve(b.node.get('note', ['note-1']));
    });
  });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('device B did not receive the note within 30 s')), 30_000).unref());
  await b.transport.dial(a.transport.addresses()[0]);
  await a.node.write('note', [{ id: 'note-1', data: { text: 'Hello from device A' } }]);
  const [note] = await Promise.race([received, timeout]);
  report.received = { id: note?.id, owner: note?.ownerDeviceId, data: note?.data };
  console.log('device B received ' + note?.id + ' from ' + note?.ownerDeviceId + ': ' + JSON.stringify(note?.data));
} finally {
  for (const { node, storage } of devices.reverse()) {
    await node.stop();
    await storage.close();
  }
  await rm(folder, { recursive: true, force: true });
}
console.log('REPORT ' + JSON.stringify(report));
`;

describe('the packed packages in a fresh project', () => {
  const workspaces = publishable();
  const names = workspaces.map((w) => w.manifest.name);
  let tmp = '';
  let project = '';
  let packed: Packed[] = [];
  let installOutput = '';

  beforeAll(async () => {
    // Built? npm pack packs whatever dist holds, so check before packing.
    for (const w of workspaces) {
      const missing = entryFiles(w.manifest).filter((f) => !existsSync(join(repoRoot, w.folder, f)));
      if (missing.length > 0) {
        throw new Error(`${w.folder}: ${missing.join(', ')} missing: run \`npm run build\` first (npm test does)`);
      }
    }

    tmp = await mkdtemp(join(tmpdir(), 'highwater-pack-install-'));
    if (inside(tmp, repoRoot)) throw new Error(`the temp folder ${tmp} is inside the repo: set TMPDIR elsewhere`);
    // Node resolves bare imports up every ancestor: none may hold a node_modules that could stand in.
    for (let dir = dirname(tmp); ; dir = dirname(dir)) {
      if (existsSync(join(dir, 'node_modules'))) throw new Error(`${join(dir, 'node_modules')} would shadow the test project's packages`);
      if (dirname(dir) === dir) break;
    }
    const tarballs = join(tmp, 'tarballs');
    project = join(tmp, 'app');

    await mkdir(tarballs);
    await mkdir(project);

    const { stdout } = await run(
      'npm',
      ['pack', '--json', '--pack-destination', tarballs, ...workspaces.flatMap((w) => ['--workspace', w.folder])],
      { cwd: repoRoot, maxBuffer: 64 << 20, timeout: 120_000 },
    );
    const results = JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[];
    packed = workspaces.map((workspace) => {
      const result = results.find((r) => r.name === workspace.manifest.name);
      if (!result) throw new Error(`npm pack did not report ${workspace.manifest.name}`);
      return { workspace, tarball: join(tarballs, result.filename), files: result.files.map((f) => f.path) };
    });

    await writeFile(
      join(project, 'package.json'),
      JSON.stringify(
        {
          name: 'highwater-integrator',
          version: '1.0.0',
          private: true,
          type: 'module',
          dependencies: {
            ...Object.fromEntries(packed.map((p) => [p.workspace.manifest.name, `file:${p.tarball}`])),
            // The app's own TypeORM, for @Syncable (an optional peer of core).
            typeorm: JSON.parse(readFileSync(join(repoRoot, 'packages/core/package.json'), 'utf8')).peerDependencies.typeorm,
          },
        },
        null,
        2,
      ),
    );
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: project,
      env: integratorEnv(),
      maxBuffer: 64 << 20,
      timeout: INSTALL_TIMEOUT_MS,
    });
    installOutput = install.stdout + install.stderr;
  }, INSTALL_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    if (tmp && !process.env['HIGHWATER_KEEP_PACK_INSTALL']) await rm(tmp, { recursive: true, force: true });
  });

  it('packs every publishable package with its entry points, README and LICENSE, and no sources or tests', () => {
    expect(names).toEqual(expect.arrayContaining(['@highwater/core', '@highwater/storage-sqlite', '@highwater/transport-libp2p']));
    const problems = packed.map(({ workspace, files }) => {
      const required = ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', ...entryFiles(workspace.manifest)];
      const missing = [...new Set(required)].filter((f) => !files.includes(f));
      const unwanted = files.filter((f) => /(^|\/)(src|test|tests|__tests__)\//.test(f) || /\.test\.[cm]?[jt]s$/.test(f) || f.endsWith('.tsbuildinfo'));
      // A compiled file whose source is gone (tsc -b never deletes outputs) must not ship: `npm run clean && npm run build`.
      const stale = files
        .filter((f) => f.startsWith('dist/') && f.endsWith('.js'))
        .filter((f) => !existsSync(join(repoRoot, workspace.folder, 'src', f.slice('dist/'.length).replace(/\.js$/, '.ts'))));
      return { package: workspace.manifest.name, missing, unwanted, stale };
    });
    expect(problems).toEqual(packed.map((p) => ({ package: p.workspace.manifest.name, missing: [], unwanted: [], stale: [] })));
  });

  it('depends on no @highwater package that is not published with it', () => {
    for (const { workspace } of packed) {
      const wanted = Object.keys({ ...workspace.manifest.dependencies, ...workspace.manifest.peerDependencies }).filter((d) => d.startsWith('@highwater/'));
      const unpublished = wanted.filter((d) => !names.includes(d));
      expect({ package: workspace.manifest.name, unpublished }).toEqual({ package: workspace.manifest.name, unpublished: [] });
    }
  });

  it('installs every package from its tarball, one copy each of core and reflect-metadata, without peer conflicts', async () => {
    expect(installOutput).not.toMatch(/ERESOLVE|peer dep|Could not resolve dependency/i);
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; version?: string }> };
    const highwater = Object.entries(lock.packages).filter(([path]) => /node_modules\/@highwater\//.test(path));
    expect(highwater.map(([path]) => path).sort()).toEqual(names.map((n) => `node_modules/${n}`).sort());
    for (const [path, entry] of highwater) expect({ path, resolved: entry.resolved }).toEqual({ path, resolved: expect.stringMatching(/^file:.*\.tgz$/) });
    for (const single of ['@highwater/core', 'reflect-metadata', 'typeorm']) {
      const copies = Object.keys(lock.packages).filter((path) => path.endsWith(`node_modules/${single}`));
      expect({ single, copies }).toEqual({ single, copies: [`node_modules/${single}`] });
    }
  });

  it('runs two nodes on SQLite over libp2p from a plain .mjs in that project: a write on A arrives on B', async () => {
    const script = join(project, 'integration.mjs');
    await writeFile(script, INTEGRATION);
    const { stdout } = await run(process.execPath, [script, JSON.stringify(names)], {
      cwd: project,
      env: integratorEnv(),
      timeout: 90_000,
      maxBuffer: 16 << 20,
    });
    expect(stdout).toContain('device B received note-1 from device-a: {"text":"Hello from device A"}');
    const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
    if (!line) throw new Error(`no REPORT line in:\n${stdout}`);
    const report = JSON.parse(line.slice('REPORT '.length)) as {
      resolved: Record<string, string>;
      coreSeenBy: Record<string, string>;
      loaded: string[];
      testingEntry: string;
      cjsRequire: string;
      typeormModel: unknown;
      received: unknown;
    };
    const modules = join(project, 'node_modules');
    expect(report.loaded).toEqual(names);
    for (const name of names) {
      expect({ name, from: report.resolved[name] }).toEqual({ name, from: expect.stringContaining(join(modules, name) + sep) });
      expect(inside(report.resolved[name]!, repoRoot)).toBe(false);
    }
    // Every adapter sees the app's single @highwater/core (a peer dependency, not a copy of its own).
    for (const [name, core] of Object.entries(report.coreSeenBy)) {
      expect({ name, core }).toEqual({ name, core: report.resolved['@highwater/core'] });
    }
    expect(report.testingEntry).toBe(join(modules, '@highwater/core/dist/testing/index.js'));
    expect(report.cjsRequire).toBe('function'); // require('@highwater/core') from CommonJS (require(esm), Node ≥ 20.19)
    expect(report.typeormModel).toEqual({ name: 'note', ownership: 'device', key: 'id', fields: { text: { type: 'text' } }, table: 'note' });
    expect(report.received).toEqual({ id: 'note-1', owner: 'device-a', data: { text: 'Hello from device A' } });
  }, 120_000);

  // Every command a packed package installs (the cli's `highwater`), from the project's node_modules/.bin.
  const bins = workspaces.flatMap((w) => {
    const bin = w.manifest.bin;
    if (bin === undefined) return [];
    return typeof bin === 'string' ? [w.manifest.name.split('/').pop()!] : Object.keys(bin);
  });
  (bins.length > 0 ? it : it.skip)(`runs the installed commands with --help: ${bins.join(', ') || 'none packed'}`, async () => {
    for (const name of bins) {
      const { stdout } = await run(join(project, 'node_modules', '.bin', name), ['--help'], { cwd: project, env: integratorEnv(), timeout: 30_000 });
      expect({ name, usage: /usage/i.test(stdout) && stdout.includes(name) }).toEqual({ name, usage: true });
    }
  });
});
