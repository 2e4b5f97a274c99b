import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { PAIRING_MAX_BYTES, type InboundDelivery, type PairingHandler } from '@highwater/core';
import { BodyTooLargeError, declaredLength, readBoundedBody } from './bounded-body.js';
import {
  HEADER_SESSION,
  MAX_CONCURRENT_PAIRINGS,
  MESSAGE_PATH,
  PAIR_PATH,
  PING_PATH,
  SERVER_CONNECTIONS_CHECK_MS,
  SERVER_HEADERS_TIMEOUT_MS,
  SERVER_KEEP_ALIVE_TIMEOUT_MS,
} from './constants.js';
import type { LocalIdentity } from './identity.js';
import type { NonceCache } from './nonce-cache.js';
import type { PeerDirectory } from './peer-directory.js';
import { bodyDigest, newNonce, readSignedHeaders, signHeaders, verifySignature, type SignedHeaders, type SignedKind } from './signature.js';

export interface TlsOptions {
  /** PEM private key of the server certificate. */
  readonly key: string | Buffer;
  /** PEM certificate (chain) the server presents. */
  readonly cert: string | Buffer;
  /** PEM CA certificate(s) the client trusts when calling https peers; defaults to the system store. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

/** @internal */
export interface InboundServerOptions {
  readonly identity: LocalIdentity;
  readonly members: PeerDirectory;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsOptions | undefined;
  readonly maxBodyBytes: number;
  readonly replayWindowMs: number;
  /** This run's session id: calls must name it (see HEADER_SESSION). */
  readonly session: string;
  /** Owned by the transport, so a restart does not forget the nonces still inside the window. */
  readonly nonces: NonceCache;
  readonly requestTimeoutMs: number;
  /** The transport's inbound handler, looked up per message (so `handle()` can be called any time). */
  readonly deliver: InboundDelivery;
  /** A member proved itself (valid signature, fresh nonce): evidence that it is up. */
  readonly onAuthenticated: (peerId: string) => void;
  /** The pairing handler set by `acceptPairing`, looked up per request; `undefined` while the door is closed. */
  readonly pairing: () => PairingHandler | undefined;
}

/** A pairing exchange being served; `reading` until its body is in and the handler takes over. */
interface PairingExchange {
  readonly res: ServerResponse;
  reading: boolean;
}

interface Route {
  readonly path: string;
  readonly kinds: ReadonlySet<SignedKind>;
}

const MESSAGE_ROUTE: Route = { path: MESSAGE_PATH, kinds: new Set<SignedKind>(['request', 'send']) };
const PING_ROUTE: Route = { path: PING_PATH, kinds: new Set<SignedKind>(['ping']) };

/** Longest handler error message echoed to the caller (it is a member, but a stack trace is not its business). */
const MAX_ERROR_MESSAGE_CHARS = 200;

const HW_CODE_PATTERN = /^HW_[A-Z0-9_]{1,60}$/;

/** The refusal while no pairing handler is set: the same 404 code as an unknown path, with a message a joiner can act on. */
const NOT_PAIRING = 'this node is not accepting pairings now (no invite is open)';

/** Pairing answers end the connection: a non-member gets its one exchange and no socket to keep. */
const CLOSE: Record<string, string> = { connection: 'close' };

/**
 * The listening side: authenticates every call before reading its body, enforces the body
 * limit while streaming, hands authenticated messages to the inbound handler and signs what
 * it answers. Refusals are small JSON bodies `{ code, message }`; the handler never sees a
 * refused call.
 */
export class InboundServer {
  private server: Server | undefined;
  /** Requests whose handler is still working, by caller: so a revoked caller can be cut off at once. */
  private readonly answering = new Map<string, Set<ServerResponse>>();
  /** Pairing exchanges being served: bounded by MAX_CONCURRENT_PAIRINGS, and hung up when the door closes. */
  private readonly pairings = new Set<PairingExchange>();

  constructor(private readonly options: InboundServerOptions) {}

  /**
   * Refuses (401) every request of `peerId` still waiting for its handler, instead of answering
   * it later: the peer is no longer a member. Its further calls are refused by the membership
   * check as long as it is not in the directory.
   */
  refusePeer(peerId: string, reason: string): void {
    const waiting = this.answering.get(peerId);
    if (!waiting) return;
    this.answering.delete(peerId);
    for (const res of waiting) this.unauthorized(res, reason, false);
  }

