import { HighwaterError } from '../errors.js';
import { PROTOCOL_LIMITS } from '../protocol/messages.js';

/** The numbers a node's parts run with, checked once from `SyncNodeOptions`. */
export interface NodeSettings {
  /** Every device of the library; tombstones and the shared log are pruned only below all their acks. */
  readonly members: readonly string[];
  readonly pageSize: number;
  readonly pagesPerRequest: number;
  readonly liveBatchWindowMs: number;
  readonly liveBufferLimit: number;
  readonly requestTimeoutMs: number;
  readonly maxClockDriftMs: number;
  readonly metricsIntervalMs: number;
  readonly antiEntropyMs: number;
  /** A member not heard from for this long stops holding tombstone and shared-log collection back. */
  readonly gcHorizonMs: number;
  /** Streams of one resource pulled at once, each from its own best source, one per source at a time. */
  readonly parallelPulls: number;
  /** Changes a catch-up takes inline in each watermark exchange response (a page's worth). */
  readonly inlineLimit: number;
  /** How often a scrub compares this node's streams with its peers' and repairs them (ms; 0: only `scrub()`). */
  readonly scrubIntervalMs: number;
}

/** What `SyncNodeOptions` may set of `NodeSettings`. */
export type NodeSettingsInput = Partial<Omit<NodeSettings, 'inlineLimit'>>;

/** Defaults applied, and refuses (HW_INVALID_OPTION) a page size or pages per request out of range. */
export function nodeSettings(input: NodeSettingsInput): NodeSettings {
  const pageSize = wholeNumberOption('pageSize', input.pageSize, 1000, PROTOCOL_LIMITS.maxPageSize);
  const pagesPerRequest = Math.min(
    wholeNumberOption('pagesPerRequest', input.pagesPerRequest, 4, PROTOCOL_LIMITS.maxPageSize),
    // Never ask for more than the protocol's records per request.
    Math.floor(PROTOCOL_LIMITS.maxPageSize / pageSize),
  );
  return {
    members: input.members ?? [],
    pageSize,
    pagesPerRequest,
    liveBatchWindowMs: input.liveBatchWindowMs ?? 0,
    liveBufferLimit: input.liveBufferLimit ?? 10_000,
    requestTimeoutMs: input.requestTimeoutMs ?? 30_000,
    maxClockDriftMs: input.maxClockDriftMs ?? 60_000,
    metricsIntervalMs: input.metricsIntervalMs ?? 30_000,
    antiEntropyMs: input.antiEntropyMs ?? 30_000,
    gcHorizonMs: input.gcHorizonMs ?? 30 * 24 * 3600_000,
    parallelPulls: wholeNumberOption('parallelPulls', input.parallelPulls, 3, 64),
    inlineLimit: pageSize,
    scrubIntervalMs: input.scrubIntervalMs ?? 6 * 3600_000,
  };
}

/** An integer option within [1, max], or its default when absent; anything else is refused at once. */
function wholeNumberOption(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new HighwaterError('HW_INVALID_OPTION', `SyncNode option ${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}
