import type { Logger } from 'pino';
import type { BatchProof } from '../../ports/batch-proof-store.js';
import type { WireChange } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Change } from '../change.js';
import { BATCH_ID_LENGTH, batchPlaceOf, MIN_CARRIER_LENGTH, withoutProof } from './change-signatures.js';

/** Proofs kept in memory besides the store: those of the batches being written, relayed and served now. */
const CACHED_PROOFS = 1024;

/**
 * The proofs of batch-signed changes (see ChangeSignatures): taken off the changes that carry
 * them and stored before the changes are, and put back on one change of each batch in every
 * message that sends any of it, so a peer can check what it is sent whoever relays it.
 */
export class BatchProofs {
  private readonly cache = new Map<string, string>();
  private readonly syncStore: NodeComponents['syncStore'];
  private readonly logger: Logger;

  constructor(components: Pick<NodeComponents, 'syncStore' | 'logger'>) {
    this.syncStore = components.syncStore;
    this.logger = components.logger;
  }

  /**
   * Stores the proofs `changes` carry (checked already, or the sender's own word for its own
   * changes) and returns the changes without them, as they are stored. Proofs of this device's
   * own writes are stored durably; those from peers relaxed (see BatchProofStore).
   */
  async keep(changes: readonly Change[], source: 'local' | 'remote'): Promise<readonly Change[]> {
    let out: Change[] | null = null;
    const proofs: BatchProof[] = [];
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      // Only a sig this long can carry a proof: the rest are not parsed (bench "relayed").
      if (c.sig === undefined || c.sig.length < MIN_CARRIER_LENGTH) continue;
      const place = batchPlaceOf(c.sig);
      if (!place?.proof) continue;
      proofs.push({ owner: c.owner, batchId: place.batchId, proof: place.proof });
      out ??= changes.slice();
      out[i] = { model: c.model, id: c.id, owner: c.owner, hlc: c.hlc, op: c.op, data: c.data, sig: withoutProof(c.sig), ...(c.newerFields ? { newerFields: c.newerFields } : {}) };
    }
    if (proofs.length === 0) return changes;
    await this.syncStore.putBatchProofs(proofs, { relaxed: source === 'remote' });
    for (const p of proofs) this.remember(p.owner, p.batchId, p.proof);
    return out!;
  }

  /**
   * `changes` with each batch's proof on its first change there that lacks one, and a change
   * stored with the signature form before batch proofs with its own signature alone. A proof this
   * node does not have (a power failure took it back before the changes were fetched again)
   * is left off: the peer then refuses the batch's changes from this node as unproven and
   * takes them from another.
   */
  async attach(changes: readonly WireChange[]): Promise<WireChange[]> {
    let needed: Map<string, { owner: string; batchId: string; at: number }> | null = null;
    let carried: Set<string> | null = null;
    let legacy: WireChange[] | null = null;
    let last = '';
    let lastOwner = '';
    for (let i = 0; i < changes.length; i++) {
      const { sig, owner } = changes[i]!;
      if (sig === undefined || sig.length === 86) continue;
      // Stored before batch proofs (`<own>.<index>.<size>[.<batch>]`): its own signature proves it alone.
      if (sig.charCodeAt(86) === 46 && sig.indexOf('.') === 86) {
        (legacy ??= changes.slice())[i] = { ...changes[i]!, sig: sig.slice(0, 86) };
        continue;
      }
      // A batch's changes come one after another: one key per batch, not per change (bench "relayed").
      const carries = sig.length >= MIN_CARRIER_LENGTH;
      if (!carries && owner === lastOwner && sig.startsWith(last)) continue;
      // The batch id is the sig's start (see BatchPlace).
      last = sig.slice(0, BATCH_ID_LENGTH);
      lastOwner = owner;
      const key = proofKey(owner, last);
      if (carries) (carried ??= new Set()).add(key);
      else if (!needed?.has(key)) (needed ??= new Map()).set(key, { owner, batchId: last, at: i });
    }
    if (!needed) return legacy ?? (changes as WireChange[]);
    for (const key of carried ?? []) needed.delete(key);
    const found = await this.lookup([...needed.values()]);
    const out = legacy ?? changes.slice();
    for (const [key, { owner, batchId, at }] of needed) {
      const proof = found.get(key);
      if (proof === undefined) {
        this.logger.warn({ owner, batchId }, 'no proof stored for a batch of signed changes; peers will refuse them from this node');
        continue;
      }
      out[at] = { ...out[at]!, sig: `${out[at]!.sig!}.${proof}` };
    }
    return out;
  }

  private async lookup(wanted: readonly { owner: string; batchId: string }[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const missing = new Map<string, string[]>();
    for (const { owner, batchId } of wanted) {
      const key = proofKey(owner, batchId);
      const cached = this.cache.get(key);
      if (cached !== undefined) found.set(key, cached);
      else missing.set(owner, [...(missing.get(owner) ?? []), batchId]);
    }
    for (const [owner, ids] of missing) {
      for (const p of await this.syncStore.getBatchProofs(owner, ids)) {
        found.set(proofKey(p.owner, p.batchId), p.proof);
        this.remember(p.owner, p.batchId, p.proof);
      }
    }
    return found;
  }

  private remember(owner: string, batchId: string, proof: string): void {
    const key = proofKey(owner, batchId);
    this.cache.delete(key);
    this.cache.set(key, proof);
    if (this.cache.size > CACHED_PROOFS) this.cache.delete(this.cache.keys().next().value!);
  }
}

function proofKey(owner: string, batchId: string): string {
  return `${owner}\n${batchId}`;
}
