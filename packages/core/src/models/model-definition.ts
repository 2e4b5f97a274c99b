/**
 * What an integrator declares to make a model Syncable. Plain data, so it can come from a
 * TypeORM entity (see `typeorm-entity.ts`), a config file or code.
 */

/** Who owns a record, which decides how it syncs. */
export type Ownership =
  /** State-based: only the owning device writes it; peers track a watermark per (owner, model). */
  | 'device'
  /** Log-based: any device writes it; changes go through the shared log, last writer (HLC) wins. */
  | 'shared';

/** Storage-neutral field types. Adapters map them to column types. */
export type FieldType = 'text' | 'integer' | 'real' | 'boolean' | 'json';

export interface FieldDefinition {
  readonly type: FieldType;
  /** Whether `null` is a valid value. Default false. */
  readonly nullable?: boolean;
  /**
   * The model this field points at (its value is that model's key). Adds a dependency; a
   * record whose referenced record has not arrived yet is parked until it does. A model may
   * reference itself (entry → parent entry).
   */
  readonly references?: string;
  /**
   * The model version that added this field (default 1). A field added after version 1 must be
   * nullable — records written before it have no value — and come after every field of the
   * versions before it, so older devices' changes and signatures stay valid (see `version`).
   */
  readonly since?: number;
}

export interface ModelDefinition {
  /** Type name on the wire and in sync.db: lower case, `[a-z][a-z0-9_]*`, at most 63 chars. */
  readonly name: string;
  readonly ownership: Ownership;
  /** The key field's name. Keys are strings (time-ordered ids such as UUIDv7 write fastest). */
  readonly key: string;
  /** Fields other than the key. Names must not start with `hw_` (reserved for sync columns). */
  readonly fields: Readonly<Record<string, FieldDefinition>>;
  /** Models this one depends on besides those named by `references`. */
  readonly dependencies?: readonly string[];
  /** Storage table name; defaults to `name`. Same rules as `name`. */
  readonly table?: string;
  /**
   * The model's schema version, an integer from 1 (the default). A new version may only add
   * fields, each marked with `since`: a device on an older version keeps the changes it cannot
   * read aside, unapplied, until it is upgraded, and serves them on to its peers as they came.
   */
  readonly version?: number;
}

/** A registered, validated model with its dependencies resolved. */
export interface RegisteredModel extends ModelDefinition {
  readonly table: string;
  /** Explicit dependencies plus referenced models, self excluded, sorted by name. */
  readonly dependencies: readonly string[];
  /** Whether some field references this same model. */
  readonly selfReferencing: boolean;
  readonly version: number;
}

/** Field values of one record, key excluded. */
export type RecordData = Record<string, unknown>;
