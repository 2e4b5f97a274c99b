import { migrate, type Migration, type SqliteDatabase } from './sqlite-database.js';

/**
 * sync.db: sync metadata only, never domain data. Table names follow the seeds. HLCs are
 * stored in their fixed-width text form, whose byte order is the clock order, so SQL
 * comparisons and ORDER BY on them are clock comparisons.
 */
export const SYNC_DB_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE device_resource_watermarks (
        owner_device_id TEXT NOT NULL,
        resource_type   TEXT NOT NULL,
        last_watermark  TEXT NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (owner_device_id, resource_type)
      ) WITHOUT ROWID;
      CREATE INDEX idx_resource_watermarks_resource ON device_resource_watermarks (resource_type);

      CREATE TABLE backfill_checkpoints (
        owner_device_id TEXT NOT NULL,
        resource_type   TEXT NOT NULL,
        resume_hlc      TEXT,
        resume_id       TEXT,
        completed       INTEGER NOT NULL,
        records_applied INTEGER NOT NULL,
        records_total   INTEGER,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (owner_device_id, resource_type)
      ) WITHOUT ROWID;

      CREATE TABLE sync_state (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE shared_changes (
        hlc              TEXT PRIMARY KEY,
        origin_device_id TEXT NOT NULL,
        model            TEXT NOT NULL,
        record_id        TEXT NOT NULL,
        op               TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
        data             TEXT
      ) WITHOUT ROWID;
      CREATE INDEX idx_shared_changes_origin ON shared_changes (origin_device_id, hlc);

      CREATE TABLE peer_acks (
        peer_device_id TEXT PRIMARY KEY,
        last_acked_hlc TEXT NOT NULL,
        updated_at     INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE tombstones (
        model           TEXT NOT NULL,
        record_id       TEXT NOT NULL,
        owner_device_id TEXT NOT NULL,
        hlc             TEXT NOT NULL,
        PRIMARY KEY (model, record_id)
      ) WITHOUT ROWID;
      CREATE INDEX idx_tombstones_owner_page ON tombstones (model, owner_device_id, hlc, record_id);
      CREATE INDEX idx_tombstones_page ON tombstones (model, hlc, record_id);
      CREATE INDEX idx_tombstones_hlc ON tombstones (hlc);

      CREATE TABLE sync_metrics_snapshots (
        taken_at      INTEGER PRIMARY KEY,
        library_id    TEXT NOT NULL,
        snapshot_json TEXT NOT NULL
      );
    `,
  },
  {
    // Changes waiting for a record they reference, so that a watermark may cover them.
    version: 2,
    sql: `
      CREATE TABLE parked_changes (
        model           TEXT NOT NULL,
        record_id       TEXT NOT NULL,
        hlc             TEXT NOT NULL,
        owner_device_id TEXT NOT NULL,
        data            TEXT NOT NULL,
        PRIMARY KEY (model, record_id, hlc)
      ) WITHOUT ROWID;
    `,
  },
  {
    // Acks per (peer, owner, resource) stream, and pruning per stream: tombstones of one
    // (model, owner) by idx_tombstones_owner_page, shared changes of one (origin, model) by
    // idx_shared_changes_stream, which also serves a peer's read of that stream in HLC order.
    // The old per-peer acks are dropped: peers announce their acks again on every connect.
    // The indexes only a whole-table prune by HLC used go. (sync.db is also converted to
    // incremental auto_vacuum by `migrateSyncDb`, outside this transaction.)
    version: 3,
    sql: `
      DROP TABLE peer_acks;
      CREATE TABLE peer_acks (
        peer_device_id  TEXT NOT NULL,
        owner_device_id TEXT NOT NULL,
        resource_type   TEXT NOT NULL,
        last_acked_hlc  TEXT NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (peer_device_id, owner_device_id, resource_type)
      ) WITHOUT ROWID;

      DROP INDEX idx_shared_changes_origin;
      CREATE INDEX idx_shared_changes_stream ON shared_changes (origin_device_id, model, hlc);

      DROP INDEX idx_tombstones_hlc;
    `,
  },
  {
    // The owner's (origin's) signature of each change, stored as it came and handed on with it;
    // NULL for changes of nodes that do not sign. ADD COLUMN changes only the tables'
    // definitions: no row is rewritten, and rows stored before read back unsigned.
    version: 4,
    sql: `
      ALTER TABLE tombstones ADD COLUMN sig TEXT;
      ALTER TABLE shared_changes ADD COLUMN sig TEXT;
      ALTER TABLE parked_changes ADD COLUMN sig TEXT;
    `,
  },
  {
    // Proofs of batch-signed changes, one per (owner, batch): kept apart from the changes,
    // which are replaced one by one while the rest of their batch must stay provable. A rowid
    // table: a proof is a few KiB, and WITHOUT ROWID rows that large write 3x slower.
    version: 5,
    sql: `
      CREATE TABLE batch_proofs (
        owner_device_id TEXT NOT NULL,
        batch_id        TEXT NOT NULL,
        proof           TEXT NOT NULL,
        PRIMARY KEY (owner_device_id, batch_id)
      );
    `,
  },
];

/** `PRAGMA auto_vacuum` of a database whose freed pages are kept until `PRAGMA incremental_vacuum`. */
export const AUTO_VACUUM_INCREMENTAL = 2;

/**
 * Brings sync.db to the newest schema, with incremental auto_vacuum, so that pages freed by
 * pruning tombstones and shared changes can be returned to the OS (`PRAGMA incremental_vacuum`
 * after a prune). auto_vacuum takes effect on a file only through VACUUM once the file has a
 * first page (opening in WAL mode writes it), and VACUUM cannot run inside a transaction:
 * a new file is switched before its first table is created (instantly: it is empty); a file
 * made before schema v3 is converted once after migrating, which rewrites it whole.
 * Checked on every open, so a conversion interrupted by a crash is done on the next.
 */
export function migrateSyncDb(db: SqliteDatabase, what: string): void {
  const fresh = (db.pragma('user_version', { simple: true }) as number) === 0;
  if (fresh) useIncrementalVacuum(db);
  migrate(db, SYNC_DB_MIGRATIONS, what);
  if (!fresh) useIncrementalVacuum(db);
}

function useIncrementalVacuum(db: SqliteDatabase): void {
  if (db.pragma('auto_vacuum', { simple: true }) === AUTO_VACUUM_INCREMENTAL) return;
  db.pragma('auto_vacuum = INCREMENTAL');
  db.exec('VACUUM');
}
