import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceKey, ModelRegistry, SyncNode, type SyncRecord } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';
import { createLibp2pTransport, libp2pPeerIdOf } from '@highwater/transport-libp2p';

// One model: notes, each owned (and only written) by the device that created it.
const registry = new ModelRegistry([{ name: 'note', ownership: 'device', key: 'id', fields: { text: { type: 'text' } } }]);
const folder = await mkdtemp(join(tmpdir(), 'highwater-two-peers-'));

// One Ed25519 key per device (created on first use): the transport authenticates the device
// with it, and the device signs its changes with it. Devices exchange public keys to pair.
const keys = { a: DeviceKey.loadOrCreate(join(folder, 'a', 'device.key')), b: DeviceKey.loadOrCreate(join(folder, 'b', 'device.key')) };
const devices = [
  { deviceId: 'device-a', publicKey: keys.a.publicKey },
  { deviceId: 'device-b', publicKey: keys.b.publicKey },
];

async function openDevice(name: 'a' | 'b', other: 'a' | 'b') {
  const storage = createSqliteStorage({ directory: join(folder, name), registry });
  // Only the other device may connect (listens on 127.0.0.1).
  const transport = await createLibp2pTransport({ deviceKey: keys[name], members: [libp2pPeerIdOf(keys[other].publicKey)] });
  const node = await SyncNode.create({
    libraryId: 'notes',
    deviceId: `device-${name}`,
    registry,
    storage,
    transport,
    // Signed changes: each is checked against its owner's key, whoever relays it.
    trust: { deviceKey: keys[name], devices },
  });
  await node.start(); // starts the transport too
  return { node, storage, transport };
}

const a = await openDevice('a', 'b');
const b = await openDevice('b', 'a');
try {
  // Resolves once B holds the note, checked whenever B applies changes (pushed live or pulled).
  const received = new Promise<SyncRecord>((resolve) => {
    b.node.applied$.subscribe(async () => {
      const [note] = await b.node.get('note', ['note-1']);
      if (note) resolve(note);
    });
  });
  const timeout = new Promise<never>((_, reject) => {
    setTimeout(() => reject(new Error('timed out: device B did not receive the note within 10 s')), 10_000).unref();
  });

  await b.transport.dial(a.transport.addresses()[0]!);
  await a.node.write('note', [{ id: 'note-1', data: { text: 'Hello from device A' } }]);

  const note = await Promise.race([received, timeout]);
  console.log(`device B received ${note.id} from ${note.ownerDeviceId}: ${JSON.stringify(note.data)}`);
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  for (const { node, storage } of [a, b]) {
    await node.stop();
    await storage.close();
  }
  await rm(folder, { recursive: true, force: true });
}
