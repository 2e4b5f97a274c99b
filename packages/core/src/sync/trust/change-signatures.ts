import { createHash, type KeyObject } from 'node:crypto';
import { formatHlc } from '../../clock/hlc.js';
import { HighwaterError } from '../../errors.js';
import { canonicalPublicKey, DeviceKey, parsePublicKey, rawPublicKey, verifySignature } from '../../identity/device-key.js';
import { BATCH_ID_LENGTH, PlaceScan } from '../../protocol/batch-place.js';
import { DEVICE_ROSTER } from './device-roster.js';
import type { FieldType } from '../../models/model-definition.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { NodeComponents } from '../../wiring/components.js';
import { compareChanges, type Change } from '../change.js';

/** A device whose changes a node accepts: its id and its Ed25519 public key (raw, base64url). */
export interface TrustedDevice {
  readonly deviceId: string;
  readonly publicKey: string;
  /**
   * When the device was revoked (wall ms): its changes stamped later are refused, its messages
   * too, and its transport connection is closed; what it wrote before still verifies, so peers
   * keep serving it.
   */
  readonly revokedAt?: number;
}

/**
 * Signed changes: this device signs each change it writes with `deviceKey`, and accepts a
 * change from a peer only with a valid signature of its owner (device-owned models) or origin
 * (shared models), one of `devices` — whoever relayed it.
 */
export interface TrustOptions {
  readonly deviceKey: DeviceKey;
  /** The library's devices (this one may be listed too: it must then have `deviceKey`'s public key). */
  readonly devices: readonly TrustedDevice[];
}

export type ForgedReason = 'unsigned' | 'bad-signature' | 'unproven' | 'unknown-device' | 'revoked' | 'roster';

/** A change without a valid signature of its owner: refused with the whole message it came in, so nothing of it moves. */
export class ForgedChangeError extends HighwaterError {
  constructor(
    readonly change: { readonly model: string; readonly id: string; readonly owner: string },
    reason: ForgedReason,
  ) {
    const why =
      reason === 'unsigned'
        ? 'carries no signature'
        : reason === 'unknown-device'
          ? `names owner ${JSON.stringify(change.owner)}, which is not a device of this library`
          : reason === 'revoked'
            ? `was stamped by ${JSON.stringify(change.owner)} after that device was revoked`
            : reason === 'unproven'
              ? "is signed in a batch whose proof came with no change of the message"
              : reason === 'roster'
              ? 'would delete a device from the roster, or give a listed device another key'
              : `is not signed by its owner ${JSON.stringify(change.owner)}'s key (forged or altered)`;
    super('HW_FORGED_CHANGE', `Refused change ${change.model}/${change.id}: it ${why}`);
    this.reason = reason;
  }

  readonly reason: ForgedReason;
}

/** A message whose device is not a device of the library, or not the one its sender authenticated as: refused. */
export class SenderIdentityError extends HighwaterError {
  constructor(code: 'HW_UNKNOWN_DEVICE' | 'HW_DEVICE_MISMATCH' | 'HW_DEVICE_REVOKED', message: string) {
    super(code, message);
  }
}

/** The signature domain: a signature over a change can never be taken for one over anything else. */
const CHANGE_DOMAIN = 'highwater-change-v1';

/**
 * The bytes a change's signature covers: model, id, owner, HLC, op and the data's field values
 * in the model's declaration order, as JSON. Values are put in the one form every store gives
 * back (JSON objects with sorted keys, -0 as 0, missing as null), so a change read back from
 * SQLite or Postgres verifies as it did when it arrived. Fields added after a model's first
 * version (`since` > 1) come last, and those of them at the end that are null are left off: a
 * change an older version wrote, or one a newer version wrote without them, signs the same on
 * every version that can read it.
 */
export function changeSigningBytes(registry: ModelRegistry, c: Change): Buffer {
  return Buffer.from(JSON.stringify([CHANGE_DOMAIN, c.model, c.id, c.owner, formatHlc(c.hlc), c.op, canonicalValues(signingFields(registry, c.model), c)]));
}

