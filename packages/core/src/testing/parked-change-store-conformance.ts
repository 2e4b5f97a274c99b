import { describe, expect, it } from '@jest/globals';
import type { ParkedChangeStore, ParkedChange } from '../ports/parked-change-store.js';
import { DEVICE_A, DEVICE_B, hlc, testSig } from './fixtures.js';
import { expectSameWithSigs } from './signatures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every ParkedChangeStore adapter must show: one per (model, record id, HLC), (HLC,
 * id, model) order, exact unparking, signatures kept with each change, durability. An adapter's
 * test file calls this with a factory of fresh harnesses (or `runSyncStoreConformance`, which
 * runs it); durability cases close the store and open it again.
 */
export function runParkedChangeStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<ParkedChangeStore>>>): void {
  describeStoreConformance('ParkedChangeStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

    describe('parked changes', () => {
      const parked = (id: string, time: number, owner = DEVICE_A): ParkedChange => ({
        model: 'entry',
        recordId: id,
        ownerDeviceId: owner,
        hlc: hlc(time, 0, owner),
        data: { name: `${id}@${time}`, parentId: 'p1', size: 7, nested: { list: [1, 'two', null] } },
      });

      it('keeps one per (model, record id, HLC), lists them in (HLC, id) order, and survives reopening', async () => {
        await current.store.parkChanges([parked('e2', 20), parked('e1', 10), parked('e1', 30, DEVICE_B)]);
        await current.store.parkChanges([parked('e1', 10), { ...parked('e1', 10), model: 'tag' }]);
        await reopen();
        const listed = await current.store.listParkedChanges();
        expect(listed.map((p) => [p.model, p.recordId, p.hlc.time - hlc(0).time])).toEqual([
          ['entry', 'e1', 10],
          ['tag', 'e1', 10],
          ['entry', 'e2', 20],
          ['entry', 'e1', 30],
        ]);
        expect(listed[0]).toEqual(parked('e1', 10));
        expect(listed[3]!.ownerDeviceId).toBe(DEVICE_B);
      });

      it('unparks exactly the keys given', async () => {
        await current.store.parkChanges([parked('e1', 10), parked('e1', 11), parked('e2', 12)]);
        await current.store.unparkChanges([
          { model: 'entry', recordId: 'e1', hlc: hlc(10, 0, DEVICE_A) },
          { model: 'entry', recordId: 'e2', hlc: hlc(99, 0, DEVICE_A) },
          { model: 'tag', recordId: 'e2', hlc: hlc(12, 0, DEVICE_A) },
        ]);
        expect((await current.store.listParkedChanges()).map((p) => `${p.recordId}@${p.hlc.time - hlc(0).time}`)).toEqual(['e1@11', 'e2@12']);
        await current.store.unparkChanges([]);
        await current.store.parkChanges([]);
        expect(await current.store.listParkedChanges()).toHaveLength(2);
      });

      it('lists each change with the signature it was parked with, an unsigned one without any; parking it again keeps the first', async () => {
        // Compared by expectSameWithSigs: an unsigned change must come back without a `sig`
        // property at all (not undefined, not null).
        const signed = (p: ParkedChange, seed: string): ParkedChange => ({ ...p, sig: testSig(seed) });
        const all = [signed(parked('e1', 10), 'e1'), parked('e2', 20), signed(parked('e3', 30, DEVICE_B), 'e3'), parked('e4', 40)];
        await current.store.parkChanges([...all].reverse());
        expectSameWithSigs(await current.store.listParkedChanges(), all);
        await current.store.parkChanges([parked('e1', 10), signed(parked('e2', 20), 'late e2')]);
        await reopen();
        expectSameWithSigs(await current.store.listParkedChanges(), all);
        await current.store.unparkChanges([{ model: 'entry', recordId: 'e1', hlc: hlc(10, 0, DEVICE_A) }]);
        expectSameWithSigs(await current.store.listParkedChanges(), all.slice(1));
      });
    });
  });
}
