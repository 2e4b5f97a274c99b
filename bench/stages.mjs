// The receiver's work per page, stage by stage, each measured alone: what a backfill page costs
// the receiving node's one thread at the least, whatever the engine around it does.
//   store write   — SqliteRecordStore.applyBatch of 1000 records (the last-writer-wins upsert)
//   floor write   — the floor's plain INSERT OR REPLACE of the same rows, same schema and commits
//   floor read    — the floor's plain read of a page (keyset, raw rows) from the store just written
//   decode        — decodeMessage of a real state-response page as rows (UTF-8, JSON, protocol checks)
//   data checks   — the model's validation of each record's data
//   signatures    — verifying the owner's signatures of a relayed page (nodes with `trust`): written
//                   in writes of 1000 (one check per batch of SIGNATURE_BATCH_MAX), and written one
//                   change per write (one check per change)
//   transport     — receiving a response of the page's size from another process, CPU per response
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChangeSignatures, decodeMessage, DeviceKey, encodeMessage, formatHlc, jsonCodec, ModelRegistry } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { benchModels, entryData, entryKey } from './bench-models.mjs';
import { floorWriter, pages } from './floors.mjs';

const PAGE = 1000;
const PAGES = 60;
const registry = new ModelRegistry(benchModels);

function records(page) {
  const out = [];
  for (let n = page * PAGE; n < (page + 1) * PAGE; n++) {
    out.push({ id: entryKey(n), ownerDeviceId: 'device-a', hlc: { time: 1_767_000_000_000 + n, counter: 0, deviceId: 'device-a' }, data: entryData(n) });
  }
  return out;
}

/** ms per page of `write(page)` over PAGES pages into a fresh library folder, after 5 warm-up pages. */
async function perPage(write) {
  let total = 0;
  for (let p = 0; p < PAGES + 5; p++) {
    const rs = records(p);
    const t = performance.now();
    await write(rs);
    if (p >= 5) total += performance.now() - t;
  }
  return total / PAGES;
}

