import { HighwaterError } from '@highwater/core';

/** Codes of {@link Libp2pTransportConfigError}. */
export type Libp2pTransportConfigErrorCode =
  /** An option is missing or out of range (members, listen, limits, …). */
  | 'HW_TRANSPORT_CONFIG'
  /** The key file cannot be read, written or decoded. */
  | 'HW_KEY_FILE';

/**
 * The transport cannot be created or started as configured. Raised before any socket is
 * opened, so a misconfigured node never runs half-open (for instance without a members list).
 */
export class Libp2pTransportConfigError extends HighwaterError {
  constructor(code: Libp2pTransportConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Internal: a frame that does not follow the wire layout (empty, unknown kind or status). The
 * stream carrying it is dropped; callers see a TransportError.
 */
export class MalformedFrameError extends Error {
  override readonly name = 'MalformedFrameError';
}

/** Internal: a frame's varint length prefix announces more than the limit, or never ends. */
export class FrameLengthError extends Error {
  override readonly name = 'FrameLengthError';
}
