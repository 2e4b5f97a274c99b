import { describe, expect, it } from '@jest/globals';
import { DeviceKey } from '../src/identity/device-key.js';
import { ModelRegistry } from '../src/models/model-registry.js';
import type { PageQuery, RecordStore, SyncRecord } from '../src/ports/record-store.js';
import type { SyncStore } from '../src/ports/sync-store.js';
import { DependencyParking } from '../src/sync/apply/dependency-parking.js';
import { compareChanges, type Change } from '../src/sync/change.js';
import { StatePageReader } from '../src/sync/serve/state-page-reader.js';
import { batchRemainder, ChangeSignatures, ForgedChangeError, SIGNATURE_BATCH_MAX } from '../src/sync/trust/change-signatures.js';

// Issue #19, item 3 (cost): the changes of one local write are also signed in batches of up to
// SIGNATURE_BATCH_MAX, so a receiver given a whole batch checks one Ed25519 signature for it;
// pages end where a batch ends. Each change keeps its own signature: a batch split by a later
// write, reordered or with a bad batch signature is checked change by change, never trusted.

const registry = new ModelRegistry([{ name: 'item', ownership: 'device', key: 'id', fields: { n: { type: 'integer' }, label: { type: 'text', nullable: true } } }]);
const ownerKey = DeviceKey.generate();
const devices = [{ deviceId: 'device-a', publicKey: ownerKey.publicKey }];
const signer = () => new ChangeSignatures({ modelRegistry: registry, identity: { libraryId: 'l', deviceId: 'device-a' } }, { deviceKey: ownerKey, devices });
const receiver = () => new ChangeSignatures({ modelRegistry: registry, identity: { libraryId: 'l', deviceId: 'device-b' } }, { deviceKey: DeviceKey.generate(), devices });

function write(count: number, from = 0): Change[] {
  return Array.from({ length: count }, (_, i) => ({
    model: 'item',
    id: `item-${String(from + i).padStart(5, '0')}`,
    owner: 'device-a',
    hlc: { time: 1_790_000_000_000 + from + i, counter: 0, deviceId: 'device-a' },
    op: 'upsert' as const,
    data: { n: from + i, label: `label ${from + i}` },
  }));
}

