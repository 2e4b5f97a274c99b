/**
 * Validation of inbound wire messages (protocol version 1). Everything a peer sends is
 * untrusted: `parseSyncMessage` turns a decoded value into a `SyncMessage` or refuses it with a
 * `ProtocolError`, and never throws anything else.
 *
 * Checks run in this order, so the cheapest and most telling refusal wins:
 * 1. the value is an object (HW_PROTOCOL_MALFORMED otherwise);
 * 2. `v` is a version this node reads, MIN_PROTOCOL_VERSION to PROTOCOL_VERSION (today both 1;
 *    HW_PROTOCOL_VERSION, naming them), before anything else is read,
 *    since another version may shape its envelope differently;
 * 3. the envelope shape: libraryId, deviceId, a string `type` (HW_PROTOCOL_MALFORMED);
 * 4. `libraryId` is the expected library (HW_WRONG_LIBRARY), before the body is looked at;
 * 5. `type` is a known message type (HW_UNKNOWN_MESSAGE_TYPE);
 * 6. the body (HW_PROTOCOL_MALFORMED, reporting the first issue with its path, e.g.
 *    `changes[3].hlc: invalid HLC text`);
 * 7. each change's HLC device id equals its `owner` (HW_FORGED_OWNER), only reported when the
 *    message is otherwise well-formed.
 *
 * Unknown keys are stripped everywhere except inside a change's `data`, which is passed through
 * as the very same object (model-level validation happens elsewhere).
 */
import * as z from 'zod';
import { DEVICE_ID_PATTERN, isDeviceId, isHlcText } from '../clock/hlc.js';
import { ProtocolError } from '../errors.js';
import {
  MIN_PROTOCOL_VERSION,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  type SyncMessage,
  type SyncMessageType,
  type WireChange,
  type WireCursor,
  type WireHead,
} from './messages.js';

/** Model names on the wire: the same rule the ModelRegistry enforces on definitions. */
const MODEL_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
/** Longest request id. */
export const MAX_REQUEST_ID_LENGTH = 64;
/** Longest error code in an Error message. */
export const MAX_ERROR_CODE_LENGTH = 64;
/** Longest library id. */
export const MAX_LIBRARY_ID_LENGTH = 128;
/**
 * Where the device id starts in an HLC text (`tttttttttttt-cccccc-deviceId`): 12 hex digits of
 * time, '-', 6 hex digits of counter, '-'. Only read on text that already passed `isHlcText`.
 */
const HLC_DEVICE_ID_OFFSET = 12 + 1 + 6 + 1;
/** Marks the custom issue of a forged owner, so it maps to HW_FORGED_OWNER. */
const FORGED_OWNER = 'HW_FORGED_OWNER';

// ---------------------------------------------------------------------------------------------
// Messages for issues. All built once; the functions below are shared by every parse.

