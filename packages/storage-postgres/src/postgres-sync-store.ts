import { compareHlc, formatHlc, highestAckPerStream, keysetPageClauses, parseHlc, sharedChangesClauses, SyncRowCodec, systemWallClock } from '@highwater/core';
import type { Hlc, SyncStore, WallClock } from '@highwater/core';
import type { BackfillCheckpoint, BackfillCheckpointInput, BatchProof, MetricsSnapshot, PeerAck, ResourceWatermark, StreamAck } from '@highwater/core';
import type { ParkedChange, ParkedChangeKey, SharedChange, SharedChangeQuery, Tombstone, TombstoneQuery } from '@highwater/core';
import type { AckRow, CheckpointRow, MetricsSnapshotRow, ParkedChangeRow, SharedChangeRow, TombstoneRow, WatermarkRow } from '@highwater/core';
import { migrateSchema } from './migrator.js';
import { PG_VALUES, PgDatabase, type PostgresConnectionOptions, type Statement } from './pg-database.js';
import { chunks, columnsOf, compareText, Params } from './statement-parts.js';
import { syncStoreSql } from './sync-store-sql.js';

export interface PostgresSyncStoreOptions extends PostgresConnectionOptions {
  /** Source of `updated_at` times; tests inject one. */
  readonly wallClock?: WallClock;
}

// Rows per bulk statement (one array parameter per column, so only message size is bounded).
const ROWS_PER_STATEMENT = 5000;

const rows = new SyncRowCodec(PG_VALUES);
const TOMBSTONE_PAGE = { owner: 'owner_device_id', hlc: 'hlc', id: 'record_id' };

