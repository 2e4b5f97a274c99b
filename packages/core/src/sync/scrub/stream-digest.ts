import { createHash } from 'node:crypto';
import { compareHlc, type Hlc } from '../../clock/hlc.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { RecordStore, SyncRecord } from '../../ports/record-store.js';
import { changeFromRecord } from '../change.js';
import { changeSigningBytes } from '../trust/change-signatures.js';

/** Records read at a time when a scrub reads a stream. */
export const SCRUB_PAGE = 1000;

/**
 * What a node holds of one (owner, model) stream up to an HLC: its live records counted, and
 * the XOR of each one's SHA-256 over its signed form (`changeSigningBytes`: the same on SQLite
 * and Postgres, and on every version of the model that reads it). Two nodes whose watermarks
 * of the stream are equal, with nothing of it waiting, must hold the same records: a
 * different digest means one of them lost or altered some.
 */
export class StreamDigest {
  private readonly acc = Buffer.alloc(32);
  count = 0;

  add(registry: ModelRegistry, model: string, record: SyncRecord): void {
    const hash = createHash('sha256').update(changeSigningBytes(registry, changeFromRecord(model, record))).digest();
    for (let i = 0; i < 32; i++) this.acc[i]! ^= hash[i]!;
    this.count++;
  }

  /** base64url, 43 characters. */
  get text(): string {
    return this.acc.toString('base64url');
  }
}

/** Calls `visit` with each page of the stream's records up to `upTo`, in (HLC, id) order. */
export async function readStream(records: RecordStore, model: string, owner: string, upTo: Hlc, visit: (page: SyncRecord[]) => Promise<void> | void): Promise<void> {
  for (let after: { hlc: Hlc; id: string } | null = null; ; ) {
    const page = await records.page(model, { owner, after, limit: SCRUB_PAGE });
    const within = page.filter((r) => compareHlc(r.hlc, upTo) <= 0);
    if (within.length > 0) await visit(within);
    if (within.length < page.length || page.length < SCRUB_PAGE) return;
    after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
  }
}

/** The digest of one stream up to `upTo` as stored. */
export async function digestOfStream(registry: ModelRegistry, records: RecordStore, model: string, owner: string, upTo: Hlc): Promise<StreamDigest> {
  const digest = new StreamDigest();
  await readStream(records, model, owner, upTo, (page) => {
    for (const r of page) digest.add(registry, model, r);
  });
  return digest;
}
