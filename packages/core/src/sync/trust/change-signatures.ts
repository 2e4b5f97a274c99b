import type { KeyObject } from 'node:crypto';
import { formatHlc } from '../../clock/hlc.js';
import { HighwaterError } from '../../errors.js';
import { canonicalPublicKey, DeviceKey, parsePublicKey, rawPublicKey, verifySignature } from '../../identity/device-key.js';
import { DEVICE_ROSTER } from './device-roster.js';
import type { FieldType } from '../../models/model-definition.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Change } from '../change.js';

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
  let values: unknown[] | null = null;
  if (c.op === 'upsert') {
    const fields = registry.get(c.model).fields;
    values = [];
    for (const name in fields) values.push(canonicalValue(fields[name]!.type, c.data?.[name]));
  }
  return Buffer.from(JSON.stringify([CHANGE_DOMAIN, c.model, c.id, c.owner, formatHlc(c.hlc), c.op, values]));
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

  /** This device's changes, each with its signature. */
  sign(changes: Change[]): Change[] {
    const key = this.deviceKey;
    if (!key) return changes;
    // What every receiver would refuse is refused here first.
    for (const c of changes) if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
    return changes.map((c) => ({ ...c, sig: key.sign(changeSigningBytes(this.registry, c)).toString('base64url') }));
  }

  /**
   * Throws ForgedChangeError for the first change that is not its owner's, as signed. Changes
   * of `sender` — the device the transport authenticated the message's sender as — are its own
   * word and go unchecked (the bench's "signatures" stage is the cost this spares).
   */
  verify(changes: readonly Change[], sender: string | null = null): void {
    if (!this.deviceKey) return;
    for (const c of changes) {
      if (c.owner === sender && c.sig !== undefined && !this.revokedAt.has(sender) && c.model !== DEVICE_ROSTER) continue;
      if (c.sig === undefined) throw new ForgedChangeError(c, 'unsigned');
      const key = this.keys.get(c.owner);
      if (!key) throw new ForgedChangeError(c, 'unknown-device');
      const revoked = this.revokedAt.get(c.owner);
      if (revoked !== undefined && c.hlc.time > revoked) throw new ForgedChangeError(c, 'revoked');
      if (!verifySignature(key, changeSigningBytes(this.registry, c), Buffer.from(c.sig, 'base64url'))) throw new ForgedChangeError(c, 'bad-signature');
      if (c.model === DEVICE_ROSTER) this.checkRosterChange(c);
    }
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
