import type { PeerEvent, Transport } from '../ports/transport.js';

// What transport adapters' tests share beyond the conformance suite: an answering handler that
// can hold a request, a bound on a promise, and a log of peer events.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Answers `<own id> got <payload> from <sender>`; a request whose payload is 'hang' reaches
 * the handler (`arrived` resolves with its sender) and is never answered.
 */
export function answerOrHang(transport: Transport): { arrived: Promise<string> } {
  let arrive!: (from: string) => void;
  const arrived = new Promise<string>((resolve) => (arrive = resolve));
  transport.handle(async (message) => {
    if (!message.expectsResponse) return undefined;
    if (decoder.decode(message.payload) === 'hang') {
      arrive(message.from);
      return new Promise<Uint8Array>(() => undefined);
    }
    return encoder.encode(`${transport.localPeerId} got ${decoder.decode(message.payload)} from ${message.from}`);
  });
  return { arrived };
}

/** `promise`, or a failure naming `what` if it has not settled within `ms` (a bound, so a regression fails instead of hanging). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** Every peer event of `transport` from now on. */
export function recordPeerEvents(transport: Transport): PeerEvent[] {
  const events: PeerEvent[] = [];
  transport.peers$.subscribe((event) => events.push(event));
  return events;
}

export const disconnectedFrom = (events: readonly PeerEvent[], peerId: string): boolean => events.some((e) => e.type === 'disconnected' && e.peerId === peerId);
