import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInProcessNetwork, ModelRegistry, SyncNode, Tokens, type ConflictResolver, type InProcessNetwork } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { eventually, ManualClock } from './support/library.js';

// Two shared models: tags resolve by a resolver of the integrator's, notes by the default.
const registry = new ModelRegistry([
  { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' } } },
  { name: 'note', ownership: 'shared', key: 'id', fields: { name: { type: 'text' } } },
]);

/** A delete wins over any write; otherwise the longer name; equal lengths by HLC. A total order on every peer. */
const longestNameWins: ConflictResolver = {
  compare: (_model, a, b) => {
    const rank = (v: typeof a): number => (v.data === null ? Number.MAX_SAFE_INTEGER : String(v.data['name']).length);
    return rank(a) - rank(b) || a.hlc.time - b.hlc.time || a.hlc.counter - b.hlc.counter || (a.hlc.deviceId < b.hlc.deviceId ? -1 : a.hlc.deviceId > b.hlc.deviceId ? 1 : 0);
  },
};

interface Device {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly directory: string;
  readonly clock: ManualClock;
}

async function device(network: InProcessNetwork, deviceId: string, time: number): Promise<Device> {
  const directory = mkdtempSync(join(tmpdir(), `hw-resolver-${deviceId}-`));
  const storage = createSqliteStorage({ directory, registry, synchronous: 'normal' });
  const clock = new ManualClock(time);
  const node = await SyncNode.create({
    libraryId: 'resolver-library',
    deviceId,
    registry,
    storage,
    transport: network.transport(deviceId),
    wallClock: clock,
    metricsIntervalMs: 0,
    // Replacing a part through the container: the resolver registry, for the tag model only.
    configure: (container) => container.register(Tokens.ConflictResolvers, { useValue: new Map([['tag', longestNameWins]]) }),
  });
  await node.start();
  return { node, storage, directory, clock };
}

const names = async (d: Device, model: string): Promise<Record<string, unknown>> =>
  Object.fromEntries((await d.node.get(model, ['t1', 't2', 'n1'])).map((r) => [r.id, r.data['name']]));

describe('a custom conflict resolver registered for one shared model', () => {
  const devices: Device[] = [];
  afterEach(async () => {
    for (const d of devices.splice(0)) {
      await d.node.stop();
      await d.storage.close();
      rmSync(d.directory, { recursive: true, force: true });
    }
  });

  it('decides that model on every peer, whatever the HLCs and arrival order; other models keep last writer wins', async () => {
    const network = createInProcessNetwork();
    const base = 1_790_000_000_000;
    const a = await device(network, 'device-a', base);
    const b = await device(network, 'device-b', base + 5_000); // B's clock is ahead: its writes have the later HLCs
    devices.push(a, b);

    // Apart: the same tag and the same note written on both.
    await a.node.write('tag', [{ id: 't1', data: { name: 'a long name from A' } }]);
    await b.node.write('tag', [{ id: 't1', data: { name: 'b' } }]);
    await a.node.write('note', [{ id: 'n1', data: { name: 'a long note from A' } }]);
    await b.node.write('note', [{ id: 'n1', data: { name: 'b' } }]);
    await a.node.write('tag', [{ id: 't2', data: { name: 'written by A, later deleted' } }]);

    network.connect('device-a', 'device-b');
    const converged = async (tag: Record<string, unknown>, note: Record<string, unknown>): Promise<void> =>
      eventually(
        async () => JSON.stringify([await names(a, 'tag'), await names(b, 'tag'), await names(a, 'note'), await names(b, 'note')]) === JSON.stringify([tag, tag, note, note]),
        `both devices holding tags ${JSON.stringify(tag)} and notes ${JSON.stringify(note)}`,
        10_000,
      );
    // The resolver keeps A's longer name though B wrote later; the note goes to the later write.
    await converged({ t1: 'a long name from A', t2: 'written by A, later deleted' }, { n1: 'b' });

    // A write that ranks higher wins on both; one that ranks lower loses even on its own writer.
    await b.node.write('tag', [{ id: 't1', data: { name: 'B, with the longest name of all' } }]);
    await converged({ t1: 'B, with the longest name of all', t2: 'written by A, later deleted' }, { n1: 'b' });
    a.clock.time += 60_000;
    await a.node.write('tag', [{ id: 't1', data: { name: 'short' } }]);
    await a.node.settle();
    expect(await names(a, 'tag')).toMatchObject({ t1: 'B, with the longest name of all' });

    // A delete ranks highest: a later write does not bring the tag back, on either device.
    await b.node.delete('tag', ['t2']);
    await converged({ t1: 'B, with the longest name of all' }, { n1: 'b' });
    await a.node.write('tag', [{ id: 't2', data: { name: 'written again after the delete, with a longer name' } }]);
    await a.node.settle();
    await b.node.settle();
    await converged({ t1: 'B, with the longest name of all' }, { n1: 'b' });
  });
});
