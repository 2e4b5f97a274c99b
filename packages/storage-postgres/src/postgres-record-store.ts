import { formatHlc, keysetPageClauses, ModelTables, StorageError } from '@highwater/core';
import type { ApplyOptions, ApplyResult, Hlc, ModelRegistry, PageQuery, RecordBatch, RecordStore, SyncRecord } from '@highwater/core';
import { migrateSchema } from './migrator.js';
import { PgDatabase, pgFailure, type PostgresConnectionOptions, type Statement } from './pg-database.js';
import { ensureRecordTables } from './record-table-ddl.js';
import { RecordTable } from './record-table.js';
import { chunks, Params } from './statement-parts.js';
import { planUpsertRounds } from './upsert-plan.js';

export interface PostgresRecordStoreOptions extends PostgresConnectionOptions {
  /** The registered models; one table each in the schema, created or extended on open. */
  readonly registry: ModelRegistry;
}

// Rows per statement. unnest has no parameter limit; this only bounds the size of one
// message and the memory pg needs to encode it.
const ROWS_PER_STATEMENT = 5000;

/**
 * RecordStore on PostgreSQL: one table per model in the library schema, one transaction per
 * batch, bulk `unnest` upserts and deletes, keyset pages on the (hlc, key) indexes.
 */
export class PostgresRecordStore implements RecordStore {
  private constructor(
    private readonly db: PgDatabase,
    private readonly tables: ModelTables<RecordTable>,
  ) {}

  /** Connects, migrates the schema and creates or extends the model tables. */
  static async open(options: PostgresRecordStoreOptions): Promise<PostgresRecordStore> {
    const db = PgDatabase.fromOptions(options);
    try {
      await migrateSchema(db);
      await ensureRecordTables(db, options.registry.all());
      const tables = new ModelTables(options.registry, (model) => new RecordTable(model, (name) => db.qualified(name)));
      return new PostgresRecordStore(db, tables);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  /** The PostgreSQL schema holding this library. */
  get schema(): string {
    return this.db.schema;
  }

  async applyBatch(model: string, batch: RecordBatch, options: ApplyOptions = {}): Promise<ApplyResult> {
    const resolved = options.resolved === true;
    const table = this.tables.get(model);
    const upserts = batch.upserts ?? [];
    const deletes = batch.deletes ?? [];
    if (upserts.length === 0 && deletes.length === 0) return { upserted: 0, deleted: 0, unchanged: 0 };
    // Statements are built before the transaction: no conversion work while holding locks,
    // and none repeated if a deadlock makes the transaction run again.
    let upsertStatements: Statement[];
    let deleteStatements: Statement[];
    try {
      const rounds = planUpsertRounds(upserts, table.model.ownership === 'device');
      upsertStatements = rounds.flatMap((round) => chunks(round, ROWS_PER_STATEMENT).map((c) => table.upsert(c, resolved)));
      deleteStatements = chunks(deletes, ROWS_PER_STATEMENT).map((c) => table.remove(c, resolved));
    } catch (cause) {
      throw new StorageError(`Cannot apply a batch of ${model}: ${(cause as Error).message}`, { cause });
    }
    try {
      return await this.db.transaction(async (tx) => {
        let upserted = 0;
        let deleted = 0;
        // rowCount of INSERT … ON CONFLICT DO UPDATE … WHERE counts rows inserted or replaced;
        // rows whose stored HLC won are not counted.
        for (const statement of upsertStatements) upserted += (await tx.query(statement)).rowCount ?? 0;
        for (const statement of deleteStatements) deleted += (await tx.query(statement)).rowCount ?? 0;
        return { upserted, deleted, unchanged: upserts.length + deletes.length - upserted - deleted };
      });
    } catch (cause) {
      throw new StorageError(`Applying a batch of ${model} failed and was rolled back: ${(cause as Error).message}`, { cause, reason: pgFailure(cause) });
    }
  }

  async page(model: string, query: PageQuery): Promise<SyncRecord[]> {
    const table = this.tables.get(model);
    const params = new Params();
    const text = `${table.selectColumns} ${keysetPageClauses(query, table.keysetColumns, params.add)}`;
    const result = await this.db.query<unknown[]>({ text, values: params.values, rowMode: 'array' });
    return result.rows.map((row) => table.fromRow(row as unknown as unknown[]));
  }

  async getMany(model: string, ids: readonly string[]): Promise<SyncRecord[]> {
    const table = this.tables.get(model);
    if (ids.length === 0) return [];
    const result = await this.db.query(table.getMany(ids));
    return result.rows.map((row) => table.fromRow(row as unknown as unknown[]));
  }

  async count(model: string, owner?: string, afterHlc?: Hlc | null): Promise<number> {
    const result = await this.db.query<{ n: number }>(this.tables.get(model).count(owner, afterHlc ? formatHlc(afterHlc) : undefined));
    return result.rows[0]!.n;
  }

  /** Ends the pool if this store created it. */
  async close(): Promise<void> {
    await this.db.close();
  }
}
