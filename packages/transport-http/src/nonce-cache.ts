/** Result of {@link NonceCache.remember}. */
export type NonceVerdict = 'fresh' | 'replayed' | 'full';

/**
 * Nonces seen within the replay window, so a captured request cannot be played again.
 *
 * A request is accepted while |timestamp − now| ≤ window, i.e. until timestamp + window, and
 * timestamp ≤ arrival + window; so remembering each nonce until arrival + 2 × window covers
 * every moment it could be replayed. Entries are kept in insertion order, which is expiry
 * order, so pruning only looks at the oldest ones (no timer, nothing to clean up on stop).
 * If the wall clock jumps back, entries simply live longer; the cache stays bounded by `max`.
 */
export class NonceCache {
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.expiries.size;
  }

  /** Records `peer`'s nonce unless already seen; 'full' means it could not be remembered and must be refused. */
  remember(peer: string, nonce: string, now: number): NonceVerdict {
    this.prune(now);
    const key = `${peer} ${nonce}`;
    if (this.expiries.has(key)) return 'replayed';
    // Forgetting a live nonce would let it be replayed, so refuse instead of evicting.
    if (this.expiries.size >= this.max) return 'full';
    this.expiries.set(key, now + 2 * this.windowMs);
    return 'fresh';
  }

  clear(): void {
    this.expiries.clear();
  }

  private prune(now: number): void {
    for (const [key, expiresAt] of this.expiries) {
      if (expiresAt > now) return;
      this.expiries.delete(key);
    }
  }
}