/** The store's write per page, and then the floor's plain read per page of what it wrote. */
async function storeWriteAndFloorRead() {
  const dir = mkdtempSync(join(tmpdir(), 'hw-stage-'));
  const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'full' });
  const store = await perPage((upserts) => storage.recordStore.applyBatch('entry', { upserts }));
  await storage.close();
  let read = 0;
  let count = 0;
  for (let round = 0; round < 2; round++) {
    let t = performance.now();
    for (const rows of pages(join(dir, 'database.db'), PAGE)) {
      if (round === 1) read += performance.now() - t; // round 0 warms the page cache
      count += rows.length;
      t = performance.now();
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return { store, floorRead: read / (count / 2 / PAGE) };
}

async function floorWrite() {
  const { commit, close } = await floorWriter();
  const ms = await perPage((rs) => commit(rs.map((r) => [r.id, r.data.parent, r.data.name, r.data.size, r.data.mtime, r.data.kind, r.ownerDeviceId, formatHlc(r.hlc)])));
  close();
  return ms;
}

function pageBytes(page) {
  const changes = records(page).map((r) => ({ model: 'entry', id: r.id, owner: r.ownerDeviceId, hlc: formatHlc(r.hlc), op: 'upsert', data: r.data }));
  return encodeMessage(jsonCodec, {
    v: 1,
    libraryId: 'bench',
    deviceId: 'device-a',
    type: 'state-response',
    requestId: 'r'.repeat(36),
    model: 'entry',
    owner: 'device-a',
    changes,
    next: { hlc: changes.at(-1).hlc, id: changes.at(-1).id },
    hasMore: true,
    // As a node answers a request for rows: each change goes as a row of these fields' values.
    fields: Object.keys(benchModels[0].fields),
  });
}

function decodeAndCheck() {
  const pages = Array.from({ length: 20 }, (_, p) => pageBytes(p));
  let decodeMs = 0;
  let checkMs = 0;
  let kept = 0; // what was decoded is used, so nothing is optimised away
  for (let round = 0; round < 6; round++) {
    for (const bytes of pages) {
      const started = performance.now();
      const message = decodeMessage(jsonCodec, bytes, 'bench');
      const decoded = performance.now();
      for (const c of message.changes) kept += Object.keys(registry.validateData(c.model, c.id, c.data)).length;
      if (round === 0) continue; // warm-up
      decodeMs += decoded - started;
      checkMs += performance.now() - decoded;
    }
  }
  if (kept === 0) throw new Error('nothing decoded');
  return { decode: decodeMs / (5 * pages.length), checks: checkMs / (5 * pages.length), bytes: pages[0].byteLength };
}

/** ms per page to verify the owner's signature of each of 1000 changes (what a node with `trust` adds per page). */
function verifySignatures() {
  const owner = DeviceKey.generate();
  const devices = [{ deviceId: 'device-a', publicKey: owner.publicKey }];
  const signer = new ChangeSignatures({ modelRegistry: registry, identity: { libraryId: 'bench', deviceId: 'device-a' } }, { deviceKey: owner, devices });
  const receiver = new ChangeSignatures({ modelRegistry: registry, identity: { libraryId: 'bench', deviceId: 'device-b' } }, { deviceKey: DeviceKey.generate(), devices });
  const changesOf = (p) => records(p).map((r) => ({ model: 'entry', id: r.id, owner: r.ownerDeviceId, hlc: r.hlc, op: 'upsert', data: r.data }));
  // A page of one write of 1000, and a page of 1000 writes of one.
  const batched = Array.from({ length: 6 }, (_, p) => signer.sign(changesOf(p)));
  const single = Array.from({ length: 6 }, (_, p) => changesOf(p).map((c) => signer.sign([c])[0]));
  const perPage = (pages) => {
    receiver.verify(pages[0]); // warm-up
    const started = performance.now();
    for (let p = 1; p < pages.length; p++) receiver.verify(pages[p]);
    return (performance.now() - started) / (pages.length - 1);
  };
  return { batched: perPage(batched), single: perPage(single) };
}

/** CPU of this process per response of `bytes` received from a child process over `transport`. */
async function transportReceive(transport, bytes) {
  const dir = mkdtempSync(join(tmpdir(), 'hw-stage-'));
  const child = fork(new URL('./stages-peer.mjs', import.meta.url), [transport, String(bytes), join(dir, 'peer.key')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise((resolve) => child.once('message', resolve));
  try {
    const { openPeerTransport } = await import('../packages/cli/dist/index.js');
    const childRef = await next();
    const peer = await openPeerTransport(transport, { keyPath: join(dir, 'key'), host: '127.0.0.1', port: 0 });
    await peer.transport.start();
    child.send({ members: [await peer.identity()] });
    await next();
    await peer.setMembers([childRef]);
    await peer.connect(childRef);
    while (!peer.transport.connectedPeers().includes(childRef.peerId)) await new Promise((r) => setTimeout(r, 10));
    const ask = () => peer.transport.request(childRef.peerId, new Uint8Array(100));
    for (let i = 0; i < 50; i++) await ask();
    const count = 300;
    const cpu = process.cpuUsage();
    for (let i = 0; i < count; i++) await ask();
    const used = process.cpuUsage(cpu);
    await peer.transport.stop();
    return (used.user + used.system) / 1000 / count;
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function oneRound() {
  const { store, floorRead } = await storeWriteAndFloorRead();
  const floor = await floorWrite();
  const { decode, checks, bytes } = decodeAndCheck();
  const { batched: signatures, single: signaturesSingle } = verifySignatures();
  const libp2p = await transportReceive('libp2p', bytes);
  const http = await transportReceive('http', bytes);
  return { store, floor, floorRead, decode, checks, signatures, signaturesSingle, bytes, libp2p, http };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Each stage's median over `rounds` rounds, every round measuring all stages in turn: this
 * machine's speed drifts by a third within minutes, and interleaving keeps a slow spell from
 * landing on one stage only.
 */
export async function measureStages({ rounds = 3 } = {}) {
  const all = [];
  for (let r = 0; r < rounds; r++) all.push(await oneRound());
  const m = (key) => median(all.map((round) => round[key]));
  return {
    rounds,
    store: m('store'),
    floor: m('floor'),
    floorRead: m('floorRead'),
    decode: m('decode'),
    checks: m('checks'),
    signatures: m('signatures'),
    signaturesSingle: m('signaturesSingle'),
    bytes: all[0].bytes,
    transport: { libp2p: m('libp2p'), http: m('http') },
  };
}