/** A short description of a value for an error message (never the whole value). */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)` : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

type IssueLike = { readonly input?: unknown };
type ErrorFn = (issue: IssueLike) => string;

/** "missing" for an absent field, else "expected X, got Y". */
function expected(what: string): ErrorFn {
  return (issue) => (issue.input === undefined ? `missing (expected ${what})` : `expected ${what}, got ${describeValue(issue.input)}`);
}

/**
 * Fallback for issues a schema gives no message of its own (passed to every parse), so no
 * summary ever reads like zod's generic "Invalid input".
 */
const fallbackErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `missing (expected ${issue.expected})` : `expected ${issue.expected}, got ${describeValue(issue.input)}`;
    case 'invalid_union':
      return `invalid value ${describeValue(issue.input)}`;
    default:
      return undefined;
  }
};

// ---------------------------------------------------------------------------------------------
// Field schemas.

function boundedString(what: string, min: number, max: number) {
  return z
    .string({ error: expected(what) })
    .min(min, { error: 'must not be empty' })
    .max(max, { error: `longer than ${max} characters` });
}

const hlcTextSchema = z.custom<string>(isHlcText, {
  error: (issue: IssueLike) =>
    issue.input === undefined
      ? 'missing (expected HLC text)'
      : typeof issue.input === 'string'
        ? 'invalid HLC text'
        : `expected HLC text, got ${describeValue(issue.input)}`,
});

const deviceIdSchema = z
  .string({ error: expected('a device id') })
  .regex(DEVICE_ID_PATTERN, { error: 'invalid device id (expected 1-128 characters of [0-9A-Za-z._:-])' });

const modelNameSchema = z
  .string({ error: expected('a model name') })
  .regex(MODEL_NAME_PATTERN, { error: 'invalid model name (expected [a-z][a-z0-9_]{0,62})' });

const recordIdSchema = boundedString('a record id', 1, PROTOCOL_LIMITS.maxIdLength);
const requestIdSchema = boundedString('a request id', 1, MAX_REQUEST_ID_LENGTH);
const libraryIdSchema = boundedString('a library id', 1, MAX_LIBRARY_ID_LENGTH);
/** `resource` of a head: a name (a model, or whatever the sync engine keys heads by). */
const resourceSchema = boundedString('a resource name', 1, PROTOCOL_LIMITS.maxNameLength);
const booleanSchema = z.boolean({ error: expected('a boolean') });

const limitSchema = z
  .int({ error: expected('an integer') })
  .min(1, { error: 'must be at least 1' })
  .max(PROTOCOL_LIMITS.maxPageSize, { error: `must be at most ${PROTOCOL_LIMITS.maxPageSize}` });

const countSchema = z.int({ error: expected('a non-negative safe integer') }).min(0, { error: 'must not be negative' });

/**
 * A plain object (as a decoder makes them): not an array, not a class instance. Any realm's
 * Object.prototype counts (a prototype whose own prototype is null), so objects from another
 * realm (vm contexts, structuredClone under jest) are plain too.
 */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** Upsert data: checked to be a plain object, then passed through untouched (same object). */
const dataSchema = z.custom<Record<string, unknown>>(isPlainRecord, {
  error: (issue: IssueLike) =>
    issue.input === undefined ? 'missing (an upsert must carry data)' : `expected a plain object, got ${describeValue(issue.input)}`,
});

const noDataSchema = z.undefined({ error: 'a delete must not carry data' }).optional();

// ---------------------------------------------------------------------------------------------
// Composite schemas.

/** An Ed25519 signature as base64url: 64 bytes, 86 characters. */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{86}$/;
const signatureSchema = z.string({ error: 'expected a signature (86 base64url characters)' }).regex(SIGNATURE_PATTERN, { error: 'expected a signature (86 base64url characters)' });

/**
 * A change's signature: its own (86 characters), or its place in a batch,
 * `<batch id>.<index>.<size>` (batch-place.ts), one change of each batch in a message also
 * carrying the batch's proof: `.<proof>` (96 + 16 × size bytes as base64url; see SIGNATURE_BATCH_MAX).
 */
// A batch place first: nearly every change of a bulk write has one (bench "relayed").
const CHANGE_SIGNATURE_PATTERN = /^(?:[A-Za-z0-9_-]{16}\.(?:0|[1-9]\d{0,2})\.[1-9]\d{0,2}(?:\.[A-Za-z0-9_-]{171,2859})?|[A-Za-z0-9_-]{86})$/;
const changeSignatureSchema = z
  .string({ error: 'expected a change signature (86 base64url characters, or a batch place with or without the batch proof)' })
  .regex(CHANGE_SIGNATURE_PATTERN, { error: 'expected a change signature (86 base64url characters, or a batch place with or without the batch proof)' });

const changeFields = {
  model: modelNameSchema,
  id: recordIdSchema,
  owner: deviceIdSchema,
  hlc: hlcTextSchema,
  sig: changeSignatureSchema.optional(),
};

export const wireUpsertChangeSchema = z.object({ ...changeFields, op: z.literal('upsert'), data: dataSchema });
export const wireDeleteChangeSchema = z.object({ ...changeFields, op: z.literal('delete'), data: noDataSchema });

type WireChangeOutput = z.output<typeof wireUpsertChangeSchema> | z.output<typeof wireDeleteChangeSchema>;

/**
 * `hlc`'s device id must be `owner`: a peer may relay others' changes, but cannot stamp a
 * change with a clock that is not its owner's. Runs only on an otherwise valid change, so
 * `hlc` already passed `isHlcText` and its device id is simply the text after the prefix.
 */
function checkOwner(payload: z.core.ParsePayload<WireChangeOutput>): void {
  if (payload.issues.length !== 0) return;
  const change = payload.value;
  const hlcDevice = change.hlc.slice(HLC_DEVICE_ID_OFFSET);
  if (hlcDevice === change.owner) return;
  payload.issues.push({
    code: 'custom',
    path: ['owner'],
    input: change.owner,
    params: { code: FORGED_OWNER },
    message: `owner ${describeValue(change.owner)} differs from the HLC's device ${describeValue(hlcDevice)}`,
    continue: true,
  });
}

