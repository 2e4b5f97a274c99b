import { compareHlc, type Hlc } from '../clock/hlc.js';
import type { RecordData } from '../models/model-definition.js';

/** One version of a shared record: the write's HLC (its origin is `hlc.deviceId`) and its data, null when it deletes. */
export interface RecordVersion {
  readonly hlc: Hlc;
  readonly data: RecordData | null;
}

/**
 * Port: which of two versions of one shared record every peer keeps. It must be a total order
 * that depends on nothing but the two versions — the same winner on every peer, whatever order
 * the versions arrive in — or peers diverge. The default is last writer wins by HLC.
 */
export interface ConflictResolver {
  /** Positive when `a` wins over `b`, negative when `b` wins; 0 only for the same version. */
  compare(model: string, a: RecordVersion, b: RecordVersion): number;
}

/** Resolvers by shared model name; a model without one resolves by `lastWriterWins`. */
export type ConflictResolvers = ReadonlyMap<string, ConflictResolver>;

/** The newer HLC wins: the order every store keeps by itself. */
export const lastWriterWins: ConflictResolver = Object.freeze({ compare: (_model: string, a: RecordVersion, b: RecordVersion) => compareHlc(a.hlc, b.hlc) });
