/**
 * The set of Syncable models a library syncs. Everything is validated once, up front, so a
 * bad definition fails at startup with a typed error rather than mid-sync; the sync order is
 * computed once and is the same on every device (peers must agree on it).
 */
import * as z from 'zod';
import {
  ModelDefinitionError,
  ModelDependencyError,
  RecordValidationError,
  UnknownModelError,
} from '../errors.js';
import type {
  FieldDefinition,
  FieldType,
  ModelDefinition,
  Ownership,
  RecordData,
  RegisteredModel,
} from './model-definition.js';

/** Model and table names: lower case so every store treats them the same way. */
const MODEL_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
/** Key and field names: portable SQL identifiers (63 = Postgres identifier limit). */
const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Prefix reserved for the sync columns adapters add to record tables. */
const RESERVED_PREFIX = /^hw_/i;
const FIELD_TYPES: ReadonlySet<FieldType> = new Set<FieldType>(['text', 'integer', 'real', 'boolean', 'json']);
const OWNERSHIPS: ReadonlySet<Ownership> = new Set<Ownership>(['device', 'shared']);
/** Longest record key accepted; keys travel in every message and cursor. */
export const MAX_RECORD_KEY_LENGTH = 256;

const recordKeySchema = z
  .string({ error: 'expected the key to be a string' })
  .min(1, { error: 'the key must not be empty' })
  .max(MAX_RECORD_KEY_LENGTH, { error: `the key must be at most ${MAX_RECORD_KEY_LENGTH} characters` });

export class ModelRegistry {
  private readonly byName: ReadonlyMap<string, RegisteredModel>;
  private readonly ordered: readonly RegisteredModel[];
  private readonly order: readonly string[];
  private readonly schemas = new Map<string, z.ZodType<RecordData>>();
  private readonly quickChecks = new Map<string, QuickDataCheck | null>();

  constructor(models: readonly ModelDefinition[]) {
    if (!Array.isArray(models)) throw new ModelDefinitionError('ModelRegistry expects an array of model definitions');
    const byName = new Map<string, RegisteredModel>();
    const tables = new Map<string, string>();
    for (const definition of models) {
      const model = registerModel(definition);
      if (byName.has(model.name)) throw new ModelDefinitionError(`Duplicate model name "${model.name}"`);
      const tableOwner = tables.get(model.table);
      if (tableOwner !== undefined) {
        throw new ModelDefinitionError(
          `Models "${tableOwner}" and "${model.name}" both use table "${model.table}"; give one a different table`,
        );
      }
      byName.set(model.name, model);
      tables.set(model.table, model.name);
    }
    checkDependenciesExist(byName);
    this.order = Object.freeze(topologicalOrder(byName));
    this.ordered = Object.freeze(this.order.map((name) => byName.get(name)!));
    this.byName = byName;
    for (const model of this.ordered) {
      this.schemas.set(model.name, buildDataSchema(model));
      this.quickChecks.set(model.name, buildQuickDataCheck(model));
    }
  }