export const wireChangeSchema = z
  .discriminatedUnion('op', [wireUpsertChangeSchema, wireDeleteChangeSchema], {
    error: (issue) => {
      if (issue.code !== 'invalid_union') return undefined;
      const input = issue.input;
      return typeof input === 'object' && input !== null && !Array.isArray(input)
        ? `expected op "upsert" or "delete", got ${describeValue((input as { op?: unknown }).op)}`
        : `expected a change object, got ${describeValue(input)}`;
    },
  })
  .check(checkOwner);

// ---------------------------------------------------------------------------------------------
// Fast path for arrays of changes. A page carries up to thousands of changes, and running the
// change schema on each costs more than every other step of receiving a page but the store
// write. `isCleanChange` accepts only a change the schema accepts unchanged — exactly the
// fields of its op, each valid, no other keys — so for an array of clean changes the schema's
// output would equal the input, and the input is kept as is. Anything else goes through the
// schema, which also words every refusal. (Property tests in core/test/protocol.test.ts
// check that the two agree.)

const UPSERT_KEYS = 6; // model, id, owner, hlc, op, data
const DELETE_KEYS = 5; // model, id, owner, hlc, op
/** Model names already matched against their pattern: few per library. Bounded. */
const knownModelNames = new Set<string>();
const MAX_KNOWN_MODEL_NAMES = 1024;

function isModelName(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (knownModelNames.has(value)) return true;
  if (!MODEL_NAME_PATTERN.test(value)) return false;
  if (knownModelNames.size >= MAX_KNOWN_MODEL_NAMES) knownModelNames.clear();
  knownModelNames.add(value);
  return true;
}

const CHANGE_KEYS = new Set(['model', 'id', 'owner', 'hlc', 'op', 'data', 'sig']);

/** Whether the change schema would accept `value` and output an equal object (see above). */
export function isCleanChange(value: unknown): boolean {
  if (!isPlainRecord(value)) return false;
  const op = value['op'];
  let keys = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key) || !CHANGE_KEYS.has(key)) return false;
    keys++;
  }
  if (value['sig'] !== undefined) {
    if (typeof value['sig'] !== 'string' || !CHANGE_SIGNATURE_PATTERN.test(value['sig'])) return false;
    keys--;
  } else if (Object.hasOwn(value, 'sig')) {
    return false;
  }
  if (op === 'upsert') {
    if (keys !== UPSERT_KEYS || !isPlainRecord(value['data'])) return false;
  } else if (op !== 'delete' || keys !== DELETE_KEYS) {
    return false;
  }
  const { model, id, owner, hlc } = value;
  return (
    isModelName(model) &&
    typeof id === 'string' &&
    id.length >= 1 &&
    id.length <= PROTOCOL_LIMITS.maxIdLength &&
    isDeviceId(owner) &&
    isHlcText(hlc) &&
    hlc.length === HLC_DEVICE_ID_OFFSET + owner.length &&
    hlc.endsWith(owner)
  );
}

/** An array of clean changes within the size limit: kept as is by `parseSyncMessage`. */
function isCleanChangeArray(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > PROTOCOL_LIMITS.maxChangesPerMessage) return false;
  for (let i = 0; i < value.length; i++) if (!isCleanChange(value[i])) return false;
  return true;
}

/** Stands in for `changesSchema` once `isCleanChangeArray` held: the same array, untouched. */
const cleanChangesSchema = z.custom<WireChange[]>(Array.isArray);

export const wireCursorSchema = z.object({ hlc: hlcTextSchema, id: recordIdSchema });

/** A head of a stream its owner signed: how far the owner's stream is known to reach. */
const signedHeadSchema = z.object({ hlc: hlcTextSchema, sig: signatureSchema });

export const wireHeadSchema = z.object({
  owner: deviceIdSchema,
  resource: resourceSchema,
  hlc: hlcTextSchema,
  count: countSchema.optional(),
  inline: booleanSchema.optional(),
  signed: signedHeadSchema.optional(),
});

export const wireSpanSchema = z.object({
  owner: deviceIdSchema,
  resource: resourceSchema,
  from: hlcTextSchema.nullable(),
  to: hlcTextSchema,
  signed: signedHeadSchema.optional(),
});