/**
 * SyncStore on PostgreSQL: the statements of `sync-store-sql.ts`, rows mapped by core's
 * `SyncRowCodec`. Forward-only writes (watermarks, acks, tombstones) are single
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
    const { rows: found } = await this.db.query<{ last_watermark: string }>({ text: this.sql.getWatermark, values: [ownerDeviceId, resourceType] });
    return found[0] ? parseHlc(found[0].last_watermark) : null;
  }

  async advanceWatermark(ownerDeviceId: string, resourceType: string, hlc: Hlc): Promise<boolean> {
    const values = rows.watermarkValues(ownerDeviceId, resourceType, hlc, this.wallClock.now());
    return ((await this.db.query({ text: this.sql.advanceWatermark, values })).rowCount ?? 0) > 0;
  }

  async listWatermarks(): Promise<ResourceWatermark[]> {
    return (await this.db.query<WatermarkRow>({ text: this.sql.listWatermarks })).rows.map(rows.watermarkFromRow);
  }

  async saveCheckpoint(c: BackfillCheckpointInput): Promise<void> {
    await this.db.query({ text: this.sql.saveCheckpoint, values: rows.checkpointValues(c, this.wallClock.now()) });
  }

  async loadCheckpoint(ownerDeviceId: string, resourceType: string): Promise<BackfillCheckpoint | null> {
    const { rows: found } = await this.db.query<CheckpointRow>({ text: this.sql.loadCheckpoint, values: [ownerDeviceId, resourceType] });
    return found[0] ? rows.checkpointFromRow(found[0]) : null;
  }

  async listCheckpoints(): Promise<BackfillCheckpoint[]> {
    return (await this.db.query<CheckpointRow>({ text: this.sql.listCheckpoints })).rows.map(rows.checkpointFromRow);
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
    const statements = this.bulk(this.sql.appendSharedChanges, sorted.map(rows.sharedChangeValues));
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (const statement of statements) added += (await tx.query(statement)).rowCount ?? 0;
      return added;
    });
  }

  async sharedChangesSince(query: SharedChangeQuery): Promise<SharedChange[]> {
    const params = new Params();
    const text = `${this.sql.selectSharedChanges} ${sharedChangesClauses(query, params.add)}`;
    return (await this.db.query<SharedChangeRow>({ text, values: params.values })).rows.map(rows.sharedChangeFromRow);
  }

  async pruneSharedChanges(origin: string, model: string, upTo: Hlc): Promise<number> {
    return (await this.db.query({ text: this.sql.pruneSharedChanges, values: [origin, model, formatHlc(upTo)] })).rowCount ?? 0;
  }

  async countSharedChanges(): Promise<number> {
    return (await this.db.query<{ n: number }>({ text: this.sql.countSharedChanges })).rows[0]!.n;
  }

  async recordAcks(peerDeviceId: string, acks: readonly StreamAck[], at: number): Promise<number> {
    if (acks.length === 0) return 0;
    // Each stream once (one statement may not update a row twice), sorted for a fixed lock order.
    const streams = highestAckPerStream(acks);
    const columns = columnsOf(streams.map((a) => rows.ackValues(peerDeviceId, a, at)));
    const [, owners, resources] = columns;
    return this.db.transaction(async (tx) => {
      const moved = (await tx.query({ text: this.sql.advanceAcks, values: columns })).rowCount ?? 0;
      if (moved < streams.length) await tx.query({ text: this.sql.touchAcks, values: [peerDeviceId, owners, resources, at] });
      return moved;
    });
  }

  async listAcks(): Promise<PeerAck[]> {
    return (await this.db.query<AckRow>({ text: this.sql.listAcks })).rows.map(rows.ackFromRow);
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
    await this.runAll(this.bulk(this.sql.putTombstones, sorted.map(rows.tombstoneValues)));
  }

  async getTombstones(model: string, recordIds: readonly string[]): Promise<Map<string, Tombstone>> {
    const found = new Map<string, Tombstone>();
    if (recordIds.length === 0) return found;
    const result = await this.db.query<TombstoneRow>({ text: this.sql.getTombstones, values: [model, recordIds] });
    for (const row of result.rows) found.set(row.record_id, rows.tombstoneFromRow(row));
    return found;
  }

  async tombstonesAfter(model: string, query: TombstoneQuery): Promise<Tombstone[]> {
    const params = new Params();
    const text = `${this.sql.selectTombstones} ${keysetPageClauses(query, TOMBSTONE_PAGE, params.add, `model = ${params.add(model)}`)}`;
    return (await this.db.query<TombstoneRow>({ text, values: params.values })).rows.map(rows.tombstoneFromRow);
  }

  async pruneTombstones(model: string, owner: string, upTo: Hlc): Promise<number> {
    return (await this.db.query({ text: this.sql.pruneTombstones, values: [model, owner, formatHlc(upTo)] })).rowCount ?? 0;
  }

  async parkChanges(changes: readonly ParkedChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.runAll(this.bulk(this.sql.parkChanges, changes.map(rows.parkedChangeValues)));
  }

  async unparkChanges(keys: readonly ParkedChangeKey[]): Promise<void> {
    if (keys.length === 0) return;
    await this.runAll(this.bulk(this.sql.unparkChanges, keys.map(rows.parkedChangeKeyValues)));
  }

  async listParkedChanges(): Promise<ParkedChange[]> {
    return (await this.db.query<ParkedChangeRow>({ text: this.sql.listParked })).rows.map(rows.parkedChangeFromRow);
  }

  async saveMetricsSnapshot(snapshot: MetricsSnapshot): Promise<void> {
    await this.db.query({ text: this.sql.saveMetrics, values: rows.metricsSnapshotValues(snapshot) });
  }

  async listMetricsSnapshots(limit: number): Promise<MetricsSnapshot[]> {
    return (await this.db.query<MetricsSnapshotRow>({ text: this.sql.listMetrics, values: [limit] })).rows.map(rows.metricsSnapshotFromRow);
  }

  async pruneMetricsSnapshots(keep: number): Promise<number> {
    return (await this.db.query({ text: this.sql.pruneMetrics, values: [keep] })).rowCount ?? 0;
  }

  /** Every commit is durable here (`relaxed` changes nothing). */
  async putBatchProofs(proofs: readonly BatchProof[]): Promise<void> {
    if (proofs.length === 0) return;
    // Sorted for a fixed lock order. The sort is stable, so of a key named twice the first is
    // inserted and the second ignored, as when put one by one (DO NOTHING allows a key twice).
    const sorted = [...proofs].sort((a, b) => compareText(a.owner, b.owner) || compareText(a.batchId, b.batchId));
    await this.runAll(this.bulk(this.sql.putBatchProofs, sorted.map((p) => [p.owner, p.batchId, p.proof])));
  }

  async getBatchProofs(owner: string, batchIds: readonly string[]): Promise<BatchProof[]> {
    if (batchIds.length === 0) return [];
    const { rows: found } = await this.db.query<{ batch_id: string; proof: string }>({ text: this.sql.getBatchProofs, values: [owner, batchIds] });
    return found.map((row) => ({ owner, batchId: row.batch_id, proof: row.proof }));
  }

  /** Ends the pool if this store created it. */
  /** Nothing to do: the server's autovacuum reclaims what prunes delete. */
  async compact(): Promise<void> {}

  async close(): Promise<void> {
    await this.db.close();
  }

  /** `text` (an `unnest` statement, one array per column) over rows of values, in chunks of ROWS_PER_STATEMENT rows. */
  private bulk(text: string, values: readonly (readonly unknown[])[]): Statement[] {
    return chunks(values, ROWS_PER_STATEMENT).map((chunk) => ({ text, values: columnsOf(chunk) }));
  }

  /** Runs `statements` in one transaction. */
  private async runAll(statements: readonly Statement[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const statement of statements) await tx.query(statement);
    });
  }
}
