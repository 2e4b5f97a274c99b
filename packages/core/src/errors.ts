/**
 * Every error Highwater raises on purpose is a `HighwaterError` with a short, stable `code`
 * that callers can switch on (and grep for). Messages say what went wrong and what to do.
 */
export class HighwaterError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A text HLC that does not match the fixed-width format. */
export class HlcParseError extends HighwaterError {
  constructor(readonly input: string, reason: string) {
    super('HW_HLC_PARSE', `Cannot parse HLC ${JSON.stringify(input.slice(0, 80))}: ${reason}`);
  }
}

/** An HLC value that is out of range or malformed (as opposed to unparseable text). */
export class InvalidHlcError extends HighwaterError {
  constructor(reason: string) {
    super('HW_HLC_INVALID', `Invalid HLC: ${reason}`);
  }
}

/** A remote clock is further ahead of our wall clock than the configured maximum drift. */
export class ClockDriftError extends HighwaterError {
  constructor(readonly remoteTime: number, readonly wallTime: number, readonly maxDriftMs: number) {
    super(
      'HW_CLOCK_DRIFT',
      `Remote clock is ${remoteTime - wallTime} ms ahead of the local wall clock (max drift ${maxDriftMs} ms); ` +
        'check the remote device clock or raise maxDriftMs',
    );
  }
}

/** A device id that cannot be embedded in an HLC (empty, too long or with unsafe characters). */
export class InvalidDeviceIdError extends HighwaterError {
  constructor(readonly deviceId: string) {
    super(
      'HW_DEVICE_ID',
      `Invalid device id ${JSON.stringify(deviceId.slice(0, 80))}: use 1-128 characters of [0-9A-Za-z._:-]`,
    );
  }
}

/** A Syncable model definition is malformed (bad name, key, field or ownership). */
export class ModelDefinitionError extends HighwaterError {
  constructor(message: string) {
    super('HW_MODEL_DEFINITION', message);
  }
}

/** Model dependencies form a cycle (self-references excepted) or name an unregistered model. */
export class ModelDependencyError extends HighwaterError {
  constructor(code: 'HW_MODEL_CYCLE' | 'HW_MODEL_UNKNOWN_DEPENDENCY', message: string) {
    super(code, message);
  }
}

/** A model name that is not in the registry (local call or remote message). */
export class UnknownModelError extends HighwaterError {
  constructor(readonly model: string) {
    super('HW_UNKNOWN_MODEL', `Unknown model ${JSON.stringify(model.slice(0, 80))}: register it in the ModelRegistry`);
  }
}

/** A record whose data does not match its model's fields. */
export class RecordValidationError extends HighwaterError {
  constructor(readonly model: string, readonly recordId: string | undefined, detail: string) {
    super('HW_RECORD_INVALID', `Invalid ${model} record${recordId ? ` ${recordId}` : ''}: ${detail}`);
  }
}

/**
 * Why a store failed, where the adapter can tell: `full` (no space left, or the store's size
 * limit reached), `locked` (another process holds the file), `read-only` (the file or its folder
 * cannot be written), `corrupt` (the file is damaged or not a database), `failed` (anything else).
 */
export type StorageFailure = 'full' | 'locked' | 'read-only' | 'corrupt' | 'failed';

/** A storage adapter failed or found its files in a state it cannot use. */
export class StorageError extends HighwaterError {
  readonly reason: StorageFailure;

  constructor(message: string, options?: { cause?: unknown; reason?: StorageFailure }) {
    super('HW_STORAGE', message, options);
    this.reason = options?.reason ?? 'failed';
  }
}

/** Codes of refused inbound messages. */
export type ProtocolErrorCode =
  | 'HW_PROTOCOL_DECODE'
  | 'HW_PROTOCOL_MALFORMED'
  | 'HW_PROTOCOL_VERSION'
  | 'HW_UNKNOWN_MESSAGE_TYPE'
  | 'HW_WRONG_LIBRARY'
  | 'HW_FORGED_OWNER';

/** An inbound message that was refused: undecodable, malformed, of another library, … */
export class ProtocolError extends HighwaterError {
  constructor(
    code: ProtocolErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(code, message);
  }
}

export type TransportErrorCode = 'HW_PEER_UNREACHABLE' | 'HW_REQUEST_TIMEOUT' | 'HW_TRANSPORT_STOPPED' | 'HW_FRAME_TOO_LARGE' | 'HW_UNAUTHORIZED';

/** A transport could not deliver a message or a response did not come back. */
export class TransportError extends HighwaterError {
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A peer answered a request with an Error message. */
export class RemoteError extends HighwaterError {
  constructor(
    code: string,
    message: string,
    readonly peerId: string,
  ) {
    super(code, `Peer ${peerId} answered: ${message}`);
  }
}