const spansSchema = z
  .array(wireSpanSchema, { error: expected('an array of spans') })
  .max(PROTOCOL_LIMITS.maxHeads, { error: `more than ${PROTOCOL_LIMITS.maxHeads} spans` });

const changesSchema = z
  .array(wireChangeSchema, { error: expected('an array of changes') })
  .max(PROTOCOL_LIMITS.maxChangesPerMessage, { error: `more than ${PROTOCOL_LIMITS.maxChangesPerMessage} changes` });

const headsSchema = z
  .array(wireHeadSchema, { error: expected('an array of heads') })
  .max(PROTOCOL_LIMITS.maxHeads, { error: `more than ${PROTOCOL_LIMITS.maxHeads} heads` });

const versionSchema = z.literal(PROTOCOL_VERSION, { error: `expected protocol version ${PROTOCOL_VERSION}` });

/** A version number: protocol or model. */
const versionNumberSchema = z.number({ error: expected('a version number') }).int({ error: 'expected an integer version' }).min(1, { error: 'versions start at 1' }).max(2 ** 31, { error: 'version too large' });

const modelVersionsSchema = z
  .record(z.string().regex(MODEL_NAME_PATTERN, { error: 'invalid model name' }), versionNumberSchema, { error: expected('model versions by name') })
  .refine((models) => Object.keys(models).length <= PROTOCOL_LIMITS.maxFields, { error: `more than ${PROTOCOL_LIMITS.maxFields} models` });

const wireVersionsSchema = z.object({
  protocol: z.tuple([versionNumberSchema, versionNumberSchema], { error: expected('[oldest, newest] protocol versions') }).refine(([min, max]) => min <= max, { error: 'the oldest protocol version is after the newest' }),
  models: modelVersionsSchema,
  seen: modelVersionsSchema.optional(),
});

/** The fields every message carries; `type` is any string here (known types come later). */
export const messageEnvelopeSchema = z.object({
  v: versionSchema,
  libraryId: libraryIdSchema,
  deviceId: deviceIdSchema,
  type: z.string({ error: expected('a message type') }),
});

const envelopeFields = { v: versionSchema, libraryId: libraryIdSchema, deviceId: deviceIdSchema };

export const stateChangeMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('state-change'),
  change: wireChangeSchema,
  spans: spansSchema.optional(),
});

export const stateBatchMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('state-batch'),
  changes: changesSchema,
  spans: spansSchema.optional(),
});

export const stateRequestMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('state-request'),
  requestId: requestIdSchema,
  model: modelNameSchema,
  owner: deviceIdSchema,
  after: wireCursorSchema.nullable(),
  afterHlc: hlcTextSchema.nullable(),
  limit: limitSchema,
  rows: booleanSchema.optional(),
});

const fieldNamesSchema = z
  .array(boundedString('a field name', 1, PROTOCOL_LIMITS.maxNameLength), { error: expected('an array of field names') })
  .max(PROTOCOL_LIMITS.maxFields, { error: `more than ${PROTOCOL_LIMITS.maxFields} fields` });

export const stateResponseMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('state-response'),
  requestId: requestIdSchema,
  model: modelNameSchema,
  owner: deviceIdSchema,
  changes: changesSchema,
  fields: fieldNamesSchema.optional(),
  next: wireCursorSchema.nullable(),
  hasMore: booleanSchema,
  prunedUpTo: hlcTextSchema.optional(),
});

export const sharedChangeMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('shared-change'),
  changes: changesSchema,
  spans: spansSchema.optional(),
});

export const sharedChangeRequestMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('shared-change-request'),
  requestId: requestIdSchema,
  model: modelNameSchema,
  origin: deviceIdSchema,
  afterHlc: hlcTextSchema.nullable(),
  limit: limitSchema,
});

export const sharedChangeResponseMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('shared-change-response'),
  requestId: requestIdSchema,
  changes: changesSchema,
  hasMore: booleanSchema,
  complete: booleanSchema,
});

export const streamAcksMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('stream-acks'),
  heads: headsSchema,
});

export const watermarkExchangeRequestMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('watermark-exchange-request'),
  requestId: requestIdSchema,
  heads: headsSchema,
  inline: countSchema.max(PROTOCOL_LIMITS.maxChangesPerMessage, { error: `must be at most ${PROTOCOL_LIMITS.maxChangesPerMessage}` }).optional(),
  versions: wireVersionsSchema.optional(),
});

