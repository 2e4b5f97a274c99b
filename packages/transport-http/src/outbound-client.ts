import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { PAIRING_MAX_BYTES, type TransportErrorCode } from '@highwater/core';
import { BodyTooLargeError, readBoundedBody } from './bounded-body.js';
import {
  CLIENT_FREE_SOCKET_TIMEOUT_MS,
  EXPECT_CONTINUE_THRESHOLD_BYTES,
  HEADER_SESSION,
  MAX_ERROR_BODY_BYTES,
  MAX_TIMER_MS,
  PAIR_PATH,
} from './constants.js';
import { HttpTransportError } from './errors.js';
import type { LocalIdentity } from './identity.js';
import { endpointUrl, type Member } from './peer-directory.js';
import { bodyDigest, isSession, newNonce, readSignedHeaders, signHeaders, verifySignature, type SignedKind } from './signature.js';

/** One call to a member. */
export interface OutboundCall {
  readonly member: Member;
  readonly kind: Exclude<SignedKind, 'response'>;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body: Uint8Array;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/** One pairing exchange with a device that need not count this node as a member. */
export interface PairingCall {
  /** The inviter as validated from the invite's address and key; its key is not checked by HTTP (see `pair`). */
  readonly inviter: Member;
  readonly body: Uint8Array;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

export interface OutboundResult {
  /** The verified response body (empty for 204). */
  readonly body: Uint8Array;
  /** Time from sending the request to having the whole verified response. */
  readonly rttMs: number;
}

/** @internal */
export interface OutboundClientOptions {
  readonly identity: LocalIdentity;
  readonly maxBodyBytes: number;
  /** CA certificate(s) trusted for https peers, in addition to nothing: given, they replace the system store. */
  readonly ca: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
}

/** A reused keep-alive socket the server had just closed: the request never reached it, so one retry is safe. */
class StaleSocketError extends Error {}

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** TLS failures that mean "this server could not prove it is who the url says", not "down". */
const TLS_TRUST_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID/;

const STATUS_OF_KIND: Record<OutboundCall['kind'], number> = { request: 200, send: 204, ping: 204 };

/**
 * The calling side: signs each call, sends it over a keep-alive agent, verifies the
 * responder's signature and maps every failure to a typed {@link HttpTransportError}. Calls
 * in flight can be cancelled per peer (it left, it was declared down) or all at once (stop).
 */
export class OutboundClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, timeout: CLIENT_FREE_SOCKET_TIMEOUT_MS });
  private readonly httpsAgent: HttpsAgent;
  private readonly inflight = new Map<string, Set<AbortController>>();
  /** Pairing exchanges in flight: not calls to a member, so `cancelPeer` leaves them alone; `close` does not. */
  private readonly pairings = new Set<AbortController>();
  /** Each peer's current session as last learnt (from a signed answer, or a stale-session refusal). */
  private readonly sessions = new Map<string, string>();
  private closed = false;

  constructor(private readonly options: OutboundClientOptions) {
    this.httpsAgent = new HttpsAgent({
      keepAlive: true,
      timeout: CLIENT_FREE_SOCKET_TIMEOUT_MS,
      ...(options.ca === undefined ? {} : { ca: options.ca as string | Buffer | Array<string | Buffer> }),
    });
  }

  async exchange(call: OutboundCall): Promise<OutboundResult> {
    const peerId = call.member.peerId;
    if (this.closed) throw new HttpTransportError('HW_TRANSPORT_STOPPED', 'The transport is stopped; call start() first');
    if (call.signal?.aborted) throw call.signal.reason;
    if (call.body.byteLength > this.options.maxBodyBytes) {
      throw new HttpTransportError('HW_FRAME_TOO_LARGE', `Payload of ${call.body.byteLength} bytes exceeds ${this.options.maxBodyBytes}`);
    }
    let calls = this.inflight.get(peerId);
    if (!calls) this.inflight.set(peerId, (calls = new Set()));
    try {
      return await this.guarded(calls, `${call.kind} to peer ${peerId}`, call.timeoutMs, call.signal, async (signal) => {
        // Once each: a keep-alive socket the server had closed, and a session the peer no longer
        // runs (it restarted, or this is the first call): the refusal named the new one.
        let socketRetry = true;
        let sessionRetry = true;
        for (;;) {
          try {
            return await this.attempt(call, signal);
          } catch (error) {
            if (signal.aborted) throw error;
            if (error instanceof StaleSocketError && socketRetry) socketRetry = false;
            else if (error instanceof HttpTransportError && error.remoteCode === 'HW_STALE_SESSION' && sessionRetry) sessionRetry = false;
            else throw error;
          }
        }
      });
    } catch (error) {
      if (error instanceof StaleSocketError) throw unreachable(peerId, error.cause);
      throw error;
    } finally {
      if (calls.size === 0 && this.inflight.get(peerId) === calls) this.inflight.delete(peerId);
    }
  }

  /**
   * One unsigned pairing exchange: POSTs the payload to the inviter's pairing endpoint and
   * resolves with its answer (at most PAIRING_MAX_BYTES). On a fresh connection, not the
   * members' keep-alive agents: the inviter closes it after the answer anyway, and a stranger's
   * exchange has nothing to share with the signed calls. Over https the transport's `ca` applies.
   */
  async pair(call: PairingCall): Promise<Uint8Array> {
    if (this.closed) throw new HttpTransportError('HW_TRANSPORT_STOPPED', 'The transport is stopped; call start() first');
    if (call.signal?.aborted) throw call.signal.reason;
    if (call.body.byteLength > PAIRING_MAX_BYTES) {
      throw new HttpTransportError('HW_FRAME_TOO_LARGE', `Pairing payload of ${call.body.byteLength} bytes exceeds ${PAIRING_MAX_BYTES}`);
    }
    return this.guarded(this.pairings, `pairing with peer ${call.inviter.peerId}`, call.timeoutMs, call.signal, (signal) =>
      this.pairAttempt(call, signal),
    );
  }

  /**
   * Runs `run` under its own controller, aborted by the caller's signal (with its reason), by
   * the timeout (HW_REQUEST_TIMEOUT), or through `calls` (cancelPeer, close), which holds the
   * controller while it runs.
   */
  private async guarded<T>(
    calls: Set<AbortController>,
    what: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    const onUserAbort = (): void => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onUserAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_MS) {
      timer = setTimeout(
        () => controller.abort(new HttpTransportError('HW_REQUEST_TIMEOUT', `${what} timed out after ${timeoutMs} ms`)),
        Math.max(0, timeoutMs),
      );
    }
    calls.add(controller);
    try {
      return await run(controller.signal);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onUserAbort);
      calls.delete(controller);
    }
  }

  /** Fails every call in flight to `peerId` with `error`. */
  cancelPeer(peerId: string, error: HttpTransportError): void {
    for (const controller of this.inflight.get(peerId) ?? []) controller.abort(error);
  }

  /** Fails every call in flight with HW_TRANSPORT_STOPPED and closes every socket. */
  close(): void {
    this.closed = true;
    const stopped = new HttpTransportError('HW_TRANSPORT_STOPPED', 'The transport stopped');
    for (const calls of this.inflight.values()) for (const controller of calls) controller.abort(stopped);
    this.inflight.clear();
    for (const controller of this.pairings) controller.abort(stopped);
    this.pairings.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private attempt(call: OutboundCall, signal: AbortSignal): Promise<OutboundResult> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const { member } = call;
    const nonce = newNonce();
    const signed = signHeaders(
      {
        kind: call.kind,
        method: call.method,
        path: call.path,
        from: this.options.identity.peerId,
        to: member.peerId,
        session: this.sessions.get(member.peerId) ?? '',
        timestamp: String(Date.now()),
        nonce,
        bodySha256: bodyDigest(call.body),
      },
      this.options.identity.privateKey,
    );
    const url = endpointUrl(member, call.path);
    const https = url.protocol === 'https:';
    const expectContinue = call.body.byteLength > EXPECT_CONTINUE_THRESHOLD_BYTES;
    const headers: Record<string, string> = {
      ...signed,
      'content-type': 'application/octet-stream',
      'content-length': String(call.body.byteLength),
      ...(expectContinue ? { expect: '100-continue' } : {}),
    };
    const started = performance.now();
    return new Promise<OutboundResult>((resolve, reject) => {
      let settled = false;
      let responded = false;
      let bodySent = !expectContinue;
      const settle = (finish: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        finish();
      };
      const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, {
        method: call.method,
        agent: https ? this.httpsAgent : this.httpAgent,
        headers,
      });
      const onAbort = (): void => {
        settle(() => reject(signal.reason));
        req.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error: NodeJS.ErrnoException) => {
        // Once an answer arrived, reading it settles the call (a close after a refusal is expected).
        if (responded) return;
        if (req.reusedSocket && error.code === 'ECONNRESET') {
          settle(() => reject(new StaleSocketError('stale keep-alive socket', { cause: error })));
        } else {
          settle(() => reject(networkError(member.peerId, error)));
        }
      });
      req.on('response', (res: IncomingMessage) => {
        responded = true;
        res.on('error', () => undefined);
        this.readResponse(res, call, nonce).then(
          (body) => settle(() => resolve({ body, rttMs: performance.now() - started })),
          (error: unknown) => {
            settle(() => reject(error));
            res.destroy();
            // A refused Expect: 100-continue request never sent its body: drop the socket rather than leave it half-used.
            if (!bodySent) req.destroy();
          },
        );
      });
      if (expectContinue) {
        // Headers first; the body only once the peer has accepted them (it may answer 401/413 instead).
        req.on('continue', () => {
          bodySent = true;
          req.end(call.body);
        });
        req.flushHeaders();
      } else {
        req.end(call.body);
      }
    });
  }

  private pairAttempt(call: PairingCall, signal: AbortSignal): Promise<Uint8Array> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const peerId = call.inviter.peerId;
    const url = endpointUrl(call.inviter, PAIR_PATH);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(call.body.byteLength) };
    const { ca } = this.options;
    return new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      let responded = false;
      const settle = (finish: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        finish();
      };
      const req: ClientRequest =
        url.protocol === 'https:'
          ? httpsRequest(url, {
              method: 'POST',
              agent: false,
              headers,
              ...(ca === undefined ? {} : { ca: ca as string | Buffer | Array<string | Buffer> }),
            })
          : httpRequest(url, { method: 'POST', agent: false, headers });
      const onAbort = (): void => {
        settle(() => reject(signal.reason));
        req.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error: NodeJS.ErrnoException) => {
        // Once an answer arrived, reading it settles the call (the inviter closes the connection after it).
        if (responded) return;
        settle(() => reject(networkError(peerId, error)));
      });
      req.on('response', (res: IncomingMessage) => {
        responded = true;
        res.on('error', () => undefined);
        readPairingAnswer(res, peerId).then(
          (body) => settle(() => resolve(body)),
          (error: unknown) => {
            settle(() => reject(error));
            res.destroy();
          },
        );
      });
      req.end(call.body);
    });
  }

  private async readResponse(res: IncomingMessage, call: OutboundCall, requestNonce: string): Promise<Uint8Array> {
    const status = res.statusCode ?? 0;
    const peerId = call.member.peerId;
    if (status < 200 || status >= 300) {
      const named = res.headers[HEADER_SESSION];
      if (status === 401 && typeof named === 'string' && isSession(named)) this.sessions.set(peerId, named);
      throw await refusal(res, peerId, status);
    }
    const headers = readSignedHeaders(res.headers);
    const forged = (reason: string): HttpTransportError =>
      new HttpTransportError(
        'HW_UNAUTHORIZED',
        `The answer from ${call.member.baseUrl.href} is not signed by peer ${peerId} (${reason}); another server may be answering at that url`,
        { status },
      );
    if (typeof headers === 'string') throw forged(headers);
    if (headers.peer !== peerId || headers.kind !== 'response') throw forged('wrong signer or kind');
    const fields = {
      kind: 'response' as const,
      method: call.method,
      path: call.path,
      from: peerId,
      to: this.options.identity.peerId,
      session: headers.session,
      timestamp: headers.timestamp,
      nonce: headers.nonce,
      bodySha256: headers.contentSha256,
      status,
      inReplyTo: requestNonce,
    };
    if (headers.session === '') throw forged('no x-hw-session');
    if (!verifySignature(fields, headers.signature, call.member.publicKey)) throw forged('bad signature');
    this.sessions.set(peerId, headers.session);
    let body: Uint8Array;
    try {
      body = await readBoundedBody(res, this.options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        throw new HttpTransportError('HW_FRAME_TOO_LARGE', `Response from peer ${peerId} exceeds ${this.options.maxBodyBytes} bytes`, { status });
      }
      throw unreachable(peerId, error);
    }
    if (bodyDigest(body) !== headers.contentSha256) throw forged('body does not match the signed digest');
    if (status !== STATUS_OF_KIND[call.kind]) {
      throw new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} answered a ${call.kind} with status ${status}`, { status });
    }
    return body;
  }
}

/** The body of a 200 pairing answer, at most PAIRING_MAX_BYTES; anything else is a typed refusal. */
async function readPairingAnswer(res: IncomingMessage, peerId: string): Promise<Uint8Array> {
  const status = res.statusCode ?? 0;
  if (status !== 200) throw await refusal(res, peerId, status);
  try {
    return await readBoundedBody(res, PAIRING_MAX_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      throw new HttpTransportError('HW_FRAME_TOO_LARGE', `Pairing answer from peer ${peerId} exceeds ${PAIRING_MAX_BYTES} bytes`, { status });
    }
    throw unreachable(peerId, error);
  }
}

function unreachable(peerId: string, cause: unknown): HttpTransportError {
  const text = cause instanceof Error ? cause.message : String(cause);
  return new HttpTransportError('HW_PEER_UNREACHABLE', `Peer ${peerId} is unreachable: ${text}`, { cause });
}

function networkError(peerId: string, error: NodeJS.ErrnoException): HttpTransportError {
  const code = error.code ?? '';
  if (TLS_TRUST_ERROR.test(code)) {
    return new HttpTransportError('HW_UNAUTHORIZED', `TLS: peer ${peerId} presented a certificate this node does not trust (${code})`, { cause: error });
  }
  if (NETWORK_ERROR_CODES.has(code)) return unreachable(peerId, error);
  return new HttpTransportError('HW_PEER_UNREACHABLE', `Call to peer ${peerId} failed: ${error.message}`, { cause: error });
}

/** Maps a non-2xx answer; reads at most a small JSON body to learn the peer's code. */
async function refusal(res: IncomingMessage, peerId: string, status: number): Promise<HttpTransportError> {
  let remoteCode: string | undefined;
  let remoteMessage = '';
  try {
    const body = await readBoundedBody(res, MAX_ERROR_BODY_BYTES);
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { code?: unknown; message?: unknown; causeCode?: unknown };
    if (typeof parsed.code === 'string') remoteCode = parsed.code.slice(0, 80);
    if (typeof parsed.message === 'string') remoteMessage = parsed.message.slice(0, 300);
    if (typeof parsed.causeCode === 'string') remoteMessage += ` (${parsed.causeCode.slice(0, 80)})`;
  } catch {
    // Not our JSON, too long, or the peer closed early: the status alone decides.
    res.destroy();
  }
  let code: TransportErrorCode = 'HW_PEER_UNREACHABLE';
  if (status === 401) code = 'HW_UNAUTHORIZED';
  else if (status === 413 || remoteCode === 'HW_RESPONSE_TOO_LARGE') code = 'HW_FRAME_TOO_LARGE';
  const detail = remoteMessage || res.statusMessage || '';
  return new HttpTransportError(code, `Peer ${peerId} answered ${status}${remoteCode ? ` ${remoteCode}` : ''}${detail ? `: ${detail}` : ''}`, {
    status,
    ...(remoteCode ? { remoteCode } : {}),
  });
}
