import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import * as z from 'zod';
import { DEVICE_ID_PATTERN } from '../../clock/hlc.js';
import { HighwaterError, InvalidDeviceIdError } from '../../errors.js';
import { canonicalPublicKey, parsePublicKey, verifySignature, type DeviceKey } from '../../identity/device-key.js';
import { decodeInviteCode, encodeInviteCode, inviteIdOf, type Invite } from '../../identity/invite-code.js';
import { PAIRING_MAX_BYTES, type RequestOptions, type Transport } from '../../ports/transport.js';
import type { WallClock } from '../../ports/wall-clock.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import type { RosterDevice } from './device-roster.js';

/**
 * Pairing: a device of the library issues an invite (a code with its address and key and a
 * one-time secret); a new device redeems it over either transport and receives the library's
 * devices, and the inviter adds it to the roster. Both sides prove knowledge of the secret with
 * an HMAC over what they send, and the joiner signs its request with the key it is joining
 * with, so neither a stranger who saw the request on the wire nor one who did not see the code
 * can pair, and the joiner can only register a key it holds. The transport just carries the
 * one exchange (`Transport.acceptPairing` / `pair`).
 */

export type PairingErrorCode =
  /** The invite is past its expiry. */
  | 'HW_INVITE_EXPIRED'
  /** No open invite matches: unknown, used already, or the proof of its secret is wrong. */
  | 'HW_INVITE_INVALID'
  /** The inviter will not add this device: its id is taken by another key, or it was revoked. */
  | 'HW_PAIRING_REFUSED'
  /** The answer does not prove knowledge of the invite's secret, or lists the inviter with another key. */
  | 'HW_PAIRING_FORGED'
  /** The node or its transport cannot pair (no roster, a transport without pairing, no address). */
  | 'HW_PAIRING_UNSUPPORTED';

