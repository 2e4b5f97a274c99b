import { describe, expect, it } from '@jest/globals';
import { compareHlc } from '../clock/hlc.js';
import type { SharedLogStore, SharedChange } from '../ports/shared-log-store.js';
import { DEVICE_A, DEVICE_B, DEVICE_C, hlc, testSig } from './fixtures.js';
import { expectSameWithSigs } from './signatures.js';
import { describeStoreConformance, type StoreHarness, type WithClose } from './harness.js';

/**
 * The behaviour every SharedLogStore adapter must show: idempotent appends, HLC order, paging
 * without gaps or repeats, origin and model filters, pruning per (origin, model), signatures
 * kept with each change, durability.
 * An adapter's test file calls this with a factory of fresh harnesses (or
 * `runSyncStoreConformance`, which runs it); durability cases close the store and open it again.
 */
export function runSharedLogStoreConformance(adapterName: string, newHarness: () => Promise<StoreHarness<WithClose<SharedLogStore>>>): void {
  describeStoreConformance('SharedLogStore', adapterName, newHarness, (current) => {
    const reopen = (): Promise<void> => current.reopen();

    describe('shared-change log', () => {
      const change = (time: number, counter: number, device: string, recordId: string, op: 'upsert' | 'delete' = 'upsert'): SharedChange => ({
        hlc: hlc(time, counter, device),
        model: 'tag',
        recordId,
        op,
        data: op === 'delete' ? null : { name: `tag ${recordId}`, color: null, extra: { n: time } },
      });

      it('appends idempotently on HLC and returns changes in HLC order', async () => {
        const changes = [change(30, 0, DEVICE_B, 't3'), change(10, 0, DEVICE_A, 't1'), change(10, 0, DEVICE_B, 't2'), change(10, 1, DEVICE_A, 't1', 'delete')];
        expect(await current.store.appendSharedChanges(changes)).toBe(4);
        expect(await current.store.appendSharedChanges([changes[0]!, change(40, 0, DEVICE_A, 't4')])).toBe(1);
        expect(await current.store.countSharedChanges()).toBe(5);
        const all = await current.store.sharedChangesSince({ after: null, limit: 100 });
        expect(all.map((c) => [c.hlc.time - hlc(0).time, c.hlc.counter, c.hlc.deviceId])).toEqual([
          [10, 0, DEVICE_A],
          [10, 0, DEVICE_B],
          [10, 1, DEVICE_A],
          [30, 0, DEVICE_B],
          [40, 0, DEVICE_A],
        ]);
        expect(all[0]).toEqual(changes[1]);
        expect(all[2]).toEqual({ ...changes[3], data: null });
      });

      it('pages by HLC without gaps or repeats, and filters by origin', async () => {
        const changes = Array.from({ length: 23 }, (_, i) => change(Math.floor(i / 4), i % 4, i % 2 ? DEVICE_A : DEVICE_B, `t${i}`));
        await current.store.appendSharedChanges(changes);
        const seen: string[] = [];
        let after = null;
        for (;;) {
          const page: SharedChange[] = await current.store.sharedChangesSince({ after, limit: 5 });
          if (page.length === 0) break;
          seen.push(...page.map((c) => c.recordId));
          after = page[page.length - 1]!.hlc;
        }
        const expected = [...changes].sort((a, b) => compareHlc(a.hlc, b.hlc)).map((c) => c.recordId);
        expect(seen).toEqual(expected);
        const fromA = await current.store.sharedChangesSince({ after: hlc(2, 0), limit: 100, originDeviceId: DEVICE_A });
        expect(fromA.every((c) => c.hlc.deviceId === DEVICE_A && compareHlc(c.hlc, hlc(2, 0)) > 0)).toBe(true);
        expect(fromA.map((c) => c.recordId)).toEqual(expected.filter((id) => Number(id.slice(1)) % 2 === 1 && Number(id.slice(1)) >= 9));
      });

      it('filters by model together with origin', async () => {
        await current.store.appendSharedChanges([change(1, 0, DEVICE_A, 'a'), { ...change(2, 0, DEVICE_A, 'b'), model: 'label' }, change(3, 0, DEVICE_B, 'c')]);
        const tagsOfA = await current.store.sharedChangesSince({ after: null, limit: 10, originDeviceId: DEVICE_A, model: 'tag' });
        expect(tagsOfA.map((c) => c.recordId)).toEqual(['a']);
        const labels = await current.store.sharedChangesSince({ after: null, limit: 10, model: 'label' });
        expect(labels.map((c) => c.recordId)).toEqual(['b']);
      });

      it('prunes one origin and model up to and including an HLC, leaving other origins and models', async () => {
        // Counter 1: the HLC is the primary key, so no two changes here share one.
        const label = (time: number, device: string, recordId: string): SharedChange => ({ ...change(time, 1, device, recordId), model: 'label' });
        await current.store.appendSharedChanges([
          change(1, 0, DEVICE_A, 'a'),
          change(2, 0, DEVICE_A, 'b'),
          change(3, 0, DEVICE_A, 'c'),
          // Another origin's changes of the same model, older than the bound.
          change(1, 0, DEVICE_B, 'd'),
          change(2, 0, DEVICE_B, 'e'),
          // The same origin's changes of another model.
          label(1, DEVICE_A, 'f'),
          label(2, DEVICE_A, 'g'),
        ]);
        expect(await current.store.pruneSharedChanges(DEVICE_A, 'tag', hlc(2, 0, DEVICE_A))).toBe(2);
        const left = async () => (await current.store.sharedChangesSince({ after: null, limit: 10 })).map((c) => c.recordId);
        expect(await left()).toEqual(['d', 'f', 'e', 'g', 'c']);
        // Nothing left to prune there; an origin or model without changes prunes nothing.
        expect(await current.store.pruneSharedChanges(DEVICE_A, 'tag', hlc(2, 0, DEVICE_A))).toBe(0);
        expect(await current.store.pruneSharedChanges(DEVICE_C, 'tag', hlc(100, 0, DEVICE_C))).toBe(0);
        expect(await current.store.pruneSharedChanges(DEVICE_B, 'label', hlc(100, 0, DEVICE_B))).toBe(0);
        expect(await current.store.pruneSharedChanges(DEVICE_A, 'label', hlc(1, 1, DEVICE_A))).toBe(1);
        await reopen();
        expect(await current.store.countSharedChanges()).toBe(4);
        expect(await left()).toEqual(['d', 'e', 'g', 'c']);
      });

      // Compared by expectSameWithSigs: an unsigned change must come back without a `sig` property
      // at all (not undefined, not null).
      const signed = (c: SharedChange, seed: string): SharedChange => ({ ...c, sig: testSig(seed) });

      it('returns each change with the signature it was appended with; an unsigned one without any', async () => {
        const all = [
          signed(change(1, 0, DEVICE_A, 'a'), 'a'),
          change(1, 0, DEVICE_B, 'b'),
          signed(change(2, 0, DEVICE_A, 'c', 'delete'), 'c'),
          change(2, 0, DEVICE_B, 'd', 'delete'),
          { ...signed(change(3, 0, DEVICE_B, 'e'), 'e'), model: 'label' },
          change(4, 0, DEVICE_A, 'f'),
        ];
        expect(await current.store.appendSharedChanges([...all].reverse())).toBe(6);
        const readsBack = async (): Promise<void> => {
          expectSameWithSigs(await current.store.sharedChangesSince({ after: null, limit: 100 }), all);
          expectSameWithSigs(await current.store.sharedChangesSince({ after: hlc(1, 0, DEVICE_B), limit: 2 }), all.slice(2, 4));
          expectSameWithSigs(await current.store.sharedChangesSince({ after: null, limit: 100, originDeviceId: DEVICE_A }), [all[0], all[2], all[5]]);
          expectSameWithSigs(await current.store.sharedChangesSince({ after: null, limit: 100, originDeviceId: DEVICE_B, model: 'label' }), [all[4]]);
        };
        await readsBack();
        await reopen();
        await readsBack();
      });

      it('keeps the first change stored at an HLC, with its signature or lack of one, when that HLC comes again', async () => {
        const first = [signed(change(5, 0, DEVICE_A, 'a'), 'first a'), change(6, 0, DEVICE_A, 'b')];
        await current.store.appendSharedChanges(first);
        const again = [signed(change(5, 0, DEVICE_A, 'a'), 'other a'), change(5, 0, DEVICE_A, 'a'), signed(change(6, 0, DEVICE_A, 'b'), 'late b')];
        expect(await current.store.appendSharedChanges(again)).toBe(0);
        expectSameWithSigs(await current.store.sharedChangesSince({ after: null, limit: 10 }), first);
      });
    });
  });
}
