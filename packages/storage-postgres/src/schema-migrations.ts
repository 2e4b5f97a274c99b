/**
 * The versioned part of a library schema: the sync metadata tables (names follow the seeds
 * and the SQLite adapter). Record tables are not here: they follow the model registry and
 * are created or extended on open by `record-table-ddl.ts`.
 *
 * Every HLC, record id, device id, model and resource column is `COLLATE "C"` (byte order):
 * the HLC text form sorts like the clock only in byte order, and keyset cursors (HLC, id) must
 * mean the same position on a SQLite peer (which compares bytes) and on this one. Without it
 * the order would follow the database's locale, which may put "B" before "a".
 */

/** One schema step; `sql` receives the function that schema-qualifies a table name. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  sql(table: (name: string) => string): string;
}

/** Tables this module owns; a model table with one of these names would clash. */
export const SYNC_TABLES = [
  'device_resource_watermarks',
  'backfill_checkpoints',
  'sync_state',
  'shared_changes',
  'peer_acks',
  'tombstones',
  'sync_metrics_snapshots',
  'parked_changes',
  'batch_proofs',
] as const;

export const MIGRATIONS_TABLE = 'hw_schema_migrations';

export const SCHEMA_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sync metadata tables',
    sql: (t) => `
      CREATE TABLE ${t('device_resource_watermarks')} (
        owner_device_id TEXT COLLATE "C" NOT NULL,
        resource_type   TEXT COLLATE "C" NOT NULL,
        last_watermark  TEXT COLLATE "C" NOT NULL,
        updated_at      BIGINT NOT NULL,
        PRIMARY KEY (owner_device_id, resource_type)
      );
      CREATE INDEX idx_resource_watermarks_resource ON ${t('device_resource_watermarks')} (resource_type);

      CREATE TABLE ${t('backfill_checkpoints')} (
        owner_device_id TEXT COLLATE "C" NOT NULL,
        resource_type   TEXT COLLATE "C" NOT NULL,
        resume_hlc      TEXT COLLATE "C",
        resume_id       TEXT COLLATE "C",
        completed       BOOLEAN NOT NULL,
        records_applied BIGINT NOT NULL,
        records_total   BIGINT,
        updated_at      BIGINT NOT NULL,
        PRIMARY KEY (owner_device_id, resource_type)
      );

      CREATE TABLE ${t('sync_state')} (
        key        TEXT COLLATE "C" PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );

      -- data is JSON, not JSONB: JSONB reorders object keys, and a change must read back as written.
      CREATE TABLE ${t('shared_changes')} (
        hlc              TEXT COLLATE "C" PRIMARY KEY,
        origin_device_id TEXT COLLATE "C" NOT NULL,
        model            TEXT COLLATE "C" NOT NULL,
        record_id        TEXT COLLATE "C" NOT NULL,
        op               TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
        data             JSON
      );
      CREATE INDEX idx_shared_changes_origin ON ${t('shared_changes')} (origin_device_id, hlc);

      CREATE TABLE ${t('peer_acks')} (
        peer_device_id TEXT COLLATE "C" PRIMARY KEY,
        last_acked_hlc TEXT COLLATE "C" NOT NULL,
        updated_at     BIGINT NOT NULL
      );

      CREATE TABLE ${t('tombstones')} (
        model           TEXT COLLATE "C" NOT NULL,
        record_id       TEXT COLLATE "C" NOT NULL,
        owner_device_id TEXT COLLATE "C" NOT NULL,
        hlc             TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (model, record_id)
      );
      CREATE INDEX idx_tombstones_owner_page ON ${t('tombstones')} (model, owner_device_id, hlc, record_id);
      CREATE INDEX idx_tombstones_page ON ${t('tombstones')} (model, hlc, record_id);
      CREATE INDEX idx_tombstones_hlc ON ${t('tombstones')} (hlc);

      CREATE TABLE ${t('sync_metrics_snapshots')} (
        taken_at      BIGINT PRIMARY KEY,
        library_id    TEXT NOT NULL,
        snapshot_json JSON NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'changes waiting for a record they reference, so that a watermark may cover them',
    sql: (t) => `
      CREATE TABLE ${t('parked_changes')} (
        model           TEXT COLLATE "C" NOT NULL,
        record_id       TEXT COLLATE "C" NOT NULL,
        hlc             TEXT COLLATE "C" NOT NULL,
        owner_device_id TEXT COLLATE "C" NOT NULL,
        data            JSON NOT NULL,
        PRIMARY KEY (model, record_id, hlc)
      );
    `,
  },
  {
    // The old per-peer acks are dropped: peers announce their acks again on every connect.
    // Prunes are per stream: tombstones of one (model, owner) are a range of
    // idx_tombstones_owner_page, shared changes of one (origin, model) of the new
    // idx_shared_changes_stream (which also serves a peer's read of that stream in HLC order);
    // the indexes only a whole-table prune by HLC used go.
    version: 3,
    description: 'acks and pruning per (owner, resource) stream',
    sql: (t) => `
      DROP TABLE ${t('peer_acks')};
      CREATE TABLE ${t('peer_acks')} (
        peer_device_id  TEXT COLLATE "C" NOT NULL,
        owner_device_id TEXT COLLATE "C" NOT NULL,
        resource_type   TEXT COLLATE "C" NOT NULL,
        last_acked_hlc  TEXT COLLATE "C" NOT NULL,
        updated_at      BIGINT NOT NULL,
        PRIMARY KEY (peer_device_id, owner_device_id, resource_type)
      );

      DROP INDEX ${t('idx_shared_changes_origin')};
      CREATE INDEX idx_shared_changes_stream ON ${t('shared_changes')} (origin_device_id, model, hlc);

      DROP INDEX ${t('idx_tombstones_hlc')};
    `,
  },
  {
    // The owner's (origin's) signature of each change, stored as it came and handed on with
    // it; NULL for changes of nodes that do not sign. A nullable column without a default is
    // added to the catalog only: no row is rewritten, and rows stored before read back
    // unsigned. Model tables gain `hw_sig` the same way when the record store opens
    // (`record-table-ddl.ts`).
    version: 4,
    description: 'signatures of changes: sig on tombstones, shared_changes and parked_changes',
    sql: (t) => `
      ALTER TABLE ${t('tombstones')} ADD COLUMN sig TEXT;
      ALTER TABLE ${t('shared_changes')} ADD COLUMN sig TEXT;
      ALTER TABLE ${t('parked_changes')} ADD COLUMN sig TEXT;
    `,
  },
  {
    // Kept apart from the changes, which are replaced one by one while the rest of their
    // batch must stay provable.
    version: 5,
    description: 'proofs of batch-signed changes, one per (owner, batch)',
    sql: (t) => `
      CREATE TABLE ${t('batch_proofs')} (
        owner_device_id TEXT COLLATE "C" NOT NULL,
        batch_id        TEXT COLLATE "C" NOT NULL,
        proof           TEXT NOT NULL,
        PRIMARY KEY (owner_device_id, batch_id)
      );
    `,
  },
];
