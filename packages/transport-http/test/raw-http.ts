import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { loadOrCreateHttpIdentity } from '../src/index.js';

/**
 * An independent implementation of the wire format as the README documents it (it does not
 * import the package's signing code), so the tests check the documented scheme, not the
 * implementation against itself.
 */

export interface RawKey {
  readonly peerId: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

/** Creates a key file the package's way and keeps the private key for raw signing. */
export function rawKey(keyPath: string): RawKey {
  const { peerId, publicKey } = loadOrCreateHttpIdentity(keyPath);
  return { peerId, publicKey, privateKey: createPrivateKey(readFileSync(keyPath, 'utf8')) };
}

export interface WireFields {
  kind: string;
  method: string;
  path: string;
  from: string;
  to: string;
  session: string;
  timestamp: string;
  nonce: string;
  contentSha256: string;
  status: string;
  inReplyTo: string;
}

export function canonical(f: WireFields): string {
  return ['highwater-http-v2', f.kind, f.method, f.path, f.from, f.to, f.session, f.timestamp, f.nonce, f.contentSha256, f.status, f.inReplyTo].join('\n');
}

export const sha256 = (body: Uint8Array): string => createHash('sha256').update(body).digest('base64url');

export function signatureOf(fields: WireFields, key: KeyObject): string {
  return sign(null, Buffer.from(canonical(fields)), key).toString('base64url');
}

export function headersOf(fields: WireFields, signature: string): Record<string, string> {
  return {
    'x-hw-peer': fields.from,
    'x-hw-kind': fields.kind,
    'x-hw-timestamp': fields.timestamp,
    'x-hw-nonce': fields.nonce,
    'x-hw-content-sha256': fields.contentSha256,
    'x-hw-signature': signature,
    ...(fields.session ? { 'x-hw-session': fields.session } : {}),
  };
}

export interface SignOptions {
  key: RawKey;
  to: string;
  /** The recipient's current session ("" for none). */
  session: string;
  body?: Uint8Array;
  kind?: string;
  method?: string;
  path?: string;
  timestamp?: number;
  nonce?: string;
}

/** The fields and headers of a correctly signed request. */
export function signedRequest(o: SignOptions): { fields: WireFields; headers: Record<string, string> } {
  const fields: WireFields = {
    kind: o.kind ?? 'request',
    method: o.method ?? 'POST',
    path: o.path ?? '/highwater/v1/message',
    from: o.key.peerId,
    to: o.to,
    session: o.session,
    timestamp: String(o.timestamp ?? Date.now()),
    nonce: o.nonce ?? randomBytes(16).toString('base64url'),
    contentSha256: sha256(o.body ?? new Uint8Array(0)),
    status: '',
    inReplyTo: '',
  };
  return { fields, headers: headersOf(fields, signatureOf(fields, o.key.privateKey)) };
}

/** Verifies a response's x-hw-* headers against the request it answers. */
export function responseIsSigned(
  headers: IncomingHttpHeaders,
  body: Uint8Array,
  o: { signerId: string; signerPublicKey: string; to: string; method: string; path: string; status: number; requestNonce: string },
): boolean {
  const fields: WireFields = {
    kind: 'response',
    method: o.method,
    path: o.path,
    from: o.signerId,
    to: o.to,
    session: String(headers['x-hw-session']),
    timestamp: String(headers['x-hw-timestamp']),
    nonce: String(headers['x-hw-nonce']),
    contentSha256: sha256(body),
    status: String(o.status),
    inReplyTo: o.requestNonce,
  };
  if (headers['x-hw-peer'] !== o.signerId || headers['x-hw-kind'] !== 'response' || headers['x-hw-content-sha256'] !== fields.contentSha256) return false;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: o.signerPublicKey }, format: 'jwk' });
  return verify(null, Buffer.from(canonical(fields)), key, Buffer.from(String(headers['x-hw-signature']), 'base64url'));
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The `code` of a JSON error body, if any. */
  code: string | undefined;
}

/** One request on a fresh connection (no keep-alive), body sent in one piece. */
export function rawCall(
  baseUrl: string,
  o: { method?: string; path?: string; headers?: Record<string, string>; body?: Uint8Array },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = o.body ?? new Uint8Array(0);
    const req = request(
      new URL(o.path ?? '/highwater/v1/message', baseUrl),
      { method: o.method ?? 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', ...o.headers, 'content-length': String(body.byteLength) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          let code: string | undefined;
          if (String(res.headers['content-type']).startsWith('application/json')) {
            code = (JSON.parse(buf.toString('utf8')) as { code?: string }).code;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, code });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Streams a chunked body (no Content-Length) until the server answers, writing at most
 * `maxChunks` chunks; resolves with the status and how many bytes were written by then.
 */
export function streamUntilAnswered(
  baseUrl: string,
  headers: Record<string, string>,
  chunk: Uint8Array,
  maxChunks: number,
): Promise<{ status: number; bytesWritten: number }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let written = 0;
    const req = request(new URL('/highwater/v1/message', baseUrl), { method: 'POST', agent: false, headers }, (res) => {
      answered = true;
      res.resume();
      resolve({ status: res.statusCode ?? 0, bytesWritten: written });
    });
    // Once answered, the server closes the connection: a reset while writing is expected then.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const next = (count: number): void => {
      if (answered || req.destroyed) return;
      if (count >= maxChunks) {
        req.end();
        return;
      }
      written += chunk.byteLength;
      req.write(chunk, () => setImmediate(() => next(count + 1)));
    };
    next(0);
  });
}
