import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { decodeMessage, encodeMessage, formatHlc, jsonCodec, SyncNode, TransportError, type SyncMessage, type Transport } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, type HttpTransport } from '@highwater/transport-http';
import { createLibp2pTransport, loadOrCreatePeerId, type Libp2pTransport } from '@highwater/transport-libp2p';
import { id, LIBRARY_ID, locationData, registry } from './support/library.js';

/**
 * Hostile bytes from an authenticated member, over each real transport, at a running node:
 * every case is answered with a typed error or dropped, nothing stored changes, and the node
 * keeps serving.
 */
interface Pair {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly attacker: Transport;
  readonly nodePeerId: string;
  close(): Promise<void>;
}

async function libp2pPair(dir: string, storage: SqliteStorage): Promise<Pair> {
  const members = new Set<string>();
  members.add(await loadOrCreatePeerId(join(dir, 'node.key')));
  members.add(await loadOrCreatePeerId(join(dir, 'attacker.key')));
  const nodeTransport: Libp2pTransport = await createLibp2pTransport({ keyPath: join(dir, 'node.key'), members: () => members });
  const attacker: Libp2pTransport = await createLibp2pTransport({ keyPath: join(dir, 'attacker.key'), members: () => members });
  const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: 'device-b', registry, storage, transport: nodeTransport, metricsIntervalMs: 0 });
  await node.start();
  await attacker.start();
  await attacker.dial(nodeTransport.addresses()[0]!);
  await firstValueFrom(nodeTransport.peers$.pipe(filter((e) => e.type === 'connected'), timeout(10_000)));
  return { node, storage, attacker, nodePeerId: nodeTransport.localPeerId, close: async () => (await node.stop(), await attacker.stop()) };
}

async function httpPair(dir: string, storage: SqliteStorage): Promise<Pair> {
  const nodeTransport: HttpTransport = createHttpTransport({ keyPath: join(dir, 'node-http.key'), heartbeatMs: 200 });
  const attacker: HttpTransport = createHttpTransport({ keyPath: join(dir, 'attacker-http.key'), heartbeatMs: 200 });
  const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: 'device-b', registry, storage, transport: nodeTransport, metricsIntervalMs: 0 });
  await node.start();
  await attacker.start();
  nodeTransport.addPeer({ peerId: attacker.localPeerId, url: attacker.url, publicKey: attacker.publicIdentity.publicKey });
  attacker.addPeer({ peerId: nodeTransport.localPeerId, url: nodeTransport.url, publicKey: nodeTransport.publicIdentity.publicKey });
  await firstValueFrom(attacker.peers$.pipe(filter((e) => e.type === 'connected'), timeout(10_000)));
  return { node, storage, attacker, nodePeerId: nodeTransport.localPeerId, close: async () => (await node.stop(), await attacker.stop()) };
}

const envelope = { v: 1 as const, libraryId: LIBRARY_ID, deviceId: 'device-x' };
const hlc = (n: number) => formatHlc({ time: 1_790_000_000_000 + n, counter: 0, deviceId: 'device-x' });
const validBatch = (n: number): SyncMessage => ({
  ...envelope,
  type: 'state-batch',
  changes: [{ model: 'location', id: `x-${n}`, owner: 'device-x', hlc: hlc(n), op: 'upsert', data: locationData(n) }],
});

/** A valid message with one field, at any depth, replaced by an arbitrary JSON value. */
function mutate(message: unknown, path: number, value: unknown): unknown {
  const copy = structuredClone(message) as Record<string, unknown>;
  const slots: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach((item, i) => (slots.push([v, i]), walk(item)));
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) (slots.push([v as Record<string, unknown>, k]), walk((v as Record<string, unknown>)[k]));
  };
  walk(copy);
  const [holder, key] = slots[path % slots.length]!;
  (holder as Record<string | number, unknown>)[key] = value;
  return copy;
}

const hostilePayload = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
  fc.tuple(fc.nat(1000), fc.nat(), fc.jsonValue({ maxDepth: 3 })).map(([n, path, value]) =>
    new TextEncoder().encode(JSON.stringify(mutate(validBatch(n), path, value))),
  ),
  fc.tuple(fc.nat(1000), fc.nat()).map(([n, cut]) => {
    const bytes = encodeMessage(jsonCodec, validBatch(n));
    return bytes.slice(0, cut % bytes.byteLength);
  }),
  fc.nat(1000).map((n) => encodeMessage(jsonCodec, { ...validBatch(n), libraryId: 'another-library' } as SyncMessage)),
  fc.nat(1000).map((n) => new TextEncoder().encode(JSON.stringify({ ...validBatch(n), changes: [{ ...(validBatch(n) as unknown as { changes: object[] }).changes[0], model: 'nope' }] }))),
);

describe.each([
  ['libp2p', libp2pPair],
  ['http', httpPair],
] as const)('hostile input over %s', (_name, makePair) => {
  let dir: string;
  let pair: Pair;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-hostile-'));
    const storage = createSqliteStorage({ directory: join(dir, 'b'), registry, synchronous: 'normal' });
    pair = await makePair(dir, storage);
    await pair.node.write('location', Array.from({ length: 20 }, (_, i) => ({ id: id('loc', i), data: locationData(i) })));
  }, 30_000);
  afterAll(async () => {
    await pair.close();
    await pair.storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses or drops every hostile message; nothing stored changes and the node keeps serving', async () => {
    const before = { count: await pair.node.count('location'), watermarks: pair.node.watermarks(), records: await pair.node.get('location', [id('loc', 3)]) };
    await fc.assert(
      fc.asyncProperty(hostilePayload, fc.boolean(), async (payload, asRequest) => {
        if (asRequest) {
          try {
            const reply = decodeMessage(jsonCodec, await pair.attacker.request(pair.nodePeerId, payload, { timeoutMs: 10_000 }), LIBRARY_ID);
            // Whatever was sent, a request is answered with an error or a real answer — never silence.
            expect(['error', 'state-response', 'shared-change-response', 'watermark-exchange-response']).toContain(reply.type);
          } catch (error) {
            expect(error).toBeInstanceOf(TransportError);
          }
        } else {
          await pair.attacker.send(pair.nodePeerId, payload).catch((error: unknown) => expect(error).toBeInstanceOf(TransportError));
        }
      }),
      { numRuns: 150, seed: 0x5eed },
    );
    await pair.node.settle();
    // Valid-looking random changes may have been applied only if fully valid; anything from
    // device-x is a new record of its own, so A's records and their watermarks are untouched.
    expect(await pair.node.get('location', [id('loc', 3)])).toEqual(before.records);
    expect(pair.node.watermarks().filter((w) => w.owner === 'device-b')).toEqual(before.watermarks.filter((w) => w.owner === 'device-b'));
    expect(await pair.node.count('location', 'device-b')).toBe(before.count);
    expect(pair.node.metrics().messagesRefused).toBeGreaterThan(0);

    // Still serving: a valid exchange is answered with the node's heads.
    const answer = decodeMessage(
      jsonCodec,
      await pair.attacker.request(pair.nodePeerId, encodeMessage(jsonCodec, { ...envelope, type: 'watermark-exchange-request', requestId: 'r1', heads: [] })),
      LIBRARY_ID,
    );
    expect(answer.type).toBe('watermark-exchange-response');
    expect(answer.type === 'watermark-exchange-response' && answer.heads.some((h) => h.owner === 'device-b' && h.resource === 'location' && h.count === 20)).toBe(true);
  }, 120_000);
});
