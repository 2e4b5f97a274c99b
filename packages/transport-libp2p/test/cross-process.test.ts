import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TransportError, type PeerEvent } from '@highwater/core';
import { filter, firstValueFrom, ReplaySubject, timeout } from 'rxjs';
import { loadOrCreatePeerId, type Libp2pTransport } from '../src/index.js';
import { bytes, TestNetwork, text, waitFor } from './support.js';

const distEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/echo-peer.mjs', import.meta.url));

interface ChildInfo {
  readonly peerId: string;
  readonly addresses: string[];
}

/** Starts the fixture and resolves with the identity line it prints once listening. */
function startChild(args: string[], stderr: string[]): { child: ChildProcess; ready: Promise<ChildInfo> } {
  const child = spawn(process.execPath, [fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const ready = new Promise<ChildInfo>((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(buffered.slice(0, newline)) as ChildInfo);
    });
    child.once('exit', (code, signal) => reject(new Error(`echo peer exited early (code ${code}, signal ${signal}): ${stderr.join('')}`)));
    child.once('error', reject);
  });
  return { child, ready };
}

describe('a peer in another process', () => {
  const network = new TestNetwork();
  const stderr: string[] = [];
  let parent: Libp2pTransport;
  let child: ChildProcess | undefined;
  let info: ChildInfo;
  const events = new ReplaySubject<PeerEvent>();

  beforeAll(async () => {
    if (!existsSync(distEntry)) {
      throw new Error(`${distEntry} is missing: run npm run build (npm test builds before jest)`);
    }
    const childKey = join(await network.dir(), 'child.key');
    const childId = await loadOrCreatePeerId(childKey);
    network.members.add(childId);
    parent = await network.create();
    parent.peers$.subscribe(events);
    const started = startChild([childKey, parent.localPeerId], stderr);
    child = started.child;
    info = await started.ready;
    expect(info.peerId).toBe(childId);
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await network.cleanup();
  });

  it('sends a request at once, even when the requester blocks its event loop right after asking', async () => {
    // A backfill asks for the next page, then applies the current one on a synchronous store.
    // The request must reach the peer during that work, not after it.
    await parent.dial(info.addresses[0]!);
    await waitFor('the child to be listed', () => parent.connectedPeers().includes(info.peerId));
    expect(text(await parent.request(info.peerId, bytes('warm up')))).toBe('echo:warm up');
    for (let round = 0; round < 3; round++) {
      const pending = parent.request(info.peerId, bytes('clock'));
      await new Promise((resolve) => setImmediate(resolve));
      const blockUntil = Date.now() + 300;
      while (Date.now() < blockUntil) {
        // the synchronous apply of a page
      }
      const arrivedAt = Number(text(await pending).slice('clock:'.length));
      expect(arrivedAt).toBeLessThan(blockUntil);
    }
  });

  it('talks to it, then sees it die on SIGKILL and fails requests with a typed error', async () => {
    await parent.dial(info.addresses[0]!);
    await waitFor('the child to be listed', () => parent.connectedPeers().includes(info.peerId));
    expect(text(await parent.request(info.peerId, bytes('across processes')))).toBe('echo:across processes');

    const gone = firstValueFrom(
      events.pipe(
        filter((e) => e.type === 'disconnected' && e.peerId === info.peerId),
        timeout({ first: 10_000, with: () => Promise.reject(new Error(`no 'disconnected' for the killed child; its stderr: ${stderr.join('')}`)) }),
      ),
    );
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child!.kill('SIGKILL');
    await exited;
    await gone;

    expect(parent.connectedPeers()).not.toContain(info.peerId);
    const error = await parent.request(info.peerId, bytes('anyone?'), { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('HW_PEER_UNREACHABLE');
  });
});
