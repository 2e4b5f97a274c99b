/**
 * Hybrid Logical Clock (Kulkarni et al.): wall time plus a logical counter plus the device
 * id as a tie-breaker. Every change is stamped with one, and watermarks / resume tokens are
 * HLCs, so the clock must be strictly monotonic even when the wall clock jumps backwards
 * or a peer's clock is ahead of ours, and its text form must sort like the clock itself
 * (stores index and compare the text).
 */
import { ClockDriftError, HlcParseError, InvalidDeviceIdError, InvalidHlcError } from '../errors.js';
import { systemWallClock, type WallClock } from '../ports/wall-clock.js';

export interface Hlc {
  /** Milliseconds since the epoch (0 … HLC_MAX_TIME). */
  readonly time: number;
  /** Logical counter for events within the same millisecond (0 … HLC_MAX_COUNTER). */
  readonly counter: number;
  /** The device that issued this clock value; breaks ties so the order is total. */
  readonly deviceId: string;
}

/** Largest counter (6 hex digits in the text form). */
export const HLC_MAX_COUNTER = 0xffffff;
/** Largest time (12 hex digits in the text form; year 10889). */
export const HLC_MAX_TIME = 0xffffffffffff;
/** Device ids are ASCII so that JS string order equals byte order ("C" collation) in stores. */
export const DEVICE_ID_PATTERN = /^[0-9A-Za-z._:-]{1,128}$/;

const TIME_DIGITS = 12;
const COUNTER_DIGITS = 6;
const MAX_TEXT_LENGTH = TIME_DIGITS + 1 + COUNTER_DIGITS + 1 + 128;
const DEFAULT_MAX_DRIFT_MS = 60_000;

// Device ids already checked: a library has few devices, and every stamp formatted and every
// change received would otherwise run the pattern again. Bounded, so hostile input cannot grow it.
const checkedDeviceIds = new Set<string>();
const MAX_CHECKED_DEVICE_IDS = 1024;

/** Whether `id` can be embedded in an HLC (the pattern runs once per distinct id). */
export function isDeviceId(id: unknown): id is string {
  if (typeof id !== 'string') return false;
  if (checkedDeviceIds.has(id)) return true;
  if (!DEVICE_ID_PATTERN.test(id)) return false;
  if (checkedDeviceIds.size >= MAX_CHECKED_DEVICE_IDS) checkedDeviceIds.clear();
  checkedDeviceIds.add(id);
  return true;
}

/** Throws `InvalidDeviceIdError` unless `id` can be embedded in an HLC. */
export function assertDeviceId(id: string): void {
  if (!isDeviceId(id)) throw new InvalidDeviceIdError(typeof id === 'string' ? id : String(id));
}

/** Throws `InvalidHlcError` / `InvalidDeviceIdError` unless `h` is a well-formed HLC. */
export function assertHlc(h: Hlc): void {
  if (h === null || typeof h !== 'object') throw new InvalidHlcError(`expected an object, got ${typeof h}`);
  if (!Number.isSafeInteger(h.time) || h.time < 0 || h.time > HLC_MAX_TIME) {
    throw new InvalidHlcError(`time ${String(h.time)} is not an integer in 0..${HLC_MAX_TIME}`);
  }
  if (!Number.isSafeInteger(h.counter) || h.counter < 0 || h.counter > HLC_MAX_COUNTER) {
    throw new InvalidHlcError(`counter ${String(h.counter)} is not an integer in 0..${HLC_MAX_COUNTER}`);
  }
  assertDeviceId(h.deviceId);
}

/** Total order: time, then counter, then device id (plain string order). Returns -1, 0 or 1. */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.deviceId === b.deviceId) return 0;
  return a.deviceId < b.deviceId ? -1 : 1;
}

/** The later of two clocks (the first one when equal). */
export function maxHlc(a: Hlc, b: Hlc): Hlc {
  return compareHlc(a, b) >= 0 ? a : b;
}

/**
 * Fixed-width text: `tttttttttttt-cccccc-deviceId` in lowercase hex, so comparing the texts
 * as strings gives the same order as `compareHlc`.
 */
export function formatHlc(h: Hlc): string {
  // A clock read from text is formatted back to that very text (every text `parseHlc` accepts
  // is one `formatHlc` writes): a page read from a store and sent, or received and stored,
  // would otherwise turn each stamp into text a second time.
  const text = ParsedHlc.textOf(h);
  if (text !== undefined) return text;
  assertHlc(h);
  // Hex by byte lookup, once per record stored or sent (test: hlc.test.ts round trips; BENCHMARKS.md).
  const high = Math.floor(h.time / 0x1000000);
  const low = h.time % 0x1000000;
  const c = h.counter;
  return (
    HEX_BYTE[high >>> 16]! + HEX_BYTE[(high >>> 8) & 0xff]! + HEX_BYTE[high & 0xff]! +
    HEX_BYTE[low >>> 16]! + HEX_BYTE[(low >>> 8) & 0xff]! + HEX_BYTE[low & 0xff]! + '-' +
    HEX_BYTE[c >>> 16]! + HEX_BYTE[(c >>> 8) & 0xff]! + HEX_BYTE[c & 0xff]! + '-' + h.deviceId
  );
}

