import { describe, expect, it } from '@jest/globals';
import type { AckStore, PeerAck, StreamAck } from '../ports/ack-store.js';
import { DEVICE_A, DEVICE_B, DEVICE_C, hlc } from './fixtures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every AckStore adapter must show: acks per (peer, owner, resource) stream,
 * forward only per stream, `updatedAt` set on every ack heard (moved or not), the count of
 * acks that moved, ordering, durability. An adapter's test file calls this with a factory of
 * fresh harnesses (or `runSyncStoreConformance`, which runs it); durability cases close the
 * store and open it again.
 */
export function runAckStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<AckStore>>>): void {
  describeStoreConformance('AckStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();
    const ack = (owner: string, resource: string, time: number): StreamAck => ({ owner, resource, hlc: hlc(time, 0, owner) });
    const listed = async (): Promise<[string, string, string, number][]> =>
      (await current.store.listAcks()).map((a) => [a.peerDeviceId, a.owner, a.resource, a.hlc.time - hlc(0).time]);

    describe('peer acks', () => {
      it('records acks per stream, forward only, counting the ones that moved, and survives reopening', async () => {
        expect(await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 10), ack(DEVICE_A, 'tag', 4)], 1000)).toBe(2);
        // entry goes back (kept), tag moves, location is new.
        expect(await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 5), ack(DEVICE_A, 'tag', 7), ack(DEVICE_A, 'location', 1)], 2000)).toBe(2);
        // A repeated ack does not move.
        expect(await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 10)], 3000)).toBe(0);
        expect(await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 11)], 4000)).toBe(1);
        await reopen();
        expect(await listed()).toEqual([
          [DEVICE_B, DEVICE_A, 'entry', 11],
          [DEVICE_B, DEVICE_A, 'location', 1],
          [DEVICE_B, DEVICE_A, 'tag', 7],
        ]);
        const first = (await current.store.listAcks())[0]!;
        expect(first.hlc).toEqual(hlc(11, 0, DEVICE_A));
      });

      it('sets updatedAt of every named stream, moved or not, and of no other', async () => {
        await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 10), ack(DEVICE_A, 'tag', 10)], 1000);
        await current.store.recordAcks(DEVICE_C, [ack(DEVICE_A, 'entry', 10)], 1000);
        // entry of DEVICE_B does not move (older), but was heard at 5000; tag was not named.
        expect(await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 3)], 5000)).toBe(0);
        const byStream = (acks: PeerAck[]) => acks.map((a) => [a.peerDeviceId, a.resource, a.hlc.time - hlc(0).time, a.updatedAt]);
        expect(byStream(await current.store.listAcks())).toEqual([
          [DEVICE_B, 'entry', 10, 5000],
          [DEVICE_B, 'tag', 10, 1000],
          [DEVICE_C, 'entry', 10, 1000],
        ]);
        // Repeated: kept, heard again. Moved: both change.
        await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'entry', 10), ack(DEVICE_A, 'tag', 12)], 6000);
        await reopen();
        expect(byStream(await current.store.listAcks())).toEqual([
          [DEVICE_B, 'entry', 10, 6000],
          [DEVICE_B, 'tag', 12, 6000],
          [DEVICE_C, 'entry', 10, 1000],
        ]);
      });

      it('keeps streams of different peers and owners apart, ordered by peer, owner, resource', async () => {
        await current.store.recordAcks(DEVICE_C, [ack(DEVICE_B, 'tag', 2), ack(DEVICE_A, 'tag', 3)], 1);
        await current.store.recordAcks(DEVICE_B, [ack(DEVICE_C, 'entry', 5), ack(DEVICE_A, 'tag', 9), ack(DEVICE_A, 'entry', 1)], 2);
        // The same stream acked by another peer, and another owner's stream of the same model, do not move it.
        await current.store.recordAcks(DEVICE_C, [ack(DEVICE_A, 'entry', 20)], 3);
        expect(await listed()).toEqual([
          [DEVICE_B, DEVICE_A, 'entry', 1],
          [DEVICE_B, DEVICE_A, 'tag', 9],
          [DEVICE_B, DEVICE_C, 'entry', 5],
          [DEVICE_C, DEVICE_A, 'entry', 20],
          [DEVICE_C, DEVICE_A, 'tag', 3],
          [DEVICE_C, DEVICE_B, 'tag', 2],
        ]);
      });

      it('takes a stream named twice in one call at its highest HLC, counted once', async () => {
        await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'tag', 5)], 1);
        expect(await current.store.recordAcks(DEVICE_B, [ack(DEVICE_A, 'tag', 8), ack(DEVICE_A, 'tag', 3), ack(DEVICE_A, 'tag', 7)], 2)).toBe(1);
        expect(await listed()).toEqual([[DEVICE_B, DEVICE_A, 'tag', 8]]);
        expect(await current.store.recordAcks(DEVICE_B, [], 3)).toBe(0);
        expect((await current.store.listAcks())[0]!.updatedAt).toBe(2);
      });
    });
  });
}