  /**
   * The door closed (`acceptPairing(null)`): pairing requests still sending their body are
   * refused (404) and their connection closed. Those already handed to the handler get its
   * answer: the handler has decided them, and a handler that closes the door itself once an
   * invite is redeemed must not lose the answer that redeems it.
   */
  closePairing(): void {
    for (const exchange of this.pairings) {
      if (!exchange.reading) continue;
      this.pairings.delete(exchange);
      this.refuse(exchange.res, 404, 'HW_NOT_FOUND', NOT_PAIRING, true);
    }
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    const { tls } = this.options;
    // Node checks headersTimeout and requestTimeout on this interval (30 s by default): without it
    // a slow-header client holds its socket up to 30 s past the 10 s it is given (test: http-stress).
    const checking = { connectionsCheckingInterval: SERVER_CONNECTIONS_CHECK_MS };
    const server: Server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert, ...checking }) : createHttpServer(checking);
    // headersTimeout covers a request begun and never finished; a connection that sends nothing
    // at all has no request to time out, so it gets as long to start one, then is closed (test: http-stress).
    server.on('connection', (socket: Socket) => socket.setTimeout(SERVER_HEADERS_TIMEOUT_MS, () => socket.destroy()));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.serve(req, res, false));
    // A large body is announced with Expect: 100-continue, so it can be refused before it is sent.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void this.serve(req, res, true));
    server.keepAliveTimeout = SERVER_KEEP_ALIVE_TIMEOUT_MS;
    server.headersTimeout = SERVER_HEADERS_TIMEOUT_MS;
    // Bounds a peer that trickles a body; never shorter than what a client waits for an answer.
    server.requestTimeout = Math.max(this.options.requestTimeoutMs, 60_000);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      server.once('error', onError);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** Stops listening and cuts every connection, including keep-alive ones and calls being served. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    // A request arrived: its connection is no longer idle (an answer may take a while to make).
    req.socket.setTimeout(0);
    // A peer that vanishes mid-answer must not crash the process.
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    try {
      await this.serveChecked(req, res, expectsContinue);
    } catch {
      // Only reachable through a bug or a socket torn down at an awkward moment: never let it escape.
      if (!res.headersSent) this.refuse(res, 500, 'HW_INTERNAL', 'internal error', true);
      else res.destroy();
    }
  }

  private async serveChecked(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    // The one unauthenticated endpoint: handled apart, so nothing below is ever reached without a signature.
    if (req.url === PAIR_PATH) return this.servePairing(req, res, expectsContinue);
    const route = req.url === MESSAGE_PATH ? MESSAGE_ROUTE : req.url === PING_PATH ? PING_ROUTE : undefined;
    if (!route) return this.refuse(res, 404, 'HW_NOT_FOUND', 'no such endpoint', true);
    const method = req.method ?? '';
    if (route === MESSAGE_ROUTE ? method !== 'POST' : method !== 'GET' && method !== 'POST') {
      return this.refuse(res, 405, 'HW_METHOD_NOT_ALLOWED', `${method} is not allowed here`, true);
    }

    // Authenticate from the headers alone: nothing is read from an unauthenticated caller.
    const headers = readSignedHeaders(req.headers);
    if (typeof headers === 'string') return this.unauthorized(res, headers, true);
    if (!route.kinds.has(headers.kind)) return this.unauthorized(res, `kind ${headers.kind} is not accepted here`, true);
    const member = this.options.members.get(headers.peer);
    if (!member) return this.unauthorized(res, 'not a member of this library', true);
    const now = Date.now();
    if (Math.abs(Number(headers.timestamp) - now) > this.options.replayWindowMs) {
      return this.unauthorized(res, 'timestamp outside the replay window (check the clocks)', true);
    }
    const fields = {
      kind: headers.kind,
      method,
      path: route.path,
      from: headers.peer,
      to: this.options.identity.peerId,
      session: headers.session,
      timestamp: headers.timestamp,
      nonce: headers.nonce,
      bodySha256: headers.contentSha256,
    };
    if (!verifySignature(fields, headers.signature, member.publicKey)) return this.unauthorized(res, 'bad signature', true);
    // Signed for another run of this node (or before the caller learnt this one): the caller
    // retries with the session this refusal names; a replay of a call captured earlier cannot.
    if (headers.session !== this.options.session) {
      return this.refuse(res, 401, 'HW_STALE_SESSION', 'the call names another session of this node; retry with x-hw-session', true, undefined, {
        [HEADER_SESSION]: this.options.session,
      });
    }

    const declared = declaredLength(req);
    if (declared !== undefined && declared > this.options.maxBodyBytes) return this.tooLarge(res);
    // Only now, after the signature: otherwise anyone could fill the cache and lock members out.
    const verdict = this.options.nonces.remember(headers.peer, headers.nonce, now);
    if (verdict === 'replayed') return this.unauthorized(res, 'nonce already used (replay)', true);
    if (verdict === 'full') return this.refuse(res, 503, 'HW_REPLAY_CACHE_FULL', 'too many recent requests; retry later', true);

    if (expectsContinue) res.writeContinue();
    let body: Uint8Array;
    try {
      body = await readBoundedBody(req, this.options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return this.tooLarge(res);
      req.destroy();
      return;
    }
    if (bodyDigest(body) !== headers.contentSha256) return this.unauthorized(res, 'body does not match the signed digest', false);
    // A large body takes time: the member may have been removed meanwhile.
    if (this.options.members.get(headers.peer) !== member) return this.unauthorized(res, 'not a member of this library', false);

    this.options.onAuthenticated(headers.peer);
    if (route === PING_ROUTE) return this.answer(res, 204, new Uint8Array(0), headers, method, route);
    return this.dispatch(res, headers, body, method, route);
  }

  private async dispatch(res: ServerResponse, headers: SignedHeaders, body: Uint8Array, method: string, route: Route): Promise<void> {
    const local = this.options.identity.peerId;
    const delivery = this.options.deliver({ from: headers.peer, payload: body, expectsResponse: headers.kind === 'request' });
    if (headers.kind === 'send') {
      // The handler starts before 204 goes out, so sends a client serializes are handled in order.
      delivery?.catch(() => undefined);
      return this.answer(res, 204, new Uint8Array(0), headers, method, route);
    }
    if (!delivery) return this.refuse(res, 503, 'HW_NO_HANDLER', `peer ${local} has no inbound handler`, false);
    let response: Uint8Array | undefined;
    let waiting = this.answering.get(headers.peer);
    if (!waiting) this.answering.set(headers.peer, (waiting = new Set()));
    waiting.add(res);
    try {
      response = await delivery;
    } catch (error) {
      if (res.destroyed || res.headersSent) return;
      const code = (error as { code?: unknown })?.code;
      const causeCode = typeof code === 'string' && HW_CODE_PATTERN.test(code) ? code : undefined;
      const text = error instanceof Error ? error.message : String(error);
      return this.refuse(res, 500, 'HW_HANDLER_FAILED', `the handler of peer ${local} failed: ${text.slice(0, MAX_ERROR_MESSAGE_CHARS)}`, false, causeCode);
    } finally {
      waiting.delete(res);
      if (waiting.size === 0 && this.answering.get(headers.peer) === waiting) this.answering.delete(headers.peer);
    }
    // The caller gave up, the transport stopped, or the caller was refused meanwhile (no longer a member).
    if (res.destroyed || res.headersSent) return;
    if (response === undefined) {
      return this.refuse(res, 500, 'HW_NO_RESPONSE', `the handler of peer ${local} returned no response`, false);
    }
    if (!(response instanceof Uint8Array)) {
      return this.refuse(res, 500, 'HW_HANDLER_FAILED', `the handler of peer ${local} returned something other than a Uint8Array`, false);
    }
    if (response.byteLength > this.options.maxBodyBytes) {
      return this.refuse(res, 500, 'HW_RESPONSE_TOO_LARGE', `response of ${response.byteLength} bytes exceeds ${this.options.maxBodyBytes}`, false);
    }
    return this.answer(res, 200, response, headers, method, route);
  }

  /**
   * A pairing request from anyone (a joiner is not a member yet). Nothing about the caller is
   * checked or remembered here — no signature, no nonce, no member lookup, no reachability, no
   * inbound handler: the payload proves itself to the pairing handler (an HMAC keyed by the
   * invite's secret and the joiner's signature, checked in core). What this guards is cost:
   * the door must be open, at most MAX_CONCURRENT_PAIRINGS exchanges run at once, and a body
   * is at most PAIRING_MAX_BYTES, refused by its Content-Length before a byte is read. Every
   * answer closes the connection: a stranger gets one exchange, not a socket to keep.
   */
  private async servePairing(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const method = req.method ?? '';
    if (method !== 'POST') return this.refuse(res, 405, 'HW_METHOD_NOT_ALLOWED', `${method} is not allowed here`, true, undefined, CLOSE);
    if (!this.options.pairing()) return this.refuse(res, 404, 'HW_NOT_FOUND', NOT_PAIRING, true, undefined, CLOSE);
    if (this.pairings.size >= MAX_CONCURRENT_PAIRINGS) {
      return this.refuse(res, 503, 'HW_PAIRING_BUSY', 'too many pairing requests at once; retry later', true, undefined, CLOSE);
    }
    const declared = declaredLength(req);
    if (declared !== undefined && declared > PAIRING_MAX_BYTES) return this.pairingTooLarge(res);

    const exchange: PairingExchange = { res, reading: true };
    this.pairings.add(exchange);
    try {
      if (expectsContinue) res.writeContinue();
      let body: Uint8Array;
      try {
        body = await readBoundedBody(req, PAIRING_MAX_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLargeError) return this.pairingTooLarge(res);
        req.destroy();
        return;
      }
      exchange.reading = false;
      // The door may have closed while the body arrived (closePairing answered it then), or the transport stopped.
      const handler = this.options.pairing();
      if (res.destroyed || res.headersSent) return;
      if (!handler) return this.refuse(res, 404, 'HW_NOT_FOUND', NOT_PAIRING, false, undefined, CLOSE);
      let answer: Uint8Array;
      try {
        answer = await handler(body);
      } catch (error) {
        // The handler answers bad input itself, so a throw is a bug: its message is not a stranger's business.
        const code = (error as { code?: unknown })?.code;
        const causeCode = typeof code === 'string' && HW_CODE_PATTERN.test(code) ? code : undefined;
        return this.refuse(res, 500, 'HW_HANDLER_FAILED', 'the pairing handler of this node failed', false, causeCode, CLOSE);
      }
      if (res.destroyed || res.headersSent) return;
      if (!(answer instanceof Uint8Array)) {
        return this.refuse(res, 500, 'HW_HANDLER_FAILED', 'the pairing handler of this node returned something other than a Uint8Array', false, undefined, CLOSE);
      }
      if (answer.byteLength > PAIRING_MAX_BYTES) {
        return this.refuse(res, 500, 'HW_RESPONSE_TOO_LARGE', `pairing answer of ${answer.byteLength} bytes exceeds ${PAIRING_MAX_BYTES}`, false, undefined, CLOSE);
      }
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(answer.byteLength),
        'cache-control': 'no-store',
        ...CLOSE,
      });
      res.end(answer);
    } finally {
      this.pairings.delete(exchange);
    }
  }

  private pairingTooLarge(res: ServerResponse): void {
    this.refuse(res, 413, 'HW_FRAME_TOO_LARGE', `pairing body exceeds ${PAIRING_MAX_BYTES} bytes`, true, undefined, CLOSE);
  }

  /** A signed success answer, bound to the request by its nonce. */
  private answer(res: ServerResponse, status: number, body: Uint8Array, request: SignedHeaders, method: string, route: Route): void {
    if (res.destroyed) return;
    const signed = signHeaders(
      {
        kind: 'response',
        method,
        path: route.path,
        from: this.options.identity.peerId,
        to: request.peer,
        session: this.options.session,
        timestamp: String(Date.now()),
        nonce: newNonce(),
        bodySha256: bodyDigest(body),
        status,
        inReplyTo: request.nonce,
      },
      this.options.identity.privateKey,
    );
    res.writeHead(status, {
      ...signed,
      ...(status === 204 ? {} : { 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength) }),
    });
    res.end(status === 204 ? undefined : body);
  }

  private unauthorized(res: ServerResponse, reason: string, bodyUnread: boolean): void {
    this.refuse(res, 401, 'HW_UNAUTHORIZED', reason, bodyUnread);
  }

  private tooLarge(res: ServerResponse): void {
    this.refuse(res, 413, 'HW_FRAME_TOO_LARGE', `body exceeds ${this.options.maxBodyBytes} bytes`, true);
  }

  /**
   * An unsigned JSON refusal. When a body was announced but not read, the connection is closed
   * once the answer is out: the only way to stop a caller that keeps sending (Node would
   * otherwise read and discard the rest of the body to reuse the connection).
   */
  private refuse(
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    bodyUnread: boolean,
    causeCode?: string,
    extraHeaders: Record<string, string> = {},
  ): void {
    if (res.destroyed || res.headersSent) return;
    const close = bodyUnread && announcesBody(res.req);
    const json = Buffer.from(JSON.stringify(causeCode ? { code, message, causeCode } : { code, message }), 'utf8');
    res.writeHead(status, {
      ...extraHeaders,
      'content-type': 'application/json',
      'content-length': String(json.byteLength),
      ...(close ? { connection: 'close' } : {}),
    });
    if (close) res.on('finish', () => res.req.socket.destroy());
    res.end(json);
  }
}

/** True when the request carries a body (chunked, or a non-zero Content-Length). */
function announcesBody(req: IncomingMessage): boolean {
  const length = declaredLength(req);
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined ? length > 0 : req.headers['content-length'] !== undefined);
}
