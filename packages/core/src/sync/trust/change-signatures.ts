import type { KeyObject } from 'node:crypto';
import { formatHlc } from '../../clock/hlc.js';
import { HighwaterError } from '../../errors.js';
import { canonicalPublicKey, DeviceKey, parsePublicKey, rawPublicKey, verifySignature } from '../../identity/device-key.js';
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

export type ForgedReason = 'unsigned' | 'bad-signature' | 'unknown-device' | 'revoked' | 'roster';

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
 * SQLite or Postgres verifies as it did when it arrived.
 */
export function changeSigningBytes(registry: ModelRegistry, c: Change): Buffer {
  return Buffer.from(JSON.stringify([CHANGE_DOMAIN, c.model, c.id, c.owner, formatHlc(c.hlc), c.op, canonicalValues(signingFields(registry, c.model), c)]));
}

/** A model's fields in declaration order, and whether any value needs putting in canonical form. */
interface SigningFields {
  readonly names: readonly string[];
  readonly types: readonly FieldType[];
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
    fields = { names, types, plain: types.every((t) => t !== 'json' && t !== 'real') };
    byModel.set(model, fields);
  }
  return fields;
}

/** An upsert's field values in declaration order and canonical form (null for a delete). */
function canonicalValues(fields: SigningFields, c: Change): unknown[] | null {
  if (c.op !== 'upsert') return null;
  const { names, types, plain } = fields;
  const data = c.data ?? {};
  const values = new Array<unknown>(names.length);
  for (let i = 0; i < names.length; i++) {
    const value = data[names[i]!];
    values[i] = plain ? (value === undefined ? null : value) : canonicalValue(types[i]!, value);
  }
  return values;
}

/**
 * Changes one batch signature covers at most. A device signs the changes of each local write
 * in batches of up to this many, besides each on its own; a receiver given a whole batch in one
 * message checks one signature instead of one per change, and peers end their pages where a
 * batch ends (see {@link batchRemainder}). Larger batches mean fewer checks, but more changes
 * checked one by one when a later write replaced one of the batch (bench stage "signatures").
 */
export const SIGNATURE_BATCH_MAX = 128;

const BATCH_DOMAIN = 'highwater-change-batch-v1';

/**
 * The bytes a batch signature covers: one JSON array of the domain, the batch's model and
 * owner, then per change, in order, its id, HLC, op, canonical values and own signature. The
 * own signatures are covered so that a node which took a batch on its one signature stores
 * only signatures its owner made: a relay cannot slip in an invalid one that would be refused
 * where the batch is later split. One JSON.stringify for the whole batch: the bench's
 * "signatures" stage is mostly this encoding.
 */
function batchSigningBytes(registry: ModelRegistry, batch: readonly Change[], own: readonly string[]): Buffer {
  const first = batch[0]!;
  const fields = signingFields(registry, first.model);
  const entries: unknown[] = [BATCH_DOMAIN, first.model, first.owner];
  for (let i = 0; i < batch.length; i++) {
    const c = batch[i]!;
    entries.push([c.id, c.hlc.time, c.hlc.counter, c.hlc.deviceId, c.op, canonicalValues(fields, c), own[i]!]);
  }
  return Buffer.from(JSON.stringify(entries));
}

/**
 * A change's `sig` as stored and sent: its own signature (86 base64url characters) and, when
 * it was signed in a batch, its place there — `<own>.<index>.<size>`, the batch's first
 * change also carrying the batch signature: `<own>.0.<size>.<batch>`.
 */
interface ChangeSig {
  readonly own: string;
  readonly index: number;
  readonly size: number;
  readonly batch: string | null;
}

/** `sig` as a {@link ChangeSig}; null when it is not one (a refused change). */
function parseChangeSig(sig: string): ChangeSig | null {
  if (sig.length === 86) return { own: sig, index: 0, size: 1, batch: null };
  const parts = sig.split('.');
  if (parts.length !== 3 && parts.length !== 4) return null;
  const index = Number(parts[1]);
  const size = Number(parts[2]);
  if (!Number.isInteger(index) || !Number.isInteger(size) || size < 2 || size > SIGNATURE_BATCH_MAX || index < 0 || index >= size) return null;
  if ((parts.length === 4) !== (index === 0)) return null;
  return { own: parts[0]!, index, size, batch: parts.length === 4 ? parts[3]! : null };
}

