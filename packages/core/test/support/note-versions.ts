import { ModelRegistry, type ModelDefinition } from '@highwater/core';

/** Version 1 of a `note` model, and version 2, which adds `color` and `meta` (issue #20: models on other versions). */
export const noteV1: ModelDefinition = { name: 'note', ownership: 'device', key: 'id', fields: { title: { type: 'text' }, body: { type: 'text', nullable: true } } };
export const noteV2: ModelDefinition = {
  ...noteV1,
  version: 2,
  fields: { ...noteV1.fields, color: { type: 'text', nullable: true, since: 2 }, meta: { type: 'json', nullable: true, since: 2 } },
};
export const v1 = new ModelRegistry([noteV1]);
export const v2 = new ModelRegistry([noteV2]);
