/**
 * What a store holds, per stream: for each (owner device, resource) the number of live records
 * and their digest, the one a scrub compares between peers (core's StreamDigest: each record's
 * SHA-256 over its signed form, combined). Two devices hold the same library exactly when these
 * match; the digest covers every field, the owner and the HLC of each record's last write, in a
 * form that does not depend on the storage engine, so a SQLite device and a PostgreSQL one
 * compare alike.
 */
import { createHash, type Hash } from 'node:crypto';
import { StreamDigest as RecordsDigest, type ModelRegistry, type RecordCursor, type RecordStore, type SyncRecord } from '@highwater/core';

export interface StreamDigest {
  readonly owner: string;
  readonly resource: string;
  readonly count: number;
  /** Hex. */
  readonly digest: string;
}

const PAGE = 5000;

/** Every stream of every model of `registry` (dependency order, then owner). */
export async function libraryDigest(registry: ModelRegistry, records: RecordStore): Promise<StreamDigest[]> {
  const streams: StreamDigest[] = [];
  for (const resource of registry.syncOrder()) {
    const owners = new Map<string, RecordsDigest>();
    let after: RecordCursor | null = null;
    for (;;) {
      const page: SyncRecord[] = await records.page(resource, { after, limit: PAGE });
      for (const record of page) {
        let owner = owners.get(record.ownerDeviceId);
        if (!owner) owners.set(record.ownerDeviceId, (owner = new RecordsDigest()));
        owner.add(registry, resource, record);
      }
      if (page.length < PAGE) break;
      after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
    }
    for (const [owner, d] of [...owners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      streams.push({ owner, resource, count: d.count, digest: Buffer.from(d.text, 'base64url').toString('hex') });
    }
  }
  return streams;
}

/** Count and digest per resource, over all owners (the digest of the per-stream digests). */
export function byResource(streams: readonly StreamDigest[]): { resource: string; count: number; digest: string }[] {
  const resources = new Map<string, { count: number; hash: Hash }>();
  for (const s of streams) {
    let r = resources.get(s.resource);
    if (!r) resources.set(s.resource, (r = { count: 0, hash: createHash('sha256') }));
    r.count += s.count;
    r.hash.update(`${s.owner} ${s.count} ${s.digest}\n`);
  }
  return [...resources].map(([resource, r]) => ({ resource, count: r.count, digest: r.hash.digest('hex') }));
}