/**
 * How many changes after the one with this `sig` complete its batch (0 for one signed alone):
 * a page that would end inside a batch is read that much further, so that its receiver can
 * check the batch with one signature.
 */
export function batchRemainder(sig: string | undefined): number {
  if (sig === undefined || sig.length === 86) return 0;
  const parsed = parseChangeSig(sig);
  return parsed ? parsed.size - 1 - parsed.index : 0;
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
   * This device's changes, each with its signature; those of one call (one local write) are
   * also signed in batches of up to {@link SIGNATURE_BATCH_MAX}, in (HLC, id) order — the order
   * pages carry them in.
   */
  sign(changes: Change[]): Change[] {
    const key = this.deviceKey;
    if (!key) return changes;
    // What every receiver would refuse is refused here first.
    for (const c of changes) if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
    const order = changes.map((_, i) => i).sort((a, b) => compareChanges(changes[a]!, changes[b]!));
    const ordered = order.map((i) => changes[i]!);
    const sigs = ordered.map((c) => key.sign(changeSigningBytes(this.registry, c)).toString('base64url'));
    for (let from = 0; from + 1 < order.length; from += SIGNATURE_BATCH_MAX) {
      const size = Math.min(SIGNATURE_BATCH_MAX, order.length - from);
      if (size < 2) break;
      const batch = key.sign(batchSigningBytes(this.registry, ordered.slice(from, from + size), sigs.slice(from, from + size))).toString('base64url');
      sigs[from] = `${sigs[from]}.0.${size}.${batch}`;
      for (let k = 1; k < size; k++) sigs[from + k] = `${sigs[from + k]}.${k}.${size}`;
    }
    const out = changes.slice();
    for (const [position, i] of order.entries()) out[i] = { ...changes[i]!, sig: sigs[position]! };
    return out;
  }

  /**
   * Throws ForgedChangeError for the first change that is not its owner's, as signed. Changes
   * of `sender` — the device the transport authenticated the message's sender as — are its own
   * word and go unchecked (the bench's "signatures" stage is the cost this spares).
   */
  verify(changes: readonly Change[], sender: string | null = null): void {
    if (!this.deviceKey) return;
    for (let i = 0; i < changes.length; ) {
      const c = changes[i]!;
      if (this.isSendersOwn(c, sender)) {
        i++;
        continue;
      }
      const key = this.checkedKey(c);
      const sig = parseChangeSig(c.sig!);
      if (!sig) throw new ForgedChangeError(c, 'bad-signature');
      // A whole batch, in order: one check for all of it. A batch signature that does not
      // verify proves nothing either way: its changes are then checked one by one.
      if (sig.batch !== null && this.isWholeBatch(changes, i, sig.size, sender)) {
        const batch = changes.slice(i, i + sig.size);
        for (const b of batch) this.checkedKey(b);
        this.checked += 1;
        const own = batch.map((b) => b.sig!.slice(0, 86));
        if (verifySignature(key, batchSigningBytes(this.registry, batch, own), Buffer.from(sig.batch, 'base64url'))) {
          for (const b of batch) if (b.model === DEVICE_ROSTER) this.checkRosterChange(b);
          i += sig.size;
          continue;
        }
      }
      this.checked += 1;
      if (!verifySignature(key, changeSigningBytes(this.registry, c), Buffer.from(sig.own, 'base64url'))) throw new ForgedChangeError(c, 'bad-signature');
      if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
      i++;
    }
  }

  /** Ed25519 checks made by {@link verify} so far (a batch counts once). */
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

  /** Whether `changes[from…]` holds, in order, all `size` changes of the batch its change at `from` begins. */
  private isWholeBatch(changes: readonly Change[], from: number, size: number, sender: string | null): boolean {
    if (from + size > changes.length) return false;
    const { owner, model } = changes[from]!;
    for (let k = 1; k < size; k++) {
      const c = changes[from + k]!;
      if (c.owner !== owner || c.model !== model || c.sig === undefined || this.isSendersOwn(c, sender)) return false;
    }
    // Only the last member's place is looked at: a change out of place anywhere else makes the
    // batch signature fail, and the batch is then checked change by change all the same.
    const place = `.${size - 1}.${size}`;
    const last = changes[from + size - 1]!.sig!;
    return last.length === 86 + place.length && last.endsWith(place);
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
