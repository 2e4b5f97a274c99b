import { HLC_COLUMN, OWNER_COLUMN, quoteIdentifier, SIG_COLUMN, StorageError, type RegisteredModel } from '@highwater/core';
import { derivedIdentifier } from './identifiers.js';
import { lockSchema } from './migrator.js';
import type { PgDatabase, Queryable } from './pg-database.js';
import { COLUMN_TYPE } from './record-table.js';
import { MIGRATIONS_TABLE, SYNC_TABLES } from './schema-migrations.js';

const RESERVED_TABLES: ReadonlySet<string> = new Set([...SYNC_TABLES, MIGRATIONS_TABLE]);

/** Names of a model table's two keyset indexes (shortened with a hash if too long). */
export function recordIndexNames(table: string): { byHlc: string; byOwner: string } {
  return { byHlc: derivedIdentifier(table, '_hw_hlc'), byOwner: derivedIdentifier(table, '_hw_owner_hlc') };
}

/**
 * Creates each model's table and keyset indexes, or adds the columns of fields declared
 * since (nullable, since existing rows have no value for them) and `hw_sig` to a table created
 * before records carried signatures (schema version 3 and earlier; its rows read back
 * unsigned), in one transaction under the schema's advisory lock. DDL runs only for what is
 * missing: an existing index is not "created again", because CREATE INDEX locks the table
 * against writers even when it finds the index already there.
 *
 * Keys, owners, HLCs and fields that reference other records are COLLATE "C" (byte order,
 * as in SQLite); other text fields keep the database's collation.
 */
export async function ensureRecordTables(db: PgDatabase, models: readonly RegisteredModel[]): Promise<void> {
  for (const model of models) {
    if (RESERVED_TABLES.has(model.table)) {
      throw new StorageError(
        `Model "${model.name}" uses table "${model.table}", which Highwater's sync metadata uses in the same PostgreSQL schema; ` +
          'give the model another `table`',
      );
    }
  }
  if (models.length === 0) return;
  await db.transaction(async (tx) => {
    await lockSchema(tx, db.schema);
    const tables = models.map((m) => m.table);
    const columns = await tx.query<{ table_name: string; column_name: string }>({
      prepare: false,
      text: `SELECT c.relname AS table_name, a.attname AS column_name
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`,
      values: [db.schema, tables],
    });
    const indexes = await tx.query<{ name: string }>({
      prepare: false,
      text: `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind = 'i'`,
      values: [db.schema],
    });
    const existingIndexes = new Set(indexes.rows.map((r) => r.name));
    const existingColumns = new Map<string, Set<string>>();
    for (const row of columns.rows) {
      const set = existingColumns.get(row.table_name) ?? new Set<string>();
      set.add(row.column_name);
      existingColumns.set(row.table_name, set);
    }
    for (const model of models) await ensureTable(tx, db, model, existingColumns.get(model.table), existingIndexes);
  });
}

async function ensureTable(
  tx: Queryable,
  db: PgDatabase,
  model: RegisteredModel,
  existing: ReadonlySet<string> | undefined,
  existingIndexes: ReadonlySet<string>,
): Promise<void> {
  const table = db.qualified(model.table);
  const key = quoteIdentifier(model.key);
  const columnType = (field: string): string => {
    const def = model.fields[field]!;
    return `${COLUMN_TYPE[def.type]}${def.type === 'text' && def.references !== undefined ? ' COLLATE "C"' : ''}`;
  };
  if (existing === undefined) {
    const columns = [
      `${key} TEXT COLLATE "C" PRIMARY KEY`,
      ...Object.entries(model.fields).map(([f, def]) => `${quoteIdentifier(f)} ${columnType(f)}${def.nullable ? '' : ' NOT NULL'}`),
      `${OWNER_COLUMN} TEXT COLLATE "C" NOT NULL`,
      `${HLC_COLUMN} TEXT COLLATE "C" NOT NULL`,
      `${SIG_COLUMN} TEXT`,
    ];
    await tx.query({ prepare: false, text: `CREATE TABLE ${table} (${columns.join(', ')})` });
  } else {
    // Nullable columns without a default: added to the catalog only, no row is rewritten.
    const additions = [
      ...(existing.has(SIG_COLUMN) ? [] : [`ADD COLUMN ${SIG_COLUMN} TEXT`]),
      ...Object.keys(model.fields)
        .filter((f) => !existing.has(f))
        .map((f) => `ADD COLUMN ${quoteIdentifier(f)} ${columnType(f)}`),
    ];
    if (additions.length > 0) await tx.query({ prepare: false, text: `ALTER TABLE ${table} ${additions.join(', ')}` });
  }
  // (hlc, key) serves paging across owners (shared models); (owner, hlc, key) serves per-owner
  // backfill and catch-up of device-owned models.
  const { byHlc, byOwner } = recordIndexNames(model.table);
  if (!existingIndexes.has(byHlc)) {
    await tx.query({ prepare: false, text: `CREATE INDEX ${quoteIdentifier(byHlc)} ON ${table} (${HLC_COLUMN}, ${key})` });
  }
  if (!existingIndexes.has(byOwner)) {
    await tx.query({ prepare: false, text: `CREATE INDEX ${quoteIdentifier(byOwner)} ON ${table} (${OWNER_COLUMN}, ${HLC_COLUMN}, ${key})` });
  }
}
