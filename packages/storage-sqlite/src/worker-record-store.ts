import { Worker } from 'node:worker_threads';
import { deletionRow, HighwaterError, ModelTables, RowLayout, StorageError, UnknownModelError } from '@highwater/core';
import type { ApplyOptions, ApplyResult, Hlc, ModelDefinition, ModelRegistry, PageQuery, RecordBatch, RecordStore, SyncRecord } from '@highwater/core';
import type { RecordStoreWorkerData, SerializedError, WorkerCall, WorkerReply } from './record-store-worker.js';
import type { SqliteRecordStoreOptions } from './sqlite-record-store.js';
import { SQLITE_VALUES, WORKER_OPEN_FAILED } from './sqlite-database.js';

// The compiled worker. From src/ (tests) and from dist/ alike this resolves to dist/, which
// `tsc -b` (part of `npm test` and `npm run build`) produces.
const WORKER_URL = new URL('../dist/record-store-worker.js', import.meta.url);

/**
 * The SQLite RecordStore on a worker thread. better-sqlite3 is synchronous: on the main thread
 * every page written blocks the event loop, so a node cannot receive and decode the next page
 * while it writes this one. Here the writes run on the worker, and the main thread keeps
 * serving the transport meanwhile — on a 2-core machine the two overlap. Same semantics as
 * SqliteRecordStore (calls run one at a time, in order); records cross as flat arrays of
 * column values, laid out on this side by the model's RowLayout.
 */
export class WorkerRecordStore implements RecordStore {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private closed = false;
  private failure: Error | null = null;
  private readonly layouts: ModelTables<RowLayout>;

  constructor(options: SqliteRecordStoreOptions) {
    this.layouts = new ModelTables(options.registry, (model) => new RowLayout(model, SQLITE_VALUES));
    const models: ModelDefinition[] = options.registry.all().map((m) => ({
      name: m.name,
      ownership: m.ownership,
      key: m.key,
      fields: m.fields,
      dependencies: m.dependencies,
      table: m.table,
    }));
    const workerData: RecordStoreWorkerData = {
      path: options.path,
      models,
      ...(options.synchronous ? { synchronous: options.synchronous } : {}),
      ...(options.integrityCheck ? { integrityCheck: options.integrityCheck } : {}),
      ...(options.countSliceRows !== undefined ? { countSliceRows: options.countSliceRows } : {}),
      ...(options.maxDatabaseBytes !== undefined ? { maxDatabaseBytes: options.maxDatabaseBytes } : {}),
    };
    this.worker = new Worker(WORKER_URL, { workerData });
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.id === WORKER_OPEN_FAILED && !reply.ok) return this.fail(revive(reply.error));
      const p = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (!p) return;
      if (reply.ok) p.resolve(reply.result);
      else p.reject(revive(reply.error));
    });
    this.worker.on('error', (error) => this.fail(new StorageError(`The record store worker failed: ${error.message}`, { cause: error })));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new StorageError(`The record store worker exited (code ${code})`));
    });
  }

  /** For registries built elsewhere: the same options as SqliteRecordStore. */
  static open(options: SqliteRecordStoreOptions & { registry: ModelRegistry }): WorkerRecordStore {
    return new WorkerRecordStore(options);
  }

  applyBatch(model: string, batch: RecordBatch, options: ApplyOptions = {}): Promise<ApplyResult> {
    // Laid out here, so the worker receives flat arrays of values (see record-store-worker.ts).
    let rows: unknown[];
    try {
      rows = this.layouts.get(model).flatRows(batch.upserts ?? []);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.call('applyRows', [model, rows, (batch.deletes ?? []).map(deletionRow), options.resolved === true]) as Promise<ApplyResult>;
  }

  async page(model: string, query: PageQuery): Promise<SyncRecord[]> {
    const layout = this.layouts.get(model);
    const rows = (await this.call('pageRows', [model, query])) as unknown[][];
    return rows.map((row) => layout.fromRow(row));
  }

  async getMany(model: string, ids: readonly string[]): Promise<SyncRecord[]> {
    const layout = this.layouts.get(model);
    const rows = (await this.call('getManyRows', [model, ids])) as unknown[][];
    return rows.map((row) => layout.fromRow(row));
  }

  count(model: string, owner?: string, afterHlc?: Hlc | null): Promise<number> {
    return this.call('count', [model, owner, afterHlc]) as Promise<number>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.call('close', []).catch(() => undefined);
    this.closed = true;
    await this.worker.terminate();
  }

  /** See SqliteRecordStore.setMaxDatabaseBytes. */
  async setMaxDatabaseBytes(bytes: number | null): Promise<void> {
    await this.call('setMaxDatabaseBytes', [bytes]);
  }

  private call(method: WorkerCall['method'], args: unknown[]): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new StorageError('The record store is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args } satisfies WorkerCall);
    });
  }

  private fail(error: Error): void {
    // The first failure says why; what follows it (the worker's exit) does not.
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

/** Rebuilds the typed error a call failed with on the worker. */
function revive(e: SerializedError): Error {
  if (e.code === 'HW_UNKNOWN_MODEL' && e.model !== undefined) return new UnknownModelError(e.model);
  if (e.code === 'HW_STORAGE') return new StorageError(e.message, e.reason ? { reason: e.reason } : {});
  if (e.code) return new HighwaterError(e.code, e.message);
  return new StorageError(e.message);
}