describe('batch signatures', () => {
  it('sign one write in batches of at most SIGNATURE_BATCH_MAX, each change also on its own', () => {
    const signed = signer().sign(write(300));
    expect(SIGNATURE_BATCH_MAX).toBe(128);
    const places = signed.map((c) => c.sig!.split('.').slice(1, 3).join('.'));
    expect(places[0]).toBe('0.128');
    expect(places[127]).toBe('127.128');
    expect(places[128]).toBe('0.128');
    expect(places[256]).toBe('0.44');
    expect(places[299]).toBe('43.44');
    expect(signed[0]!.sig).toMatch(/^[A-Za-z0-9_-]{86}\.0\.128\.[A-Za-z0-9_-]{86}$/);
    expect(signed[1]!.sig).toMatch(/^[A-Za-z0-9_-]{86}\.1\.128$/);
    expect(signer().sign(write(1))[0]!.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect([0, 1, 127, 128, 299].map((i) => batchRemainder(signed[i]!.sig))).toEqual([127, 126, 0, 127, 0]);
    expect(batchRemainder(undefined)).toBe(0);
  });

  it('batches follow (HLC, id) order whatever order the write gave its changes in', () => {
    const shuffled = write(10).reverse();
    const signed = signer().sign(shuffled);
    expect(signed.map((c) => c.id)).toEqual(shuffled.map((c) => c.id));
    const inOrder = [...signed].sort(compareChanges);
    expect(inOrder.map((c) => Number(c.sig!.split('.')[1]))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const r = receiver();
    r.verify(inOrder);
    expect(r.signatureChecks).toBe(1);
  });

  it('a receiver checks a whole batch with one signature, and the parts of split batches change by change', () => {
    const signed = signer().sign(write(300));
    const whole = receiver();
    whole.verify(signed);
    expect(whole.signatureChecks).toBe(3);
    // From the middle of the first batch: its last 28 one by one, then two whole batches.
    const split = receiver();
    split.verify(signed.slice(100));
    expect(split.signatureChecks).toBe(28 + 2);
    // A member replaced by a later write (missing here): that batch one by one.
    const gap = receiver();
    gap.verify([...signed.slice(0, 50), ...signed.slice(51, 128)]);
    expect(gap.signatureChecks).toBe(127);
  });

  it('an altered change in a whole batch is refused; so is a change dressed up as a batch member', () => {
    const signed = signer().sign(write(128));
    const altered = signed.map((c, i) => (i === 77 ? { ...c, data: { ...c.data, n: -1 } } : c));
    expect(() => receiver().verify(altered)).toThrow(ForgedChangeError);
    expect(() => receiver().verify(altered)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00077' }) }));
    // Another key's change given member 5's place: the batch fails, and that change is refused on its own.
    const other = new ChangeSignatures({ modelRegistry: registry, identity: { libraryId: 'l', deviceId: 'device-a' } }, { deviceKey: DeviceKey.generate(), devices: [] });
    const forged = other.sign(write(1, 5).map((c) => ({ ...c, data: { n: 5, label: 'forged' } })))[0]!;
    const smuggled = signed.map((c, i) => (i === 5 ? { ...forged, sig: `${forged.sig!}.5.128` } : c));
    expect(() => receiver().verify(smuggled)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00005' }) }));
    // The same content with a wrong signature of its own: the batch covers the own signatures, so
    // the batch fails and the change is refused (a node never stores a signature its owner did not make).
    const garbled = signed.map((c, i) => (i === 5 ? { ...c, sig: `${forged.sig!}.5.128` } : c));
    expect(() => receiver().verify(garbled)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00005' }) }));
  });

  it('a bad batch signature or a reordered batch proves nothing: each change is checked on its own and honest ones pass', () => {
    const signed = signer().sign(write(128));
    const [head, ...rest] = signed;
    const own = head!.sig!.split('.')[0]!;
    const badBatch = receiver();
    badBatch.verify([{ ...head!, sig: `${own}.0.128.${own}` }, ...rest]);
    expect(badBatch.signatureChecks).toBe(1 + 128);
    const reordered = receiver();
    reordered.verify([head!, rest[1]!, rest[0]!, ...rest.slice(2)]);
    expect(reordered.signatureChecks).toBe(1 + 128);
    expect(() => receiver().verify([{ ...head!, sig: `${own}.0.1.${own}` }])).toThrow(expect.objectContaining({ reason: 'bad-signature' }));
  });

  it('the owner sending its own changes is not checked at all', () => {
    const r = receiver();
    r.verify(signer().sign(write(300)), 'device-a');
    expect(r.signatureChecks).toBe(0);
  });
});

describe('pages end where a signature batch ends', () => {
  it('a page whose limit falls inside a batch is read on to the batch end; one that ends with a batch is not', async () => {
    const signed = signer().sign(write(300));
    const records: SyncRecord[] = signed.map((c) => ({ id: c.id, ownerDeviceId: c.owner, hlc: c.hlc, data: c.data!, sig: c.sig! }));
    const store = {
      page: async (_model: string, q: PageQuery) => {
        return records.filter((r) => !q.after || compareChanges(r, q.after) > 0).slice(0, q.limit);
      },
    } as unknown as RecordStore;
    const syncStore = { tombstonesAfter: async () => [] } as unknown as SyncStore;
    const reader = new StatePageReader(store, syncStore, new DependencyParking());
    const first = await reader.readOnce({ model: 'item', owner: 'device-a', limit: 100 });
    expect(first.changes).toHaveLength(100);
    const page = await reader.read({ model: 'item', owner: 'device-a', limit: 100 });
    expect(page.changes.map((c) => c.id)).toEqual(records.slice(0, 128).map((r) => r.id));
    expect(page).toMatchObject({ hasMore: true, next: { id: records[127]!.id } });
    const r = receiver();
    r.verify(page.changes.map((c) => ({ ...signed.find((s) => s.id === c.id)!, sig: c.sig! })));
    expect(r.signatureChecks).toBe(1);
    // From a batch start, a limit that ends exactly at a batch end goes no further.
    const aligned = await reader.read({ model: 'item', owner: 'device-a', limit: 128, after: { hlc: records[127]!.hlc, id: records[127]!.id } });
    expect(aligned.changes.map((c) => c.id)).toEqual(records.slice(128, 256).map((r) => r.id));
    expect(aligned).toMatchObject({ hasMore: true, next: { id: records[255]!.id } });
    // The end of the stream ends a page wherever it falls.
    const last = await reader.read({ model: 'item', owner: 'device-a', limit: 100, after: { hlc: records[255]!.hlc, id: records[255]!.id } });
    expect(last).toMatchObject({ hasMore: false });
    expect(last.changes).toHaveLength(44);
  });
});
