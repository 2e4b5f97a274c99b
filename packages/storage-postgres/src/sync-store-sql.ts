/**
 * The fixed statements of PostgresSyncStore for one schema (`t` qualifies a table name).
 * Each text is constant, so with prepared statements on it is parsed once per connection.
 * Columns are listed rather than `*`: a prepared plan fails if its result columns change.
 */
export function syncStoreSql(t: (name: string) => string) {
  const watermarks = t('device_resource_watermarks');
  const checkpoints = t('backfill_checkpoints');
  const syncState = t('sync_state');
  const shared = t('shared_changes');
  const acks = t('peer_acks');
  const tombstones = t('tombstones');
  const metrics = t('sync_metrics_snapshots');
  const parked = t('parked_changes');
  const checkpointColumns =
    'owner_device_id, resource_type, resume_hlc, resume_id, completed, records_applied, records_total, updated_at';
  return {
    getWatermark: `SELECT last_watermark FROM ${watermarks} WHERE owner_device_id = $1 AND resource_type = $2`,
    // Forward-only in one statement: a concurrent advance waits for the row lock, then the
    // WHERE is evaluated against the row it committed, so the larger value always survives.
    advanceWatermark: `INSERT INTO ${watermarks} AS w (owner_device_id, resource_type, last_watermark, updated_at)
      VALUES ($1, $2, $3, $4)
      ON CONFLICT (owner_device_id, resource_type) DO UPDATE
        SET last_watermark = excluded.last_watermark, updated_at = excluded.updated_at
        WHERE excluded.last_watermark > w.last_watermark`,
    listWatermarks: `SELECT owner_device_id, resource_type, last_watermark, updated_at FROM ${watermarks}
      ORDER BY owner_device_id, resource_type`,

    // Checkpoints are plain upserts: clearing and restarting a backfill may move them back.
    saveCheckpoint: `INSERT INTO ${checkpoints} (${checkpointColumns})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (owner_device_id, resource_type) DO UPDATE SET
        resume_hlc = excluded.resume_hlc, resume_id = excluded.resume_id, completed = excluded.completed,
        records_applied = excluded.records_applied, records_total = excluded.records_total, updated_at = excluded.updated_at`,
    loadCheckpoint: `SELECT ${checkpointColumns} FROM ${checkpoints} WHERE owner_device_id = $1 AND resource_type = $2`,
    listCheckpoints: `SELECT ${checkpointColumns} FROM ${checkpoints} ORDER BY owner_device_id, resource_type`,
    clearCheckpoint: `DELETE FROM ${checkpoints} WHERE owner_device_id = $1 AND resource_type = $2`,
    clearCheckpointsOfOwner: `DELETE FROM ${checkpoints} WHERE owner_device_id = $1`,
    clearAllCheckpoints: `DELETE FROM ${checkpoints}`,

    getSyncState: `SELECT value FROM ${syncState} WHERE key = $1`,
    setSyncState: `INSERT INTO ${syncState} (key, value, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,

    appendSharedChanges: `INSERT INTO ${shared} (hlc, origin_device_id, model, record_id, op, data)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::json[])
      ON CONFLICT (hlc) DO NOTHING`,
    selectSharedChanges: `SELECT hlc, model, record_id, op, data FROM ${shared}`,
    pruneSharedChanges: `DELETE FROM ${shared} WHERE hlc <= $1`,
    countSharedChanges: `SELECT count(*) AS n FROM ${shared}`,

    recordAck: `INSERT INTO ${acks} AS a (peer_device_id, last_acked_hlc, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (peer_device_id) DO UPDATE
        SET last_acked_hlc = excluded.last_acked_hlc, updated_at = excluded.updated_at
        WHERE excluded.last_acked_hlc > a.last_acked_hlc`,
    listAcks: `SELECT peer_device_id, last_acked_hlc, updated_at FROM ${acks} ORDER BY peer_device_id`,

    putTombstones: `INSERT INTO ${tombstones} AS t (model, record_id, owner_device_id, hlc)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
      ON CONFLICT (model, record_id) DO UPDATE
        SET owner_device_id = excluded.owner_device_id, hlc = excluded.hlc
        WHERE excluded.hlc > t.hlc`,
    getTombstones: `SELECT model, record_id, owner_device_id, hlc FROM ${tombstones} WHERE model = $1 AND record_id = ANY($2::text[])`,
    selectTombstones: `SELECT model, record_id, owner_device_id, hlc FROM ${tombstones}`,
    pruneTombstones: `DELETE FROM ${tombstones} WHERE hlc <= $1`,

    parkChanges: `INSERT INTO ${parked} (model, record_id, hlc, owner_device_id, data)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::json[])
      ON CONFLICT (model, record_id, hlc) DO NOTHING`,
    unparkChanges: `DELETE FROM ${parked} p USING unnest($1::text[], $2::text[], $3::text[]) AS k(model, record_id, hlc)
      WHERE p.model = k.model AND p.record_id = k.record_id AND p.hlc = k.hlc`,
    listParked: `SELECT model, record_id, hlc, owner_device_id, data FROM ${parked} ORDER BY hlc, record_id, model`,

    saveMetrics: `INSERT INTO ${metrics} (taken_at, library_id, snapshot_json) VALUES ($1, $2, $3)
      ON CONFLICT (taken_at) DO UPDATE SET library_id = excluded.library_id, snapshot_json = excluded.snapshot_json`,
    listMetrics: `SELECT taken_at, library_id, snapshot_json FROM ${metrics} ORDER BY taken_at DESC LIMIT $1`,
    pruneMetrics: `DELETE FROM ${metrics}
      WHERE taken_at NOT IN (SELECT taken_at FROM ${metrics} ORDER BY taken_at DESC LIMIT $1)`,
  };
}
