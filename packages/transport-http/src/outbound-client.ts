import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TransportErrorCode } from '@highwater/core';
import { BodyTooLargeError, readBoundedBody } from './bounded-body.js';
import { CLIENT_FREE_SOCKET_TIMEOUT_MS, EXPECT_CONTINUE_THRESHOLD_BYTES, HEADER_SESSION, MAX_ERROR_BODY_BYTES, MAX_TIMER_MS } from './constants.js';
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
    const controller = new AbortController();
    const onUserAbort = (): void => controller.abort(call.signal!.reason);
    call.signal?.addEventListener('abort', onUserAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (Number.isFinite(call.timeoutMs) && call.timeoutMs <= MAX_TIMER_MS) {
      timer = setTimeout(
        () => controller.abort(new HttpTransportError('HW_REQUEST_TIMEOUT', `${call.kind} to peer ${peerId} timed out after ${call.timeoutMs} ms`)),
        Math.max(0, call.timeoutMs),
      );
    }
    let calls = this.inflight.get(peerId);
    if (!calls) this.inflight.set(peerId, (calls = new Set()));
    calls.add(controller);
    try {
      // Once each: a keep-alive socket the server had closed, and a session the peer no longer
      // runs (it restarted, or this is the first call): the refusal named the new one.
      let socketRetry = true;
      let sessionRetry = true;
      for (;;) {
        try {
          return await this.attempt(call, controller.signal);
        } catch (error) {
          if (controller.signal.aborted) throw error;
          if (error instanceof StaleSocketError && socketRetry) socketRetry = false;
          else if (error instanceof HttpTransportError && error.remoteCode === 'HW_STALE_SESSION' && sessionRetry) sessionRetry = false;
          else throw error;
        }
      }
    } catch (error) {
      if (error instanceof StaleSocketError) throw unreachable(peerId, error.cause);
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      call.signal?.removeEventListener('abort', onUserAbort);
      calls.delete(controller);
      if (calls.size === 0 && this.inflight.get(peerId) === calls) this.inflight.delete(peerId);
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
