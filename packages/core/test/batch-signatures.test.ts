import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { DeviceKey } from '../src/identity/device-key.js';
import { ModelRegistry } from '../src/models/model-registry.js';
import type { BatchProof } from '../src/ports/batch-proof-store.js';
import type { PageQuery, RecordStore, SyncRecord } from '../src/ports/record-store.js';
import type { SyncStore } from '../src/ports/sync-store.js';
import { DependencyParking } from '../src/sync/apply/dependency-parking.js';
import { changeToWire, compareChanges, type Change } from '../src/sync/change.js';
import { StatePageReader } from '../src/sync/serve/state-page-reader.js';
import { BatchProofs } from '../src/sync/trust/batch-proofs.js';
import { batchPlaceOf, batchRemainder, changeSigningBytes, ChangeSignatures, ForgedChangeError, SIGNATURE_BATCH_MAX, withoutProof } from '../src/sync/trust/change-signatures.js';

// Issue #19, item 3 (cost): the changes of one local write are signed in batches of up to
// SIGNATURE_BATCH_MAX by one proof — the batch's hash, each change's digest, one signature —
// kept apart from the changes and sent once per batch with any message holding some of it.
// A whole batch in order is checked by one hash and one signature; any other change of it by
// its digest. Nothing is taken on a batch's word that its proof does not prove.

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

/** A proof store in memory: what a node's sync store does with proofs. */
function proofStore(): Pick<SyncStore, 'putBatchProofs' | 'getBatchProofs'> & { readonly proofs: Map<string, BatchProof>; readonly relaxed: boolean[]; lookups: number } {
  const proofs = new Map<string, BatchProof>();
  const relaxed: boolean[] = [];
  return {
    proofs,
    relaxed,
    lookups: 0,
    async putBatchProofs(list, options) {
      relaxed.push(options?.relaxed === true);
      for (const p of list) if (!proofs.has(`${p.owner}/${p.batchId}`)) proofs.set(`${p.owner}/${p.batchId}`, p);
    },
    async getBatchProofs(owner, ids) {
      this.lookups++;
      return ids.flatMap((id) => proofs.get(`${owner}/${id}`) ?? []);
    },
  };
}

function batchProofs(store = proofStore()): BatchProofs {
  return new BatchProofs({ syncStore: store as unknown as SyncStore, logger: pino({ level: 'silent' }) });
}

/** Signed changes as a node stores them (proofs kept apart), and a function giving any selection of them as a peer would send it. */
async function storedAndSent(changes: Change[]): Promise<{ stored: Change[]; send: (selection: Change[]) => Promise<Change[]>; proofs: BatchProofs }> {
  const proofs = batchProofs();
  const stored = [...(await proofs.keep(changes, 'local'))];
  const send = async (selection: Change[]): Promise<Change[]> => {
    const wire = await proofs.attach(selection.map(changeToWire));
    return selection.map((c, i) => ({ ...c, sig: wire[i]!.sig! }));
  };
  return { stored, send, proofs };
}

