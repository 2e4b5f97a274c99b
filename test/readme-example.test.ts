import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createInProcessNetwork, ModelRegistry, SyncNode, type SyncState } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';

// The root README's integration example, kept runnable so the README stays true.
describe('README integration example', () => {
  const root = mkdtempSync(join(tmpdir(), 'hw-readme-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('runs as written: register models, open SQLite storage, start a node, write and delete', async () => {
    const registry = new ModelRegistry([
      { name: 'location', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' } } },
      {
        name: 'entry',
        ownership: 'device',
        key: 'uuid',
        fields: {
          name: { type: 'text' },
          size: { type: 'integer' },
          locationId: { type: 'text', references: 'location' },
          parentId: { type: 'text', nullable: true, references: 'entry' },
        },
      },
      { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' } } },
    ]);
    expect(registry.syncOrder()).toEqual(['location', 'entry', 'tag']);

    const network = createInProcessNetwork();
    const storage = createSqliteStorage({ directory: join(root, 'library-on-a'), registry });
    const node = await SyncNode.create({ libraryId: 'my-library', deviceId: 'device-a', registry, storage, transport: network.transport('device-a') });
    const states: SyncState[] = [];
    node.state$.subscribe((state) => states.push(state));
    await node.start();
    const [written] = await node.write('location', [{ id: '0190f5c2-loc-1', data: { name: 'Photos' } }]);
    expect(await node.get('location', ['0190f5c2-loc-1'])).toEqual([written]);
    await node.delete('location', ['0190f5c2-loc-1']);
    expect(await node.count('location')).toBe(0);
    await node.stop();
    await storage.close();
    expect(states[0]).toBe('uninitialized');
    expect(states).toContain('paused'); // alone: no peer to sync with

    // "A second device does the same … once their transports connect, it backfills."
    const storageA = createSqliteStorage({ directory: join(root, 'library-on-a'), registry });
    const storageB = createSqliteStorage({ directory: join(root, 'library-on-b'), registry });
    const a = await SyncNode.create({ libraryId: 'my-library', deviceId: 'device-a', registry, storage: storageA, transport: network.transport('device-a') });
    const b = await SyncNode.create({ libraryId: 'my-library', deviceId: 'device-b', registry, storage: storageB, transport: network.transport('device-b') });
    await a.start();
    await a.write('location', [{ id: '0190f5c2-loc-2', data: { name: 'Music' } }]);
    await b.start();
    network.connect('device-a', 'device-b');
    await new Promise<void>((resolve) => b.state$.subscribe((s) => s === 'ready' && resolve()));
    expect((await b.get('location', ['0190f5c2-loc-2']))[0]?.data).toEqual({ name: 'Music' });
    for (const n of [a, b]) await n.stop();
    await storageA.close();
    await storageB.close();
  });
});