export const watermarkExchangeResponseMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('watermark-exchange-response'),
  requestId: requestIdSchema,
  heads: headsSchema,
  changes: changesSchema.optional(),
  versions: wireVersionsSchema.optional(),
});

export const headsAnnounceMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('heads-announce'),
  heads: headsSchema,
});

export const errorMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('error'),
  requestId: requestIdSchema.nullable(),
  code: boundedString('an error code', 1, MAX_ERROR_CODE_LENGTH),
  message: z
    .string({ error: expected('a string') })
    .max(PROTOCOL_LIMITS.maxMessageLength, { error: `longer than ${PROTOCOL_LIMITS.maxMessageLength} characters` }),
});

const streamPointFields = { owner: deviceIdSchema, resource: resourceSchema, upTo: hlcTextSchema };

export const streamDigestRequestMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('stream-digest-request'),
  requestId: requestIdSchema,
  streams: z.array(z.object(streamPointFields), { error: expected('an array of streams') }).max(PROTOCOL_LIMITS.maxHeads, { error: `more than ${PROTOCOL_LIMITS.maxHeads} streams` }),
});

export const streamDigestResponseMessageSchema = z.object({
  ...envelopeFields,
  type: z.literal('stream-digest-response'),
  requestId: requestIdSchema,
  digests: z
    .array(z.object({ ...streamPointFields, count: countSchema, digest: z.string({ error: expected('a digest') }).regex(/^[A-Za-z0-9_-]{43}$/, { error: 'expected a 32-byte base64url digest' }) }), { error: expected('an array of digests') })
    .max(PROTOCOL_LIMITS.maxHeads, { error: `more than ${PROTOCOL_LIMITS.maxHeads} digests` }),
});

const messageSchemas = [
  stateChangeMessageSchema,
  stateBatchMessageSchema,
  stateRequestMessageSchema,
  stateResponseMessageSchema,
  sharedChangeMessageSchema,
  sharedChangeRequestMessageSchema,
  sharedChangeResponseMessageSchema,
  streamAcksMessageSchema,
  watermarkExchangeRequestMessageSchema,
  watermarkExchangeResponseMessageSchema,
  headsAnnounceMessageSchema,
  streamDigestRequestMessageSchema,
  streamDigestResponseMessageSchema,
  errorMessageSchema,
] as const;

/** Every message, discriminated by `type`. `parseSyncMessage` adds the ordered checks and error codes. */
export const syncMessageSchema = z.discriminatedUnion('type', messageSchemas);

type MessageSchema = (typeof messageSchemas)[number];

/** A Map, not an object, so that `type: "__proto__"` or `"toString"` finds nothing. */
const schemaByType: ReadonlyMap<string, MessageSchema> = new Map(
  messageSchemas.map((schema) => [schema.shape.type.value, schema] as const),
);

/** For message types that carry `changes`: the same schema with clean changes taken as they are. */
const fastSchemaByType: ReadonlyMap<string, MessageSchema> = new Map(
  messageSchemas
    .filter((schema) => 'changes' in schema.shape)
    .map((schema) => [schema.shape.type.value, schema.extend({ changes: cleanChangesSchema }) as unknown as MessageSchema] as const),
);

/** The message types of protocol version 1. */
export const SYNC_MESSAGE_TYPES: readonly SyncMessageType[] = messageSchemas.map((schema) => schema.shape.type.value);

// ---------------------------------------------------------------------------------------------
// Compile-time faithfulness to messages.ts: the schemas' output is a SyncMessage (so the cast
// in parseSyncMessage is sound) and no field of messages.ts is missing from a schema.

type Assert<T extends true> = T;
type NoMissingKeys<Declared, Parsed> = [Exclude<keyof Declared, keyof Parsed>] extends [never] ? true : false;
type SyncMessageOutput = z.output<typeof syncMessageSchema>;
type MissingMessageKeys = {
  [T in SyncMessageType]: Exclude<keyof Extract<SyncMessage, { type: T }>, keyof Extract<SyncMessageOutput, { type: T }>>;
}[SyncMessageType];
type SchemaOutputIsSyncMessage = Assert<SyncMessageOutput extends SyncMessage ? true : false>;
type SchemaTypesAreSyncMessageTypes = Assert<
  [SyncMessageType] extends [SyncMessageOutput['type']] ? ([SyncMessageOutput['type']] extends [SyncMessageType] ? true : false) : false
