import {
  compareHlc,
  formatHlc,
  parseHlc,
  systemWallClock,
  type BackfillCheckpoint,
  type BackfillCheckpointInput,
  type Hlc,
  type MetricsSnapshot,
  type ParkedChange,
  type ParkedChangeKey,
  type PeerAck,
  type ResourceWatermark,
  type SharedChange,
  type SharedChangeQuery,
  type SyncStore,
  type Tombstone,
  type TombstoneQuery,
  type WallClock,
} from '@highwater/core';
import { chunks, compareText, keysetBound, Params, whereClause } from './keyset.js';
import { migrateSchema } from './migrator.js';
import { PgDatabase, type PostgresConnectionOptions } from './pg-database.js';
import { syncStoreSql } from './sync-store-sql.js';

export interface PostgresSyncStoreOptions extends PostgresConnectionOptions {
  /** Source of `updated_at` times; tests inject one. */
  readonly wallClock?: WallClock;
}

type CheckpointRow = {
  owner_device_id: string;
  resource_type: string;
  resume_hlc: string | null;
  resume_id: string | null;
  completed: boolean;
  records_applied: number;
  records_total: number | null;
  updated_at: number;
};
type SharedChangeRow = { hlc: string; model: string; record_id: string; op: 'upsert' | 'delete'; data: Record<string, unknown> | null };
type TombstoneRow = { model: string; record_id: string; owner_device_id: string; hlc: string };

// Rows per bulk statement (one array parameter per column, so only message size is bounded).
const ROWS_PER_STATEMENT = 5000;

/**
 * SyncStore on PostgreSQL. Forward-only writes (watermarks, acks, tombstones) are single
 * `INSERT … ON CONFLICT … DO UPDATE … WHERE excluded.x > t.x` statements: the conflicting
 * row is locked and the condition re-checked against its latest version, so concurrent
 * writers — other connections of this pool or other processes — can never move a value back.
 */
export class PostgresSyncStore implements SyncStore {
  private readonly sql: ReturnType<typeof syncStoreSql>;

  private constructor(
    private readonly db: PgDatabase,
    private readonly wallClock: WallClock,
  ) {
    this.sql = syncStoreSql((name) => db.qualified(name));
  }

  /** Connects and brings the library schema to the newest version. */
  static async open(options: PostgresSyncStoreOptions): Promise<PostgresSyncStore> {
    const db = PgDatabase.fromOptions(options);
    try {
      await migrateSchema(db);
    } catch (error) {
      await db.close();
      throw error;
    }
    return new PostgresSyncStore(db, options.wallClock ?? systemWallClock);
  }

  /** The PostgreSQL schema holding this library. */
  get schema(): string {
    return this.db.schema;
  }

  async getWatermark(ownerDeviceId: string, resourceType: string): Promise<Hlc | null> {
    const { rows } = await this.db.query<{ last_watermark: string }>({ text: this.sql.getWatermark, values: [ownerDeviceId, resourceType] });
    return rows[0] ? parseHlc(rows[0].last_watermark) : null;
  }

  async advanceWatermark(ownerDeviceId: string, resourceType: string, hlc: Hlc): Promise<boolean> {
    const values = [ownerDeviceId, resourceType, formatHlc(hlc), this.wallClock.now()];
    return ((await this.db.query({ text: this.sql.advanceWatermark, values })).rowCount ?? 0) > 0;
  }

  async listWatermarks(): Promise<ResourceWatermark[]> {
    const { rows } = await this.db.query<{ owner_device_id: string; resource_type: string; last_watermark: string; updated_at: number }>({
      text: this.sql.listWatermarks,
    });
    return rows.map((r) => ({
      ownerDeviceId: r.owner_device_id,
      resourceType: r.resource_type,
      watermark: parseHlc(r.last_watermark),
      updatedAt: r.updated_at,
    }));
  }

  async saveCheckpoint(c: BackfillCheckpointInput): Promise<void> {
    const values = [
      c.ownerDeviceId,
      c.resourceType,
      c.cursor ? formatHlc(c.cursor.hlc) : null,
      c.cursor ? c.cursor.id : null,
      c.completed,
      c.recordsApplied,
      c.recordsTotal,
      this.wallClock.now(),
    ];
    await this.db.query({ text: this.sql.saveCheckpoint, values });
  }

  async loadCheckpoint(ownerDeviceId: string, resourceType: string): Promise<BackfillCheckpoint | null> {
    const { rows } = await this.db.query<CheckpointRow>({ text: this.sql.loadCheckpoint, values: [ownerDeviceId, resourceType] });
    return rows[0] ? checkpointFromRow(rows[0]) : null;
  }

