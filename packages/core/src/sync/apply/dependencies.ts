import type { Change } from '../change.js';

/** A change that waits for records it references, and which. */
export type Waiting = { change: Change; missing: { model: string; id: string }[] };

/** Reference fields of a model: (field, referenced model). */
export type References = readonly [string, { references: string }][];

/** Ids referenced per target model by `upserts`, other than records of this very group. */
export function referencedOutside(model: string, upserts: readonly Change[], refs: References, inGroup: ReadonlySet<string>): Map<string, Set<string>> {
  const wanted = new Map<string, Set<string>>();
  for (const c of upserts) {
    for (const [field, { references }] of refs) {
      const value = c.data?.[field];
      if (typeof value !== 'string') continue;
      if (references === model && inGroup.has(value)) continue;
      let ids = wanted.get(references);
      if (!ids) wanted.set(references, (ids = new Set()));
      ids.add(value);
    }
  }
  return wanted;
}

/** Ids of this very group that `upserts` reference (a record referencing itself aside). */
export function referencedInGroup(model: string, upserts: readonly Change[], refs: References, inGroup: ReadonlySet<string>): Set<string> {
  const ids = new Set<string>();
  for (const c of upserts) {
    for (const [field, { references }] of refs) {
      const value = c.data?.[field];
      if (references === model && typeof value === 'string' && value !== c.id && inGroup.has(value)) ids.add(value);
    }
  }
  return ids;
}

/**
 * Fixpoint: a record waits for a missing reference, or for a record of its group that waits and
 * is not stored already.
 */
export function waitingFixpoint(
  model: string,
  candidates: readonly Change[],
  upserts: readonly Change[],
  refs: References,
  inGroup: ReadonlySet<string>,
  present: ReadonlyMap<string, Set<string>>,
): { ready: Change[]; waiting: Waiting[] } {
  const waitingIds = new Set<string>();
  const missingOf = new Map<Change, { model: string; id: string }[]>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const c of upserts) {
      if (waitingIds.has(c.id)) continue;
      const missing: { model: string; id: string }[] = [];
      for (const [field, { references }] of refs) {
        const value = c.data?.[field];
        if (typeof value !== 'string') continue;
        if (references === model && inGroup.has(value)) {
          if (waitingIds.has(value) && value !== c.id && !present.get(model)?.has(value)) missing.push({ model, id: value });
        } else if (!present.get(references)?.has(value)) {
          missing.push({ model: references, id: value });
        }
      }
      if (missing.length > 0) {
        waitingIds.add(c.id);
        missingOf.set(c, missing);
        changed = true;
      }
    }
  }
  const ready = candidates.filter((c) => !missingOf.has(c));
  return { ready, waiting: [...missingOf].map(([change, missing]) => ({ change, missing })) };
}
