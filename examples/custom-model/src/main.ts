/**
 * Your own TypeORM entities as Syncable models, synced between two devices (a laptop and a
 * phone) over libp2p on loopback, each with its own SQLite files: a first sync in dependency
 * order, a note that waits for its notebook, updates (one to a shared record) and a delete.
 * Exits 0 only when every step happened and both devices end up with the same records.
 */
import 'reflect-metadata'; // first: the entities' decorators record their metadata through it
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ModelRegistry, SyncNode, formatHlc, modelFromEntity, type AppliedChanges } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { createLibp2pTransport, loadOrCreatePeerId, type Libp2pTransport } from '@highwater/transport-libp2p';
import { Label, Note, Notebook } from './entities.js';

const registry = new ModelRegistry([Notebook, Label, Note].map((entity) => modelFromEntity(entity)));
const MODELS = registry.syncOrder(); // dependencies first: ['label', 'notebook', 'note']

// What a write carries: the entity's columns except its key (and its relation objects).
const notebook = (id: string, data: Omit<Notebook, 'id'>) => ({ id, data });
const label = (id: string, data: Omit<Label, 'id'>) => ({ id, data });
const note = (id: string, data: Omit<Note, 'id' | 'notebook'>) => ({ id, data });

interface Device {
  readonly name: string;
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly transport: Libp2pTransport;
}

async function openDevice(folder: string, name: string, otherPeerIds: string[], deviceIds: string[]): Promise<Device> {
  const storage = createSqliteStorage({ directory: join(folder, name), registry });
  const transport = await createLibp2pTransport({ keyPath: join(folder, name, 'node.key'), members: otherPeerIds });
  const node = await SyncNode.create({ libraryId: 'notes', deviceId: name, registry, storage, transport, members: deviceIds });
  await node.start();
  return { name, node, storage, transport };
}

/** Waits until `check` holds; parking has no event of its own, so this polls. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** What a device applied from its peer, in order: "notebook ×1, note ×2". */
function recordApplied(device: Device): () => string {
  let seen: AppliedChanges[] = [];
  device.node.applied$.subscribe((change) => {
    if (change.source !== 'local') seen.push(change);
  });
  return () => {
    const text = seen.map((c) => (c.deleted ? `${c.model} ×${c.deleted} deleted` : `${c.model} ×${c.upserted}`)).join(', ');
    seen = [];
    return text || 'nothing';
  };
}

/** Every record of a device, model by model, as comparable text. */
async function contents(device: Device): Promise<string> {
  const models = await Promise.all(MODELS.map((model) => device.storage.recordStore.page(model, { limit: 10_000 })));
  return JSON.stringify(models.map((records) => records.map((r) => [r.id, r.ownerDeviceId, formatHlc(r.hlc), r.data])));
}

const folder = await mkdtemp(join(tmpdir(), 'highwater-custom-model-'));
const devices: Device[] = [];
try {
  const peerIds = [await loadOrCreatePeerId(join(folder, 'laptop', 'node.key')), await loadOrCreatePeerId(join(folder, 'phone', 'node.key'))];
  const laptop = await openDevice(folder, 'laptop', [peerIds[1]!], ['laptop', 'phone']);
  devices.push(laptop);
  const phone = await openDevice(folder, 'phone', [peerIds[0]!], ['laptop', 'phone']);
  devices.push(phone);
  const phoneApplied = recordApplied(phone);
  const stored = async (device: Device, model: string, id: string) => (await device.node.get(model, [id]))[0]?.data;
  console.log(`models in sync order: ${MODELS.join(' → ')}`);

  // 1. Written apart, then connected: the phone's first sync brings notebooks before the notes in them.
  await laptop.node.write('notebook', [notebook('nb-travel', { title: 'Travel' })]);
  await laptop.node.write('note', [
    note('note-1', { notebookId: 'nb-travel', labelId: null, text: 'Passport', pinned: false, editedAtMs: 1_700_000_000_000 }),
    note('note-2', { notebookId: 'nb-travel', labelId: null, text: 'Book the train', pinned: false, editedAtMs: 1_700_000_000_001 }),
  ]);
  await phone.node.write('label', [label('label-todo', { name: 'todo' })]);
  await phone.transport.dial(laptop.transport.addresses()[0]!);
  await until('the phone holding the Travel notes', async () => (await phone.node.count('note')) === 2);
  await until('the laptop holding the phone\'s label', async () => (await laptop.node.count('label')) === 1);
  console.log(`1. first sync    phone applied: ${phoneApplied()}; laptop got label-todo ${JSON.stringify(await stored(laptop, 'label', 'label-todo'))}`);

  // 2. A note filed under a notebook its device writes only afterwards (a local write is stored
  //    as written): the phone keeps the note waiting, not failed, until the notebook arrives.
  await laptop.node.write('note', [
    note('note-3', { notebookId: 'nb-work', labelId: 'label-todo', text: 'Quarterly report', pinned: true, editedAtMs: 1_700_000_000_002 }),
  ]);
  await until('the phone parking note-3', () => phone.node.parkedCount() === 1);
  console.log(`2. note first    phone: note-3 waits for notebook nb-work (${phone.node.parkedCount()} parked, ${await phone.node.count('note')} notes stored)`);
  await laptop.node.write('notebook', [notebook('nb-work', { title: 'Work' })]);
  await until('the phone applying note-3', async () => (await phone.node.count('note')) === 3 && phone.node.parkedCount() === 0);
  console.log(`   notebook next phone applied: ${phoneApplied()}; ${phone.node.parkedCount()} parked`);

  // 3. Updates: the laptop edits its note, and renames the label the phone created (labels are shared).
  await laptop.node.write('note', [
    note('note-1', { notebookId: 'nb-travel', labelId: 'label-todo', text: 'Passport and charger', pinned: true, editedAtMs: 1_700_000_000_003 }),
  ]);
  await laptop.node.write('label', [label('label-todo', { name: 'to do' })]);
  await until('the phone holding both updates', async () => {
    const [edited, renamed] = [await stored(phone, 'note', 'note-1'), await stored(phone, 'label', 'label-todo')];
    return edited?.['text'] === 'Passport and charger' && renamed?.['name'] === 'to do';
  });
  const edited = await stored(phone, 'note', 'note-1');
  console.log(`3. updates       phone applied: ${phoneApplied()}; note-1 is now "${edited?.['text']}" (pinned: ${edited?.['pinned']}), label-todo "${(await stored(phone, 'label', 'label-todo'))?.['name']}"`);

  // 4. A delete travels as a tombstone.
  await laptop.node.delete('note', ['note-2']);
  await until('the phone dropping note-2', async () => (await stored(phone, 'note', 'note-2')) === undefined);
  console.log(`4. delete        phone applied: ${phoneApplied()}; ${await phone.node.count('note')} notes left`);

  // Both devices hold the same records, clocks included.
  await Promise.all(devices.map((device) => device.node.settle()));
  const counts = async (device: Device) => (await Promise.all(MODELS.map(async (model) => `${model} ${await device.node.count(model)}`))).join(', ');
  const [onLaptop, onPhone] = [await contents(laptop), await contents(phone)];
  if (onLaptop !== onPhone) throw new Error(`the devices differ:\nlaptop ${onLaptop}\nphone  ${onPhone}`);
  console.log(`in sync: laptop ${await counts(laptop)} | phone ${await counts(phone)}`);
} catch (error) {
  console.error(`failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  for (const { node, storage } of devices) {
    await node.stop();
    await storage.close();
  }
  await rm(folder, { recursive: true, force: true });
}
