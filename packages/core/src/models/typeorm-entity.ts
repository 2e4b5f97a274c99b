/**
 * Declaring a Syncable model on a TypeORM entity, so integrators describe their records once.
 * `modelFromEntity` reads TypeORM's decorator metadata (not a built DataSource), so models can
 * be registered before any database is opened. Only what a ModelDefinition can express is
 * accepted; anything that would silently not sync (dates, embedded objects, hidden foreign
 * key columns, renamed columns) is rejected with a message saying what to do instead.
 */
import { createRequire } from 'node:module';
import 'reflect-metadata';
import type { getMetadataArgsStorage as GetMetadataArgsStorage } from 'typeorm';
import { ModelDefinitionError } from '../errors.js';
import type { FieldDefinition, FieldType, ModelDefinition, Ownership } from './model-definition.js';

export interface SyncableOptions {
  /** The model's type name on the wire (see `ModelDefinition.name`). */
  name: string;
  ownership: Ownership;
  /** Field (property) name → the model its value points at. */
  references?: Record<string, string>;
  /** Models this one depends on besides those in `references`. */
  dependencies?: string[];
}

const SYNCABLE_METADATA_KEY = Symbol.for('highwater:syncable');

const require = createRequire(import.meta.url);
let metadataArgsStorage: typeof GetMetadataArgsStorage | undefined;

/**
 * TypeORM's decorator metadata, loading TypeORM on first use, so a process that declares no
 * entity never pays its import (BENCHMARKS.md). Its metadata storage is global, so the
 * entities' own import of TypeORM, ESM or CommonJS, registers into the same one.
 */
function typeormMetadata(): ReturnType<typeof GetMetadataArgsStorage> {
  if (!metadataArgsStorage) {
    try {
      metadataArgsStorage = (require('typeorm') as { getMetadataArgsStorage: typeof GetMetadataArgsStorage }).getMetadataArgsStorage;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
      throw new ModelDefinitionError(
        'Models from TypeORM entities need TypeORM, an optional peer dependency of @highwater/core: npm install typeorm (the copy your entities import)',
      );
    }
  }
  return metadataArgsStorage();
}

/** Marks a TypeORM entity class as a Syncable model. Use together with `@Entity()`. */
export function Syncable(options: SyncableOptions): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(SYNCABLE_METADATA_KEY, Object.freeze({ ...options }), target);
  };
}

/**
 * Column types by TypeORM spelling. Constructors appear when `@Column()` has no explicit type:
 * TypeORM then stores the reflected `design:type` as the type. Note that a union such as
 * `string | null` reflects as `Object` and therefore maps to json: give such columns an
 * explicit type (`@Column('text', { nullable: true })`).
 */
const TYPE_MAP = new Map<unknown, FieldType>([
  [String, 'text'],
  ['text', 'text'],
  ['varchar', 'text'],
  ['uuid', 'text'],
  ['character varying', 'text'],
  ['nvarchar', 'text'],
  ['int', 'integer'],
  ['integer', 'integer'],
  ['bigint', 'integer'],
  ['smallint', 'integer'],
  [Number, 'real'],
  ['real', 'real'],
  ['float', 'real'],
  ['double', 'real'],
  ['double precision', 'real'],
  ['numeric', 'real'],
  ['decimal', 'real'],
  [Boolean, 'boolean'],
  ['boolean', 'boolean'],
  ['bool', 'boolean'],
  ['simple-json', 'json'],
  ['json', 'json'],
  ['jsonb', 'json'],
  [Object, 'json'],
]);

/** Time types do not round-trip identically across SQLite, Postgres and JSON. */
const DATE_TYPES = new Set<unknown>([
  Date,
  'datetime',
  'timestamp',
  'timestamptz',
  'timestamp with time zone',
  'timestamp without time zone',
  'date',
  'time',
]);
const DATE_MODES = new Set<string>(['createDate', 'updateDate', 'deleteDate']);
/** Columns TypeORM computes on read instead of storing. */
const COMPUTED_MODES = new Set<string>(['virtual', 'virtual-property']);

