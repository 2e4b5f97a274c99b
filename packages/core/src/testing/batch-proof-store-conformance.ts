import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { BatchProof, BatchProofStore } from '../ports/batch-proof-store.js';
import { DEVICE_A, DEVICE_B, DEVICE_C } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every BatchProofStore adapter must show: one proof per (owner, batch id), the
 * first stored kept, ids per owner, unknown ids left out, any number of ids in one get, proofs
 * returned byte-exact, durability. An adapter's test file calls this with a factory of fresh
 * harnesses (or `runSyncStoreConformance`, which runs it); durability cases close the store and
 * open it again.
 */
export function runBatchProofStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<BatchProofStore>>>): void {
  describeStoreConformance('BatchProofStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();
    // Deterministic base64url text of `length` characters, every character of the alphabet in it.
    const proofText = (seed: string, length = 86): string => {
      let text = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      for (let i = 0; text.length < length; i++) text += createHash('sha256').update(`${seed}:${i}`).digest('base64url');
      return text.slice(0, length);
    };
    const proof = (owner: string, batchId: string, seed = `${owner}/${batchId}`, length?: number): BatchProof => ({
      owner,
      batchId,
      proof: proofText(seed, length),
    });
    // The port returns proofs in no particular order.
    const sorted = (proofs: readonly BatchProof[]): BatchProof[] =>
      [...proofs].sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
    const get = async (owner: string, batchIds: readonly string[]): Promise<BatchProof[]> => sorted(await current.store.getBatchProofs(owner, batchIds));

    describe('batch proofs', () => {
      it('returns the proofs stored, relaxed or not, and survives reopening', async () => {
        const a = [proof(DEVICE_A, 'b1'), proof(DEVICE_A, 'b2'), proof(DEVICE_A, 'b3')];
        await current.store.putBatchProofs([a[1]!, a[0]!]);
        await current.store.putBatchProofs([a[2]!, proof(DEVICE_B, 'x1')], { relaxed: true });
        expect(await get(DEVICE_A, ['b3', 'b1', 'b2'])).toEqual(a);
        await reopen();
        expect(await get(DEVICE_A, ['b1', 'b2', 'b3'])).toEqual(a);
        expect(await get(DEVICE_A, ['b2'])).toEqual([a[1]]);
        expect(await get(DEVICE_B, ['x1'])).toEqual([proof(DEVICE_B, 'x1')]);
      });

      it('keeps the first proof stored under an (owner, batch id), also when one put names it twice', async () => {
        const first = proof(DEVICE_A, 'b1', 'first');
        await current.store.putBatchProofs([first]);
        await current.store.putBatchProofs([proof(DEVICE_A, 'b1', 'second'), proof(DEVICE_A, 'b2', 'b2 first'), proof(DEVICE_A, 'b2', 'b2 second')]);
        await reopen();
        expect(await get(DEVICE_A, ['b1', 'b2'])).toEqual([first, proof(DEVICE_A, 'b2', 'b2 first')]);
      });

      it('keeps batch ids per owner: the same id under two owners is two proofs', async () => {
        const ofA = proof(DEVICE_A, 'same', 'of a');
        const ofB = proof(DEVICE_B, 'same', 'of b');
        await current.store.putBatchProofs([ofA, ofB]);
        expect(await get(DEVICE_A, ['same'])).toEqual([ofA]);
        expect(await get(DEVICE_B, ['same'])).toEqual([ofB]);
        expect(await get(DEVICE_C, ['same'])).toEqual([]);
      });

      it('leaves out ids not stored', async () => {
        await current.store.putBatchProofs([proof(DEVICE_A, 'b1'), proof(DEVICE_A, 'b2'), proof(DEVICE_B, 'b3')]);
        // b3 is stored, but under another owner.
        expect(await get(DEVICE_A, ['nope', 'b2', 'b3', 'b1', 'missing'])).toEqual([proof(DEVICE_A, 'b1'), proof(DEVICE_A, 'b2')]);
        expect(await get(DEVICE_A, ['nope'])).toEqual([]);
      });

      it('gets any number of ids in one call: 2500 stored, and 33,000 asked for (more than SQLite binds in one statement)', async () => {
        const ids = Array.from({ length: 2500 }, (_, i) => `batch-${String(i).padStart(5, '0')}`);
        const all = ids.map((id) => proof(DEVICE_A, id));
        await current.store.putBatchProofs(all);
        // Asked for in another order than stored, with other owners' proofs of the same ids beside them.
        await current.store.putBatchProofs(ids.slice(0, 10).map((id) => proof(DEVICE_B, id)));
        expect(await get(DEVICE_A, [...ids].reverse())).toEqual(all);
        // SQLite's limit is 999 parameters before 3.32, 32,766 since.
        const unknown = Array.from({ length: 30_500 }, (_, i) => `unknown-${i}`);
        expect(await get(DEVICE_A, [...unknown.slice(0, 15_000), ...ids, ...unknown.slice(15_000)])).toEqual(all);
      });

      it('takes an empty put and an empty get', async () => {
        await current.store.putBatchProofs([]);
        expect(await current.store.getBatchProofs(DEVICE_A, [])).toEqual([]);
        await current.store.putBatchProofs([proof(DEVICE_A, 'b1')]);
        await current.store.putBatchProofs([]);
        expect(await current.store.getBatchProofs(DEVICE_A, [])).toEqual([]);
        expect(await get(DEVICE_A, ['b1'])).toEqual([proof(DEVICE_A, 'b1')]);
      });

      it('returns proofs of a few KiB byte-exact', async () => {
        const big = [proof(DEVICE_A, 'big-1', 'one', 3000), proof(DEVICE_A, 'big-2', 'two', 4096), proof(DEVICE_B, 'big-1', 'three', 3001)];
        expect(big.map((p) => p.proof.length)).toEqual([3000, 4096, 3001]);
        await current.store.putBatchProofs(big);
        await reopen();
        const found = [...(await get(DEVICE_A, ['big-1', 'big-2'])), ...(await get(DEVICE_B, ['big-1']))];
        expect(found).toEqual(big);
      });
    });
  });
}
