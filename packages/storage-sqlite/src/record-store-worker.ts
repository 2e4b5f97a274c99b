/**
 * Worker-thread side of WorkerRecordStore: owns the better-sqlite3 connection to database.db
 * and answers the calls posted to it, one at a time, in order. Records cross as positional
 * rows laid out by core's `RowLayout`, not as objects, which are dearer to clone.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HighwaterError, ModelRegistry, StorageError, type ModelDefinition, type StorageFailure } from '@highwater/core';
import { SqliteRecordStore } from './sqlite-record-store.js';
import { WORKER_OPEN_FAILED, type SqliteOpenOptions } from './sqlite-database.js';

export interface RecordStoreWorkerData extends SqliteOpenOptions {
  readonly path: string;
  readonly models: readonly ModelDefinition[];
  readonly countSliceRows?: number;
  readonly maxDatabaseBytes?: number;
}

export interface WorkerCall {
  readonly id: number;
  readonly method: 'applyRows' | 'pageRows' | 'getManyRows' | 'count' | 'setMaxDatabaseBytes' | 'close';
  readonly args: readonly unknown[];
}

export interface SerializedError {
  readonly name: string;
  readonly code: string | null;
  readonly message: string;
  readonly model?: string;
  readonly reason?: StorageFailure;
}

export type WorkerReply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: SerializedError };

function serialize(error: unknown): SerializedError {
  const e = error as Error & { code?: string; model?: string };
  return {
    name: e?.name ?? 'Error',
    code: error instanceof HighwaterError ? error.code : null,
    message: e?.message ?? String(error),
    ...(e?.model !== undefined ? { model: e.model } : {}),
    ...(error instanceof StorageError ? { reason: error.reason } : {}),
  };
}

const data = workerData as RecordStoreWorkerData;
const port = parentPort!;
let store: SqliteRecordStore | null = null;
try {
  store = new SqliteRecordStore({ ...data, registry: new ModelRegistry(data.models) });
} catch (error) {
  // A damaged or locked file: said with its reason, as SqliteRecordStore's constructor throws it.
  port.postMessage({ id: WORKER_OPEN_FAILED, ok: false, error: serialize(error) } satisfies WorkerReply);
}

port.on('message', (call: WorkerCall) => {
  if (!store) return;
  const method = store[call.method] as (...args: unknown[]) => unknown;
  new Promise((resolve) => resolve(method.apply(store, [...call.args]))).then(
    (result) => port.postMessage({ id: call.id, ok: true, result } satisfies WorkerReply),
    (error: unknown) => port.postMessage({ id: call.id, ok: false, error: serialize(error) } satisfies WorkerReply),
  );
});
