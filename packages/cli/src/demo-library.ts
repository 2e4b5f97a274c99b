/**
 * The models the demos sync — the seeds' library: locations, volumes, file entries (in a
 * location, with a parent directory) and shared tags — and a generator of such a library.
 */
import type { ModelDefinition, RecordInput } from '@highwater/core';

export const libraryModels: ModelDefinition[] = [
  { name: 'location', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' }, path: { type: 'text' } } },
  { name: 'volume', ownership: 'device', key: 'uuid', fields: { name: { type: 'text' }, capacity: { type: 'integer' } } },
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      mtime: { type: 'integer' },
      kind: { type: 'text' },
      locationId: { type: 'text', references: 'location' },
      parentId: { type: 'text', nullable: true, references: 'entry' },
    },
  },
  { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' }, color: { type: 'text', nullable: true } } },
];

// Time-ordered ids: keys that grow with creation time write fastest into SQLite indexes.
export const recordKey = (kind: string, n: number): string => `${kind}-${String(n).padStart(8, '0')}`;

export interface LibrarySize {
  readonly locations: number;
  readonly volumes: number;
  readonly entries: number;
  readonly tags: number;
}

/** Locations 0 … count - 1 of a generated library. */
export function locationRecords(count: number, prefix = ''): { id: string; data: Record<string, unknown> }[] {
  return Array.from({ length: count }, (_, i) => ({ id: recordKey(`${prefix}loc`, i), data: { name: `Location ${i}`, path: `/data/${i}` } }));
}

/** Entries `from` … `from + count - 1` of a generated library, in directories of 50 (a directory's parent comes first). */
export function entryRecords(from: number, count: number, locations: number, prefix = ''): { id: string; data: Record<string, unknown> }[] {
  const key = (kind: string, n: number): string => recordKey(`${prefix}${kind}`, n);
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return {
      id: key('ent', n),
      data: {
        name: `file-${n}.jpg`,
        size: 1024 + n,
        mtime: 1_700_000_000_000 + n,
        kind: n % 50 === 0 ? 'dir' : 'file',
        locationId: key('loc', n % Math.max(1, locations)),
        parentId: n % 50 === 0 ? null : key('ent', n - (n % 50)),
      },
    };
  });
}

/** Writes records of one model on a device: `node.write`, or a request to a running serve. */
export type LibraryWriter = (model: string, records: RecordInput[]) => Promise<unknown>;

/** Writes a generated library through `write`: locations, volumes, entries in directories of 50, tags. */
export async function generateLibrary(write: LibraryWriter, size: LibrarySize, prefix = ''): Promise<void> {
  const key = (kind: string, n: number): string => recordKey(`${prefix}${kind}`, n);
  await write('location', locationRecords(size.locations, prefix));
  for (let start = 0; start < size.entries; start += 1000) {
    await write('entry', entryRecords(start, Math.min(1000, size.entries - start), size.locations, prefix));
  }
  await write('volume', Array.from({ length: size.volumes }, (_, i) => ({ id: key('vol', i), data: { name: `Volume ${i}`, capacity: 1e12 + i } })));
  await write('tag', Array.from({ length: size.tags }, (_, i) => ({ id: key('tag', i), data: { name: `tag ${i}`, color: null } })));
}
