import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { ModelRegistry, StorageError } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';
import { PG_URL, requirePostgres, uniqueSchema } from './pg-test-helper.js';

// Issue #20, item 2: a store that cannot write says why, as the SQLite adapter does: the
// StorageError's reason from the server's SQLSTATE.

const registry = new ModelRegistry([{ name: 'item', ownership: 'device', key: 'id', fields: { n: { type: 'integer' } } }]);

/** PG_URL with a server option for every session of the pool. */
function withSessionOption(option: string): string {
  const url = new URL(PG_URL);
  url.searchParams.set('options', option);
  return url.toString();
}

describe('PostgreSQL storage errors', () => {
  it('refuses to open a library on a server that only allows reading, with reason read-only', async () => {
    await requirePostgres();
    const opened = createPostgresStorage({ connectionString: withSessionOption('-c default_transaction_read_only=on'), schema: uniqueSchema(), registry });
    await expect(opened).rejects.toBeInstanceOf(StorageError);
    await expect(opened).rejects.toMatchObject({ code: 'HW_STORAGE', reason: 'read-only' });
  });

  it('a batch the server refuses (here: the session turned read-only after opening) fails with reason read-only, rolled back', async () => {
    await requirePostgres();
    // One connection, so the session setting below holds for every later query.
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
    const storage = await createPostgresStorage({ pool, schema: uniqueSchema(), registry });
    try {
      await pool.query('SET SESSION default_transaction_read_only = on');
      const record = { id: 'item-1', ownerDeviceId: 'device-a', hlc: { time: 1_790_000_000_000, counter: 0, deviceId: 'device-a' }, data: { n: 1 } };
      const failed = await storage.recordStore.applyBatch('item', { upserts: [record] }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(StorageError);
      expect(failed).toMatchObject({ code: 'HW_STORAGE', reason: 'read-only' });
      expect(await storage.recordStore.count('item')).toBe(0);
      await pool.query('SET SESSION default_transaction_read_only = off');
    } finally {
      await storage.dropSchema();
      await pool.end();
    }
  });
});