/** A model's fields in declaration order, and whether any value needs putting in canonical form. */
interface SigningFields {
  readonly names: readonly string[];
  readonly types: readonly FieldType[];
  /** How many fields every version of the model has (since 1): the added ones after them are left off while null. */
  readonly base: number;
  /** No json or real field: every value is signed as it is (null for absent). */
  readonly plain: boolean;
}

const signingFieldsCache = new WeakMap<ModelRegistry, Map<string, SigningFields>>();

function signingFields(registry: ModelRegistry, model: string): SigningFields {
  let byModel = signingFieldsCache.get(registry);
  if (!byModel) signingFieldsCache.set(registry, (byModel = new Map()));
  let fields = byModel.get(model);
  if (!fields) {
    const definition = registry.get(model).fields;
    const names = Object.keys(definition);
    const types = names.map((name) => definition[name]!.type);
    const base = names.filter((name) => (definition[name]!.since ?? 1) === 1).length;
    fields = { names, types, base, plain: types.every((t) => t !== 'json' && t !== 'real') };
    byModel.set(model, fields);
  }
  return fields;
}

/** An upsert's field values in declaration order and canonical form (null for a delete). */
function canonicalValues(fields: SigningFields, c: Change): unknown[] | null {
  if (c.op !== 'upsert') return null;
  const { names, types, plain, base } = fields;
  const data = c.data ?? {};
  let length = names.length;
  while (length > base && (data[names[length - 1]!] ?? null) === null) length--;
  const values = new Array<unknown>(length);
  for (let i = 0; i < length; i++) {
    const value = data[names[i]!];
    values[i] = plain ? (value === undefined ? null : value) : canonicalValue(types[i]!, value);
  }
  return values;
}

/**
 * Changes one batch proof covers at most. A device signs the changes of each local write in
 * batches of up to this many (a change written alone is signed on its own); a receiver given
 * a whole batch in one message checks one signature instead of one per change, and peers end
 * their pages where a batch ends (see {@link batchRemainder}). Larger batches mean fewer checks
 * and smaller proofs per change, but larger proofs sent with a page holding few of the batch.
 */
export const SIGNATURE_BATCH_MAX = 128;

export { BATCH_ID_LENGTH };

const BATCH_DOMAIN = 'highwater-change-batch-v2';
const LEAF_DOMAIN = 'highwater-change-leaf-v2';
const PROOF_DOMAIN = 'highwater-batch-proof-v2';
/** Bytes of each change's digest in a proof: 128 bits, so no relay can find other content with a digest of the batch. */
const LEAF_BYTES = 16;
/** The shortest sig that carries a proof (a batch of two): shorter ones are not parsed looking for one. */
export const MIN_CARRIER_LENGTH = BATCH_ID_LENGTH + '.0.2.'.length + Math.ceil(((96 + 2 * LEAF_BYTES) * 4) / 3);

/**
 * A batch's changes as one flat array, in order: each one's id, HLC time and counter, then 1
 * and its canonical values (an upsert) or 0 (a delete). Unambiguous — a model's values are a
 * fixed number — and flat, so hashing a batch allocates one array (bench stage "signatures").
 * The owner (every HLC's device) is signed once, beside the model.
 */
function pushEntry(out: unknown[], fields: SigningFields, c: Change): void {
  out.push(c.id, c.hlc.time, c.hlc.counter);
  if (c.op !== 'upsert') {
    out.push(0);
    return;
  }
  out.push(1);
  // The values of canonicalValues, pushed as they are made: no array per change.
  const { names, types, plain, base } = fields;
  const data = c.data ?? {};
  if (plain) {
    for (let i = 0; i < base; i++) {
      const value = data[names[i]!];
      out.push(value === undefined ? null : value);
    }
  } else {
    for (let i = 0; i < base; i++) out.push(canonicalValue(types[i]!, data[names[i]!]));
  }
  if (base === names.length) return;
  // Added fields (since > 1) up to the last one set, as one array after the others: an entry
  // then reads the same on every version while they are null, and never runs into the next.
  let end = names.length;
  while (end > base && (data[names[end - 1]!] ?? null) === null) end--;
  if (end === base) return;
  const added = new Array<unknown>(end - base);
  for (let i = base; i < end; i++) added[i - base] = canonicalValue(types[i]!, data[names[i]!]);
  out.push(added);
}

