import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The package entry first: it installs the Promise.withResolvers polyfill libp2p needs on Node 20.
import { createLibp2pTransport, type Libp2pTransport, type Libp2pTransportInit } from '../src/index.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Polls `condition` until it holds; fails with `what` after `limitMs` (a hang guard, not a timing assertion). */
export async function waitFor(what: string, condition: () => boolean, limitMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > limitMs) throw new Error(`Gave up waiting for ${what} after ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'hw-libp2p-'));
}

/**
 * Transports on 127.0.0.1 with their own key files in temp directories, all members of one
 * library: `members` is a function over a set that grows as transports are created, so the
 * ids need not be known up front.
 */
export class TestNetwork {
  readonly members = new Set<string>();
  private readonly transports: Libp2pTransport[] = [];
  private readonly dirs: string[] = [];

  async dir(): Promise<string> {
    const dir = await tempDir();
    this.dirs.push(dir);
    return dir;
  }

  /** A started member transport, on `init.deviceKey` or `init.keyPath` (default: a new key file). */
  async create(init: Partial<Libp2pTransportInit> = {}): Promise<Libp2pTransport> {
    const key = init.deviceKey ? {} : { keyPath: init.keyPath ?? join(await this.dir(), 'node.key') };
    const transport = await createLibp2pTransport({ members: () => this.members, ...init, ...key });
    this.members.add(transport.localPeerId);
    this.transports.push(transport);
    await transport.start();
    return transport;
  }

  /** Dials b from a and waits until both list each other. */
  async connect(a: Libp2pTransport, b: Libp2pTransport): Promise<void> {
    const address = b.addresses()[0];
    if (!address) throw new Error('b has no listen address');
    await a.dial(address);
    await waitFor('both sides to list each other', () => a.connectedPeers().includes(b.localPeerId) && b.connectedPeers().includes(a.localPeerId));
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.transports.splice(0).map((t) => t.stop()));
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/**
 * A plain libp2p node (TCP, Noise, Yamux, nothing else): a peer that speaks libp2p but not
 * through the transport, to open raw streams on the sync protocol.
 */
export async function createRawNode(): Promise<Libp2p> {
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
}

/** How a raw exchange on the sync protocol ended, seen from the client. */
export type RawOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly payload: Uint8Array }
  | { readonly kind: 'dropped'; readonly error: Error };

/**
 * Opens a stream on `protocol` over `connection`, writes `raw` as is (no framing added), closes
 * the writing side and reads one length-prefixed frame back. Ends within `limitMs`: a stream
 * the server neither answers nor drops shows up as 'dropped' with a timeout error.
 */
export async function rawExchange(connection: Connection, protocol: string, raw: Uint8Array, limitMs = 10_000): Promise<RawOutcome> {
  const signal = AbortSignal.timeout(limitMs);
  let stream: Stream;
  try {
    stream = await connection.newStream(protocol, { signal });
  } catch (error) {
    return { kind: 'dropped', error: error as Error };
  }
  const lp = lpStream(stream, { maxDataLength: 64 * 1024 * 1024, maxBufferSize: 64 * 1024 * 1024 + 16 });
  try {
    if (raw.byteLength > 0 && !stream.send(raw)) await stream.onDrain({ signal });
    await stream.close({ signal });
    const frame = await lp.read({ signal });
    if (frame.byteLength === 0) return { kind: 'dropped', error: new Error('empty response frame') };
    return { kind: 'response', status: frame.get(0), payload: frame.slice(1) };
  } catch (error) {
    stream.abort(error as Error);
    return { kind: 'dropped', error: error as Error };
  }
}
