import { describe, expect, it } from '@jest/globals';
import {
  compareHlc,
  createNodeContainer,
  HighwaterError,
  ModelRegistry,
  Tokens,
  type RecordStore,
  type SyncState,
  type SyncStore,
} from '@highwater/core';
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

  it('seeds the clock from the last HLC issued before a restart', () => {
    const last = { time: 1_790_000_100_000, counter: 7, deviceId: 'device-a' };
    const restarted = createNodeContainer({
      identity: { libraryId: 'lib-1', deviceId: 'device-a' },
      registry,
      syncStore,
      recordStore,
      wallClock: { now: () => 1_790_000_000_000 }, // wall clock went back 100 s while down
      lastHlc: last,
    });
    expect(compareHlc(restarted.resolve(Tokens.HlcClock).now(), last)).toBeGreaterThan(0);
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