/** The SHA-256 of a whole batch: one JSON.stringify. */
function wholeBatchHash(registry: ModelRegistry, batch: readonly Change[]): Buffer {
  const first = batch[0]!;
  const fields = signingFields(registry, first.model);
  const flat: unknown[] = [BATCH_DOMAIN, first.model, first.owner];
  for (const c of batch) pushEntry(flat, fields, c);
  return createHash('sha256').update(JSON.stringify(flat)).digest();
}

/** The digest of one change of a batch: what lets it be checked without the rest. */
function leafDigest(registry: ModelRegistry, c: Change): Buffer {
  const flat: unknown[] = [LEAF_DOMAIN, c.model, c.owner];
  pushEntry(flat, signingFields(registry, c.model), c);
  return createHash('sha256').update(JSON.stringify(flat)).digest().subarray(0, LEAF_BYTES);
}

/** The bytes a batch proof's signature covers: the batch's model, owner and size, its whole hash, and each change's digest. */
function proofSigningBytes(model: string, owner: string, size: number, whole: Uint8Array, leaves: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify([PROOF_DOMAIN, model, owner, size])), whole, leaves]);
}

/**
 * A batch proof, decoded from its base64url text: the whole batch's hash (32 bytes), the
 * owner's signature (64) and each change's digest ({@link LEAF_BYTES} each).
 */
class DecodedProof {
  constructor(
    readonly whole: Buffer,
    readonly signature: Buffer,
    readonly leaves: Buffer,
  ) {}

  static parse(text: string, size: number): DecodedProof | null {
    const bytes = Buffer.from(text, 'base64url');
    if (bytes.length !== 96 + size * LEAF_BYTES) return null;
    return new DecodedProof(bytes.subarray(0, 32), bytes.subarray(32, 96), bytes.subarray(96));
  }

  leaf(index: number): Buffer {
    return this.leaves.subarray(index * LEAF_BYTES, (index + 1) * LEAF_BYTES);
  }
}

/**
 * A change's `sig` as stored and sent. Signed alone: its own signature (86 base64url
 * characters). Signed in a batch: `<batchId>.<index>.<size>`, the batch's proof (see
 * {@link BatchProof}) kept apart; a message carries each batch's proof once, appended to the
 * sig of one of its changes there: `<batchId>.<index>.<size>.<proof>`.
 */
export interface BatchPlace {
  readonly batchId: string;
  readonly index: number;
  readonly size: number;
  /** The batch's proof, when this change carries it. */
  readonly proof: string | null;
}

/** A proof a message carries, decoded and checked once (null: it does not verify). */
interface CarriedProof {
  readonly text: string;
  decoded: DecodedProof | null | undefined;
}

const suffixesBySize = new Map<number, string[]>();

/** `.<index>.<size>` for each index of a batch of `size`. */
function placeSuffixes(size: number): string[] {
  let suffixes = suffixesBySize.get(size);
  if (!suffixes) suffixesBySize.set(size, (suffixes = Array.from({ length: size }, (_, k) => `.${k}.${size}`)));
  return suffixes;
}

const scan = new PlaceScan();

/** `sig` as a {@link BatchPlace}; null for a change signed alone, or a sig that is neither. */
export function batchPlaceOf(sig: string | undefined): BatchPlace | null {
  if (sig === undefined || !scan.read(sig)) return null;
  const { index, size, end } = scan;
  if (size < 2 || size > SIGNATURE_BATCH_MAX || index >= size) return null;
  // A proof is one more part: no further '.' in it.
  const proof = end < sig.length ? sig.slice(end + 1) : null;
  if (proof !== null && (proof.length === 0 || proof.includes('.'))) return null;
  return { batchId: sig.slice(0, BATCH_ID_LENGTH), index, size, proof };
}

/** A batch member's sig without the proof it carries (what is stored). */
export function withoutProof(sig: string): string {
  return scan.read(sig) && scan.end < sig.length ? sig.slice(0, scan.end) : sig;
}

/**
 * How many changes after the one with this `sig` complete its batch (0 for one signed alone):
 * a page that would end inside a batch is read that much further, so that its receiver can
 * check the batch with one signature.
 */
