import { ModelRegistry, type ModelDefinition } from '@highwater/core';

/**
 * The simulated library: device-owned locations, volumes and entries (an entry references a
 * location, perhaps a volume and a parent entry, of any owner), shared tags, and shared
 * taggings that reference a tag and an entry — records that depend on other owners' records.
 */
export const simModels: readonly ModelDefinition[] = [
  { name: 'location', ownership: 'device', key: 'id', fields: { name: { type: 'text' } } },
  { name: 'volume', ownership: 'device', key: 'id', fields: { name: { type: 'text' }, capacity: { type: 'integer' } } },
  {
    name: 'entry',
    ownership: 'device',
    key: 'id',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      locationId: { type: 'text', references: 'location' },
      volumeId: { type: 'text', nullable: true, references: 'volume' },
      parentId: { type: 'text', nullable: true, references: 'entry' },
    },
  },
  { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' }, color: { type: 'text', nullable: true } } },
  { name: 'tagging', ownership: 'shared', key: 'id', fields: { tagId: { type: 'text', references: 'tag' }, entryId: { type: 'text', references: 'entry' } } },
];

export const simRegistry = new ModelRegistry(simModels);
