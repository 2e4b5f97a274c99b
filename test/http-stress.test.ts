import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { SyncNode } from '@highwater/core';
import { createSqliteStorage, type SqliteStorage } from '@highwater/storage-sqlite';
import { createHttpTransport, type HttpTransport } from '@highwater/transport-http';
import { eventually, id, LIBRARY_ID, locationData, registry } from './support/library.js';

// Issue #20, item 3: 500 connections at once against a node's HTTP port — half of them
// slow-header clients (a request started, a header line now and then, never finished), half
// connected and silent — while a member backfills from it. The member is served in full, the
// node goes on serving, and it closes every one of the 500 once its headers timeout (10 s) is past.
// The figures (how much the attack slows a backfill) are the bench's `http-stress` stage.

const ATTACKERS = 500;
const RECORDS = 3_000;

interface Device {
  readonly node: SyncNode;
  readonly storage: SqliteStorage;
  readonly transport: HttpTransport;
}

describe('HTTP transport under 500 slow and silent connections', () => {
  const dirs: string[] = [];
  const devices: Device[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const d of devices.splice(0)) {
      await d.node.stop();
      await d.storage.close();
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function device(name: string): Promise<Device> {
    const dir = mkdtempSync(join(tmpdir(), `hw-stress-${name}-`));
    dirs.push(dir);
    const storage = createSqliteStorage({ directory: dir, registry, synchronous: 'normal' });
    const transport = createHttpTransport({ keyPath: join(dir, 'device.key'), heartbeatMs: 500 });
    const node = await SyncNode.create({ libraryId: LIBRARY_ID, deviceId: name, registry, storage, transport, metricsIntervalMs: 0, pageSize: 200 });
    await node.start();
    const d = { node, storage, transport };
    devices.push(d);
    return d;
  }

  it('a member backfills in full while 500 connections stall the port, and every one of them is closed once its headers time out', async () => {
    const a = await device('device-a');
    await a.node.write('location', Array.from({ length: RECORDS }, (_, n) => ({ id: id('loc', n), data: locationData(n) })));
    const { hostname, port } = new URL(a.transport.url);

    // The attack: half send a request line and then one header line every 300 ms, half nothing.
    let closedByServer = 0;
    const trickles: NodeJS.Timeout[] = [];
    await Promise.all(
      Array.from({ length: ATTACKERS }, (_, i) =>
        new Promise<void>((resolve, reject) => {
          const socket = connect({ host: hostname, port: Number(port) }, () => {
            if (i % 2 === 0) {
              socket.write('POST /highwater/v1/message HTTP/1.1\r\nHost: highwater\r\n');
              trickles.push(setInterval(() => socket.writable && socket.write(`X-Slow-${i}: ${Date.now()}\r\n`), 300));
            }
            resolve();
          });
          socket.on('error', () => undefined);
          socket.once('close', () => (closedByServer += 1));
          socket.once('error', reject);
          sockets.push(socket);
        }),
      ),
    );

    try {
      // A member backfills meanwhile, in full.
      const b = await device('device-b');
      a.transport.addPeer({ peerId: b.transport.localPeerId, url: b.transport.url, publicKey: b.transport.publicIdentity.publicKey });
      b.transport.addPeer({ peerId: a.transport.localPeerId, url: a.transport.url, publicKey: a.transport.publicIdentity.publicKey });
      await firstValueFrom(b.node.state$.pipe(filter((s) => s === 'ready'), timeout(60_000)));
      await eventually(async () => (await b.node.count('location')) === RECORDS, 'B holding all of A', 60_000);

      // A still serves: a live write reaches B.
      await a.node.write('location', [{ id: id('loc', RECORDS), data: locationData(RECORDS) }]);
      await eventually(async () => (await b.node.count('location')) === RECORDS + 1, 'B getting a live write', 30_000);

      // Every stalled connection is closed by A once its headers timeout is past (10 s, checked each second).
      await eventually(() => closedByServer === ATTACKERS, `A closing all ${ATTACKERS} stalled connections`, 20_000).catch((error: Error) => {
        throw new Error(`${error.message}; it closed ${closedByServer}`);
      });
    } finally {
      for (const t of trickles) clearInterval(t);
    }
  }, 90_000);
});