export function batchRemainder(sig: string | undefined): number {
  const place = batchPlaceOf(sig);
  return place ? place.size - 1 - place.index : 0;
}

function canonicalValue(type: FieldType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (type === 'json') return sortedKeys(value);
  if (type === 'real' && Object.is(value, -0)) return 0;
  return value;
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortedKeys((value as Record<string, unknown>)[key]);
  return out;
}

/**
 * Signs this device's changes and verifies everyone else's. Without trust options it does
 * neither: the node then accepts unsigned changes, as nodes did before signatures existed.
 */
export class ChangeSignatures {
  private readonly keys = new Map<string, KeyObject>();
  /** The same keys as raw base64url text. */
  private readonly publicKeys = new Map<string, string>();
  private readonly revokedAt = new Map<string, number>();
  private readonly deviceKey: DeviceKey | null;
  private readonly registry: ModelRegistry;
  private readonly deviceId: string;
  private checked = 0;

  constructor(components: Pick<NodeComponents, 'modelRegistry' | 'identity'>, trust: TrustOptions | undefined) {
    this.registry = components.modelRegistry;
    this.deviceId = components.identity.deviceId;
    this.deviceKey = trust?.deviceKey ?? null;
    if (trust) this.setDevices(trust.devices);
  }

  /**
   * Replaces the device list (see TrustedDevice): keys, revocations. A device's key never
   * changes once listed (HW_INVALID_OPTION otherwise): a new key is a new device.
   */
  setDevices(devices: readonly TrustedDevice[]): void {
    if (!this.deviceKey) throw new HighwaterError('HW_INVALID_OPTION', 'a device list needs trust.deviceKey');
    const keys = new Map<string, KeyObject>();
    for (const d of devices) keys.set(d.deviceId, parsePublicKey(d.publicKey));
    const own = keys.get(this.deviceId);
    if (own && rawPublicKey(own).toString('base64url') !== this.deviceKey.publicKey) {
      throw new HighwaterError('HW_INVALID_OPTION', `trust.devices lists ${this.deviceId} with another public key than trust.deviceKey's`);
    }
    keys.set(this.deviceId, this.deviceKey.publicKeyObject);
    for (const [id, key] of keys) {
      const before = this.keys.get(id);
      if (before && !before.equals(key)) throw new HighwaterError('HW_INVALID_OPTION', `device ${id} is listed with another public key than before`);
    }
    this.keys.clear();
    this.publicKeys.clear();
    for (const [id, key] of keys) {
      this.keys.set(id, key);
      this.publicKeys.set(id, rawPublicKey(key).toString('base64url'));
    }
    this.revokedAt.clear();
    for (const d of devices) if (d.revokedAt !== undefined && d.deviceId !== this.deviceId) this.revokedAt.set(d.deviceId, d.revokedAt);
  }

  /** The devices not revoked, this one included: those the transport admits and garbage collection waits for. */
  activeDevices(): { deviceId: string; publicKey: string }[] {
    const out: { deviceId: string; publicKey: string }[] = [];
    for (const [deviceId, publicKey] of this.publicKeys) if (!this.revokedAt.has(deviceId)) out.push({ deviceId, publicKey });
    return out;
  }

  /** Whether `deviceId` was revoked. */
  isRevoked(deviceId: string): boolean {
    return this.revokedAt.has(deviceId);
  }

  /** Whether this node signs its changes and requires signatures of everyone else's. */
  get enabled(): boolean {
    return this.deviceKey !== null;
  }

  /** The public key of `deviceId` (raw, base64url), if it is a device of the library. */
  publicKeyOf(deviceId: string): string | undefined {
    return this.publicKeys.get(deviceId);
  }

  /** This device's signature of `bytes`, base64url (signed changes must be on). */
  signBytes(bytes: Uint8Array): string {
    if (!this.deviceKey) throw new HighwaterError('HW_INTERNAL', 'signing needs trust.deviceKey');
    return this.deviceKey.sign(bytes).toString('base64url');
  }

  /** Whether `sig` is `deviceId`'s signature of `bytes` (false for a device the library does not have). */
  verifyBy(deviceId: string, bytes: Uint8Array, sig: string): boolean {
    const key = this.keys.get(deviceId);
    return key !== undefined && verifySignature(key, bytes, Buffer.from(sig, 'base64url'));
  }

