import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpTransport, type HttpTransport, type HttpTransportInit } from '../src/index.js';

/** Shared by the test files: temp key folders, transports that get stopped, and polling with a bound. */

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Heartbeats fast enough that tests see reachability changes within a second. */
export const TEST_HEARTBEAT_MS = 200;

/** Polls `condition` until it holds; fails (never hangs) after `timeoutMs`. A bound, not a timing assertion. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Owns the temp folders and transports of one test; `cleanup()` stops and removes everything. */
export class TestNodes {
  private readonly dirs: string[] = [];
  private readonly transports: HttpTransport[] = [];
  private readonly keyPaths = new Map<HttpTransport, string>();

  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'hw-http-'));
    this.dirs.push(dir);
    return dir;
  }

  keyPath(): string {
    return join(this.tempDir(), 'key.pem');
  }

  /** A started transport on 127.0.0.1, port 0, with a fresh key file (or `init.keyPath`, or `init.deviceKey`). */
  async create(init: Partial<HttpTransportInit> = {}): Promise<HttpTransport> {
    const keyPath = init.deviceKey ? undefined : (init.keyPath ?? this.keyPath());
    const transport = createHttpTransport({ heartbeatMs: TEST_HEARTBEAT_MS, ...init, ...(keyPath ? { keyPath } : {}) });
    this.transports.push(transport);
    if (keyPath) this.keyPaths.set(transport, keyPath);
    await transport.start();
    return transport;
  }

  /** The key file of a transport this made: a restarted process would open the same one. */
  keyPathOf(transport: HttpTransport): string {
    const path = this.keyPaths.get(transport);
    if (!path) throw new Error('not a transport of these TestNodes');
    return path;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.transports.splice(0).map((t) => t.stop()));
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** Makes two running transports members of each other and waits until both list each other. */
export async function connect(a: HttpTransport, b: HttpTransport): Promise<void> {
  a.addPeer({ ...b.publicIdentity, url: b.url });
  b.addPeer({ ...a.publicIdentity, url: a.url });
  await waitFor(
    () => a.connectedPeers().includes(b.localPeerId) && b.connectedPeers().includes(a.localPeerId),
    `${a.localPeerId} and ${b.localPeerId} to see each other`,
  );
}

/** Closes a stand-in server a test started (none: nothing), cutting its open connections. */
export async function closeServer(server: import('node:http').Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