/** Two lowercase hex digits per byte value. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/**
 * Whether `text` is exactly the text form `formatHlc` produces:
 * `^[0-9a-f]{12}-[0-9a-f]{6}-[0-9A-Za-z._:-]{1,128}$`, checked character by character (the same
 * check `parseHlc` makes, without a regular expression or a substring per stamp).
 */
export function isHlcText(text: unknown): text is string {
  return typeof text === 'string' && hasFixedPart(text) && deviceIdOf(text) !== undefined;
}

/** The exact inverse of `formatHlc`; anything else throws `HlcParseError`. */
export function parseHlc(text: string): Hlc {
  const deviceId = typeof text === 'string' && hasFixedPart(text) ? deviceIdOf(text) : undefined;
  if (deviceId === undefined) return failParse(text);
  let time = 0;
  for (let i = 0; i < TIME_DIGITS; i++) time = time * 16 + HEX_DIGIT_VALUE[text.charCodeAt(i)]!;
  let counter = 0;
  for (let i = TIME_DIGITS + 1; i < DEVICE_ID_START - 1; i++) counter = counter * 16 + HEX_DIGIT_VALUE[text.charCodeAt(i)]!;
  return new ParsedHlc(time, counter, deviceId, text);
}

const DEVICE_ID_START = TIME_DIGITS + 1 + COUNTER_DIGITS + 1;
const DASH = 0x2d;

/** Value of each lowercase hex digit by character code, -1 for any other character. */
const HEX_DIGIT_VALUE = Int8Array.from({ length: 128 }, (_, code) => {
  const c = String.fromCharCode(code);
  return /[0-9a-f]/.test(c) ? Number.parseInt(c, 16) : -1;
});

/** A length that leaves room for a 1-128 character device id, then the digits and dashes before it. */
function hasFixedPart(text: string): boolean {
  if (text.length <= DEVICE_ID_START || text.length > MAX_TEXT_LENGTH) return false;
  if (text.charCodeAt(TIME_DIGITS) !== DASH || text.charCodeAt(DEVICE_ID_START - 1) !== DASH) return false;
  for (let i = 0; i < DEVICE_ID_START - 1; i++) {
    if (i === TIME_DIGITS) continue;
    const code = text.charCodeAt(i);
    if (code >= 128 || HEX_DIGIT_VALUE[code]! < 0) return false;
  }
  return true;
}

// The device id of the last stamp read (checked when it was first seen): a page's stamps are
// nearly all one device's, and they then share its string.
let lastDeviceId = '';

/** The device id after a well-formed fixed part, or undefined if it is not one. */
function deviceIdOf(text: string): string | undefined {
  if (text.length - DEVICE_ID_START === lastDeviceId.length && text.endsWith(lastDeviceId)) return lastDeviceId;
  const deviceId = text.slice(DEVICE_ID_START);
  if (!isDeviceId(deviceId)) return undefined;
  lastDeviceId = deviceId;
  return deviceId;
}

function failParse(text: unknown): never {
  if (typeof text !== 'string') throw new HlcParseError(`<${text === null ? 'null' : typeof text}>`, 'not a string');
  throw new HlcParseError(text, describeParseFailure(text));
}

/**
 * A clock read from text. A class, not an object literal, so V8 never pretenures these per-page
 * objects into old space (bench: peak RSS at 1M).
 */
class ParsedHlc implements Hlc {
  // Private: not a property of the clock (equality, JSON and spreading see time, counter and
  // deviceId only).
  readonly #text: string;

  constructor(
    readonly time: number,
    readonly counter: number,
    readonly deviceId: string,
    text: string,
  ) {
    this.#text = text;
  }

  /** The text `h` was parsed from, if it was. */
  static textOf(h: Hlc): string | undefined {
    return #text in h ? h.#text : undefined;
  }
}