export class PairingError extends HighwaterError {
  constructor(code: PairingErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** How long an invite is open by default: long enough to type a code, short enough to not linger. */
export const DEFAULT_INVITE_TTL_MS = 10 * 60_000;
/** How long the door stays open after an answer with no invite left: the answer must leave before non-members are hung up. */
const ANSWER_GRACE_MS = 2_000;
/** Wrong proofs an invite survives; then it is closed, so its secret cannot be searched for. */
const MAX_BAD_PROOFS = 5;
const REQUEST_DOMAIN = 'highwater-pair-request-v1';
const ANSWER_DOMAIN = 'highwater-pair-answer-v1';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/).max(200);
const pairRequestSchema = z.strictObject({
  type: z.literal('hw-pair-request'),
  v: z.literal(1),
  invite: b64url,
  deviceId: z.string().regex(DEVICE_ID_PATTERN),
  publicKey: b64url,
  name: z.string().max(200).nullable(),
  addresses: z.array(z.string().min(1).max(255)).max(16),
  proof: b64url,
  sig: b64url,
});
type PairRequest = z.infer<typeof pairRequestSchema>;

const pairedDeviceSchema = z.strictObject({
  deviceId: z.string().regex(DEVICE_ID_PATTERN),
  publicKey: b64url,
  name: z.string().max(200).nullable(),
  addedBy: z.string().max(128).nullable(),
  revokedAt: z.number().int().nonnegative().nullable(),
});
const pairAnswerSchema = z.discriminatedUnion('ok', [
  z.strictObject({
    type: z.literal('hw-pair-answer'),
    v: z.literal(1),
    ok: z.literal(true),
    libraryId: z.string().min(1).max(200),
    inviter: z.string().regex(DEVICE_ID_PATTERN),
    devices: z.array(pairedDeviceSchema).max(10_000),
    addresses: z.array(z.string().min(1).max(255)).max(16),
    proof: b64url,
  }),
  z.strictObject({
    type: z.literal('hw-pair-answer'),
    v: z.literal(1),
    ok: z.literal(false),
    code: z.string().max(60),
    message: z.string().max(500),
  }),
]);
type PairAnswer = z.infer<typeof pairAnswerSchema>;
type WireDevice = z.infer<typeof pairedDeviceSchema>;

function requestBytes(r: Pick<PairRequest, 'invite' | 'deviceId' | 'publicKey' | 'name' | 'addresses'>): Buffer {
  return Buffer.from(JSON.stringify([REQUEST_DOMAIN, r.invite, r.deviceId, r.publicKey, r.name, r.addresses]));
}

function answerBytes(invite: string, joinerKey: string, a: { libraryId: string; inviter: string; devices: WireDevice[]; addresses: string[] }): Buffer {
  const devices = a.devices.map((d) => [d.deviceId, d.publicKey, d.name, d.addedBy, d.revokedAt]);
  return Buffer.from(JSON.stringify([ANSWER_DOMAIN, invite, joinerKey, a.libraryId, a.inviter, devices, a.addresses]));
}

function hmac(secret: Uint8Array, bytes: Uint8Array): string {
  return createHmac('sha256', secret).update(bytes).digest('base64url');
}

function sameProof(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function encode(message: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(message));
}

function parse<T>(schema: z.ZodType<T>, bytes: Uint8Array): T | null {
  if (bytes.byteLength > PAIRING_MAX_BYTES) return null;
  try {
    const result = schema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

/** What a redeemed invite gives the new device. */
export interface PairedLibrary {
  readonly libraryId: string;
  /** The inviting device: its id, its key (the one the code named) and where it listens. */
  readonly inviter: { readonly deviceId: string; readonly publicKey: string; readonly addresses: readonly string[] };
  /**
   * Every device of the library as the inviter knew it, founders and this device included: the
   * new device's `trust.devices`. (A node that joins with `SyncNode.joinLibrary` keeps them itself.)
   */
  readonly devices: readonly RosterDevice[];
}

export interface RedeemInviteOptions {
  readonly code: string;
  /** A started transport with pairing (both shipped ones have it). */
  readonly transport: Transport;
  /** The key this device joins with: the one its transport authenticates with. */
  readonly deviceKey: DeviceKey;
  readonly deviceId: string;
  /** A name the other devices see in the roster. */
  readonly name?: string;
  readonly wallClock?: WallClock;
  readonly requestTimeoutMs?: number;
}

/**
 * Redeems an invite: asks the inviter (at the code's addresses, in order) to add this device,
 * and checks that the answer proves knowledge of the invite's secret. Throws PairingError
 * (HW_INVITE_EXPIRED, HW_INVITE_INVALID, HW_PAIRING_REFUSED, HW_PAIRING_FORGED,
 * HW_PAIRING_UNSUPPORTED), InviteCodeError (HW_INVITE_CODE), or the transport's error when no
 * address answers.
 */
export async function redeemInvite(options: RedeemInviteOptions): Promise<PairedLibrary> {
  const { transport, deviceKey, deviceId } = options;
  const invite = decodeInviteCode(options.code);
  const now = (options.wallClock ?? { now: () => Date.now() }).now();
  if (now > invite.expiresAt) throw new PairingError('HW_INVITE_EXPIRED', `The invite expired at ${new Date(invite.expiresAt).toISOString()}; ask for a new one`);
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new InvalidDeviceIdError(deviceId);
  if (!transport.pair) throw new PairingError('HW_PAIRING_UNSUPPORTED', 'This transport cannot pair (it has no pair())');
  if (invite.addresses.length === 0) throw new PairingError('HW_PAIRING_UNSUPPORTED', 'The invite names no address to reach the inviter at');

  const id = inviteIdOf(invite.secret);
  const fields = { invite: id, deviceId, publicKey: deviceKey.publicKey, name: options.name ?? null, addresses: transport.listenAddresses?.() ?? [] };
  const bytes = requestBytes(fields);
  const request: PairRequest = { type: 'hw-pair-request', v: 1, ...fields, proof: hmac(invite.secret, bytes), sig: deviceKey.sign(bytes).toString('base64url') };
  const payload = encode(request);
  const requestOptions: RequestOptions = options.requestTimeoutMs !== undefined ? { timeoutMs: options.requestTimeoutMs } : {};

  let lastError: unknown;
  for (const address of invite.addresses) {
    let raw: Uint8Array;
    try {
      raw = await transport.pair(address, invite.inviterKey, payload, requestOptions);
    } catch (error) {
      // Another address of the inviter may be reachable from here (a LAN and a public one).
      lastError = error;
      continue;
    }
    return checkAnswer(raw, invite, id, deviceKey.publicKey, address);
  }
  throw lastError;
}

function checkAnswer(raw: Uint8Array, invite: Invite, id: string, joinerKey: string, address: string): PairedLibrary {
  const answer = parse(pairAnswerSchema, raw);
  if (!answer) throw new PairingError('HW_PAIRING_FORGED', `The answer from ${address} is not a pairing answer`);
  if (!answer.ok) {
    const code = (['HW_INVITE_EXPIRED', 'HW_INVITE_INVALID', 'HW_PAIRING_REFUSED'] as const).find((c) => c === answer.code) ?? 'HW_PAIRING_REFUSED';
    throw new PairingError(code, `The inviter refused: ${answer.message}`);
  }
  if (!sameProof(answer.proof, hmac(invite.secret, answerBytes(id, joinerKey, answer)))) {
    throw new PairingError('HW_PAIRING_FORGED', `The answer from ${address} does not prove it knows the invite's secret`);
  }
  const inviter = answer.devices.find((d) => d.deviceId === answer.inviter);
  if (!inviter || inviter.publicKey !== invite.inviterKey) {
    throw new PairingError('HW_PAIRING_FORGED', 'The answer does not list the inviter with the key the invite names');
  }
  return {
    libraryId: answer.libraryId,
    inviter: { deviceId: inviter.deviceId, publicKey: inviter.publicKey, addresses: [...new Set([...invite.addresses, ...answer.addresses])] },
    devices: answer.devices.map(rosterDeviceOf),
  };
}

function rosterDeviceOf(d: WireDevice): RosterDevice {
  return {
    deviceId: d.deviceId,
    publicKey: d.publicKey,
    ...(d.name !== null ? { name: d.name } : {}),
    ...(d.addedBy !== null ? { addedBy: d.addedBy } : {}),
    ...(d.revokedAt !== null ? { revokedAt: d.revokedAt } : {}),
  };
}

/** An invite as {@link PairingDesk.createInvite} gives it. */
export interface IssuedInvite {
  /** The code to hand to the new device (`HW1-…`). */
  readonly code: string;
  readonly expiresAt: number;
}

export interface CreateInviteOptions {
  /** How long the invite is open (ms). Default 10 minutes. */
  readonly ttlMs?: number;
  /** Where the new device should reach this one; default: the transport's listen addresses. */
  readonly addresses?: readonly string[];
}

/** A device this node paired (the inviter's side): where it said it can be reached. */
export interface PairedDevice {
  readonly deviceId: string;
  readonly publicKey: string;
  readonly name?: string;
  /** The joiner's listen addresses (libp2p multiaddrs, an HTTP base url); may be empty. */
  readonly addresses: readonly string[];
}

interface OpenInvite {
  readonly secret: Uint8Array;
  readonly expiresAt: number;
  badProofs: number;
}

/**
 * The inviter's side: issues invites, keeps the transport's pairing door open while one is
 * open, answers redemptions by adding the device to the roster; and the joiner's side for a
 * node (`join`). Invites live in memory: a restart closes them.
 */
export class PairingDesk implements Startable {
  private readonly open = new Map<string, OpenInvite>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private graceTimer: ReturnType<typeof setTimeout> | null = null;
  private doorOpen = false;
  private readonly pairedSubject = new Subject<PairedDevice>();
  /**
   * Each device this node paired, once it is in the roster and answered: what an application
   * keeps to reach it again after a restart (transports remember addresses only while running).
   */
  readonly paired$: Observable<PairedDevice> = this.pairedSubject.asObservable();

  constructor(
    private readonly components: Pick<NodeComponents, 'identity' | 'transport' | 'roster' | 'signatures' | 'wallClock' | 'logger'>,
    private readonly deviceKey: DeviceKey | undefined,
  ) {}

  /** Issues an invite and opens the transport to pairing requests until no invite is left open. */
  createInvite(options: CreateInviteOptions = {}): IssuedInvite {
    const { transport, roster, signatures, wallClock } = this.components;
    if (!roster.enabled || !signatures.enabled) {
      throw new PairingError('HW_PAIRING_UNSUPPORTED', 'Invites need the trust option and deviceRosterModel in the model registry');
    }
    if (!transport.acceptPairing) throw new PairingError('HW_PAIRING_UNSUPPORTED', 'This transport cannot accept pairings (it has no acceptPairing())');
    const addresses = [...(options.addresses ?? transport.listenAddresses?.() ?? [])];
    if (addresses.length === 0) throw new PairingError('HW_PAIRING_UNSUPPORTED', 'No address to put in the invite: start the node first, or pass addresses');
    const ttlMs = options.ttlMs ?? DEFAULT_INVITE_TTL_MS;
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new HighwaterError('HW_INVALID_OPTION', `ttlMs must be a positive number of ms, got ${ttlMs}`);
    const secret = randomBytes(16);
    // The code carries whole seconds: the inviter holds the invite to the same instant.
    const expiresAt = Math.ceil((wallClock.now() + ttlMs) / 1000) * 1000;
    const code = encodeInviteCode({ secret, expiresAt, inviterKey: signatures.publicKeyOf(this.components.identity.deviceId)!, addresses });
    this.open.set(inviteIdOf(secret), { secret, expiresAt, badProofs: 0 });
    this.updateDoor();
    return { code, expiresAt };
  }

  /** Closes every open invite (and the door at once). */
  cancelInvites(): void {
    this.open.clear();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.updateDoor();
  }

  /** Redeems `code` for this node: the devices it receives count from now on (and after restarts), and it connects to the inviter. */
  async join(code: string, options: { name?: string; requestTimeoutMs?: number } = {}): Promise<PairedLibrary> {
    const { identity, transport, roster, wallClock } = this.components;
    const deviceKey = this.deviceKey;
    if (!roster.enabled || !deviceKey) throw new PairingError('HW_PAIRING_UNSUPPORTED', 'Joining needs the trust option and deviceRosterModel in the model registry');
    const paired = await redeemInvite({ code, transport, deviceKey, deviceId: identity.deviceId, wallClock, ...options });
    if (paired.libraryId !== identity.libraryId) {
      throw new PairingError('HW_PAIRING_REFUSED', `The invite is for library ${JSON.stringify(paired.libraryId)}, this node is of ${JSON.stringify(identity.libraryId)}`);
    }
    await roster.adopt(paired.devices);
    await transport.reach?.(paired.inviter.publicKey, paired.inviter.addresses);
    return paired;
  }

  stop(): void {
    this.cancelInvites();
  }

  /** Answers one pairing request; never throws (the answer says why it refuses). */
  readonly answer = async (payload: Uint8Array): Promise<Uint8Array> => {
    try {
      return encode(await this.accept(payload));
    } catch (error) {
      const code = error instanceof PairingError ? error.code : 'HW_PAIRING_REFUSED';
      if (!(error instanceof PairingError)) this.components.logger.warn({ err: (error as Error).message }, 'pairing failed');
      return encode({ type: 'hw-pair-answer', v: 1, ok: false, code, message: error instanceof PairingError ? error.message : 'the inviter could not add the device' });
    }
  };

  private async accept(payload: Uint8Array): Promise<PairAnswer> {
    const request = parse(pairRequestSchema, payload);
    if (!request) throw new PairingError('HW_INVITE_INVALID', 'not a pairing request');
    this.dropExpired();
    const invite = this.open.get(request.invite);
    if (!invite) throw new PairingError('HW_INVITE_INVALID', 'no open invite matches (used, expired or never issued)');
    const bytes = requestBytes(request);
    if (!sameProof(request.proof, hmac(invite.secret, bytes))) {
      if (++invite.badProofs >= MAX_BAD_PROOFS) this.closeInvite(request.invite);
      throw new PairingError('HW_INVITE_INVALID', 'the proof of the invite secret is wrong');
    }
    let publicKey: string;
    try {
      publicKey = canonicalPublicKey(request.publicKey);
    } catch {
      throw new PairingError('HW_PAIRING_REFUSED', 'the public key is not an Ed25519 key');
    }
    if (!verifySignature(parsePublicKey(publicKey), bytes, Buffer.from(request.sig, 'base64url'))) {
      throw new PairingError('HW_PAIRING_REFUSED', 'the request is not signed by the key it names');
    }
    // One redemption: the invite closes before anything is awaited, so a second request with the same code finds it gone.
    this.closeInvite(request.invite);

    const { roster, transport, identity } = this.components;
    const existing = (await roster.devices()).find((d) => d.deviceId === request.deviceId);
    if (existing && existing.publicKey !== publicKey) throw new PairingError('HW_PAIRING_REFUSED', `device id ${request.deviceId} belongs to another key`);
    if (existing?.revokedAt !== undefined) throw new PairingError('HW_PAIRING_REFUSED', `device ${request.deviceId} was revoked`);
    if (!existing || existing.name !== (request.name ?? undefined)) await roster.add({ deviceId: request.deviceId, publicKey, name: request.name ?? undefined });
    if (request.addresses.length > 0) {
      await transport.reach?.(publicKey, request.addresses).catch((error: unknown) => {
        this.components.logger.warn({ err: (error as Error).message, device: request.deviceId }, 'cannot reach the paired device at the addresses it gave');
      });
    }
    const devices: WireDevice[] = (await roster.devices()).map((d) => ({
      deviceId: d.deviceId,
      publicKey: d.publicKey,
      name: d.name ?? null,
      addedBy: d.addedBy ?? null,
      revokedAt: d.revokedAt ?? null,
    }));
    const fields = { libraryId: identity.libraryId, inviter: identity.deviceId, devices, addresses: transport.listenAddresses?.() ?? [] };
    this.components.logger.info({ device: request.deviceId }, 'paired a device');
    this.pairedSubject.next({ deviceId: request.deviceId, publicKey, ...(request.name !== null ? { name: request.name } : {}), addresses: request.addresses });
    return { type: 'hw-pair-answer', v: 1, ok: true, ...fields, proof: hmac(invite.secret, answerBytes(request.invite, publicKey, fields)) };
  }

  /**
   * Closes an invite at once; the door follows a little later: closing it hangs up non-members,
   * and the joiner still is one until its answer — success or refusal — has left.
   */
  private closeInvite(id: string): void {
    this.open.delete(id);
    if (this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = null;
      this.updateDoor();
    }, ANSWER_GRACE_MS);
    this.graceTimer.unref?.();
  }

  private dropExpired(): void {
    const now = this.components.wallClock.now();
    for (const [id, invite] of this.open) if (now > invite.expiresAt) this.open.delete(id);
  }

  /** The door is open exactly while an invite is; a timer closes it at the last expiry. */
  private updateDoor(): void {
    this.dropExpired();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const transport = this.components.transport;
    if (this.open.size === 0) {
      if (this.doorOpen) transport.acceptPairing?.(null);
      this.doorOpen = false;
      return;
    }
    if (!this.doorOpen) transport.acceptPairing?.(this.answer);
    this.doorOpen = true;
    const next = Math.min(...[...this.open.values()].map((i) => i.expiresAt));
    this.timer = setTimeout(() => this.updateDoor(), Math.max(0, next - this.components.wallClock.now()) + 1);
    this.timer.unref?.();
  }
}