  async listCheckpoints(): Promise<BackfillCheckpoint[]> {
    return (await this.db.query<CheckpointRow>({ text: this.sql.listCheckpoints })).rows.map(checkpointFromRow);
  }

  async clearCheckpoints(ownerDeviceId?: string, resourceType?: string): Promise<void> {
    if (ownerDeviceId === undefined) await this.db.query({ text: this.sql.clearAllCheckpoints });
    else if (resourceType === undefined) await this.db.query({ text: this.sql.clearCheckpointsOfOwner, values: [ownerDeviceId] });
    else await this.db.query({ text: this.sql.clearCheckpoint, values: [ownerDeviceId, resourceType] });
  }

  async getSyncState(key: string): Promise<string | null> {
    return (await this.db.query<{ value: string }>({ text: this.sql.getSyncState, values: [key] })).rows[0]?.value ?? null;
  }

  async setSyncState(key: string, value: string): Promise<void> {
    await this.db.query({ text: this.sql.setSyncState, values: [key, value, this.wallClock.now()] });
  }

  async appendSharedChanges(changes: readonly SharedChange[]): Promise<number> {
    if (changes.length === 0) return 0;
    // ON CONFLICT DO NOTHING tolerates an HLC twice in one statement; sorting fixes the lock order.
    const sorted = [...changes].sort((a, b) => compareHlc(a.hlc, b.hlc));
    const statements = chunks(sorted, ROWS_PER_STATEMENT).map((chunk) => ({
      text: this.sql.appendSharedChanges,
      values: [
        chunk.map((c) => formatHlc(c.hlc)),
        chunk.map((c) => c.hlc.deviceId),
        chunk.map((c) => c.model),
        chunk.map((c) => c.recordId),
        chunk.map((c) => c.op),
        chunk.map((c) => (c.data === null ? null : JSON.stringify(c.data))),
      ],
    }));
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (const statement of statements) added += (await tx.query(statement)).rowCount ?? 0;
      return added;
    });
  }

  async sharedChangesSince(query: SharedChangeQuery): Promise<SharedChange[]> {
    const params = new Params();
    const where = whereClause([
      query.after ? `hlc > ${params.add(formatHlc(query.after))}` : null,
      query.originDeviceId !== undefined ? `origin_device_id = ${params.add(query.originDeviceId)}` : null,
      query.model !== undefined ? `model = ${params.add(query.model)}` : null,
    ]);
    const text = `${this.sql.selectSharedChanges} ${where} ORDER BY hlc LIMIT ${params.add(query.limit)}`;
    const { rows } = await this.db.query<SharedChangeRow>({ text, values: params.values });
    return rows.map((r) => ({ hlc: parseHlc(r.hlc), model: r.model, recordId: r.record_id, op: r.op, data: r.data }));
  }

  async pruneSharedChanges(upTo: Hlc): Promise<number> {
    return (await this.db.query({ text: this.sql.pruneSharedChanges, values: [formatHlc(upTo)] })).rowCount ?? 0;
  }

  async countSharedChanges(): Promise<number> {
    return (await this.db.query<{ n: number }>({ text: this.sql.countSharedChanges })).rows[0]!.n;
  }

  async recordAck(peerDeviceId: string, hlc: Hlc): Promise<boolean> {
    const values = [peerDeviceId, formatHlc(hlc), this.wallClock.now()];
    return ((await this.db.query({ text: this.sql.recordAck, values })).rowCount ?? 0) > 0;
  }

  async listAcks(): Promise<PeerAck[]> {
    const { rows } = await this.db.query<{ peer_device_id: string; last_acked_hlc: string; updated_at: number }>({ text: this.sql.listAcks });
    return rows.map((r) => ({ peerDeviceId: r.peer_device_id, hlc: parseHlc(r.last_acked_hlc), updatedAt: r.updated_at }));
  }

  async putTombstones(tombstones: readonly Tombstone[]): Promise<void> {
    if (tombstones.length === 0) return;
    // One statement may not update a row twice: keep the highest HLC per (model, record id),
    // which is what applying them one by one would leave. Sorted for a fixed lock order.
    const highest = new Map<string, Tombstone>();
    for (const t of tombstones) {
      const key = `${t.model}\u0000${t.recordId}`;
      const kept = highest.get(key);
      if (!kept || compareHlc(t.hlc, kept.hlc) > 0) highest.set(key, t);
    }
    const sorted = [...highest.values()].sort((a, b) => compareText(a.model, b.model) || compareText(a.recordId, b.recordId));
    const statements = chunks(sorted, ROWS_PER_STATEMENT).map((chunk) => ({
      text: this.sql.putTombstones,
      values: [chunk.map((t) => t.model), chunk.map((t) => t.recordId), chunk.map((t) => t.ownerDeviceId), chunk.map((t) => formatHlc(t.hlc))],
    }));
    await this.db.transaction(async (tx) => {
      for (const statement of statements) await tx.query(statement);
    });
  }

  async getTombstones(model: string, recordIds: readonly string[]): Promise<Map<string, Tombstone>> {
    const found = new Map<string, Tombstone>();
    if (recordIds.length === 0) return found;
    const { rows } = await this.db.query<TombstoneRow>({ text: this.sql.getTombstones, values: [model, recordIds] });
    for (const row of rows) found.set(row.record_id, tombstoneFromRow(row));
    return found;
  }

  async tombstonesAfter(model: string, query: TombstoneQuery): Promise<Tombstone[]> {
    const params = new Params();
    const where = whereClause([
      `model = ${params.add(model)}`,
      query.owner !== undefined ? `owner_device_id = ${params.add(query.owner)}` : null,
      keysetBound('hlc', 'record_id', query, params),
    ]);
    const text = `${this.sql.selectTombstones} ${where} ORDER BY hlc, record_id LIMIT ${params.add(query.limit)}`;
    return (await this.db.query<TombstoneRow>({ text, values: params.values })).rows.map(tombstoneFromRow);
  }

  async pruneTombstones(upTo: Hlc): Promise<number> {
    return (await this.db.query({ text: this.sql.pruneTombstones, values: [formatHlc(upTo)] })).rowCount ?? 0;
  }

  async parkChanges(changes: readonly ParkedChange[]): Promise<void> {
    if (changes.length === 0) return;
    const statements = chunks([...changes], ROWS_PER_STATEMENT).map((chunk) => ({
      text: this.sql.parkChanges,
      values: [
        chunk.map((c) => c.model),
        chunk.map((c) => c.recordId),
        chunk.map((c) => formatHlc(c.hlc)),
        chunk.map((c) => c.ownerDeviceId),
        chunk.map((c) => JSON.stringify(c.data)),
      ],
    }));
    await this.db.transaction(async (tx) => {
      for (const statement of statements) await tx.query(statement);
    });
  }

  async unparkChanges(keys: readonly ParkedChangeKey[]): Promise<void> {
    if (keys.length === 0) return;
    const statements = chunks([...keys], ROWS_PER_STATEMENT).map((chunk) => ({
      text: this.sql.unparkChanges,
      values: [chunk.map((k) => k.model), chunk.map((k) => k.recordId), chunk.map((k) => formatHlc(k.hlc))],
    }));
    await this.db.transaction(async (tx) => {
      for (const statement of statements) await tx.query(statement);
    });
  }

  async listParkedChanges(): Promise<ParkedChange[]> {
    const { rows } = await this.db.query<{ model: string; record_id: string; hlc: string; owner_device_id: string; data: Record<string, unknown> }>({
      text: this.sql.listParked,
    });
    return rows.map((r) => ({ model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc: parseHlc(r.hlc), data: r.data }));
  }

  async saveMetricsSnapshot(snapshot: MetricsSnapshot): Promise<void> {
    const values = [snapshot.takenAt, snapshot.libraryId, JSON.stringify(snapshot.metrics)];
    await this.db.query({ text: this.sql.saveMetrics, values });
  }

  async listMetricsSnapshots(limit: number): Promise<MetricsSnapshot[]> {
    const { rows } = await this.db.query<{ taken_at: number; library_id: string; snapshot_json: Record<string, unknown> }>({
      text: this.sql.listMetrics,
      values: [limit],
    });
    return rows.map((r) => ({ takenAt: r.taken_at, libraryId: r.library_id, metrics: r.snapshot_json }));
  }

  async pruneMetricsSnapshots(keep: number): Promise<number> {
    return (await this.db.query({ text: this.sql.pruneMetrics, values: [keep] })).rowCount ?? 0;
  }

  /** Ends the pool if this store created it. */
  async close(): Promise<void> {
    await this.db.close();
  }
}

function checkpointFromRow(r: CheckpointRow): BackfillCheckpoint {
  return {
    ownerDeviceId: r.owner_device_id,
    resourceType: r.resource_type,
    cursor: r.resume_hlc !== null && r.resume_id !== null ? { hlc: parseHlc(r.resume_hlc), id: r.resume_id } : null,
    completed: r.completed,
    recordsApplied: r.records_applied,
    recordsTotal: r.records_total,
    updatedAt: r.updated_at,
  };
}

function tombstoneFromRow(r: TombstoneRow): Tombstone {
  return { model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc: parseHlc(r.hlc) };
}