>;
type SchemasCoverMessageFields = Assert<[MissingMessageKeys] extends [never] ? true : false>;
type SchemasCoverNestedFields = Assert<
  NoMissingKeys<WireChange, z.output<typeof wireUpsertChangeSchema>> extends true
    ? NoMissingKeys<WireCursor, z.output<typeof wireCursorSchema>> extends true
      ? NoMissingKeys<WireHead, z.output<typeof wireHeadSchema>>
      : false
    : false
>;

// ---------------------------------------------------------------------------------------------
// Parsing.

/** `changes[3].hlc`-style rendering of an issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function summarize(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  const message = issue.message.length > 200 ? `${issue.message.slice(0, 200)}…` : issue.message;
  return path === '' ? message : `${path}: ${message}`;
}

function isForgedOwner(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'custom' && issue.params?.['code'] === FORGED_OWNER;
}

function malformed(what: string, issues: readonly z.core.$ZodIssue[], first: z.core.$ZodIssue): ProtocolError {
  const summary = summarize(first);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  return new ProtocolError('HW_PROTOCOL_MALFORMED', `Malformed ${what}: ${summary}${more}`, summary);
}

/** "version 1", or "versions 1 to 2" once a node reads more than one. */
export function protocolRangeText(min: number = MIN_PROTOCOL_VERSION, max: number = PROTOCOL_VERSION): string {
  return min === max ? `version ${max}` : `versions ${min} to ${max}`;
}

/** `jitless`: no schema compile on a first sync's critical path (bench: first page stored; BENCHMARKS.md). */
const parseOptions = { error: fallbackErrorMap, jitless: true } as const;

function parseChecked(value: unknown, expectedLibraryId: string): SyncMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Malformed message: expected an object, got ${describeValue(value)}`);
  }
  const fields = value as Record<string, unknown>;
  const v = fields['v'];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_PROTOCOL_VERSION || v > PROTOCOL_VERSION) {
    throw new ProtocolError(
      'HW_PROTOCOL_VERSION',
      `Unsupported protocol version ${describeValue(v)}: this node speaks ${protocolRangeText()}`,
    );
  }
  const envelope = messageEnvelopeSchema.safeParse(value, parseOptions);
  if (!envelope.success) {
    const issues = envelope.error.issues;
    throw malformed('message envelope', issues, issues[0]!);
  }
  const { libraryId, type } = envelope.data;
  if (libraryId !== expectedLibraryId) {
    throw new ProtocolError(
      'HW_WRONG_LIBRARY',
      `Message of library ${JSON.stringify(libraryId)} refused: this node syncs library ${describeValue(expectedLibraryId)}`,
    );
  }
  const schema = schemaByType.get(type);
  if (schema === undefined) {
    throw new ProtocolError('HW_UNKNOWN_MESSAGE_TYPE', `Unknown message type ${describeValue(type)}`);
  }
  const fast = fastSchemaByType.get(type);
  if (fast !== undefined && isCleanChangeArray(fields['changes'])) {
    const quick = fast.safeParse(value, parseOptions);
    if (quick.success) return quick.data as SyncMessage;
    // Some other field is wrong: the full schema below words the refusal.
  }
  const result = schema.safeParse(value, parseOptions);
  if (result.success) {
    // Sound: SchemaOutputIsSyncMessage (a compile-time assertion above) proves every schema's output is a SyncMessage.
    return result.data as SyncMessage;
  }
  const issues = result.error.issues;
  const firstMalformed = issues.find((issue) => !isForgedOwner(issue));
  if (firstMalformed !== undefined) throw malformed(`${type} message`, issues, firstMalformed);
  const forged = issues[0]!;
  throw new ProtocolError('HW_FORGED_OWNER', `Forged owner in ${type} message: ${summarize(forged)}`, summarize(forged));
}

/**
 * Validates a decoded inbound value as a message of library `expectedLibraryId`. Returns a new
 * object (unknown keys stripped; each change's `data` is the input's own object); throws
 * `ProtocolError` — and only `ProtocolError` — when the message is refused.
 */
export function parseSyncMessage(value: unknown, expectedLibraryId: string): SyncMessage {
  try {
    return parseChecked(value, expectedLibraryId);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    // Validation itself failed (e.g. a stack overflow on a pathological value): still a refusal.
    const reason = error instanceof Error ? error.message.slice(0, 200) : describeValue(error);
    throw new ProtocolError('HW_PROTOCOL_MALFORMED', `Malformed message: validation failed (${reason})`);
  }
}
