import { describe, expect, it } from '@jest/globals';
import {
  createNodeContainer,
  HighwaterError,
  ModelRegistry,
  Tokens,
  type RecordStore,
  type SyncState,
  type SyncStore,
} from '@highwater/core';
import { componentsOf } from '../src/wiring/components.js';
import type { WatermarkCache } from '../src/sync/watermark-cache.js';
import { testModels } from '@highwater/core/testing';

// Wiring only: the stores are never called here, so opaque stand-ins are enough.
const syncStore = {} as SyncStore;
const recordStore = {} as RecordStore;
const registry = new ModelRegistry(testModels);

function node(deviceId: string, wallTime: () => number = () => 1_790_000_000_000) {
  return createNodeContainer({
    identity: { libraryId: 'lib-1', deviceId },
    registry,
    syncStore,
    recordStore,
    wallClock: { now: wallTime },
  });
}

describe('per-node container', () => {
  it('gives each node its own clock, events and identity', () => {
    const a = node('device-a');
    const b = node('device-b');
    expect(a.resolve(Tokens.HlcClock)).not.toBe(b.resolve(Tokens.HlcClock));
    expect(a.resolve(Tokens.SyncEvents)).not.toBe(b.resolve(Tokens.SyncEvents));
    expect(a.resolve(Tokens.Identity).deviceId).toBe('device-a');
    expect(b.resolve(Tokens.Identity).deviceId).toBe('device-b');
    // Same instance on every resolve within one node.
    expect(a.resolve(Tokens.HlcClock)).toBe(a.resolve(Tokens.HlcClock));
    expect(a.resolve(Tokens.ModelRegistry).syncOrder()).toEqual(registry.syncOrder());
  });

  it('does not share clock state between nodes in one process', () => {
    const a = node('device-a');
    const b = node('device-b');
    const clockA = a.resolve(Tokens.HlcClock);
    const clockB = b.resolve(Tokens.HlcClock);
    for (let i = 0; i < 5; i++) clockA.now();
    expect(clockA.peek()).toMatchObject({ counter: 4, deviceId: 'device-a' });
    expect(clockB.peek()).toBeUndefined();
    expect(clockB.now()).toMatchObject({ counter: 0, deviceId: 'device-b' });
  });

  it('builds each part once per node, from that node\'s own components', () => {
    const a = node('device-a');
    const b = node('device-b');
    expect(a.resolve(Tokens.Applier)).toBe(a.resolve(Tokens.Applier));
    expect(a.resolve(Tokens.Applier)).not.toBe(b.resolve(Tokens.Applier));
    const components = componentsOf(a);
    expect(components.applier).toBe(a.resolve(Tokens.Applier));
    expect(components.settings).toMatchObject({ pageSize: 1000, pagesPerRequest: 4, inlineLimit: 1000 });
  });

  it('a registration made before the parts are built replaces the default for every part that uses it', async () => {
    const a = node('device-a');
    const moved: string[] = [];
    const watermarks = {
      get: () => null,
      advance: async (owner: string, resource: string, hlc: { time: number }) => {
        moved.push(`${owner}/${resource}@${hlc.time}`);
        return true;
      },
    };
    a.register(Tokens.Watermarks, { useValue: watermarks as unknown as WatermarkCache });
    // The applier moves watermarks only over spans; with no changes it touches no store.
    await a.resolve(Tokens.Applier).apply([], 'pull', [{ owner: 'device-b', model: 'item', from: null, to: { time: 42, counter: 0, deviceId: 'device-b' } }]);
    expect(moved).toEqual(['device-b/item@42']);
  });

  it('exposes events as read-only observables and keeps nodes apart', () => {
    const a = node('device-a');
    const b = node('device-b');
    const eventsA = a.resolve(Tokens.SyncEvents);
    const eventsB = b.resolve(Tokens.SyncEvents);
    const seenA: SyncState[] = [];
    const seenB: SyncState[] = [];
    const errorsA: string[] = [];
    eventsA.state$.subscribe((s) => seenA.push(s));
    eventsB.state$.subscribe((s) => seenB.push(s));
    eventsA.errors$.subscribe((e) => errorsA.push(e.code));
    eventsA.setState('backfilling');
    eventsA.setState('backfilling');
    eventsA.setState('ready');
    eventsB.reportError(new HighwaterError('HW_TEST', 'only b'));
    expect(seenA).toEqual(['uninitialized', 'backfilling', 'ready']);
    expect(seenB).toEqual(['uninitialized']);
    expect(errorsA).toEqual([]);
    expect('next' in eventsA.state$).toBe(false);
    expect('next' in eventsA.errors$).toBe(false);
  });
});
