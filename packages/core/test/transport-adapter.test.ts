import { describe, expect, it } from '@jest/globals';
import type { InboundMessage } from '../src/ports/transport.js';
import { TransportAdapter } from '../src/transport/transport-adapter.js';

/** An adapter whose steps log what they see; `failOpen` makes the next open() throw. */
class LoggingAdapter extends TransportAdapter {
  readonly log: string[] = [];
  failOpen: Error | undefined;

  deliverForTest(message: InboundMessage): Promise<Uint8Array | undefined> | undefined {
    return this.deliver(message);
  }

  protected override async open(): Promise<void> {
    this.log.push(`open (running: ${this.isRunning})`);
    const failure = this.failOpen;
    this.failOpen = undefined;
    if (failure) throw failure;
  }

  protected override afterStart(): void {
    this.log.push(`afterStart (running: ${this.isRunning})`);
  }

  protected override async close(): Promise<void> {
    this.log.push(`close (running: ${this.isRunning})`);
  }
}

const message = (text: string, expectsResponse = true): InboundMessage => ({
  from: 'peer-b',
  payload: new TextEncoder().encode(text),
  expectsResponse,
});

describe('TransportAdapter', () => {
  it('runs open, then afterStart once running, and close on stop; start and stop are idempotent', async () => {
    const adapter = new LoggingAdapter();
    expect(adapter.isRunning).toBe(false);
    await Promise.all([adapter.start(), adapter.start()]);
    await adapter.start();
    expect(adapter.isRunning).toBe(true);
    await Promise.all([adapter.stop(), adapter.stop()]);
    await adapter.stop();
    expect(adapter.isRunning).toBe(false);
    expect(adapter.log).toEqual(['open (running: false)', 'afterStart (running: true)', 'close (running: false)']);
  });

  it('is stopped after a failed open, without afterStart, and starts on the next try', async () => {
    const adapter = new LoggingAdapter();
    const failure = new Error('port in use');
    adapter.failOpen = failure;
    await expect(adapter.start()).rejects.toBe(failure);
    expect(adapter.isRunning).toBe(false);
    expect(adapter.log).toEqual(['open (running: false)']);
    await adapter.start();
    expect(adapter.isRunning).toBe(true);
  });

  it('delivers nothing while no handler is installed', () => {
    const adapter = new LoggingAdapter();
    expect(adapter.deliverForTest(message('hello'))).toBeUndefined();
  });

  it('hands the message to the installed handler and returns its answer', async () => {
    const adapter = new LoggingAdapter();
    const seen: InboundMessage[] = [];
    adapter.handle(async (m) => {
      seen.push(m);
      return new TextEncoder().encode('answer');
    });
    const sent = message('hello', false);
    const answer = await adapter.deliverForTest(sent);
    expect(seen).toEqual([sent]);
    expect(new TextDecoder().decode(answer)).toBe('answer');
  });

  it('turns a handler that throws synchronously into a rejection', async () => {
    const adapter = new LoggingAdapter();
    const failure = new Error('handler bug');
    adapter.handle(() => {
      throw failure;
    });
    let delivery: Promise<Uint8Array | undefined> | undefined;
    expect(() => {
      delivery = adapter.deliverForTest(message('hello'));
    }).not.toThrow();
    await expect(delivery).rejects.toBe(failure);
  });

  it('uses the handler installed last', async () => {
    const adapter = new LoggingAdapter();
    adapter.handle(async () => new Uint8Array([1]));
    adapter.handle(async () => new Uint8Array([2]));
    expect(await adapter.deliverForTest(message('which?'))).toEqual(new Uint8Array([2]));
  });
});