/** Builds the ModelDefinition of an entity class decorated with `@Syncable`. */
export function modelFromEntity(entity: Function): ModelDefinition {
  if (typeof entity !== 'function') {
    throw new ModelDefinitionError('modelFromEntity expects an entity class');
  }
  const options = Reflect.getOwnMetadata(SYNCABLE_METADATA_KEY, entity) as SyncableOptions | undefined;
  if (options === undefined) {
    throw new ModelDefinitionError(
      `Entity ${entity.name || '<anonymous>'} is not Syncable: add @Syncable({ name, ownership }) to the class`,
    );
  }
  const where = `Entity ${entity.name} (model "${options.name}")`;
  const storage = typeormMetadata();
  const tree = inheritanceTree(entity);
  // Same filter TypeORM's EntityMetadataBuilder uses, so we see the columns it would create.
  const columns = storage.filterColumns(tree);
  rejectEmbeddeds(where, storage.filterEmbeddeds(tree));

  let key: string | undefined;
  const fields: Record<string, FieldDefinition> = {};
  for (const column of columns) {
    if (COMPUTED_MODES.has(column.mode)) continue;
    const property = column.propertyName;
    const columnOptions = column.options;
    if (columnOptions.name !== undefined && columnOptions.name !== property) {
      throw new ModelDefinitionError(
        `${where}: column "${property}" is renamed to "${columnOptions.name}"; Syncable field names are column names, so drop the name option or rename the property`,
      );
    }
    if (columnOptions.array) {
      throw new ModelDefinitionError(`${where}: column "${property}" is an array column; use 'simple-json' instead`);
    }
    const type = fieldType(where, property, column.mode, columnOptions.type);
    if (columnOptions.primary) {
      if (key !== undefined) {
        throw new ModelDefinitionError(
          `${where}: has more than one primary column ("${key}", "${property}"); a Syncable model needs exactly one string key`,
        );
      }
      if (type !== 'text') {
        throw new ModelDefinitionError(
          `${where}: primary column "${property}" is ${type}; Syncable keys are strings (time-ordered ids such as UUIDv7 write fastest)`,
        );
      }
      key = property;
      continue;
    }
    fields[property] = { type, ...(columnOptions.nullable ? { nullable: true } : {}) };
  }
  if (key === undefined) {
    throw new ModelDefinitionError(`${where}: has no primary column; add a string @PrimaryColumn()`);
  }
  applyReferences(where, key, fields, options.references ?? {});
  rejectHiddenForeignKeys(where, storage, tree, new Set([key, ...Object.keys(fields)]));

  const tableArgs = storage.filterTables(entity)[0];
  return {
    name: options.name,
    ownership: options.ownership,
    key,
    fields,
    table: tableArgs?.name ?? options.name,
    ...(options.dependencies ? { dependencies: [...options.dependencies] } : {}),
  };
}

/** The entity and its ancestors, child first, exactly as TypeORM's MetadataUtils builds it. */
function inheritanceTree(entity: Function): Function[] {
  const tree: Function[] = [entity];
  for (let proto = Object.getPrototypeOf(entity); proto?.name; proto = Object.getPrototypeOf(proto)) {
    tree.push(proto as Function);
  }
  return tree;
}

function fieldType(where: string, property: string, mode: string, type: unknown): FieldType {
  if (DATE_MODES.has(mode) || DATE_TYPES.has(type)) {
    throw new ModelDefinitionError(
      `${where}: column "${property}" is a date/time column; store times as integer milliseconds since the epoch or as ISO-8601 text`,
    );
  }
  if (mode !== 'regular' && mode !== 'version') {
    throw new ModelDefinitionError(`${where}: column "${property}" has unsupported TypeORM column mode "${mode}"`);
  }
  if (mode === 'version') return 'integer';
  const mapped = TYPE_MAP.get(type);
  if (mapped === undefined) {
    const shown = typeof type === 'function' ? type.name : JSON.stringify(type);
    throw new ModelDefinitionError(
      `${where}: column "${property}" has unsupported type ${shown}; use a text, integer, real, boolean or json type`,
    );
  }
  return mapped;
}

function applyReferences(
  where: string,
  key: string,
  fields: Record<string, FieldDefinition>,
  references: Record<string, string>,
): void {
  for (const [field, model] of Object.entries(references)) {
    if (field === key) {
      throw new ModelDefinitionError(`${where}: the key "${key}" cannot reference another model; use a separate field`);
    }
    const definition = fields[field];
    if (definition === undefined) {
      throw new ModelDefinitionError(`${where}: references names "${field}", which is not a column of the entity`);
    }
    fields[field] = { ...definition, references: model };
  }
}

function rejectEmbeddeds(where: string, embeddeds: readonly { propertyName: string }[]): void {
  const first = embeddeds[0];
  if (first !== undefined) {
    throw new ModelDefinitionError(
      `${where}: embedded column "${first.propertyName}" is not supported; flatten it or store it as 'simple-json'`,
    );
  }
}

/**
 * A many-to-one (or owning one-to-one) relation makes TypeORM add a foreign key column that
 * is not a declared column, so it would never sync. Require the foreign key to be a declared
 * column named in `@JoinColumn({ name })` (and listed in `references`).
 */
function rejectHiddenForeignKeys(
  where: string,
  storage: ReturnType<typeof GetMetadataArgsStorage>,
  tree: Function[],
  declared: ReadonlySet<string>,
): void {
  for (const relation of storage.filterRelations(tree)) {
    const joinColumns = storage.filterJoinColumns(relation.target, relation.propertyName);
    const owning = relation.relationType === 'many-to-one' || (relation.relationType === 'one-to-one' && joinColumns.length > 0);
    if (!owning) continue;
    if (joinColumns.length === 0 || joinColumns.some((j) => j.name === undefined || !declared.has(j.name))) {
      throw new ModelDefinitionError(
        `${where}: relation "${relation.propertyName}" needs a foreign key column that syncs: declare it with @Column ` +
          `and point @JoinColumn({ name: '<that column>' }) at it (and list it in @Syncable references)`,
      );
    }
  }
}
