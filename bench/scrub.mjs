// What a scrub costs (issue #20): device B holds N entries of device A's, both on SQLite files,
// signed (`trust`), over an in-process network (the scrub's own work, not a transport's):
//   clean    — B scrubs with nothing wrong: every record read, checked against A's signature
//              with its batch's proof, digested; A digests the same stream for B's request;
//   repair   — the same after `damaged` rows of B's file were altered and `lost` deleted
//              behind its back: found, read again from A, put right.
// Each round starts from a fresh pair; the median round by clean time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createInProcessNetwork, DeviceKey, ModelRegistry, SyncNode } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { benchModels, entryData, entryKey } from './bench-models.mjs';

const registry = new ModelRegistry(benchModels);
const WRITE = 1000;

export async function pair(n) {
  const keys = { 'device-a': DeviceKey.generate(), 'device-b': DeviceKey.generate() };
  const devices = Object.entries(keys).map(([deviceId, key]) => ({ deviceId, publicKey: key.publicKey }));
  const network = createInProcessNetwork();
  const dirs = [];
  const open = async (deviceId) => {
    const directory = mkdtempSync(join(tmpdir(), `hw-scrub-${deviceId}-`));
    dirs.push(directory);
    const storage = createSqliteStorage({ directory, registry, synchronous: 'normal' });
    const node = await SyncNode.create({ libraryId: 'bench', deviceId, registry, storage, transport: network.transport(deviceId), trust: { deviceKey: keys[deviceId], devices }, metricsIntervalMs: 0, scrubIntervalMs: 0 });
    await node.start();
    return { node, storage, directory };
  };
  const a = await open('device-a');
  for (let at = 0; at < n; at += WRITE) {
    await a.node.write('entry', Array.from({ length: Math.min(WRITE, n - at) }, (_, i) => ({ id: entryKey(at + i), data: entryData(at + i) })));
  }
  const b = await open('device-b');
  network.connect('device-a', 'device-b');
  while ((await b.node.count('entry')) < n) await new Promise((r) => setTimeout(r, 50));
  await b.node.settle();
  const close = async () => {
    for (const p of [a, b]) {
      await p.node.stop();
      await p.storage.close();
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  return { a, b, close, network };
}

/** Alters `damaged` rows and deletes `lost` ones of B's entries in its file, spread over the stream. */
function damage(directory, n, damaged, lost) {
  const db = new Database(join(directory, 'database.db'));
  const alter = db.prepare("UPDATE entry SET name = 'garbage' WHERE uuid = ?");
  const remove = db.prepare('DELETE FROM entry WHERE uuid = ?');
  const step = Math.floor(n / (damaged + lost + 1));
  for (let i = 1; i <= damaged; i++) alter.run(entryKey(i * step));
  for (let i = damaged + 1; i <= damaged + lost; i++) remove.run(entryKey(i * step));
  db.close();
}

export async function scrubCost({ n, rounds, damaged = 100, lost = 100, log = () => {} }) {
  const runs = [];
  for (let round = 0; round < rounds; round++) {
    const { b, close } = await pair(n);
    try {
      let started = performance.now();
      const clean = await b.node.scrub();
      const cleanMs = performance.now() - started;
      if (clean.damaged.length || clean.diverged.length) throw new Error(`a clean scrub found something: ${JSON.stringify(clean)}`);
      // Behind the node's back, through a second connection to its file (WAL mode allows it).
      damage(b.directory, n, damaged, lost);
      started = performance.now();
      const repair = await b.node.scrub();
      const repairMs = performance.now() - started;
      const fixed = repair.repaired[0];
      if (!fixed || fixed.replaced !== damaged || fixed.restored !== lost) throw new Error(`the repair did not put everything right: ${JSON.stringify(repair)}`);
      runs.push({ cleanMs, repairMs });
      log(`scrub of ${n}: clean ${cleanMs.toFixed(0)} ms, with ${damaged} altered and ${lost} lost ${repairMs.toFixed(0)} ms`);
    } finally {
      await close();
    }
  }
  const median = [...runs].sort((x, y) => x.cleanMs - y.cleanMs)[Math.floor(runs.length / 2)];
  return { n, rounds, damaged, lost, runs, median };
}