  /**
   * This device's changes, signed: those of one call (one local write) in batches of up to
   * {@link SIGNATURE_BATCH_MAX} of one model, in (HLC, id) order — the order pages carry them
   * in — the first of each batch carrying its proof; a change left alone gets its own signature.
   */
  sign(changes: Change[]): Change[] {
    const key = this.deviceKey;
    if (!key) return changes;
    // What every receiver would refuse is refused here first.
    for (const c of changes) if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
    const order = changes.map((_, i) => i).sort((a, b) => compareChanges(changes[a]!, changes[b]!));
    const ordered = order.map((i) => changes[i]!);
    const sigs = new Array<string>(ordered.length);
    for (let from = 0; from < ordered.length; ) {
      let size = 1;
      while (size < SIGNATURE_BATCH_MAX && from + size < ordered.length && ordered[from + size]!.model === ordered[from]!.model) size++;
      if (size === 1) {
        sigs[from] = key.sign(changeSigningBytes(this.registry, ordered[from]!)).toString('base64url');
      } else {
        const batch = ordered.slice(from, from + size);
        const whole = wholeBatchHash(this.registry, batch);
        const leaves = Buffer.concat(batch.map((c) => leafDigest(this.registry, c)));
        const signature = key.sign(proofSigningBytes(batch[0]!.model, batch[0]!.owner, size, whole, leaves));
        const batchId = signature.toString('base64url').slice(0, BATCH_ID_LENGTH);
        sigs[from] = `${batchId}.0.${size}.${Buffer.concat([whole, signature, leaves]).toString('base64url')}`;
        for (let k = 1; k < size; k++) sigs[from + k] = `${batchId}.${k}.${size}`;
      }
      from += size;
    }
    const out = changes.slice();
    for (const [position, i] of order.entries()) out[i] = { ...changes[i]!, sig: sigs[position]! };
    return out;
  }

  /**
   * Throws ForgedChangeError for the first change that is not its owner's, as signed. Changes
   * of `sender` — the device the transport authenticated the message's sender as — are its own
   * word and go unchecked (the bench's "signatures" stage is the cost this spares). A change
   * signed in a batch is checked against the batch's proof, which the message must carry: a
   * whole batch in order by one hash and one signature, any other change of it by its digest.
   */
  verify(changes: readonly Change[], sender: string | null = null): void {
    if (!this.deviceKey) return;
    // The proofs the message carries, first: a change may come before the one carrying its batch's proof.
    const proofs = new Map<string, CarriedProof>();
    for (const c of changes) {
      if (c.sig === undefined || c.sig.length < MIN_CARRIER_LENGTH) continue;
      const place = batchPlaceOf(c.sig);
      if (!place?.proof) continue;
      // Two proofs of one batch: the one stored (the first) must be the one checked.
      const key = `${c.owner}\n${place.batchId}`;
      const seen = proofs.get(key);
      if (seen && seen.text !== place.proof) throw new ForgedChangeError(c, 'bad-signature');
      proofs.set(key, { text: place.proof, decoded: undefined });
    }
    for (let i = 0; i < changes.length; ) {
      const c = changes[i]!;
      if (this.isSendersOwn(c, sender)) {
        i++;
        continue;
      }
      const key = this.checkedKey(c);
      // A newer version's change: its signed values include fields this version cannot order, so
      // only its owner's standing is checked now; its content is checked when this node can read it.
      if (c.newerFields !== undefined) {
        i++;
        continue;
      }
      if (c.sig!.length === 86) {
        this.checked += 1;
        if (!verifySignature(key, changeSigningBytes(this.registry, c), Buffer.from(c.sig!, 'base64url'))) throw new ForgedChangeError(c, 'bad-signature');
        if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
        i++;
        continue;
      }
      const place = batchPlaceOf(c.sig);
      if (!place) throw new ForgedChangeError(c, 'bad-signature');
      const carried = proofs.get(`${c.owner}\n${place.batchId}`);
      if (!carried) throw new ForgedChangeError(c, 'unproven');
      const proof = this.checkedProof(key, c, place, carried);
      // A whole batch, in order: one hash for all of it. One that does not match proves
      // nothing either way: its changes are then checked one by one.
      if (place.index === 0 && this.isWholeBatch(changes, i, place)) {
        const batch = changes.slice(i, i + place.size);
        if (wholeBatchHash(this.registry, batch).equals(proof.whole)) {
          // One owner, one model (isWholeBatch), so one key: only each change's time against a revocation is left to check.
          if (this.revokedAt.has(c.owner)) for (const b of batch) this.checkedKey(b);
          if (c.model === DEVICE_ROSTER) for (const b of batch) this.checkRosterChange(b);
          i += place.size;
          continue;
        }
      }
      if (!leafDigest(this.registry, c).equals(proof.leaf(place.index))) throw new ForgedChangeError(c, 'bad-signature');
      if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
      i++;
    }
  }

