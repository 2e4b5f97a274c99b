import { describe, expect, it } from '@jest/globals';
import type { AckStore } from '../ports/ack-store.js';
import { DEVICE_B, DEVICE_C, hlc } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every AckStore adapter must show: forward-only acks per peer, durability. An
 * adapter's test file calls this with a factory of fresh harnesses (or `runSyncStoreConformance`,
 * which runs it); durability cases close the store and open it again.
 */
export function runAckStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<AckStore>>>): void {
  describeStoreConformance('AckStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

    describe('peer acks', () => {
      it('records forward-only acks per peer and survives reopening', async () => {
        expect(await current.store.recordAck(DEVICE_B, hlc(10))).toBe(true);
        expect(await current.store.recordAck(DEVICE_B, hlc(5))).toBe(false);
        expect(await current.store.recordAck(DEVICE_C, hlc(3))).toBe(true);
        expect(await current.store.recordAck(DEVICE_B, hlc(11))).toBe(true);
        await reopen();
        const acks = await current.store.listAcks();
        expect(acks.map((a) => [a.peerDeviceId, a.hlc])).toEqual([
          [DEVICE_B, hlc(11)],
          [DEVICE_C, hlc(3)],
        ]);
      });
    });
  });
}
