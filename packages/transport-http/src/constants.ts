/** Wire constants and defaults of the HTTP transport. Changing a wire constant breaks compatibility with older peers. */

/** The request timeout and the timer limit every Highwater transport shares. */
export { DEFAULT_REQUEST_TIMEOUT_MS, MAX_TIMER_MS } from '@highwater/core';

/** Endpoint for requests and one-way messages (POST, raw payload as body). */
export const MESSAGE_PATH = '/highwater/v1/message';
/** Endpoint for heartbeats (GET or POST, empty body). */
export const PING_PATH = '/highwater/v1/ping';
/**
 * Endpoint for pairing (POST, the raw pairing request as body, the answer as body): the only
 * one a non-member may call, and only while `acceptPairing` has a handler set. Unsigned: the
 * payloads carry their own proof (see the core's `pairing`).
 */
export const PAIR_PATH = '/highwater/v1/pair';

/** First line of every signed canonical string: a signature made for this scheme is useless anywhere else. */
export const SIGNATURE_DOMAIN = 'highwater-http-v2';

export const HEADER_PEER = 'x-hw-peer';
export const HEADER_KIND = 'x-hw-kind';
export const HEADER_TIMESTAMP = 'x-hw-timestamp';
export const HEADER_NONCE = 'x-hw-nonce';
export const HEADER_SIGNATURE = 'x-hw-signature';
/**
 * A call names the recipient's current session (a random id each `start()` draws); an answer,
 * and a refusal for a stale session, carry the answerer's. A call captured before the recipient
 * restarted names a session that is gone, so it is refused even though no nonce survived.
 */
export const HEADER_SESSION = 'x-hw-session';
/**
 * base64url(sha256(body)), signed with the rest. Carrying the digest in a header lets a node
 * check the signature before reading a single body byte, so a caller without a member's key
 * can never make it buffer a body.
 */
export const HEADER_CONTENT_SHA256 = 'x-hw-content-sha256';

/** Prefix of every peer id: names the derivation, so a future scheme can coexist. */
export const PEER_ID_PREFIX = 'hw1';
/** Characters of base64url(sha256(raw public key)) kept in a peer id (192 bits). */
export const PEER_ID_HASH_CHARS = 32;
/** Random bytes of a nonce (base64url: 22 characters). */
export const NONCE_BYTES = 16;

export const DEFAULT_LISTEN_HOST = '127.0.0.1';
export const DEFAULT_LISTEN_PORT = 0;
/** 16 MiB: room for a page of 1 000 large records; the in-process reference allows 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_HEARTBEAT_MS = 2_000;
export const DEFAULT_REPLAY_WINDOW_MS = 60_000;

/** Consecutive failed heartbeats (or unreachable requests) after which a peer is reported disconnected. */
export const FAILURES_BEFORE_DISCONNECT = 2;
/**
 * A heartbeat may take at least this long before it counts as failed, however short
 * `heartbeatMs` is: a busy event loop (a large page being encoded) must not look like a dead peer.
 */
export const MIN_HEARTBEAT_TIMEOUT_MS = 2_000;

/**
 * Nonces remembered at most. Only authenticated requests add one (the signature is checked
 * first), so only a member can fill it; when full the node refuses with 503 rather than
 * forget a nonce that is still inside the replay window. 200 000 × ~100 B ≈ 20 MB worst case,
 * > 3 000 requests/s sustained over the default window.
 */
export const MAX_REMEMBERED_NONCES = 200_000;

/** Request bodies larger than this are sent with `Expect: 100-continue`, so a peer can refuse them before they cross the wire. */
export const EXPECT_CONTINUE_THRESHOLD_BYTES = 64 * 1024;

/**
 * Pairing exchanges served at once (from admission until the answer is out). Anyone may call
 * the pairing endpoint while a door is open, so a stranger must not be able to pile up
 * buffered bodies and running handlers; beyond this the node answers 503 HW_PAIRING_BUSY.
 * A real invite is redeemed by one device, so 8 leaves room for retries.
 */
export const MAX_CONCURRENT_PAIRINGS = 8;

/** Largest error body (JSON `{ code, message }`) read from a peer; the rest is discarded. */
export const MAX_ERROR_BODY_BYTES = 4 * 1024;

/**
 * Idle keep-alive sockets: the server keeps them longer than the client, so the client
 * never reuses a socket the server is closing at that very moment (a spurious ECONNRESET).
 */
export const SERVER_KEEP_ALIVE_TIMEOUT_MS = 30_000;
export const CLIENT_FREE_SOCKET_TIMEOUT_MS = 15_000;
/** A peer must send all request headers within this time (slow-loris guard). */
export const SERVER_HEADERS_TIMEOUT_MS = 10_000;
/** How often the server looks for connections past their headers or request timeout. */
export const SERVER_CONNECTIONS_CHECK_MS = 1_000;
