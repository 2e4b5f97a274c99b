import { formatHlc, highestAckPerStream, keysetPageClauses, parseHlc, sharedChangesClauses, SYNC_COLUMNS as C, SyncRowCodec, systemWallClock } from '@highwater/core';
import type { Hlc, SyncStore, WallClock } from '@highwater/core';
import type { BackfillCheckpoint, BackfillCheckpointInput, BatchProof, MetricsSnapshot, PeerAck, ResourceWatermark, StreamAck } from '@highwater/core';
import type { ParkedChange, ParkedChangeKey, SharedChange, SharedChangeQuery, Tombstone, TombstoneQuery } from '@highwater/core';
import type { AckRow, CheckpointRow, MetricsSnapshotRow, ParkedChangeRow, SharedChangeRow, TombstoneRow, WatermarkRow } from '@highwater/core';
import { openSqliteDatabase, SQLITE_VALUES, type SqliteDatabase, type SqliteOpenOptions } from './sqlite-database.js';
import { positionalParams, StatementCache } from './statement-cache.js';
import { migrateSyncDb } from './sync-db-schema.js';

export interface SqliteSyncStoreOptions extends SqliteOpenOptions {
  /** Path of sync.db. */
  readonly path: string;
  /** Source of `updated_at` times; tests inject one. */
  readonly wallClock?: WallClock;
}

const rows = new SyncRowCodec(SQLITE_VALUES);
const TOMBSTONE_PAGE = { owner: 'owner_device_id', hlc: 'hlc', id: 'record_id' };

/**
 * SyncStore on better-sqlite3 (`sync.db`): prepared statements run synchronously on one
 * connection; rows are mapped by core's `SyncRowCodec`.
 */
export class SqliteSyncStore implements SyncStore {
  private readonly db: SqliteDatabase;
  private readonly wallClock: WallClock;
  private readonly sql;
  // Queries whose WHERE clause depends on optional filters, prepared once per shape.
  private readonly statements: StatementCache;
  /** Whether the connection runs FULL sync, so some writes can skip it. */
  private readonly relaxSync: boolean;
  /**
   * Models seen to have no tombstone, so a page of changes skips looking its ids up (most
   * libraries delete rarely). Valid while no other connection has committed: SQLite's
   * `data_version` changes when one has, and the set is then forgotten.
   */
  private readonly tombstoneFree = new Set<string>();
  private tombstoneFreeAsOf = -1;

