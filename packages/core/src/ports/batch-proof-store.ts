/**
 * A batch proof as stored: the owner's signature over one batch of its changes, with what a
 * receiver needs to check any of the batch's changes without the others (see ChangeSignatures).
 */
export interface BatchProof {
  /** The device that signed the batch (its changes' owner or origin). */
  readonly owner: string;
  /** The id the batch's changes name in their `sig`: unique per owner. */
  readonly batchId: string;
  /** The proof, base64url, as it travels on the wire (at most a few KiB). */
  readonly proof: string;
}

/**
 * Port: the proofs of batch-signed changes, kept apart from the changes because a batch's
 * changes are replaced one by one while the rest must still be checkable wherever they are
 * relayed. Written before the changes they prove, so a node never holds a batch-signed change
 * it could not prove to a peer.
 */
export interface BatchProofStore {
  /**
   * Stores `proofs`; a proof already stored under the same (owner, batchId) is kept as it was.
   * `relaxed`: the proofs of changes received from peers, which a power failure may take back
   * until the store's next synced commit — with the watermarks and checkpoints written after
   * them, so the changes are fetched again with their proofs. A device's own proofs are
   * written durably (the default): nothing could bring them back.
   */
  putBatchProofs(proofs: readonly BatchProof[], options?: { readonly relaxed?: boolean }): Promise<void>;
  /** The stored proofs of `owner` among `batchIds` (any number of ids), in no particular order; ids not stored are left out. */
  getBatchProofs(owner: string, batchIds: readonly string[]): Promise<BatchProof[]>;
}
