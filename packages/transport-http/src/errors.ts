import { HighwaterError, TransportError, type TransportErrorCode } from '@highwater/core';

/** Bad options, an unreadable or foreign key file, a peer whose id does not match its key, … */
export class HttpTransportConfigError extends HighwaterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HW_HTTP_CONFIG', message, options);
  }
}

export interface HttpTransportErrorDetails {
  /** HTTP status the peer answered with, when it answered at all. */
  readonly status?: number;
  /** The `code` of the peer's JSON error body (e.g. `HW_HANDLER_FAILED`), when it sent one. */
  readonly remoteCode?: string;
  readonly cause?: unknown;
}

/**
 * A {@link TransportError} with what HTTP adds: the status and the peer's error code. Callers
 * can keep switching on `code` only; `status === undefined` with `HW_PEER_UNREACHABLE` means
 * the network failed (refused, reset, unreachable), as opposed to a peer that answered 5xx.
 */
export class HttpTransportError extends TransportError {
  readonly status: number | undefined;
  readonly remoteCode: string | undefined;

  constructor(code: TransportErrorCode, message: string, details: HttpTransportErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.remoteCode = details.remoteCode;
  }

  /** True when no HTTP answer came back at all (the peer looks down, not merely unhappy). */
  get isNetworkFailure(): boolean {
    return this.code === 'HW_PEER_UNREACHABLE' && this.status === undefined;
  }
}