describe('batch signatures', () => {
  it('sign one write in batches of at most SIGNATURE_BATCH_MAX, the first of each carrying its proof; a change alone has its own signature', () => {
    const signed = signer().sign(write(300));
    expect(SIGNATURE_BATCH_MAX).toBe(128);
    const places = signed.map((c) => batchPlaceOf(c.sig)!);
    expect(places.map((p) => `${p.index}.${p.size}`).filter((_, i) => [0, 127, 128, 256, 299].includes(i))).toEqual(['0.128', '127.128', '0.128', '0.44', '43.44']);
    expect(new Set(places.map((p) => p.batchId)).size).toBe(3);
    // The proof: the batch's hash (32 bytes), the signature (64), a 16-byte digest per change.
    expect(signed[0]!.sig).toMatch(/^[A-Za-z0-9_-]{16}\.0\.128\.[A-Za-z0-9_-]+$/);
    expect(places[0]!.proof).toHaveLength(Math.ceil(((96 + 128 * 16) * 4) / 3));
    expect(signed[1]!.sig).toMatch(/^[A-Za-z0-9_-]{16}\.1\.128$/);
    expect(withoutProof(signed[0]!.sig!)).toBe(`${places[0]!.batchId}.0.128`);
    expect(withoutProof(signed[1]!.sig!)).toBe(signed[1]!.sig);
    // A proof may ride on any member (the first of the batch a message holds), whatever its index's digits.
    const id = places[0]!.batchId;
    for (const index of [0, 7, 42, 100, 127]) expect(withoutProof(`${id}.${index}.128.${places[0]!.proof!}`)).toBe(`${id}.${index}.128`);
    expect(signer().sign(write(1))[0]!.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    // 129 changes: a batch of 128, then one alone.
    expect(signer().sign(write(129))[128]!.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect([0, 1, 127, 128, 299].map((i) => batchRemainder(signed[i]!.sig))).toEqual([127, 126, 0, 127, 0]);
    expect(batchRemainder(undefined)).toBe(0);
    expect(batchRemainder(signer().sign(write(1))[0]!.sig)).toBe(0);
  });

  it('batches follow (HLC, id) order whatever order the write gave its changes in', () => {
    const shuffled = write(10).reverse();
    const signed = signer().sign(shuffled);
    expect(signed.map((c) => c.id)).toEqual(shuffled.map((c) => c.id));
    const inOrder = [...signed].sort(compareChanges);
    expect(inOrder.map((c) => batchPlaceOf(c.sig)!.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const r = receiver();
    r.verify(inOrder);
    expect(r.signatureChecks).toBe(1);
  });

  it('a receiver checks a whole batch with one signature, and the changes of a split batch by their digests under that one signature', async () => {
    const { stored, send } = await storedAndSent(signer().sign(write(300)));
    const whole = receiver();
    whole.verify(await send(stored));
    expect(whole.signatureChecks).toBe(3);
    // From the middle of the first batch: its last 28 by their digests, then two whole batches.
    const split = receiver();
    split.verify(await send(stored.slice(100)));
    expect(split.signatureChecks).toBe(3);
    // A member replaced by a later write (missing here): the rest of that batch by their digests.
    const gap = receiver();
    gap.verify(await send([...stored.slice(0, 50), ...stored.slice(51, 128)]));
    expect(gap.signatureChecks).toBe(1);
  });

  it("a whole batch checked by one signature still refuses each of its changes stamped after its owner's revocation", async () => {
    const { stored, send } = await storedAndSent(signer().sign(write(10)));
    const sent = await send(stored);
    const revokedAt = (at: number) =>
      new ChangeSignatures({ modelRegistry: registry, identity: { libraryId: 'l', deviceId: 'device-b' } }, { deviceKey: DeviceKey.generate(), devices: [{ ...devices[0]!, revokedAt: at }] });
    // Revoked after the write: every change of it still verifies, with one check.
    const after = revokedAt(sent[9]!.hlc.time);
    after.verify(sent);
    expect(after.signatureChecks).toBe(1);
    // Revoked in the middle of it: the first change stamped later is refused, and so the whole message.
    expect(() => revokedAt(sent[6]!.hlc.time).verify(sent)).toThrow(expect.objectContaining({ reason: 'revoked', change: expect.objectContaining({ id: 'item-00007' }) }));
  });

  it('an altered change is refused, whole batch or split; so is a change dressed up as a batch member or moved to another place', async () => {
    const { stored, send } = await storedAndSent(signer().sign(write(128)));
    const sent = await send(stored);
    const altered = sent.map((c, i) => (i === 77 ? { ...c, data: { ...c.data, n: -1 } } : c));
    expect(() => receiver().verify(altered)).toThrow(ForgedChangeError);
    expect(() => receiver().verify(altered)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00077' }) }));
    expect(() => receiver().verify(altered.slice(0, 100))).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00077' }) }));
    // Other content given member 5's place.
    const smuggled = sent.map((c, i) => (i === 5 ? { ...c, data: { n: 5, label: 'forged' } } : c));
    expect(() => receiver().verify(smuggled)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00005' }) }));
    // Member 5 claiming member 6's place: the batch's hash still matches its content, but the
    // change would be stored with a place its proof does not give it, so it is checked on its own.
    const moved = sent.map((c, i) => (i === 5 ? { ...c, sig: c.sig!.replace('.5.128', '.6.128') } : c));
    expect(() => receiver().verify(moved)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00005' }) }));
  });

  it('a proof that does not verify, belongs to another batch or is missing proves nothing; a reordered batch is checked change by change', async () => {
    const { stored, send } = await storedAndSent(signer().sign(write(128)));
    const sent = await send(stored);
    const [head, ...rest] = sent;
    const place = batchPlaceOf(head!.sig)!;
    const flipped = Buffer.from(place.proof!, 'base64url');
    flipped[40]! ^= 1; // a bit of the signature
    expect(() => receiver().verify([{ ...head!, sig: `${place.batchId}.0.128.${flipped.toString('base64url')}` }, ...rest])).toThrow(
      expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00000' }) }),
    );
    // A valid proof of another batch of the same owner, under this batch's id.
    const other = batchPlaceOf(signer().sign(write(128, 1000))[0]!.sig)!;
    expect(() => receiver().verify([{ ...head!, sig: `${place.batchId}.0.128.${other.proof!}` }, ...rest])).toThrow(expect.objectContaining({ reason: 'bad-signature' }));
    expect(() => receiver().verify(stored.slice(1))).toThrow(expect.objectContaining({ reason: 'unproven', change: expect.objectContaining({ id: 'item-00001' }) }));
    // A bad proof on one change and the good one on another: the first would be stored, so the message is refused.
    const twice = [{ ...head!, sig: `${place.batchId}.0.128.${flipped.toString('base64url')}` }, { ...rest[0]!, sig: `${rest[0]!.sig}.${place.proof!}` }, ...rest.slice(1)];
    expect(() => receiver().verify(twice)).toThrow(expect.objectContaining({ reason: 'bad-signature', change: expect.objectContaining({ id: 'item-00001' }) }));
    const reordered = receiver();
    reordered.verify([head!, rest[1]!, rest[0]!, ...rest.slice(2)]);
    expect(reordered.signatureChecks).toBe(1);
  });

  it('the owner sending its own changes is not checked at all', () => {
    const r = receiver();
    r.verify(signer().sign(write(300)), 'device-a');
    expect(r.signatureChecks).toBe(0);
  });
});

describe('batch proofs: kept apart, sent once per batch in each message', () => {
  it('keep stores each proof once (durably for own writes) and strips it from its change; attach puts it on the first change of each batch a message holds', async () => {
    const store = proofStore();
    const signed = signer().sign(write(300));
    const kept = await batchProofs(store).keep(signed, 'local');
    expect(store.relaxed).toEqual([false]);
    await batchProofs(store).keep(signer().sign(write(5, 500)), 'remote');
    expect(store.relaxed).toEqual([false, true]);
    store.proofs.delete([...store.proofs.keys()].at(-1)!);
    expect([...store.proofs.values()].map((p) => [p.owner, p.batchId])).toEqual([0, 128, 256].map((i) => ['device-a', batchPlaceOf(signed[i]!.sig)!.batchId]));
    expect(kept.every((c) => batchPlaceOf(c.sig)!.proof === null)).toBe(true);
    expect(kept.map((c) => c.data)).toEqual(signed.map((c) => c.data));

    // What a relay stores from a page starting inside a batch: the carrier's place, whatever its index.
    const relay = proofStore();
    const fromMiddle = await batchProofs(store).attach(kept.slice(120, 130).map(changeToWire));
    const relayed = await batchProofs(relay).keep(fromMiddle.map((w, i) => ({ ...kept[120 + i]!, sig: w.sig! })), 'remote');
    expect(relayed.map((c) => c.sig)).toEqual(kept.slice(120, 130).map((c) => c.sig));
    expect(relay.proofs.size).toBe(2);
    store.lookups = 0;

    // A fresh node (nothing in memory) reads the proofs from its store, once per message.
    const serving = batchProofs(store);
    const wire = await serving.attach(kept.slice(100, 200).map(changeToWire));
    expect(store.lookups).toBe(1);
    const carriers = wire.flatMap((w, i) => (batchPlaceOf(w.sig)!.proof ? [i] : []));
    expect(carriers).toEqual([0, 28]);
    expect(batchPlaceOf(wire[0]!.sig)!.proof).toBe(store.proofs.get(`device-a/${batchPlaceOf(kept[0]!.sig)!.batchId}`)!.proof);
    // A message that carries a batch's proof already gets no second one.
    const again = await serving.attach([changeToWire(signed[0]!), ...kept.slice(1, 5).map(changeToWire)]);
    expect(again.map((w) => batchPlaceOf(w.sig)!.proof !== null)).toEqual([true, false, false, false, false]);
    // Changes signed alone, or unsigned, pass as they are.
    const alone = signer().sign(write(1, 900)).map(changeToWire);
    expect(await serving.attach(alone)).toEqual(alone);
  });

  it('a change stored with the form before batch proofs is sent with its own signature alone, which proves it', async () => {
    const key = ownerKey;
    const [one, two] = write(2).map((c) => ({ ...c, sig: key.sign(changeSigningBytes(registry, c)).toString('base64url') }));
    const legacy = [{ ...one!, sig: `${one!.sig}.0.2.${two!.sig}` }, { ...two!, sig: `${two!.sig}.1.2` }];
    const wire = await batchProofs().attach(legacy.map(changeToWire));
    expect(wire.map((w) => w.sig)).toEqual([one!.sig, two!.sig]);
    const r = receiver();
    r.verify(legacy.map((c, i) => ({ ...c, sig: wire[i]!.sig! })));
    expect(r.signatureChecks).toBe(2);
  });

  it('a batch whose proof this node lacks goes without one: the receiver refuses it as unproven', async () => {
    const kept = await batchProofs().keep(signer().sign(write(10)), 'remote');
    const wire = await batchProofs().attach(kept.map(changeToWire));
    expect(wire.map((w) => w.sig)).toEqual(kept.map((c) => c.sig));
    expect(() => receiver().verify(kept)).toThrow(expect.objectContaining({ reason: 'unproven' }));
  });
});

describe('pages end where a signature batch ends', () => {
  it('a page whose limit falls inside a batch is read on to the batch end; one that ends with a batch is not', async () => {
    const { stored, send } = await storedAndSent(signer().sign(write(300)));
    const records: SyncRecord[] = stored.map((c) => ({ id: c.id, ownerDeviceId: c.owner, hlc: c.hlc, data: c.data!, sig: c.sig! }));
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
    r.verify(await send(page.changes.map((c) => stored.find((s) => s.id === c.id)!)));
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
