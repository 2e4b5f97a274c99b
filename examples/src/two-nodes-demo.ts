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
import { createInProcessNetwork, ModelRegistry, SyncNode, type RecordCursor, type SyncRecord } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { generateLibrary, libraryModels, recordKey } from './library-models.js';

const SIZE = { locations: 50, volumes: 10, entries: 20_000, tags: 25 };
const LIBRARY_ID = 'demo-library';
const key = recordKey;

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
  const registry = new ModelRegistry(libraryModels);
  const network = createInProcessNetwork();
  const a = await openNode(directory, 'device-a', registry, network);
  const b = await openNode(directory, 'device-b', registry, network);
  try {
    console.log(`Highwater demo — library in ${directory}`);
    await a.node.start();
    let t = performance.now();
    await generateLibrary(a.node, SIZE);
    console.log(`A wrote ${Object.values(SIZE).reduce((x, y) => x + y)} records in ${Math.round(performance.now() - t)} ms`);

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
