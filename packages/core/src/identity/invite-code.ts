import { createHash } from 'node:crypto';
import { base32crockford } from '@scure/base';
import { HighwaterError } from '../errors.js';

/**
 * What an invite code carries: enough for a new device to find the inviter, know its key, and
 * prove to it — with the one-time secret — that it was given the code.
 */
export interface Invite {
  /** 16 random bytes; never sent on the wire, only used as an HMAC key by both sides. */
  readonly secret: Uint8Array;
  /** Wall ms after which the inviter refuses the invite (carried in whole seconds). */
  readonly expiresAt: number;
  /** The inviter's Ed25519 public key (raw, base64url). */
  readonly inviterKey: string;
  /** Where the inviter listens: libp2p multiaddrs, HTTP base urls. */
  readonly addresses: readonly string[];
}

/** An invite code that cannot be read: mistyped, cut short, or of an unknown version. */
export class InviteCodeError extends HighwaterError {
  constructor(reason: string) {
    super('HW_INVITE_CODE', `Invalid invite code: ${reason}`);
  }
}

const PREFIX = 'HW1';
const VERSION = 1;
const SECRET_BYTES = 16;
const KEY_BYTES = 32;
/** Trailing bytes of sha256 over the rest: a mistyped code is reported as one, not misread. */
const CHECKSUM_BYTES = 3;
const GROUP = 5;

/**
 * The invite as text a person can paste or type: `HW1-` then Crockford base32 in groups of
 * five (case, dashes and spaces do not matter; O/I/L read as 0/1/1), ending in a checksum.
 *
 * Layout: version (1 byte), expiry in unix seconds (4), secret (16), inviter key (32), then
 * each address as a length byte and its UTF-8 bytes, then the checksum (3).
 */
export function encodeInviteCode(invite: Invite): string {
  if (invite.secret.length !== SECRET_BYTES) throw new InviteCodeError(`the secret must be ${SECRET_BYTES} bytes`);
  const key = Buffer.from(invite.inviterKey, 'base64url');
  if (key.length !== KEY_BYTES) throw new InviteCodeError('the inviter key must be a raw 32-byte Ed25519 key');
  const parts: Buffer[] = [Buffer.from([VERSION])];
  const expiry = Buffer.alloc(4);
  expiry.writeUInt32BE(Math.ceil(invite.expiresAt / 1000));
  parts.push(expiry, Buffer.from(invite.secret), key);
  for (const address of invite.addresses) {
    const bytes = Buffer.from(address, 'utf8');
    if (bytes.length === 0 || bytes.length > 255) throw new InviteCodeError(`an address must be 1-255 bytes: ${JSON.stringify(address.slice(0, 60))}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  const body = Buffer.concat(parts);
  const text = base32crockford.encode(Buffer.concat([body, checksum(body)]));
  const groups = text.match(new RegExp(`.{1,${GROUP}}`, 'g')) ?? [];
  return [PREFIX, ...groups].join('-');
}

/** Reads an invite code; throws {@link InviteCodeError} (HW_INVITE_CODE) saying why it cannot. */
export function decodeInviteCode(code: string): Invite {
  if (typeof code !== 'string') throw new InviteCodeError('not a string');
  const compact = code.replace(/[\s-]/g, '').toUpperCase();
  if (!compact.startsWith(PREFIX)) throw new InviteCodeError(`it does not start with ${PREFIX}-`);
  let bytes: Buffer;
  try {
    bytes = Buffer.from(base32crockford.decode(compact.slice(PREFIX.length)));
  } catch {
    throw new InviteCodeError('it has a character that is not in the code alphabet (mistyped?)');
  }
  if (bytes.length < 1 + 4 + SECRET_BYTES + KEY_BYTES + CHECKSUM_BYTES) throw new InviteCodeError('it is too short (cut off?)');
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!checksum(body).equals(bytes.subarray(bytes.length - CHECKSUM_BYTES))) throw new InviteCodeError('its checksum does not match (mistyped or cut off?)');
  if (body[0] !== VERSION) throw new InviteCodeError(`version ${body[0]} is not one this node reads (upgrade it)`);
  let at = 1;
  const expiresAt = body.readUInt32BE(at) * 1000;
  at += 4;
  const secret = Uint8Array.from(body.subarray(at, at + SECRET_BYTES));
  at += SECRET_BYTES;
  const inviterKey = body.subarray(at, at + KEY_BYTES).toString('base64url');
  at += KEY_BYTES;
  const addresses: string[] = [];
  while (at < body.length) {
    const length = body[at]!;
    if (length === 0 || at + 1 + length > body.length) throw new InviteCodeError('an address runs past the end');
    addresses.push(body.subarray(at + 1, at + 1 + length).toString('utf8'));
    at += 1 + length;
  }
  return { secret, expiresAt, inviterKey, addresses };
}

/**
 * The name both sides use for an invite on the wire: a hash of its secret, so the secret
 * itself never crosses the network.
 */
export function inviteIdOf(secret: Uint8Array): string {
  return createHash('sha256').update('highwater-invite-id-v1').update(secret).digest().subarray(0, 16).toString('base64url');
}

function checksum(body: Uint8Array): Buffer {
  return createHash('sha256').update(body).digest().subarray(0, CHECKSUM_BYTES);
}
