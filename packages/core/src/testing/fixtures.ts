import { createHash } from 'node:crypto';
import type { Hlc } from '../clock/hlc.js';
import type { ModelDefinition } from '../models/model-definition.js';
import type { SyncRecord } from '../ports/record-store.js';

/** Device ids used by the suites (plain ASCII, as HLC text requires). */
export const DEVICE_A = 'device-a';
export const DEVICE_B = 'device-b';
export const DEVICE_C = 'device-c';

/** A clock value; `time` defaults to a fixed 2026 instant so tests never depend on now. */
export function hlc(time: number, counter = 0, deviceId = DEVICE_A): Hlc {
  return { time: 1_790_000_000_000 + time, counter, deviceId };
}

/** The models the seeds talk about: locations, entries (with parents), volumes, shared tags. */
export const testModels: readonly ModelDefinition[] = [
  {
    name: 'location',
    ownership: 'device',
    key: 'uuid',
    fields: { name: { type: 'text' }, path: { type: 'text', nullable: true } },
  },
  {
    name: 'volume',
    ownership: 'device',
    key: 'uuid',
    fields: { name: { type: 'text' }, capacity: { type: 'integer' } },
  },
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      mtime: { type: 'integer' },
      ratio: { type: 'real', nullable: true },
      hidden: { type: 'boolean' },
      meta: { type: 'json', nullable: true },
      locationId: { type: 'text', references: 'location' },
      parentId: { type: 'text', nullable: true, references: 'entry' },
    },
  },
  {
    name: 'tag',
    ownership: 'shared',
    key: 'id',
    fields: { name: { type: 'text' }, color: { type: 'text', nullable: true } },
  },
];

/** An entry record with every field type filled in, deterministic in `i`. */
export function entryRecord(i: number, at: Hlc, owner = at.deviceId, overrides: Record<string, unknown> = {}): SyncRecord {
  return {
    id: `entry-${String(i).padStart(6, '0')}`,
    ownerDeviceId: owner,
    hlc: at,
    data: {
      name: `file ${i}.txt`,
      size: i * 1024,
      mtime: 1_700_000_000_000 + i,
      ratio: i % 3 === 0 ? null : i / 7,
      hidden: i % 2 === 0,
      meta: i % 4 === 0 ? null : { tags: ['a', 'b'], depth: i % 5, nested: { ok: true } },
      locationId: 'location-1',
      parentId: i === 0 ? null : `entry-${String(i - 1).padStart(6, '0')}`,
      ...overrides,
    },
  };
}

export function tagRecord(id: string, name: string, at: Hlc): SyncRecord {
  return { id, ownerDeviceId: at.deviceId, hlc: at, data: { name, color: null } };
}

/**
 * A signature as the ports carry one (`sig`): 64 bytes in base64url, 86 characters, here a
 * SHA-512 of `seed`, so each seed gives a distinct, deterministic value. The stores keep it as
 * text and never check it.
 */
export function testSig(seed: string | number): string {
  return createHash('sha512').update(`highwater test signature ${seed}`).digest('base64url');
}
