import { describe, expect, it } from '@jest/globals';
import { compareHlc } from '../clock/hlc.js';
import type { WatermarkStore } from '../ports/watermark-store.js';
import { DEVICE_A, DEVICE_B, DEVICE_C, hlc } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every WatermarkStore adapter must show: forward-only moves under sequential and
 * concurrent advances, independent (owner, resource) pairs, durability. An adapter's test file
 * calls this with a factory of fresh harnesses (or `runSyncStoreConformance`, which runs it);
 * durability cases close the store and open it again.
 */
export function runWatermarkStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<WatermarkStore>>>): void {
  describeStoreConformance('WatermarkStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

    describe('per-resource watermarks', () => {
      it('starts empty', async () => {
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toBeNull();
        expect(await current.store.listWatermarks()).toEqual([]);
      });

      it('only moves forward', async () => {
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 1))).toBe(true);
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 0))).toBe(false);
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(50, 9))).toBe(false);
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 1))).toBe(false);
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(100, 1));
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(100, 2))).toBe(true);
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(100, 2));
      });

      it('keeps every (owner, resource) independent: advancing entries never skips locations', async () => {
        // The seeds' bug: one global watermark advanced by entries hid older locations.
        await current.store.advanceWatermark(DEVICE_A, 'location', hlc(10));
        await current.store.advanceWatermark(DEVICE_A, 'volume', hlc(50));
        await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(15_000));
        await current.store.advanceWatermark(DEVICE_B, 'entry', hlc(20, 0, DEVICE_B));
        expect(await current.store.getWatermark(DEVICE_A, 'location')).toEqual(hlc(10));
        expect(await current.store.getWatermark(DEVICE_A, 'volume')).toEqual(hlc(50));
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(15_000));
        expect(await current.store.getWatermark(DEVICE_B, 'entry')).toEqual(hlc(20, 0, DEVICE_B));
        expect(await current.store.getWatermark(DEVICE_B, 'location')).toBeNull();
        const all = await current.store.listWatermarks();
        expect(all.map((w) => [w.ownerDeviceId, w.resourceType])).toEqual([
          [DEVICE_A, 'entry'],
          [DEVICE_A, 'location'],
          [DEVICE_A, 'volume'],
          [DEVICE_B, 'entry'],
        ]);
        expect(all.every((w) => w.updatedAt > 0)).toBe(true);
      });

      it('stays forward-only under concurrent advances', async () => {
        const values = Array.from({ length: 50 }, (_, i) => hlc(1000 + ((i * 37) % 50), i % 3));
        await Promise.all(values.map((v) => current.store.advanceWatermark(DEVICE_C, 'entry', v)));
        const max = values.reduce((a, b) => (compareHlc(a, b) >= 0 ? a : b));
        expect(await current.store.getWatermark(DEVICE_C, 'entry')).toEqual(max);
      });

      it('survives reopening', async () => {
        await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(77, 3));
        await reopen();
        expect(await current.store.getWatermark(DEVICE_A, 'entry')).toEqual(hlc(77, 3));
        expect(await current.store.advanceWatermark(DEVICE_A, 'entry', hlc(76))).toBe(false);
      });
    });
  });
}
