import {
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
import { keysetBound, StatementCache } from './keyset.js';
import { migrate, openSqliteDatabase, type SqliteDatabase, type SqliteOpenOptions } from './sqlite-database.js';
import { SYNC_DB_MIGRATIONS } from './sync-db-schema.js';

export interface SqliteSyncStoreOptions extends SqliteOpenOptions {
  /** Path of sync.db. */
  readonly path: string;
  /** Source of `updated_at` times; tests inject one. */
  readonly wallClock?: WallClock;
}

// Text that sorts before every stored HLC text.
const BEFORE_ALL = '';

type CheckpointRow = {
  owner_device_id: string;
  resource_type: string;
  resume_hlc: string | null;
  resume_id: string | null;
  completed: number;
  records_applied: number;
  records_total: number | null;
  updated_at: number;
};
type SharedChangeRow = { hlc: string; model: string; record_id: string; op: 'upsert' | 'delete'; data: string | null };
type TombstoneRow = { model: string; record_id: string; owner_device_id: string; hlc: string };
type ParkedRow = { model: string; record_id: string; hlc: string; owner_device_id: string; data: string };

/**
 * SyncStore on better-sqlite3. Forward-only writes are single conditional upserts
 * (`ON CONFLICT … DO UPDATE … WHERE excluded.x > x`), so they hold even with several
 * connections writing at once.
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
    migrate(this.db, SYNC_DB_MIGRATIONS, `sync.db at ${options.path}`);
    const db = this.db;
    this.statements = new StatementCache(db);
    this.relaxSync = options.synchronous !== 'normal';
    this.sql = {
      getWatermark: db.prepare<[string, string], { last_watermark: string }>(
        'SELECT last_watermark FROM device_resource_watermarks WHERE owner_device_id = ? AND resource_type = ?',
      ),
      advanceWatermark: db.prepare(
        `INSERT INTO device_resource_watermarks (owner_device_id, resource_type, last_watermark, updated_at)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (owner_device_id, resource_type) DO UPDATE
           SET last_watermark = excluded.last_watermark, updated_at = excluded.updated_at
           WHERE excluded.last_watermark > device_resource_watermarks.last_watermark`,
      ),
      listWatermarks: db.prepare<[], { owner_device_id: string; resource_type: string; last_watermark: string; updated_at: number }>(
        'SELECT * FROM device_resource_watermarks ORDER BY owner_device_id, resource_type',
      ),
      saveCheckpoint: db.prepare(
        `INSERT OR REPLACE INTO backfill_checkpoints
           (owner_device_id, resource_type, resume_hlc, resume_id, completed, records_applied, records_total, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      loadCheckpoint: db.prepare<[string, string], CheckpointRow>(
        'SELECT * FROM backfill_checkpoints WHERE owner_device_id = ? AND resource_type = ?',
      ),
      listCheckpoints: db.prepare<[], CheckpointRow>('SELECT * FROM backfill_checkpoints ORDER BY owner_device_id, resource_type'),
      clearCheckpoint: db.prepare('DELETE FROM backfill_checkpoints WHERE owner_device_id = ? AND resource_type = ?'),
      clearCheckpointsOfOwner: db.prepare('DELETE FROM backfill_checkpoints WHERE owner_device_id = ?'),
      clearAllCheckpoints: db.prepare('DELETE FROM backfill_checkpoints'),
      getSyncState: db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE key = ?'),
      setSyncState: db.prepare('INSERT OR REPLACE INTO sync_state (key, value, updated_at) VALUES (?, ?, ?)'),
      appendSharedChange: db.prepare(
        'INSERT OR IGNORE INTO shared_changes (hlc, origin_device_id, model, record_id, op, data) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      pruneSharedChanges: db.prepare('DELETE FROM shared_changes WHERE hlc <= ?'),
      countSharedChanges: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM shared_changes'),
      recordAck: db.prepare(
        `INSERT INTO peer_acks (peer_device_id, last_acked_hlc, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (peer_device_id) DO UPDATE
           SET last_acked_hlc = excluded.last_acked_hlc, updated_at = excluded.updated_at
           WHERE excluded.last_acked_hlc > peer_acks.last_acked_hlc`,
      ),
      listAcks: db.prepare<[], { peer_device_id: string; last_acked_hlc: string; updated_at: number }>(
        'SELECT * FROM peer_acks ORDER BY peer_device_id',
      ),
      putTombstone: db.prepare(
        `INSERT INTO tombstones (model, record_id, owner_device_id, hlc) VALUES (?, ?, ?, ?)
         ON CONFLICT (model, record_id) DO UPDATE
           SET owner_device_id = excluded.owner_device_id, hlc = excluded.hlc
           WHERE excluded.hlc > tombstones.hlc`,
      ),
      getTombstones: db.prepare<[string, string], TombstoneRow>(
        'SELECT * FROM tombstones WHERE model = ? AND record_id IN (SELECT value FROM json_each(?))',
      ),
      anyTombstone: db.prepare<[string], number>('SELECT 1 FROM tombstones WHERE model = ? LIMIT 1').pluck(),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      pruneTombstones: db.prepare('DELETE FROM tombstones WHERE hlc <= ?'),
      parkChange: db.prepare('INSERT OR IGNORE INTO parked_changes (model, record_id, hlc, owner_device_id, data) VALUES (?, ?, ?, ?, ?)'),
      unparkChange: db.prepare('DELETE FROM parked_changes WHERE model = ? AND record_id = ? AND hlc = ?'),
      listParked: db.prepare<[], ParkedRow>('SELECT * FROM parked_changes ORDER BY hlc, record_id, model'),
      saveMetrics: db.prepare('INSERT OR REPLACE INTO sync_metrics_snapshots (taken_at, library_id, snapshot_json) VALUES (?, ?, ?)'),
      listMetrics: db.prepare<[number], { taken_at: number; library_id: string; snapshot_json: string }>(
        'SELECT * FROM sync_metrics_snapshots ORDER BY taken_at DESC LIMIT ?',
      ),
      pruneMetrics: db.prepare(
        'DELETE FROM sync_metrics_snapshots WHERE taken_at NOT IN (SELECT taken_at FROM sync_metrics_snapshots ORDER BY taken_at DESC LIMIT ?)',
      ),
    };
  }

  async getWatermark(ownerDeviceId: string, resourceType: string): Promise<Hlc | null> {
    const row = this.sql.getWatermark.get(ownerDeviceId, resourceType);
    return row ? parseHlc(row.last_watermark) : null;
  }

  async advanceWatermark(ownerDeviceId: string, resourceType: string, hlc: Hlc): Promise<boolean> {
    return this.withoutSync(() => this.sql.advanceWatermark.run(ownerDeviceId, resourceType, formatHlc(hlc), this.wallClock.now()).changes > 0);
  }

  /**
   * Runs a write whose loss on power failure is harmless without syncing the WAL for it.
   * Watermarks and checkpoints only ever move forward past records already durable in
   * database.db; losing the last of them makes a node fetch a page again (applying it twice
   * changes nothing), never skip one. The WAL is sequential, so the next synced commit makes
   * them durable too. Per page of a backfill this saves two of three fsyncs.
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
    return this.sql.listWatermarks.all().map((r) => ({
      ownerDeviceId: r.owner_device_id,
      resourceType: r.resource_type,
      watermark: parseHlc(r.last_watermark),
      updatedAt: r.updated_at,
    }));
  }

  async saveCheckpoint(c: BackfillCheckpointInput): Promise<void> {
    this.withoutSync(() =>
      this.sql.saveCheckpoint.run(
        c.ownerDeviceId,
        c.resourceType,
        c.cursor ? formatHlc(c.cursor.hlc) : null,
        c.cursor ? c.cursor.id : null,
        c.completed ? 1 : 0,
        c.recordsApplied,
        c.recordsTotal,
        this.wallClock.now(),
      ),
    );
  }

  async loadCheckpoint(ownerDeviceId: string, resourceType: string): Promise<BackfillCheckpoint | null> {
    const row = this.sql.loadCheckpoint.get(ownerDeviceId, resourceType);
    return row ? checkpointFromRow(row) : null;
  }

  async listCheckpoints(): Promise<BackfillCheckpoint[]> {
    return this.sql.listCheckpoints.all().map(checkpointFromRow);
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
      for (const c of changes) {
        const data = c.data === null ? null : JSON.stringify(c.data);
        added += insert.run(formatHlc(c.hlc), c.hlc.deviceId, c.model, c.recordId, c.op, data).changes;
      }
      return added;
    })();
  }

  async sharedChangesSince(query: SharedChangeQuery): Promise<SharedChange[]> {
    const where = ['hlc > ?'];
    const params: unknown[] = [query.after ? formatHlc(query.after) : BEFORE_ALL];
    if (query.originDeviceId !== undefined) {
      where.push('origin_device_id = ?');
      params.push(query.originDeviceId);
    }
    if (query.model !== undefined) {
      where.push('model = ?');
      params.push(query.model);
    }
    const sql = `SELECT hlc, model, record_id, op, data FROM shared_changes WHERE ${where.join(' AND ')} ORDER BY hlc LIMIT ?`;
    const rows = this.statements.get<SharedChangeRow>(sql).all(...params, query.limit);
    return rows.map((r) => ({
      hlc: parseHlc(r.hlc),
      model: r.model,
      recordId: r.record_id,
      op: r.op,
      data: r.data === null ? null : (JSON.parse(r.data) as Record<string, unknown>),
    }));
  }

  async pruneSharedChanges(upTo: Hlc): Promise<number> {
    return this.sql.pruneSharedChanges.run(formatHlc(upTo)).changes;
  }

  async countSharedChanges(): Promise<number> {
    return this.sql.countSharedChanges.get()!.n;
  }

  async recordAck(peerDeviceId: string, hlc: Hlc): Promise<boolean> {
    return this.sql.recordAck.run(peerDeviceId, formatHlc(hlc), this.wallClock.now()).changes > 0;
  }

  async listAcks(): Promise<PeerAck[]> {
    return this.sql.listAcks.all().map((r) => ({ peerDeviceId: r.peer_device_id, hlc: parseHlc(r.last_acked_hlc), updatedAt: r.updated_at }));
  }

  async putTombstones(tombstones: readonly Tombstone[]): Promise<void> {
    const put = this.sql.putTombstone;
    for (const t of tombstones) this.tombstoneFree.delete(t.model);
    this.db.transaction(() => {
      for (const t of tombstones) put.run(t.model, t.recordId, t.ownerDeviceId, formatHlc(t.hlc));
    })();
  }

  async getTombstones(model: string, recordIds: readonly string[]): Promise<Map<string, Tombstone>> {
    const found = new Map<string, Tombstone>();
    if (recordIds.length === 0 || !this.mayHaveTombstones(model)) return found;
    for (const row of this.sql.getTombstones.all(model, JSON.stringify(recordIds))) found.set(row.record_id, tombstoneFromRow(row));
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
    const where = ['model = ?'];
    const params: unknown[] = [model];
    if (query.owner !== undefined) {
      where.push('owner_device_id = ?');
      params.push(query.owner);
    }
    const bound = keysetBound('hlc', 'record_id', query);
    where.push(bound.sql);
    params.push(...bound.params);
    const sql = `SELECT * FROM tombstones WHERE ${where.join(' AND ')} ORDER BY hlc, record_id LIMIT ?`;
    return this.statements.get<TombstoneRow>(sql).all(...params, query.limit).map(tombstoneFromRow);
  }

  async pruneTombstones(upTo: Hlc): Promise<number> {
    return this.sql.pruneTombstones.run(formatHlc(upTo)).changes;
  }

  async parkChanges(changes: readonly ParkedChange[]): Promise<void> {
    const park = this.sql.parkChange;
    this.db.transaction(() => {
      for (const c of changes) park.run(c.model, c.recordId, formatHlc(c.hlc), c.ownerDeviceId, JSON.stringify(c.data));
    })();
  }

  async unparkChanges(keys: readonly ParkedChangeKey[]): Promise<void> {
    const unpark = this.sql.unparkChange;
    this.db.transaction(() => {
      for (const k of keys) unpark.run(k.model, k.recordId, formatHlc(k.hlc));
    })();
  }

  async listParkedChanges(): Promise<ParkedChange[]> {
    return this.sql.listParked.all().map((r) => ({
      model: r.model,
      recordId: r.record_id,
      ownerDeviceId: r.owner_device_id,
      hlc: parseHlc(r.hlc),
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  }

  async saveMetricsSnapshot(snapshot: MetricsSnapshot): Promise<void> {
    this.sql.saveMetrics.run(snapshot.takenAt, snapshot.libraryId, JSON.stringify(snapshot.metrics));
  }

  async listMetricsSnapshots(limit: number): Promise<MetricsSnapshot[]> {
    return this.sql.listMetrics.all(limit).map((r) => ({
      takenAt: r.taken_at,
      libraryId: r.library_id,
      metrics: JSON.parse(r.snapshot_json) as Record<string, unknown>,
    }));
  }

  async pruneMetricsSnapshots(keep: number): Promise<number> {
    return this.sql.pruneMetrics.run(keep).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function checkpointFromRow(r: CheckpointRow): BackfillCheckpoint {
  return {
    ownerDeviceId: r.owner_device_id,
    resourceType: r.resource_type,
    cursor: r.resume_hlc !== null && r.resume_id !== null ? { hlc: parseHlc(r.resume_hlc), id: r.resume_id } : null,
    completed: r.completed === 1,
    recordsApplied: r.records_applied,
    recordsTotal: r.records_total,
    updatedAt: r.updated_at,
  };
}

function tombstoneFromRow(r: TombstoneRow): Tombstone {
  return { model: r.model, recordId: r.record_id, ownerDeviceId: r.owner_device_id, hlc: parseHlc(r.hlc) };
}