  /** Ed25519 checks made by {@link verify} so far (a batch proof counts once per message). */
  get signatureChecks(): number {
    return this.checked;
  }

  /** A change of the device that sent it (its transport key proved it): its own word, unchecked. */
  private isSendersOwn(c: Change, sender: string | null): boolean {
    return c.owner === sender && c.sig !== undefined && !this.revokedAt.has(sender) && c.model !== DEVICE_ROSTER;
  }

  /** The owner's key, once the change is known to be signed, by a device of the library, before any revocation of it. */
  private checkedKey(c: Change): KeyObject {
    if (c.sig === undefined) throw new ForgedChangeError(c, 'unsigned');
    const key = this.keys.get(c.owner);
    if (!key) throw new ForgedChangeError(c, 'unknown-device');
    const revoked = this.revokedAt.get(c.owner);
    if (revoked !== undefined && c.hlc.time > revoked) throw new ForgedChangeError(c, 'revoked');
    return key;
  }

  /** The proof a message carries for `c`'s batch, once its signature is known to be the owner's (checked once per message). */
  private checkedProof(key: KeyObject, c: Change, place: BatchPlace, carried: CarriedProof): DecodedProof {
    if (carried.decoded === undefined) {
      const proof = DecodedProof.parse(carried.text, place.size);
      this.checked += 1;
      const valid =
        proof !== null &&
        proof.signature.toString('base64url').startsWith(place.batchId) &&
        verifySignature(key, proofSigningBytes(c.model, c.owner, place.size, proof.whole, proof.leaves), proof.signature);
      carried.decoded = valid ? proof : null;
    }
    if (carried.decoded === null || carried.decoded.leaves.length !== place.size * LEAF_BYTES) throw new ForgedChangeError(c, 'bad-signature');
    return carried.decoded;
  }

  /** Whether `changes[from…]` holds, in order, `size` changes each naming its place in `place`'s batch (their content is the hash's to prove). */
  private isWholeBatch(changes: readonly Change[], from: number, place: BatchPlace): boolean {
    const { batchId, size } = place;
    if (from + size > changes.length) return false;
    const { owner, model } = changes[from]!;
    const suffixes = placeSuffixes(size);
    for (let k = 1; k < size; k++) {
      const c = changes[from + k]!;
      // Same owner and model as the first, which is not the sender's own: neither is any of these.
      if (c.owner !== owner || c.model !== model || c.sig === undefined) return false;
      // `<batchId>.<k>.<size>`, or that and a proof: compared in place (bench stage "signatures").
      const suffix = suffixes[k]!;
      const end = BATCH_ID_LENGTH + suffix.length;
      if (!c.sig.startsWith(batchId) || !c.sig.startsWith(suffix, BATCH_ID_LENGTH) || (c.sig.length !== end && c.sig.charCodeAt(end) !== 46)) return false;
    }
    return true;
  }

  /** A roster record is never deleted (a device is revoked instead), and a device id keeps its first key. */
  private checkRosterChange(c: Change): void {
    if (c.op === 'delete') throw new ForgedChangeError(c, 'roster');
    let key: string;
    try {
      key = canonicalPublicKey(String(c.data?.['publicKey']));
    } catch {
      throw new ForgedChangeError(c, 'roster');
    }
    const bound = this.publicKeys.get(c.id);
    if (bound !== undefined && bound !== key) throw new ForgedChangeError(c, 'roster');
  }
}
