import { compareHlc, formatHlc, maxHlc, parseHlc, type Hlc } from '../../clock/hlc.js';
import type { SyncMessage, SignedHead, WireHead, WireSpan } from '../../protocol/messages.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Change, Span } from '../change.js';
import { streamKey } from '../stream-key.js';

/** The signature domain of a head: a head signature can never be taken for a change's, or the reverse. */
const HEAD_DOMAIN = 'highwater-head-v1';
/** Sync state key of the newest signed head known per stream, so a restart can still vouch for its watermarks. */
export const SIGNED_HEADS_KEY = 'signed-heads';

export function headSigningBytes(owner: string, model: string, hlc: string): Buffer {
  return Buffer.from(JSON.stringify([HEAD_DOMAIN, owner, model, hlc]));
}

interface Best {
  readonly hlc: Hlc;
  readonly signed: SignedHead;
}

/**
 * How far each stream is known to reach, as its owner signed it. An owner signs the head of
 * each of its streams it announces or pushes; every node keeps the newest valid one per stream
 * and hands it on with its own heads and spans. A span from anyone but the owner moves a
 * watermark no further than that signed head, or the newest verified change the span carries:
 * a member cannot poison others' watermarks with a head the owner never reached (a forged head
 * would make them skip the owner's real changes below it). With signed changes off, it does
 * nothing.
 */
export class SignedHeads {
  private readonly best = new Map<string, Best>();
  /** This device's own heads, signed once per HLC. */
  private readonly own = new Map<string, SignedHead>();
  private saving: Promise<void> | null = null;
  private dirty = false;

  constructor(private readonly components: Pick<NodeComponents, 'signatures' | 'syncStore' | 'watermarks' | 'identity' | 'logger'>) {}

  private get enabled(): boolean {
    return this.components.signatures.enabled;
  }

  /** Takes up the signed heads kept before a restart. */
  async load(): Promise<void> {
    if (!this.enabled) return;
    const text = await this.components.syncStore.getSyncState(SIGNED_HEADS_KEY);
    if (!text) return;
    for (const [owner, model, hlc, sig] of JSON.parse(text) as [string, string, string, string][]) {
      this.best.set(streamKey(owner, model), { hlc: parseHlc(hlc), signed: { hlc, sig } });
    }
  }

  /** Notes every valid signed head a message carries (heads and spans alike); an invalid one is ignored. */
  offerMessage(message: SyncMessage): void {
    if (!this.enabled) return;
    const heads = (message as { heads?: readonly WireHead[] }).heads;
    const spans = (message as { spans?: readonly WireSpan[] }).spans;
    if (heads) for (const h of heads) if (h.signed) this.offer(h.owner, h.resource, h.signed);
    if (spans) for (const s of spans) if (s.signed) this.offer(s.owner, s.resource, s.signed);
  }

  offer(owner: string, model: string, signed: SignedHead): boolean {
    const key = streamKey(owner, model);
    const current = this.best.get(key);
    if (current && signed.hlc <= current.signed.hlc) return false;
    const hlc = parseHlc(signed.hlc);
    // A stream's changes all carry their owner's clock: so does its head.
    if (hlc.deviceId !== owner || !this.components.signatures.verifyBy(owner, headSigningBytes(owner, model, signed.hlc), signed.sig)) return false;
    this.best.set(key, { hlc, signed });
    this.save();
    return true;
  }

  /** The newest signed head of a stream this node can hand on: its own watermark, signed, for its own streams. */
  signedHeadOf(owner: string, model: string): SignedHead | undefined {
    if (!this.enabled) return undefined;
    if (owner !== this.components.identity.deviceId) return this.best.get(streamKey(owner, model))?.signed;
    const mark = this.components.watermarks.get(owner, model);
    if (!mark) return undefined;
    const text = formatHlc(mark);
    const key = streamKey(owner, model);
    const cached = this.own.get(key);
    if (cached && cached.hlc === text) return cached;
    const signed = { hlc: text, sig: this.components.signatures.signBytes(headSigningBytes(owner, model, text)) };
    this.own.set(key, signed);
    return signed;
  }

  /** `head` with the newest signed head of its stream this node knows, if any. */
  withSigned<T extends { owner: string; resource: string }>(head: T): T & { signed?: SignedHead } {
    const signed = this.signedHeadOf(head.owner, head.resource);
    return signed ? { ...head, signed } : head;
  }

  /**
   * Remote spans cut to what their owner vouched for: the stream's signed head, or the newest
   * change of it in `changes` (verified already). A span of another device's stream with
   * neither is dropped: dropping a claim only leaves a watermark lower.
   */
  bound(spans: readonly Span[], changes: readonly Change[]): Span[] {
    if (!this.enabled || spans.length === 0) return spans as Span[];
    const out: Span[] = [];
    for (const s of spans) {
      let limit = this.best.get(streamKey(s.owner, s.model))?.hlc ?? null;
      for (const c of changes) if (c.owner === s.owner && c.model === s.model) limit = limit ? maxHlc(limit, c.hlc) : c.hlc;
      if (!limit) continue;
      if (compareHlc(s.to, limit) <= 0) out.push(s);
      else if (!s.from || compareHlc(s.from, limit) < 0) out.push({ ...s, to: limit });
    }
    return out;
  }

  /** Writes the signed heads, one write at a time, the last state winning. */
  private save(): void {
    this.dirty = true;
    if (this.saving) return;
    const write = async (): Promise<void> => {
      while (this.dirty) {
        this.dirty = false;
        const all = [...this.best.entries()].map(([key, b]) => [...splitKey(key), b.signed.hlc, b.signed.sig]);
        await this.components.syncStore.setSyncState(SIGNED_HEADS_KEY, JSON.stringify(all));
      }
    };
    this.saving = write()
      .catch((error: unknown) => this.components.logger.warn({ err: (error as Error).message }, 'could not save signed heads; they are kept in memory'))
      .finally(() => {
        this.saving = null;
      });
  }

  /** Waits for the signed heads to be written (stop). */
  async flush(): Promise<void> {
    await this.saving;
  }
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}
