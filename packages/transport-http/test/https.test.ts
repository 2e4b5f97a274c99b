import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { HttpTransport, TlsOptions } from '../src/index.js';
import { TestNodes, bytes, connect, text, waitFor } from './helpers.js';

/** node:crypto cannot make X.509 certificates, so the openssl CLI makes a self-signed one for 127.0.0.1. */
function selfSignedCertificate(dir: string, name: string): { key: string; cert: string } {
  const which = spawnSync('which', ['openssl'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error('The https test needs the openssl CLI to create a self-signed certificate; install it (apt-get install openssl)');
  }
  const keyFile = join(dir, `${name}-key.pem`);
  const certFile = join(dir, `${name}-cert.pem`);
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

describe('HTTP transport over HTTPS', () => {
  let nodes: TestNodes;
  let a: HttpTransport;
  let b: HttpTransport;
  let certA: { key: string; cert: string };
  let certB: { key: string; cert: string };

  beforeEach(async () => {
    nodes = new TestNodes();
    const dir = nodes.tempDir();
    certA = selfSignedCertificate(dir, 'node-a');
    certB = selfSignedCertificate(dir, 'node-b');
    // Each node presents its own certificate and trusts both.
    const ca = [certA.cert, certB.cert];
    a = await nodes.create({ tls: { ...certA, ca } satisfies TlsOptions });
    b = await nodes.create({ tls: { ...certB, ca } });
    a.handle(async (m) => (m.expectsResponse ? bytes(`a:${text(m.payload)}`) : undefined));
    b.handle(async (m) => (m.expectsResponse ? bytes(`b:${text(m.payload)}`) : undefined));
  });

  afterEach(async () => nodes.cleanup());

  it('serves https and answers requests both ways', async () => {
    expect(a.url.startsWith('https://127.0.0.1:')).toBe(true);
    expect(b.url.startsWith('https://127.0.0.1:')).toBe(true);
    await connect(a, b);
    expect(text(await a.request(b.localPeerId, bytes('from a')))).toBe('b:from a');
    expect(text(await b.request(a.localPeerId, bytes('from b')))).toBe('a:from b');
    // And a large body crosses TLS intact.
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    b.handle(async () => big);
    expect(Buffer.from(await a.request(b.localPeerId, bytes('big'))).equals(Buffer.from(big))).toBe(true);
  });

  it('does not speak plain HTTP on the TLS port', async () => {
    const port = new URL(a.url).port;
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/highwater/v1/ping', agent: false }, (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
      req.end();
    });
    expect(outcome).not.toMatch(/^status 2/);
  });

  it('a node that does not trust the certificate never connects, and says why', async () => {
    // No tls option: the client trusts only the system store, which does not hold the self-signed certificate.
    const untrusting = await nodes.create();
    const events: string[] = [];
    const sub = untrusting.peers$.subscribe((e) => events.push(e.type));
    untrusting.addPeer({ ...a.publicIdentity, url: a.url });
    a.addPeer({ ...untrusting.publicIdentity, url: untrusting.url });
    let lastError: unknown;
    await waitFor(() => {
      void untrusting.request(a.localPeerId, bytes('x')).catch((e: unknown) => (lastError = e));
      return lastError instanceof Error && /certificate/.test(lastError.message);
    }, 'a heartbeat to fail on the certificate');
    sub.unsubscribe();
    expect(untrusting.connectedPeers()).not.toContain(a.localPeerId);
    // Not even briefly, although `a` (which trusts it) keeps calling in.
    expect(events).toEqual([]);
    expect(lastError).toMatchObject({ code: 'HW_PEER_UNREACHABLE' });
  });
});
