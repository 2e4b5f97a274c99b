import { SYNC_COLUMNS as C } from '@highwater/core';

/**
 * The fixed statements of PostgresSyncStore for one schema (`t` qualifies a table name).
 * Each text is constant, so with prepared statements on it is parsed once per connection.
 * Columns are listed rather than `*` (a prepared plan fails if its result columns change), in
 * `SYNC_COLUMNS` order, the order core's `SyncRowCodec` lays out a row.
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
  const proofs = t('batch_proofs');
  return {
    getWatermark: `SELECT last_watermark FROM ${watermarks} WHERE owner_device_id = $1 AND resource_type = $2`,
    // Forward-only in one statement: a concurrent advance waits for the row lock, then the
    // WHERE is evaluated against the row it committed, so the larger value always survives.
    advanceWatermark: `INSERT INTO ${watermarks} AS w (${C.watermarks})
      VALUES ($1, $2, $3, $4)
      ON CONFLICT (owner_device_id, resource_type) DO UPDATE
        SET last_watermark = excluded.last_watermark, updated_at = excluded.updated_at
        WHERE excluded.last_watermark > w.last_watermark`,
    listWatermarks: `SELECT ${C.watermarks} FROM ${watermarks}
      ORDER BY owner_device_id, resource_type`,

    // Checkpoints are plain upserts: clearing and restarting a backfill may move them back.
    saveCheckpoint: `INSERT INTO ${checkpoints} (${C.checkpoints})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (owner_device_id, resource_type) DO UPDATE SET
        resume_hlc = excluded.resume_hlc, resume_id = excluded.resume_id, completed = excluded.completed,
        records_applied = excluded.records_applied, records_total = excluded.records_total, updated_at = excluded.updated_at`,
    loadCheckpoint: `SELECT ${C.checkpoints} FROM ${checkpoints} WHERE owner_device_id = $1 AND resource_type = $2`,
    listCheckpoints: `SELECT ${C.checkpoints} FROM ${checkpoints} ORDER BY owner_device_id, resource_type`,
    clearCheckpoint: `DELETE FROM ${checkpoints} WHERE owner_device_id = $1 AND resource_type = $2`,
    clearCheckpointsOfOwner: `DELETE FROM ${checkpoints} WHERE owner_device_id = $1`,
    clearAllCheckpoints: `DELETE FROM ${checkpoints}`,

    getSyncState: `SELECT value FROM ${syncState} WHERE key = $1`,
    setSyncState: `INSERT INTO ${syncState} (key, value, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,

    appendSharedChanges: `INSERT INTO ${shared} (${C.sharedChanges})
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::json[], $7::text[])
      ON CONFLICT (hlc) DO NOTHING`,
    selectSharedChanges: `SELECT ${C.sharedChanges} FROM ${shared}`,
    // Ranges of idx_shared_changes_stream and idx_tombstones_owner_page.
    pruneSharedChanges: `DELETE FROM ${shared} WHERE origin_device_id = $1 AND model = $2 AND hlc <= $3`,
    countSharedChanges: `SELECT count(*) AS n FROM ${shared}`,

    // recordAcks, in one transaction. advanceAcks changes only the acks that move (its row
    // count is how many moved) but locks every named row that exists, like advanceWatermark;
    // touchAcks then sets when the peer was heard on the rest (already locked by this transaction).
    advanceAcks: `INSERT INTO ${acks} AS a (${C.acks})
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
      ON CONFLICT (peer_device_id, owner_device_id, resource_type) DO UPDATE
        SET last_acked_hlc = excluded.last_acked_hlc, updated_at = excluded.updated_at
        WHERE excluded.last_acked_hlc > a.last_acked_hlc`,
    // $1 peer, $2 owners, $3 resources, $4 wall time.
    touchAcks: `UPDATE ${acks} AS a SET updated_at = $4
      FROM unnest($2::text[], $3::text[]) AS s(owner_device_id, resource_type)
      WHERE a.peer_device_id = $1 AND a.owner_device_id = s.owner_device_id AND a.resource_type = s.resource_type
        AND a.updated_at <> $4`,
    listAcks: `SELECT ${C.acks} FROM ${acks} ORDER BY peer_device_id, owner_device_id, resource_type`,

    // A newer tombstone replaces the stored one whole, its signature (or its lack of one) too.
    putTombstones: `INSERT INTO ${tombstones} AS t (${C.tombstones})
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
      ON CONFLICT (model, record_id) DO UPDATE
        SET owner_device_id = excluded.owner_device_id, hlc = excluded.hlc, sig = excluded.sig
        WHERE excluded.hlc > t.hlc`,
    getTombstones: `SELECT ${C.tombstones} FROM ${tombstones} WHERE model = $1 AND record_id = ANY($2::text[])`,
    selectTombstones: `SELECT ${C.tombstones} FROM ${tombstones}`,
    pruneTombstones: `DELETE FROM ${tombstones} WHERE model = $1 AND owner_device_id = $2 AND hlc <= $3`,

    parkChanges: `INSERT INTO ${parked} (${C.parkedChanges})
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::json[], $6::text[])
      ON CONFLICT (model, record_id, hlc) DO NOTHING`,
    unparkChanges: `DELETE FROM ${parked} p USING unnest($1::text[], $2::text[], $3::text[]) AS k(${C.parkedChangeKeys})
      WHERE p.model = k.model AND p.record_id = k.record_id AND p.hlc = k.hlc`,
    listParked: `SELECT ${C.parkedChanges} FROM ${parked} ORDER BY hlc, record_id, model`,

    saveMetrics: `INSERT INTO ${metrics} (${C.metricsSnapshots}) VALUES ($1, $2, $3)
      ON CONFLICT (taken_at) DO UPDATE SET library_id = excluded.library_id, snapshot_json = excluded.snapshot_json`,
    listMetrics: `SELECT ${C.metricsSnapshots} FROM ${metrics} ORDER BY taken_at DESC LIMIT $1`,
    pruneMetrics: `DELETE FROM ${metrics}
      WHERE taken_at NOT IN (SELECT taken_at FROM ${metrics} ORDER BY taken_at DESC LIMIT $1)`,

    // The first proof of a batch stays: a batch has one proof, and its changes were checked against it.
    putBatchProofs: `INSERT INTO ${proofs} (owner_device_id, batch_id, proof)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
      ON CONFLICT (owner_device_id, batch_id) DO NOTHING`,
    getBatchProofs: `SELECT batch_id, proof FROM ${proofs} WHERE owner_device_id = $1 AND batch_id = ANY($2::text[])`,
  };
}
