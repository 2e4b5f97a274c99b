import { createHash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  HEADER_CONTENT_SHA256,
  HEADER_KIND,
  HEADER_NONCE,
  HEADER_PEER,
  HEADER_SESSION,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  NONCE_BYTES,
  SIGNATURE_DOMAIN,
} from './constants.js';
import { isPeerIdShape } from './identity.js';

/**
 * The signature scheme, shared by both directions. The signed text is the canonical string
 * (lines joined by "\n"):
 *
 *   highwater-http-v2
 *   kind            request | send | ping | response
 *   method          POST | GET (a response repeats its request's)
 *   path            /highwater/v1/message | /highwater/v1/ping (a response repeats its request's)
 *   from            signer's peer id (header x-hw-peer)
 *   to              recipient's peer id (not sent: each side knows it)
 *   session         x-hw-session: for a call the recipient's current session ("" before the
 *                   caller has learnt it), for a response the signer's own
 *   timestamp       x-hw-timestamp, ms since the epoch, decimal
 *   nonce           x-hw-nonce, 16 random bytes, base64url
 *   body sha256     x-hw-content-sha256, base64url(sha256(body))
 *   status          "" for a request; the HTTP status for a response
 *   in reply to     "" for a request; the request's nonce for a response
 *
 * `to` stops a request captured on its way to one member from being replayed to another
 * (each node only remembers its own nonces); `in reply to` + `status` tie a response to
 * exactly one request, so an old response cannot be replayed as the answer to a new one;
 * `session` ties a call to one run of the recipient, whose nonce cache dies with the process.
 * No field can contain "\n" (each is validated), so the string is unambiguous. Because the
 * body digest travels in a header, the signature is checked before the body is read; the body
 * is then checked against the digest.
 */
export type SignedKind = 'request' | 'send' | 'ping' | 'response';

export interface SignedFields {
  readonly kind: SignedKind;
  readonly method: string;
  readonly path: string;
  readonly from: string;
  readonly to: string;
  readonly session: string;
  readonly timestamp: string;
  readonly nonce: string;
  readonly bodySha256: string;
  readonly status?: number;
  readonly inReplyTo?: string;
}

/** The x-hw-* headers of a signed request or response, syntactically valid. */
export interface SignedHeaders {
  readonly peer: string;
  readonly kind: SignedKind;
  /** "" when the header is absent. */
  readonly session: string;
  readonly timestamp: string;
  readonly nonce: string;
  readonly contentSha256: string;
  readonly signature: string;
}

const KINDS: ReadonlySet<string> = new Set<SignedKind>(['request', 'send', 'ping', 'response']);
const TIMESTAMP_PATTERN = /^[0-9]{1,15}$/;
const NONCE_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{86}$/;
const DIGEST_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function canonicalString(fields: SignedFields): string {
  return [
    SIGNATURE_DOMAIN,
    fields.kind,
    fields.method,
    fields.path,
    fields.from,
    fields.to,
    fields.session,
    fields.timestamp,
    fields.nonce,
    fields.bodySha256,
    fields.status === undefined ? '' : String(fields.status),
    fields.inReplyTo ?? '',
  ].join('\n');
}

export function bodyDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** A session id has a nonce's shape: 16 random bytes, base64url. */
export function isSession(text: string): boolean {
  return NONCE_PATTERN.test(text) && isCanonicalBase64url(text);
}

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64url');
}

/**
 * base64url text that decodes and re-encodes to itself. Decoders ignore the spare low bits of
 * the last character, so without this check several header values would carry one signature.
 */
function isCanonicalBase64url(text: string): boolean {
  return Buffer.from(text, 'base64url').toString('base64url') === text;
}

/** Signs the fields; returns the x-hw-* headers to send. */
export function signHeaders(fields: SignedFields, privateKey: KeyObject): Record<string, string> {
  const signature = sign(null, Buffer.from(canonicalString(fields), 'utf8'), privateKey).toString('base64url');
  return {
    [HEADER_PEER]: fields.from,
    [HEADER_KIND]: fields.kind,
    [HEADER_TIMESTAMP]: fields.timestamp,
    [HEADER_NONCE]: fields.nonce,
    [HEADER_CONTENT_SHA256]: fields.bodySha256,
    [HEADER_SIGNATURE]: signature,
    ...(fields.session ? { [HEADER_SESSION]: fields.session } : {}),
  };
}

/** True when `signature` is the signer's Ed25519 signature of the canonical string of `fields`. */
export function verifySignature(fields: SignedFields, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(canonicalString(fields), 'utf8'), publicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Reads the x-hw-* headers, or says why they are unusable. Only shape is checked here; the
 * caller checks membership, time window, signature and nonce.
 */
export function readSignedHeaders(headers: IncomingHttpHeaders): SignedHeaders | string {
  const peer = single(headers, HEADER_PEER);
  const kind = single(headers, HEADER_KIND);
  const timestamp = single(headers, HEADER_TIMESTAMP);
  const nonce = single(headers, HEADER_NONCE);
  const contentSha256 = single(headers, HEADER_CONTENT_SHA256);
  const signature = single(headers, HEADER_SIGNATURE);
  const session = headers[HEADER_SESSION] === undefined ? '' : single(headers, HEADER_SESSION);
  if (
    session === undefined ||
    peer === undefined ||
    kind === undefined ||
    timestamp === undefined ||
    nonce === undefined ||
    contentSha256 === undefined ||
    signature === undefined
  ) {
    return 'missing or repeated x-hw-* header';
  }
  if (!isPeerIdShape(peer)) return 'malformed x-hw-peer';
  if (!KINDS.has(kind)) return 'unknown x-hw-kind';
  if (!TIMESTAMP_PATTERN.test(timestamp)) return 'malformed x-hw-timestamp';
  if (!NONCE_PATTERN.test(nonce) || !isCanonicalBase64url(nonce)) return 'malformed x-hw-nonce';
  if (!DIGEST_PATTERN.test(contentSha256) || !isCanonicalBase64url(contentSha256)) return 'malformed x-hw-content-sha256';
  if (!SIGNATURE_PATTERN.test(signature) || !isCanonicalBase64url(signature)) return 'malformed x-hw-signature';
  if (session !== '' && !isSession(session)) return 'malformed x-hw-session';
  return { peer, kind: kind as SignedKind, session, timestamp, nonce, contentSha256, signature };
}
