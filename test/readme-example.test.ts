import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { HybridLogicalClock, ModelRegistry } from '@highwater/core';
import { createSqliteStorage } from '@highwater/storage-sqlite';

// The root README's integration example, kept runnable so the README stays true.
describe('README integration example', () => {
  const directory = mkdtempSync(join(tmpdir(), 'hw-readme-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('registers models, opens SQLite storage, applies a record and reads it back after reopening', async () => {
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

    const { recordStore, close } = createSqliteStorage({ directory, registry });
    const clock = new HybridLogicalClock('device-a');
    const stamp = clock.now();
    await recordStore.applyBatch('location', {
      upserts: [{ id: '0190f5c2-loc-1', ownerDeviceId: 'device-a', hlc: stamp, data: { name: 'Photos' } }],
    });
    await close();

    const reopened = createSqliteStorage({ directory, registry });
    expect(await reopened.recordStore.getMany('location', ['0190f5c2-loc-1'])).toEqual([
      { id: '0190f5c2-loc-1', ownerDeviceId: 'device-a', hlc: stamp, data: { name: 'Photos' } },
    ]);
    await reopened.close();
  });
});