  /** The model called `name`; throws `UnknownModelError` otherwise. */
  get(name: string): RegisteredModel {
    const model = typeof name === 'string' ? this.byName.get(name) : undefined;
    if (model === undefined) throw new UnknownModelError(String(name));
    return model;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Every model, in sync order. */
  all(): readonly RegisteredModel[] {
    return this.ordered;
  }

  /**
   * Dependencies before dependents; among models whose dependencies are satisfied, the
   * smallest name first. Deterministic, so every peer computes the same order.
   */
  syncOrder(): readonly string[] {
    return this.order;
  }

  /** Device-owned models, in sync order. */
  deviceOwned(): readonly RegisteredModel[] {
    return this.ordered.filter((m) => m.ownership === 'device');
  }

  /** Shared models, in sync order. */
  shared(): readonly RegisteredModel[] {
    return this.ordered.filter((m) => m.ownership === 'shared');
  }

  /**
   * Checks a record's key and data against its model (local writes and remote messages
   * alike) and returns the data with missing nullable fields set to null. Throws
   * `UnknownModelError` or `RecordValidationError`.
   */
  validateData(name: string, id: unknown, data: unknown): RecordData {
    const model = this.get(name);
    // Most records are exactly right: every field present and of its type. Those are copied as
    // they are (what the schema would return), without a zod run per record.
    if (typeof id === 'string' && id.length >= 1 && id.length <= MAX_RECORD_KEY_LENGTH && this.quickChecks.get(model.name)?.(data)) {
      return { ...data };
    }
    const recordId = typeof id === 'string' ? id.slice(0, 80) : undefined;
    const key = recordKeySchema.safeParse(id);
    if (!key.success) throw new RecordValidationError(model.name, recordId, describeIssues(key.error, model.key));
    const schema = this.schemas.get(model.name)!;
    const result = schema.safeParse(data);
    if (!result.success) throw new RecordValidationError(model.name, recordId, describeIssues(result.error));
    return result.data;
  }

  /**
   * A remote change's data, as `validateData` checks it, except for fields this node's version
   * of the model lacks: one whose value is null is left out (a field added later, unset: the
   * record is the same in this version); any other makes the data a newer version's, returned
   * as it came with the names of those fields (a NewerVersionData) once the fields this node
   * knows are valid. Such a change is kept aside until this node is upgraded, never applied as it is.
   */
  validateRemoteData(name: string, id: unknown, data: unknown): RecordData | NewerVersionData {
    const model = this.get(name);
    // As validateData: most records are exactly right, and come back without a wrapper (bench stage "relayed").
    if (typeof id === 'string' && id.length >= 1 && id.length <= MAX_RECORD_KEY_LENGTH && this.quickChecks.get(model.name)?.(data)) {
      return { ...data };
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return this.validateData(name, id, data);
    const record = data as Record<string, unknown>;
    let known: Record<string, unknown> | null = null;
    const newerFields: string[] = [];
    for (const key of Object.keys(record)) {
      if (Object.hasOwn(model.fields, key)) continue;
      // Not a name any version could give a field: refused as the strict schema refuses it.
      if (!IDENTIFIER_PATTERN.test(key) || RESERVED_PREFIX.test(key) || key === model.key) return this.validateData(name, id, data);
      known ??= { ...record };
      delete known[key];
      if (record[key] !== null) newerFields.push(key);
    }
    if (known === null) return this.validateData(name, id, data);
    const valid = this.validateData(name, id, known);
    return newerFields.length === 0 ? valid : new NewerVersionData(record, newerFields);
  }
}

/** A newer version's data (see `validateRemoteData`): as it came, with the fields this version lacks. */
export class NewerVersionData {
  constructor(
    readonly data: RecordData,
    readonly newerFields: readonly string[],
  ) {}
}

/** Validates one definition and resolves its table and dependencies. */
function registerModel(definition: ModelDefinition): RegisteredModel {
  if (definition === null || typeof definition !== 'object') {
    throw new ModelDefinitionError(`A model definition must be an object, got ${String(definition)}`);
  }
  const { name, ownership, key, fields } = definition;
  if (typeof name !== 'string' || !MODEL_NAME_PATTERN.test(name)) {
    throw new ModelDefinitionError(
      `Invalid model name ${JSON.stringify(name)}: use 1-63 characters of [a-z0-9_], starting with a letter`,
    );
  }
  const table = definition.table ?? name;
  if (typeof table !== 'string' || !MODEL_NAME_PATTERN.test(table)) {
    throw new ModelDefinitionError(
      `Invalid table ${JSON.stringify(table)} for model "${name}": use 1-63 characters of [a-z0-9_], starting with a letter`,
    );
  }
  if (!OWNERSHIPS.has(ownership)) {
    throw new ModelDefinitionError(
      `Invalid ownership ${JSON.stringify(ownership)} for model "${name}": use 'device' or 'shared'`,
    );
  }
  checkColumnName(name, 'key', key);
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new ModelDefinitionError(`Model "${name}" must declare fields as an object (it may be empty)`);
  }
  // SQLite and unquoted Postgres identifiers ignore case, so names must differ beyond case.
  const seen = new Map<string, string>([[key.toLowerCase(), key]]);
  const resolvedFields: Record<string, FieldDefinition> = {};
  const dependencies = new Set<string>();
  let selfReferencing = false;
  for (const [fieldName, field] of Object.entries(fields)) {
    checkColumnName(name, 'field', fieldName);
    const clash = seen.get(fieldName.toLowerCase());
    if (clash !== undefined) {
      throw new ModelDefinitionError(
        clash === key
          ? `Model "${name}": field "${fieldName}" clashes with the key "${key}"; the key is not listed in fields`
          : `Model "${name}": fields "${clash}" and "${fieldName}" differ only by case`,
      );
    }
    seen.set(fieldName.toLowerCase(), fieldName);
    resolvedFields[fieldName] = checkField(name, fieldName, field);
    if (field.references === name) selfReferencing = true;
    else if (field.references !== undefined) dependencies.add(field.references);
  }
  const explicit = definition.dependencies ?? [];
  if (!Array.isArray(explicit) || explicit.some((d) => typeof d !== 'string')) {
    throw new ModelDefinitionError(`Model "${name}": dependencies must be an array of model names`);
  }
  for (const dependency of explicit) if (dependency !== name) dependencies.add(dependency);
  const version = checkVersion(name, definition.version, resolvedFields);
  return Object.freeze({
    name,
    ownership,
    key,
    table,
    fields: Object.freeze(resolvedFields),
    dependencies: Object.freeze([...dependencies].sort()),
    selfReferencing,
    version,
  });
}

/**
 * A model's version and its fields' `since`: integers from 1, no field newer than its model, a
 * field added after version 1 nullable (older writers never set it), and fields in order of the
 * version that added them — a change's signed values then end with the added ones, which an
 * older device leaves off when they are null (see `changeSigningBytes`).
 */
function checkVersion(model: string, version: unknown, fields: Readonly<Record<string, FieldDefinition>>): number {
  const resolved = version ?? 1;
  if (!Number.isSafeInteger(resolved) || (resolved as number) < 1) {
    throw new ModelDefinitionError(`Model "${model}": version must be an integer from 1, got ${JSON.stringify(version)}`);
  }
  let previous = 1;
  let previousName = '';
  for (const [fieldName, field] of Object.entries(fields)) {
    const since = field.since ?? 1;
    if (!Number.isSafeInteger(since) || since < 1 || since > (resolved as number)) {
      throw new ModelDefinitionError(
        `Model "${model}": field "${fieldName}" has since ${JSON.stringify(field.since)}; use an integer from 1 to the model's version (${String(resolved)})`,
      );
    }
    if (since > 1 && field.nullable !== true) {
      throw new ModelDefinitionError(
        `Model "${model}": field "${fieldName}" was added in version ${since}, so it must be nullable (records written before it have no value)`,
      );
    }
    if (since < previous) {
      throw new ModelDefinitionError(
        `Model "${model}": field "${fieldName}" (since ${since}) comes after "${previousName}" (since ${previous}); declare fields in the order their versions added them`,
      );
    }
    previous = since;
    previousName = fieldName;
  }
  return resolved as number;
}

function checkColumnName(model: string, what: 'key' | 'field', columnName: unknown): asserts columnName is string {
  if (typeof columnName !== 'string' || !IDENTIFIER_PATTERN.test(columnName)) {
    throw new ModelDefinitionError(
      `Model "${model}": invalid ${what} name ${JSON.stringify(columnName)}: use 1-63 characters of [A-Za-z0-9_], not starting with a digit`,
    );
  }
  if (RESERVED_PREFIX.test(columnName)) {
    throw new ModelDefinitionError(
      `Model "${model}": ${what} name "${columnName}" starts with "hw_", which is reserved for sync columns`,
    );
  }
}

function checkField(model: string, fieldName: string, field: FieldDefinition): FieldDefinition {
  if (field === null || typeof field !== 'object') {
    throw new ModelDefinitionError(`Model "${model}": field "${fieldName}" must be an object like { type: 'text' }`);
  }
  if (!FIELD_TYPES.has(field.type)) {
    throw new ModelDefinitionError(
      `Model "${model}": field "${fieldName}" has type ${JSON.stringify(field.type)}; use one of ${[...FIELD_TYPES].join(', ')}`,
    );
  }
  if (field.nullable !== undefined && typeof field.nullable !== 'boolean') {
    throw new ModelDefinitionError(`Model "${model}": field "${fieldName}" has a non-boolean nullable`);
  }
  if (field.since !== undefined && typeof field.since !== 'number') {
    throw new ModelDefinitionError(`Model "${model}": field "${fieldName}" has a non-numeric since`);
  }
  if (field.references !== undefined && (typeof field.references !== 'string' || field.references === '')) {
    throw new ModelDefinitionError(`Model "${model}": field "${fieldName}" references must be a model name`);
  }
  return Object.freeze({ ...field });
}

function checkDependenciesExist(byName: ReadonlyMap<string, RegisteredModel>): void {
  for (const model of byName.values()) {
    for (const dependency of model.dependencies) {
      if (byName.has(dependency)) continue;
      const viaField = Object.entries(model.fields).find(([, f]) => f.references === dependency)?.[0];
      throw new ModelDependencyError(
        'HW_MODEL_UNKNOWN_DEPENDENCY',
        `Model "${model.name}" depends on "${dependency}"${viaField ? ` (field "${viaField}")` : ''}, ` +
          'which is not registered; register it or remove the dependency',
      );
    }
  }
}

/** Kahn's algorithm with a sorted ready set; self loops are already excluded. */
function topologicalOrder(byName: ReadonlyMap<string, RegisteredModel>): string[] {
  const remaining = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const model of byName.values()) {
    remaining.set(model.name, model.dependencies.length);
    for (const dependency of model.dependencies) {
      const list = dependents.get(dependency) ?? [];
      list.push(model.name);
      dependents.set(dependency, list);
    }
  }
  const ready = [...remaining].filter(([, n]) => n === 0).map(([name]) => name);
  const order: string[] = [];
  while (ready.length > 0) {
    ready.sort();
    const next = ready.shift()!;
    order.push(next);
    for (const dependent of dependents.get(next) ?? []) {
      const left = remaining.get(dependent)! - 1;
      remaining.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  if (order.length < byName.size) {
    const cycle = findCycle(byName, new Set(order));
    throw new ModelDependencyError(
      'HW_MODEL_CYCLE',
      `Model dependencies form a cycle: ${cycle.join(' → ')}; break it (a model may only reference itself)`,
    );
  }
  return order;
}

/**
 * Every model Kahn could not place depends on another unplaced one, so walking from the
 * smallest such name along its smallest unplaced dependency must revisit a model: that
 * loop is a cycle. Returned closed, e.g. ["a", "b", "a"].
 */
function findCycle(byName: ReadonlyMap<string, RegisteredModel>, placed: ReadonlySet<string>): string[] {
  const unplaced = [...byName.keys()].filter((name) => !placed.has(name)).sort();
  const path: string[] = [];
  const index = new Map<string, number>();
  let current = unplaced[0]!;
  while (!index.has(current)) {
    index.set(current, path.length);
    path.push(current);
    current = byName.get(current)!.dependencies.find((d) => !placed.has(d))!;
  }
  return [...path.slice(index.get(current)), current];
}

/** A strict zod schema for a model's data, built once per model. */
export function buildDataSchema(model: RegisteredModel): z.ZodType<RecordData> {
  const shape: Record<string, z.ZodType> = {};
  for (const [fieldName, field] of Object.entries(model.fields)) {
    const base = fieldSchema(field.type);
    shape[fieldName] = field.nullable ? base.nullable().default(null) : base;
  }
  // Only the "not an object" message is ours; unrecognized keys keep zod's message, which names them.
  const error = (issue: { code?: string; input?: unknown }) =>
    issue.code === 'invalid_type' ? `expected an object, got ${describeValue(issue.input)}` : undefined;
  return z.strictObject(shape, { error }) as unknown as z.ZodType<RecordData>;
}

/** True only for data the model's schema accepts unchanged (up to key order). */
export type QuickDataCheck = (data: unknown) => data is RecordData;

/**
 * A check that accepts only what `buildDataSchema`'s schema accepts and returns equal: a plain
 * object with exactly the model's fields, each of its type (null where nullable). Models with
 * json fields have none (their values need the deep check). Property-tested against the schema.
 */
export function buildQuickDataCheck(model: RegisteredModel): QuickDataCheck | null {
  const fields = Object.entries(model.fields);
  if (fields.some(([, field]) => field.type === 'json')) return null;
  const names = new Set(fields.map(([name]) => name));
  const checks = fields.map(([name, field]) => ({ name, nullable: field.nullable === true, valid: QUICK_TYPE_CHECKS[field.type as Exclude<FieldType, 'json'>] }));
  return (data: unknown): data is RecordData => {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
    const proto = Object.getPrototypeOf(data) as object | null;
    if (proto !== null && Object.getPrototypeOf(proto) !== null) return false;
    const record = data as Record<string, unknown>;
    let count = 0;
    for (const key in record) {
      if (!Object.hasOwn(record, key) || !names.has(key)) return false;
      count++;
    }
    if (count !== checks.length) return false;
    for (const { name, nullable, valid } of checks) {
      const value = record[name];
      if (value === null ? !nullable : !valid(value)) return false;
    }
    return true;
  };
}

const QUICK_TYPE_CHECKS: Record<Exclude<FieldType, 'json'>, (value: unknown) => boolean> = {
  text: (value) => typeof value === 'string',
  integer: (value) => Number.isSafeInteger(value),
  real: (value) => typeof value === 'number' && Number.isFinite(value),
  boolean: (value) => typeof value === 'boolean',
};

function fieldSchema(type: FieldType): z.ZodType {
  const message = (expected: string) => (issue: { input?: unknown }) =>
    issue.input === undefined ? 'missing (required, not nullable)' : `expected ${expected}, got ${describeValue(issue.input)}`;
  switch (type) {
    case 'text':
      return z.string({ error: message('a string') });
    case 'integer':
      return z.int({ error: message('a safe integer') });
    case 'real':
      return z.number({ error: message('a finite number') });
    case 'boolean':
      return z.boolean({ error: message('a boolean') });
    case 'json':
      // Not z.json(): it accepts cyclic objects and reports nested problems as "Invalid input".
      return z.unknown().superRefine((value, ctx) => {
        const problem = value === undefined ? 'missing (required, not nullable)' : jsonProblem(value, '', 0, new Set());
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      });
  }
}

/** Deepest JSON nesting accepted; deeper (or cyclic) values are refused, not overflowed on. */
const MAX_JSON_DEPTH = 64;

/**
 * Why `value` would not survive a JSON round trip unchanged (undefined when it would):
 * only null, booleans, finite numbers, strings, arrays and plain objects, no cycles.
 */
function jsonProblem(value: unknown, path: string, depth: number, ancestors: Set<object>): string | undefined {
  const at = path === '' ? '' : ` at ${path}`;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `expected a JSON value, got ${value}${at}`;
  if (typeof value !== 'object') return `expected a JSON value, got ${typeof value}${at}`;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
    return `expected a JSON value, got a ${value.constructor?.name ?? 'non-plain'} object${at}`;
  }
  if (ancestors.has(value)) return `expected a JSON value, got a cyclic reference${at}`;
  if (depth >= MAX_JSON_DEPTH) return `expected a JSON value nested at most ${MAX_JSON_DEPTH} deep${at}`;
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const problem = jsonProblem(value[i], `${path}[${i}]`, depth + 1, ancestors);
        if (problem !== undefined) return problem;
      }
    } else {
      for (const [k, v] of Object.entries(value)) {
        const problem = jsonProblem(v, path === '' ? k : `${path}.${k}`, depth + 1, ancestors);
        if (problem !== undefined) return problem;
      }
    }
    return undefined;
  } finally {
    ancestors.delete(value);
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : `non-finite ${String(value)}`;
  if (typeof value === 'string') return `a string`;
  return typeof value;
}

function describeIssues(error: z.ZodError, root = 'data'): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : root}: ${issue.message}`)
    .join('; ');
}
