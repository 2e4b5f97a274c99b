/**
 * Two Highwater nodes in one process, each with its own SQLite files in a temp folder,
 * connected by the in-process transport. Device A generates a library; device B backfills
 * it, then both write live. Prints the counts per resource on both sides and exits 0 only
 * if both hold exactly the same records.
 *
 *   npm run demo
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { createInProcessNetwork, ModelRegistry, SyncNode, type ModelDefinition, type RecordCursor, type SyncRecord } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';

const models: ModelDefinition[] = [
  { name: 'location', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' }, path: { type: 'text' } } },
  { name: 'volume', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' }, capacity: { type: 'integer' } } },
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      mtime: { type: 'integer' },
      kind: { type: 'text' },
      locationId: { type: 'text', references: 'location' },
      parentId: { type: 'text', nullable: true, references: 'entry' },
    },
  },
  { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' }, color: { type: 'text', nullable: true } } },
];

const COUNTS = { location: 50, volume: 10, entry: 20_000, tag: 25 };
const LIBRARY_ID = 'demo-library';
// Time-ordered ids: keys that grow with creation time write fastest into SQLite indexes.
const key = (kind: string, n: number): string => `${kind}-${String(n).padStart(8, '0')}`;

async function openNode(directory: string, deviceId: string, registry: ModelRegistry, network: ReturnType<typeof createInProcessNetwork>) {
  const storage = createSqliteStorage({ directory: join(directory, deviceId), registry });
  const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId, registry, storage, transport: network.transport(deviceId), members: ['device-a', 'device-b'] });
  return { storage, node };
}

async function dump(storage: SqliteStorage, model: string): Promise<SyncRecord[]> {
  const out: SyncRecord[] = [];
  let after: RecordCursor | null = null;
  for (;;) {
    const page: SyncRecord[] = await storage.recordStore.page(model, { after, limit: 5000 });
    out.push(...page);
    if (page.length < 5000) return out;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
  }
}

async function main(): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), 'highwater-demo-'));
  const registry = new ModelRegistry(models);
  const network = createInProcessNetwork();
  const a = await openNode(directory, 'device-a', registry, network);
  const b = await openNode(directory, 'device-b', registry, network);
  try {
    console.log(`Highwater demo — library in ${directory}`);
    await a.node.start();
    let t = performance.now();
    await a.node.write('location', Array.from({ length: COUNTS.location }, (_, i) => ({ id: key('loc', i), data: { name: `Location ${i}`, path: `/data/${i}` } })));
    await a.node.write('volume', Array.from({ length: COUNTS.volume }, (_, i) => ({ id: key('vol', i), data: { name: `Volume ${i}`, capacity: 1e12 } })));
    for (let start = 0; start < COUNTS.entry; start += 1000) {
      await a.node.write(
        'entry',
        Array.from({ length: 1000 }, (_, j) => {
          const n = start + j;
          return {
            id: key('ent', n),
            data: { name: `file-${n}.jpg`, size: 1024 + n, mtime: 1_700_000_000_000 + n, kind: n % 50 === 0 ? 'dir' : 'file', locationId: key('loc', n % COUNTS.location), parentId: n % 50 === 0 ? null : key('ent', n - (n % 50)) },
          };
        }),
      );
    }
    await a.node.write('tag', Array.from({ length: COUNTS.tag }, (_, i) => ({ id: key('tag', i), data: { name: `tag ${i}`, color: null } })));
    console.log(`A wrote ${Object.values(COUNTS).reduce((x, y) => x + y)} records in ${Math.round(performance.now() - t)} ms`);

    let lastReported = -1;
    b.node.progress$.subscribe((p) => {
      const pct = Math.floor(p.ratio * 4) * 25;
      if (p.phase === 'backfill' && pct !== lastReported) {
        lastReported = pct;
        console.log(`B backfill ${String(pct).padStart(3)}%  ${p.applied}/${p.total} records${p.current ? ` (${p.current.resource})` : ''}`);
      }
    });
    await b.node.start();
    t = performance.now();
    const ready = firstValueFrom(b.node.state$.pipe(filter((s) => s === 'ready')));
    network.connect('device-a', 'device-b');
    await ready;
    const seconds = (performance.now() - t) / 1000;
    console.log(`B backfilled in ${seconds.toFixed(2)} s (${Math.round(b.node.metrics().changesApplied / seconds)} records/s)`);

    // Live, both ways: B edits a shared tag, A deletes a few entries and adds a location.
    await b.node.write('tag', [{ id: key('tag', 0), data: { name: 'favourites', color: 'gold' } }]);
    await a.node.delete('entry', [key('ent', 1), key('ent', 2), key('ent', 3)]);
    await a.node.write('location', [{ id: key('loc', 999), data: { name: 'New location', path: '/new' } }]);
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all([a.node.settle(), b.node.settle()]);

    let converged = true;
    console.log('\nresource     device-a   device-b');
    for (const model of registry.syncOrder()) {
      const [ra, rb] = [await dump(a.storage, model), await dump(b.storage, model)];
      const same = JSON.stringify(ra) === JSON.stringify(rb);
      converged &&= same;
      console.log(`${model.padEnd(10)} ${String(ra.length).padStart(10)} ${String(rb.length).padStart(10)}  ${same ? 'identical' : 'DIFFERENT'}`);
    }
    console.log(converged ? '\nconverged: both devices hold the same library' : '\nNOT converged');
    return converged ? 0 : 1;
  } finally {
    await a.node.stop();
    await b.node.stop();
    await a.storage.close();
    await b.storage.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
