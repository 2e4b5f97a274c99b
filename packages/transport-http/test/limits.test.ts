import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpTransportError } from '../src/index.js';
import { TestNodes, bytes, connect, text, waitFor, closeServer } from './helpers.js';
import { headersOf, rawKey, sha256, signatureOf } from './raw-http.js';

const MiB = 1024 * 1024;

describe('HTTP transport body limits on the calling side', () => {
  let nodes: TestNodes;
  let fake: Server | undefined;

  beforeEach(() => {
    nodes = new TestNodes();
  });

  afterEach(async () => {
    const server = fake;
    fake = undefined;
    await closeServer(server);
    await nodes.cleanup();
  });

  it('refuses to send a payload over its own limit, without touching the network', async () => {
    const a = await nodes.create({ maxBodyBytes: MiB });
    const b = await nodes.create();
    await connect(a, b);
    let calls = 0;
    b.handle(async () => {
      calls++;
      return bytes('x');
    });
    await expect(a.request(b.localPeerId, new Uint8Array(MiB + 1))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    await expect(a.send(b.localPeerId, new Uint8Array(MiB + 1))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    expect(calls).toBe(0);
  });

  it('a peer with a smaller limit refuses with 413 and keeps serving', async () => {
    const a = await nodes.create({ maxBodyBytes: 16 * MiB });
    const b = await nodes.create({ maxBodyBytes: MiB });
    await connect(a, b);
    const seen: number[] = [];
    b.handle(async (m) => {
      seen.push(m.payload.byteLength);
      return bytes('fine');
    });
    const error = await a.request(b.localPeerId, new Uint8Array(2 * MiB)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect(error).toMatchObject({ code: 'HW_FRAME_TOO_LARGE', status: 413 });
    expect(text(await a.request(b.localPeerId, bytes('small')))).toBe('fine');
    expect(seen).toEqual([5]);
    // A refusal is not an outage.
    expect(a.connectedPeers()).toContain(b.localPeerId);
  });

  it('refuses a response whose Content-Length is over its limit', async () => {
    const a = await nodes.create({ maxBodyBytes: MiB });
    const b = await nodes.create({ maxBodyBytes: 16 * MiB });
    await connect(a, b);
    b.handle(async (m) => (text(m.payload) === 'big' ? new Uint8Array(2 * MiB) : bytes('small')));
    await expect(a.request(b.localPeerId, bytes('big'))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    expect(text(await a.request(b.localPeerId, bytes('again')))).toBe('small');
  });

  it('stops reading a chunked response as soon as it passes the limit', async () => {
    const real = rawKey(nodes.keyPath());
    const chunk = Buffer.alloc(64 * 1024, 1);
    const offered = { bytes: 0, closed: false };
    const total = 256 * chunk.byteLength; // 16 MiB if the client read it all
    fake = createServer((req, res) => {
      req.resume();
      const isPing = req.url === '/highwater/v1/ping';
      const body = isPing ? Buffer.alloc(0) : Buffer.alloc(total, 1);
      const fields = {
        kind: 'response',
        method: req.method ?? '',
        path: req.url ?? '',
        from: real.peerId,
        to: String(req.headers['x-hw-peer']),
        timestamp: String(Date.now()),
        session: 'DDDDDDDDDDDDDDDDDDDDDA', // the answerer's session, as a real node sends it
        nonce: 'CCCCCCCCCCCCCCCCCCCCCA',
        contentSha256: sha256(body),
        status: isPing ? '204' : '200',
        inReplyTo: String(req.headers['x-hw-nonce']),
      };
      res.writeHead(isPing ? 204 : 200, headersOf(fields, signatureOf(fields, real.privateKey)));
      if (isPing) {
        res.end();
        return;
      }
      // No Content-Length: the client only learns the size by reading.
      res.on('close', () => (offered.closed = true));
      const pump = (): void => {
        while (!res.destroyed && offered.bytes < total) {
          offered.bytes += chunk.byteLength;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    const a = await nodes.create({ maxBodyBytes: MiB });
    a.addPeer({ peerId: real.peerId, publicKey: real.publicKey, url });
    await waitFor(() => a.connectedPeers().includes(real.peerId), 'the fake peer to answer heartbeats');
    await expect(a.request(real.peerId, bytes('stream please'))).rejects.toMatchObject({ code: 'HW_FRAME_TOO_LARGE' });
    await waitFor(() => offered.closed, 'the client to close the oversized response');
    expect(offered.bytes).toBeLessThan(total);
  });
});
