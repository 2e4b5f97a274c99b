import { HighwaterError } from '../../errors.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import { changesFromWire, changeToWire, type Change } from '../change.js';
import type { BatchProofs } from './batch-proofs.js';
import { ForgedChangeError, type ChangeSignatures } from './change-signatures.js';

/**
 * The changes among `changes` (stored ones: a parked change, a record) whose content contradicts
 * their owner's signature, checked with their batches' stored proofs: one check for all, then
 * halves of what fails until the culprits stand alone. Only `bad-signature` condemns: a change stored unsigned, of a
 * device this node does not know, or whose proof a power failure took back is not found wrong.
 * Nothing without `trust` (no keys to check with).
 */
export async function contradictingSignatures(
  parts: { readonly registry: ModelRegistry; readonly signatures: ChangeSignatures; readonly batchProofs: BatchProofs },
  changes: readonly Change[],
): Promise<Change[]> {
  const signed = changes.filter((c) => c.newerFields === undefined && c.sig !== undefined);
  if (signed.length === 0 || !parts.signatures.enabled) return [];
  const holds = async (group: readonly Change[]): Promise<boolean> => {
    try {
      parts.signatures.verify(changesFromWire(parts.registry, await parts.batchProofs.attach(group.map(changeToWire))));
      return true;
    } catch (error) {
      if (error instanceof ForgedChangeError && error.reason === 'bad-signature') return false;
      // Data that no longer validates was altered too.
      if (error instanceof HighwaterError && error.code === 'HW_RECORD_INVALID') return false;
      if (error instanceof HighwaterError) return true;
      throw error;
    }
  };
  // Halves until each culprit stands alone: a few bad changes among a page cost a few checks
  // each, not one per change of the page (bench stage "scrub").
  const culprits = async (group: readonly Change[]): Promise<Change[]> => {
    if (await holds(group)) return [];
    if (group.length === 1) return [group[0]!];
    const middle = group.length >> 1;
    return [...(await culprits(group.slice(0, middle))), ...(await culprits(group.slice(middle)))];
  };
  return culprits(signed);
}