  constructor(options: SqliteSyncStoreOptions) {
    this.db = openSqliteDatabase(options.path, options);
    this.wallClock = options.wallClock ?? systemWallClock;
    migrateSyncDb(this.db, `sync.db at ${options.path}`);
    this.statements = new StatementCache(this.db);
    this.relaxSync = options.synchronous !== 'normal';
    const db = this.db;
    // Columns are listed in `SYNC_COLUMNS` order, the order `SyncRowCodec` lays out a row.
    // Forward-only writes are single conditional upserts (`ON CONFLICT … DO UPDATE … WHERE
    // excluded.x > x`), so they hold with several connections writing at once.
    this.sql = {
      getWatermark: db.prepare<[string, string], { last_watermark: string }>(
        'SELECT last_watermark FROM device_resource_watermarks WHERE owner_device_id = ? AND resource_type = ?',
      ),
      advanceWatermark: db.prepare(
        `INSERT INTO device_resource_watermarks (${C.watermarks}) VALUES (?, ?, ?, ?)
         ON CONFLICT (owner_device_id, resource_type) DO UPDATE
           SET last_watermark = excluded.last_watermark, updated_at = excluded.updated_at
           WHERE excluded.last_watermark > device_resource_watermarks.last_watermark`,
      ),
      listWatermarks: db.prepare<[], WatermarkRow>(`SELECT ${C.watermarks} FROM device_resource_watermarks ORDER BY owner_device_id, resource_type`),

      // Checkpoints are replaced whole: clearing and restarting a backfill may move them back.
      saveCheckpoint: db.prepare(`INSERT OR REPLACE INTO backfill_checkpoints (${C.checkpoints}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      loadCheckpoint: db.prepare<[string, string], CheckpointRow>(
        `SELECT ${C.checkpoints} FROM backfill_checkpoints WHERE owner_device_id = ? AND resource_type = ?`,
      ),
      listCheckpoints: db.prepare<[], CheckpointRow>(`SELECT ${C.checkpoints} FROM backfill_checkpoints ORDER BY owner_device_id, resource_type`),
      clearCheckpoint: db.prepare('DELETE FROM backfill_checkpoints WHERE owner_device_id = ? AND resource_type = ?'),
      clearCheckpointsOfOwner: db.prepare('DELETE FROM backfill_checkpoints WHERE owner_device_id = ?'),
      clearAllCheckpoints: db.prepare('DELETE FROM backfill_checkpoints'),

      getSyncState: db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE key = ?'),
      setSyncState: db.prepare('INSERT OR REPLACE INTO sync_state (key, value, updated_at) VALUES (?, ?, ?)'),

      appendSharedChange: db.prepare(`INSERT OR IGNORE INTO shared_changes (${C.sharedChanges}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      // Ranges of idx_shared_changes_stream and idx_tombstones_owner_page.
      pruneSharedChanges: db.prepare('DELETE FROM shared_changes WHERE origin_device_id = ? AND model = ? AND hlc <= ?'),
      countSharedChanges: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM shared_changes'),

      // Changes a row only when the ack moves, so `changes` counts moved acks; touchAck then
      // records when an unmoved one was heard.
      advanceAck: db.prepare(
        `INSERT INTO peer_acks (${C.acks}) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (peer_device_id, owner_device_id, resource_type) DO UPDATE
           SET last_acked_hlc = excluded.last_acked_hlc, updated_at = excluded.updated_at
           WHERE excluded.last_acked_hlc > peer_acks.last_acked_hlc`,
      ),
      touchAck: db.prepare('UPDATE peer_acks SET updated_at = ? WHERE peer_device_id = ? AND owner_device_id = ? AND resource_type = ?'),
      listAcks: db.prepare<[], AckRow>(`SELECT ${C.acks} FROM peer_acks ORDER BY peer_device_id, owner_device_id, resource_type`),

      // A newer tombstone replaces the stored one whole, its signature (or its lack of one) too.
      putTombstone: db.prepare(
        `INSERT INTO tombstones (${C.tombstones}) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (model, record_id) DO UPDATE
           SET owner_device_id = excluded.owner_device_id, hlc = excluded.hlc, sig = excluded.sig
           WHERE excluded.hlc > tombstones.hlc`,
      ),
      getTombstones: db.prepare<[string, string], TombstoneRow>(
        `SELECT ${C.tombstones} FROM tombstones WHERE model = ? AND record_id IN (SELECT value FROM json_each(?))`,
      ),
      anyTombstone: db.prepare<[string], number>('SELECT 1 FROM tombstones WHERE model = ? LIMIT 1').pluck(),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      pruneTombstones: db.prepare('DELETE FROM tombstones WHERE model = ? AND owner_device_id = ? AND hlc <= ?'),

      parkChange: db.prepare(`INSERT OR IGNORE INTO parked_changes (${C.parkedChanges}) VALUES (?, ?, ?, ?, ?, ?)`),
      unparkChange: db.prepare('DELETE FROM parked_changes WHERE model = ? AND record_id = ? AND hlc = ?'),
      listParked: db.prepare<[], ParkedChangeRow>(`SELECT ${C.parkedChanges} FROM parked_changes ORDER BY hlc, record_id, model`),

      saveMetrics: db.prepare(`INSERT OR REPLACE INTO sync_metrics_snapshots (${C.metricsSnapshots}) VALUES (?, ?, ?)`),
      listMetrics: db.prepare<[number], MetricsSnapshotRow>(`SELECT ${C.metricsSnapshots} FROM sync_metrics_snapshots ORDER BY taken_at DESC LIMIT ?`),
      pruneMetrics: db.prepare(
        'DELETE FROM sync_metrics_snapshots WHERE taken_at NOT IN (SELECT taken_at FROM sync_metrics_snapshots ORDER BY taken_at DESC LIMIT ?)',
      ),

      // The first proof of a batch stays: a batch has one proof, and its changes were checked against it.
      putBatchProof: db.prepare('INSERT OR IGNORE INTO batch_proofs (owner_device_id, batch_id, proof) VALUES (?, ?, ?)'),
      // Ids as one JSON array, like getTombstones: any number of them binds as one parameter.
      getBatchProofs: db.prepare<[string, string], { batch_id: string; proof: string }>(
        'SELECT batch_id, proof FROM batch_proofs WHERE owner_device_id = ? AND batch_id IN (SELECT value FROM json_each(?))',
      ),
    };
  }

  async getWatermark(ownerDeviceId: string, resourceType: string): Promise<Hlc | null> {
    const row = this.sql.getWatermark.get(ownerDeviceId, resourceType);
    return row ? parseHlc(row.last_watermark) : null;
  }

  async advanceWatermark(ownerDeviceId: string, resourceType: string, hlc: Hlc): Promise<boolean> {
    const advance = this.sql.advanceWatermark;
    return this.withoutSync(() => advance.run(...rows.watermarkValues(ownerDeviceId, resourceType, hlc, this.wallClock.now())).changes > 0);
  }

  /**
   * Runs a write whose loss on power failure is harmless without syncing the WAL for it.
   * Watermarks and checkpoints only ever move forward past records already durable in
   * database.db; losing the last of them makes a node fetch a page again (applying it twice
   * changes nothing), never skip one. The WAL is sequential, so the next synced commit makes
   * them durable too. Per page of a backfill this saves two of three fsyncs (three of four
   * with the batch proofs of signed changes received, which are fetched again the same way).
   */
  private withoutSync<T>(write: () => T): T {
    if (!this.relaxSync) return write();
    // exec, not a prepared statement: SQLite applies this pragma when it compiles it.
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      return write();
    } finally {
      this.db.exec('PRAGMA synchronous = FULL');
    }
  }

  async listWatermarks(): Promise<ResourceWatermark[]> {
    return this.sql.listWatermarks.all().map(rows.watermarkFromRow);
  }

  async saveCheckpoint(c: BackfillCheckpointInput): Promise<void> {
    this.withoutSync(() => this.sql.saveCheckpoint.run(...rows.checkpointValues(c, this.wallClock.now())));
  }

  async loadCheckpoint(ownerDeviceId: string, resourceType: string): Promise<BackfillCheckpoint | null> {
    const row = this.sql.loadCheckpoint.get(ownerDeviceId, resourceType);
    return row ? rows.checkpointFromRow(row) : null;
  }

  async listCheckpoints(): Promise<BackfillCheckpoint[]> {
    return this.sql.listCheckpoints.all().map(rows.checkpointFromRow);
  }

  async clearCheckpoints(ownerDeviceId?: string, resourceType?: string): Promise<void> {
    if (ownerDeviceId === undefined) this.sql.clearAllCheckpoints.run();
    else if (resourceType === undefined) this.sql.clearCheckpointsOfOwner.run(ownerDeviceId);
    else this.sql.clearCheckpoint.run(ownerDeviceId, resourceType);
  }

  async getSyncState(key: string): Promise<string | null> {
    return this.sql.getSyncState.get(key)?.value ?? null;
  }

  async setSyncState(key: string, value: string): Promise<void> {
    this.sql.setSyncState.run(key, value, this.wallClock.now());
  }

  async appendSharedChanges(changes: readonly SharedChange[]): Promise<number> {
    const insert = this.sql.appendSharedChange;
    return this.db.transaction(() => {
      let added = 0;
      for (const c of changes) added += insert.run(...rows.sharedChangeValues(c)).changes;
      return added;
    })();
  }

  async sharedChangesSince(query: SharedChangeQuery): Promise<SharedChange[]> {
    const params: unknown[] = [];
    const clauses = sharedChangesClauses(query, positionalParams(params));
    const sql = `SELECT ${C.sharedChanges} FROM shared_changes ${clauses}`;
    return this.statements.get<SharedChangeRow>(sql).all(...params).map(rows.sharedChangeFromRow);
  }

  async pruneSharedChanges(origin: string, model: string, upTo: Hlc): Promise<number> {
    return this.freeing(this.sql.pruneSharedChanges.run(origin, model, formatHlc(upTo)).changes);
  }

  async countSharedChanges(): Promise<number> {
    return this.sql.countSharedChanges.get()!.n;
  }

  async recordAcks(peerDeviceId: string, acks: readonly StreamAck[], at: number): Promise<number> {
    if (acks.length === 0) return 0;
    const { advanceAck, touchAck } = this.sql;
    // Each stream once, at its highest HLC (see highestAckPerStream).
    const streams = highestAckPerStream(acks);
    // One transaction, holding the write lock from BEGIN (IMMEDIATE; busy_timeout waits for it).
    return this.db.transaction(() => {
      let moved = 0;
      for (const ack of streams) {
        if (advanceAck.run(...rows.ackValues(peerDeviceId, ack, at)).changes > 0) moved++;
        else touchAck.run(at, peerDeviceId, ack.owner, ack.resource);
      }
      return moved;
    }).immediate();
  }

  async listAcks(): Promise<PeerAck[]> {
    return this.sql.listAcks.all().map(rows.ackFromRow);
  }

  async putTombstones(tombstones: readonly Tombstone[]): Promise<void> {
    const put = this.sql.putTombstone;
    for (const t of tombstones) this.tombstoneFree.delete(t.model);
    this.db.transaction(() => {
      for (const t of tombstones) put.run(...rows.tombstoneValues(t));
    })();
  }

  async getTombstones(model: string, recordIds: readonly string[]): Promise<Map<string, Tombstone>> {
    const found = new Map<string, Tombstone>();
    if (recordIds.length === 0 || !this.mayHaveTombstones(model)) return found;
    for (const row of this.sql.getTombstones.all(model, JSON.stringify(recordIds))) found.set(row.record_id, rows.tombstoneFromRow(row));
    return found;
  }

  private mayHaveTombstones(model: string): boolean {
    const version = this.sql.dataVersion.get()!;
    if (version !== this.tombstoneFreeAsOf) {
      this.tombstoneFree.clear();
      this.tombstoneFreeAsOf = version;
    }
    if (this.tombstoneFree.has(model)) return false;
    if (this.sql.anyTombstone.get(model) !== undefined) return true;
    this.tombstoneFree.add(model);
    return false;
  }

  async tombstonesAfter(model: string, query: TombstoneQuery): Promise<Tombstone[]> {
    const params: unknown[] = [];
    const param = positionalParams(params);
    const clauses = keysetPageClauses(query, TOMBSTONE_PAGE, param, `model = ${param(model)}`);
    const sql = `SELECT ${C.tombstones} FROM tombstones ${clauses}`;
    return this.statements.get<TombstoneRow>(sql).all(...params).map(rows.tombstoneFromRow);
  }

  async pruneTombstones(model: string, owner: string, upTo: Hlc): Promise<number> {
    return this.freeing(this.sql.pruneTombstones.run(model, owner, formatHlc(upTo)).changes);
  }

  async parkChanges(changes: readonly ParkedChange[]): Promise<void> {
    const park = this.sql.parkChange;
    this.db.transaction(() => {
      for (const c of changes) park.run(...rows.parkedChangeValues(c));
    })();
  }

  async unparkChanges(keys: readonly ParkedChangeKey[]): Promise<void> {
    const unpark = this.sql.unparkChange;
    this.db.transaction(() => {
      for (const k of keys) unpark.run(...rows.parkedChangeKeyValues(k));
    })();
  }

  async listParkedChanges(): Promise<ParkedChange[]> {
    return this.sql.listParked.all().map(rows.parkedChangeFromRow);
  }

  async saveMetricsSnapshot(snapshot: MetricsSnapshot): Promise<void> {
    this.sql.saveMetrics.run(...rows.metricsSnapshotValues(snapshot));
  }

  async listMetricsSnapshots(limit: number): Promise<MetricsSnapshot[]> {
    return this.sql.listMetrics.all(limit).map(rows.metricsSnapshotFromRow);
  }

  async pruneMetricsSnapshots(keep: number): Promise<number> {
    return this.freeing(this.sql.pruneMetrics.run(keep).changes);
  }

  async putBatchProofs(proofs: readonly BatchProof[], options: { readonly relaxed?: boolean } = {}): Promise<void> {
    const put = this.sql.putBatchProof;
    const write = this.db.transaction(() => {
      for (const p of proofs) put.run(p.owner, p.batchId, p.proof);
    });
    if (options.relaxed) this.withoutSync(() => write());
    else write();
  }

  async getBatchProofs(owner: string, batchIds: readonly string[]): Promise<BatchProof[]> {
    if (batchIds.length === 0) return [];
    return this.sql.getBatchProofs.all(owner, JSON.stringify(batchIds)).map((row) => ({ owner, batchId: row.batch_id, proof: row.proof }));
  }

  /**
   * After a prune that deleted `removed` rows: returns the pages it freed to the OS (sync.db
   * uses incremental auto_vacuum, so they would otherwise stay in the file as free pages),
   * so that the file shrinks at its next checkpoint. Returns `removed`.
   */
  private freeing(removed: number): number {
    // exec steps the pragma to completion (it frees the pages one by one).
    if (removed > 0) this.db.exec('PRAGMA incremental_vacuum');
    return removed;
  }

  /** Writes the WAL back into sync.db (which then shrinks by the pages prunes freed) and empties it. */
  async compact(): Promise<void> {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
