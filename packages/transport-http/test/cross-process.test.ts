import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { TransportError } from '@highwater/core';
import type { ConfiguredHttpPeer, HttpPeer, HttpTransport } from '../src/index.js';
import { TEST_HEARTBEAT_MS, TestNodes, bytes, text, waitFor } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/echo-peer.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** The child runs the built package: refuse clearly when there is none (or only the empty stub). */
function assertBuilt(): void {
  if (!existsSync(DIST) || !readFileSync(DIST, 'utf8').includes('createHttpTransport')) {
    throw new Error(`${DIST} is missing or out of date: run npm run build (npm test builds before jest)`);
  }
}

/** Spawns the echo peer and resolves with what it announces on its first stdout line. */
function spawnPeer(keyPath: string, parent: HttpPeer): { child: ChildProcess; announced: Promise<ConfiguredHttpPeer>; exited: Promise<void> } {
  const child = spawn(process.execPath, [FIXTURE, keyPath, JSON.stringify(parent)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const announced = new Promise<ConfiguredHttpPeer>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      lines.close();
      resolve(JSON.parse(line) as ConfiguredHttpPeer);
    });
    child.once('exit', (code) => reject(new Error(`echo peer exited (${code}) before announcing itself: ${stderr}`)));
  });
  return { child, announced, exited };
}

describe('HTTP transport across processes', () => {
  let nodes: TestNodes;
  let child: ChildProcess | undefined;
  let exited: Promise<void> | undefined;

  beforeEach(() => {
    assertBuilt();
    nodes = new TestNodes();
  });

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    child = undefined;
    await nodes.cleanup();
  });

  it('talks to a peer in another process and reports it disconnected once that process is killed', async () => {
    const parent: HttpTransport = await nodes.create();
    const spawned = spawnPeer(nodes.keyPath(), { ...parent.publicIdentity, url: parent.url });
    child = spawned.child;
    exited = spawned.exited;
    const peer = await spawned.announced;
    parent.addPeer(peer);
    await waitFor(() => parent.connectedPeers().includes(peer.peerId), 'the child peer to connect');

    expect(text(await parent.request(peer.peerId, bytes('hello')))).toBe('echo:hello');

    // A generous bound, not a timing assertion: the heartbeat is 200 ms and 2 failures are needed.
    const gone = firstValueFrom(parent.peers$.pipe(filter((e) => e.type === 'disconnected' && e.peerId === peer.peerId), timeout(50 * TEST_HEARTBEAT_MS)));
    child.kill('SIGKILL');
    await spawned.exited;
    await gone;
    expect(parent.connectedPeers()).not.toContain(peer.peerId);
    const error = await parent.request(peer.peerId, bytes('still there?'), { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('HW_PEER_UNREACHABLE');
  });
});