/** Names the first thing wrong with a text, for an error message a human can act on. */
function describeParseFailure(text: string): string {
  if (text.length > MAX_TEXT_LENGTH) return `longer than ${MAX_TEXT_LENGTH} characters`;
  const time = text.slice(0, TIME_DIGITS);
  if (!/^[0-9a-f]{12}$/.test(time)) return 'expected 12 lowercase hex digits of time';
  if (text[TIME_DIGITS] !== '-') return "expected '-' after the time";
  const counter = text.slice(TIME_DIGITS + 1, TIME_DIGITS + 1 + COUNTER_DIGITS);
  if (!/^[0-9a-f]{6}$/.test(counter)) return 'expected 6 lowercase hex digits of counter';
  if (text[TIME_DIGITS + 1 + COUNTER_DIGITS] !== '-') return "expected '-' after the counter";
  return 'expected a device id of 1-128 characters of [0-9A-Za-z._:-]';
}

export interface HlcClockOptions {
  /** Source of physical time. Default: the system clock. */
  wallClock?: WallClock;
  /**
   * How far (ms) a received clock may be ahead of our wall clock. Accepting a clock from far
   * in the future would drag every later local stamp with it, so such clocks are refused.
   * Default 60 000.
   */
  maxDriftMs?: number;
  /**
   * The highest HLC this device issued or received before a restart (e.g. read back from
   * the store). The clock never issues anything less than or equal to it, even if the wall
   * clock is now behind.
   */
  last?: Hlc;
}

/** One device's clock. Not shared between devices; one instance per device per process. */
export class HybridLogicalClock {
  readonly deviceId: string;
  private readonly wallClock: WallClock;
  private readonly maxDriftMs: number;
  private last: Hlc | undefined;

  constructor(deviceId: string, options: HlcClockOptions = {}) {
    assertDeviceId(deviceId);
    const maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
    if (typeof maxDriftMs !== 'number' || !(maxDriftMs >= 0) || !Number.isFinite(maxDriftMs)) {
      throw new RangeError(`maxDriftMs must be a finite number >= 0, got ${String(maxDriftMs)}`);
    }
    if (options.last !== undefined) assertHlc(options.last);
    this.deviceId = deviceId;
    this.wallClock = options.wallClock ?? systemWallClock;
    this.maxDriftMs = maxDriftMs;
    this.last = options.last;
  }

  /** A new local stamp, strictly greater than everything issued or received before. */
  now(): Hlc {
    const wall = this.readWall();
    const last = this.last;
    let time = wall;
    let counter = 0;
    if (last !== undefined && last.time >= wall) {
      time = last.time;
      counter = last.counter + 1;
    }
    return this.issue(time, counter);
  }

  /**
   * Merges a remote clock (standard HLC receive rule) and returns a new local stamp strictly
   * greater than both the previous local value and `remote`. Throws `ClockDriftError`,
   * changing nothing, when `remote` is more than `maxDriftMs` ahead of the wall clock.
   */
  receive(remote: Hlc): Hlc {
    assertHlc(remote);
    const wall = this.readWall();
    if (remote.time > wall + this.maxDriftMs) {
      throw new ClockDriftError(remote.time, wall, this.maxDriftMs);
    }
    const last = this.last;
    const lastTime = last?.time ?? -1;
    const time = Math.max(wall, lastTime, remote.time);
    let counter = 0;
    if (last !== undefined && time === lastTime && time === remote.time) {
      counter = Math.max(last.counter, remote.counter) + 1;
    } else if (last !== undefined && time === lastTime) {
      counter = last.counter + 1;
    } else if (time === remote.time) {
      counter = remote.counter + 1;
    }
    return this.issue(time, counter);
  }

  /**
   * Notes a clock this device already holds (a stored record's version): every later stamp is
   * greater than it. Unlike `receive` there is no drift check — what is stored was accepted
   * once — and nothing is issued.
   */
  observe(held: Hlc): void {
    assertHlc(held);
    if (this.last === undefined || compareHlc(held, this.last) > 0) this.last = { time: held.time, counter: held.counter, deviceId: this.deviceId };
  }

  /** The last value issued or merged, if any (including the `last` option). */
  peek(): Hlc | undefined {
    return this.last;
  }

  /** Records and returns a stamp; a counter overflow moves to the next millisecond. */
  private issue(time: number, counter: number): Hlc {
    if (counter > HLC_MAX_COUNTER) {
      time += 1;
      counter = 0;
    }
    if (time > HLC_MAX_TIME) {
      throw new InvalidHlcError(`clock exhausted: time would exceed ${HLC_MAX_TIME}`);
    }
    const next: Hlc = { time, counter, deviceId: this.deviceId };
    this.last = next;
    return next;
  }

  private readWall(): number {
    const wall = this.wallClock.now();
    if (typeof wall !== 'number' || !Number.isFinite(wall)) {
      throw new RangeError(`WallClock.now() returned ${String(wall)}; expected ms since the epoch`);
    }
    // Before 1970 (or a broken clock): the HLC's own state still keeps it monotonic.
    return Math.min(Math.max(Math.floor(wall), 0), HLC_MAX_TIME);
  }
}
