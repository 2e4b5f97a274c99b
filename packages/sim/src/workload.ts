import type { RecordData } from '@highwater/core';
import type { Oracle } from './oracle.js';
import type { DeviceModel, SharedModel } from './plan.js';
import { Random } from './random.js';
import type { SimPeer } from './sim-peer.js';

/** One call a step makes on a node: write (insert or update) or delete records of one model. */
export type WriteRequest =
  | { readonly model: string; readonly op: 'upsert'; readonly records: readonly { id: string; data: RecordData }[] }
  | { readonly model: string; readonly op: 'delete'; readonly ids: readonly string[] };

/** Shared records come from small pools of ids, so devices keep writing the same ones. */
const TAG_POOL = 12;
const TAGGING_POOL = 16;

/**
 * What a device-owned write step asks of its peer. Inserts reference records of any owner known
 * to exist somewhere (alive or deleted); updates and deletes pick records the peer owns and that
 * are alive. Nothing to pick: nothing to do.
 */
export function deviceWrite(
  peer: SimPeer,
  oracle: Oracle,
  step: { model: DeviceModel; op: 'insert' | 'update' | 'delete'; count: number; r: number },
): WriteRequest | null {
  const random = new Random(step.r);
  const { model } = step;
  if (step.op === 'delete') {
    const ids = pickSome(random, oracle.aliveOwnedBy(model, peer.name), step.count);
    return ids.length > 0 ? { model, op: 'delete', ids } : null;
  }
  const ids =
    step.op === 'update'
      ? pickSome(random, oracle.aliveOwnedBy(model, peer.name), step.count)
      : Array.from({ length: step.count }, () => `${peer.name}-${model}-${peer.nextId(model)}`);
  const records: { id: string; data: RecordData }[] = [];
  for (const id of ids) {
    const data = deviceData(random, peer, oracle, model, id);
    if (data) records.push({ id, data });
  }
  return records.length > 0 ? { model, op: 'upsert', records } : null;
}

/** A shared write: upserts or deletes of ids from the model's pool, by whichever peer. */
export function sharedWrite(peer: SimPeer, oracle: Oracle, step: { model: SharedModel; op: 'upsert' | 'delete'; count: number; r: number }): WriteRequest | null {
  const random = new Random(step.r);
  const pool = step.model === 'tag' ? TAG_POOL : TAGGING_POOL;
  const prefix = step.model === 'tag' ? 'tag' : 'tg';
  const ids = [...new Set(Array.from({ length: step.count }, () => `${prefix}-${random.int(0, pool - 1)}`))];
  if (step.op === 'delete') return { model: step.model, op: 'delete', ids };
  const records: { id: string; data: RecordData }[] = [];
  for (const id of ids) {
    const data = sharedData(random, peer, oracle, step.model);
    if (data) records.push({ id, data });
  }
  return records.length > 0 ? { model: step.model, op: 'upsert', records } : null;
}

/** The same tag written by several peers at once (concurrent updates of one shared record). */
export function contendedTag(peer: SimPeer, r: number): WriteRequest {
  const random = new Random(r);
  const id = `tag-${random.int(0, TAG_POOL - 1)}`;
  return { model: 'tag', op: 'upsert', records: [{ id, data: { name: `${peer.name} says ${r}`, color: peer.name } }] };
}

function deviceData(random: Random, peer: SimPeer, oracle: Oracle, model: DeviceModel, id: string): RecordData | null {
  const stamp = `${peer.name}#${random.int(0, 1_000_000_000)}`;
  switch (model) {
    case 'location':
      return { name: `location ${stamp}` };
    case 'volume':
      return { name: `volume ${stamp}`, capacity: random.int(1, 1 << 30) };
    case 'entry': {
      const locations = oracle.idsOf('location');
      if (locations.length === 0) return null;
      const volumes = oracle.idsOf('volume');
      const entries = oracle.idsOf('entry').filter((e) => e !== id);
      return {
        name: `file ${stamp}`,
        size: random.int(0, 1 << 20),
        locationId: random.pick(locations),
        volumeId: volumes.length > 0 && random.chance(0.5) ? random.pick(volumes) : null,
        parentId: entries.length > 0 && random.chance(0.5) ? random.pick(entries) : null,
      };
    }
  }
}

function sharedData(random: Random, peer: SimPeer, oracle: Oracle, model: SharedModel): RecordData | null {
  if (model === 'tag') return { name: `tag ${peer.name}#${random.int(0, 1_000_000_000)}`, color: random.chance(0.5) ? random.pick(['red', 'green', 'blue']) : null };
  const tags = oracle.idsOf('tag');
  const entries = oracle.idsOf('entry');
  if (tags.length === 0 || entries.length === 0) return null;
  return { tagId: random.pick(tags), entryId: random.pick(entries) };
}

function pickSome(random: Random, items: readonly string[], count: number): string[] {
  return random.shuffle(items).slice(0, count);
}
