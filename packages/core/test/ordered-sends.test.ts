import { describe, expect, it } from '@jest/globals';
import { OrderedSends } from '../src/transport/ordered-sends.js';
import { deferred, settle } from './support/deferred.js';

describe('OrderedSends', () => {
  it('runs the tasks of one key one after another, in call order, even when a later one is ready first', async () => {
    const sends = new OrderedSends();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((g, i) =>
      sends.run('peer-a', async () => {
        log.push(`start ${i}`);
        await g.promise;
        log.push(`end ${i}`);
        return i;
      }),
    );
    await settle();
    expect(log).toEqual(['start 0']); // the others wait for it
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(log).toEqual(['start 0']); // still waiting: 1 and 2 are ready but 0 is not done
    gates[0]!.resolve();
    expect(await Promise.all(results)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('never starts a task inside run()', async () => {
    const sends = new OrderedSends();
    let started = false;
    const done = sends.run('peer-a', async () => {
      started = true;
    });
    expect(started).toBe(false);
    await done;
    expect(started).toBe(true);
  });

  it('keeps keys apart: a slow task of one key does not hold back another key', async () => {
    const sends = new OrderedSends();
    const slow = deferred();
    const log: string[] = [];
    const a = sends.run('peer-a', async () => {
      await slow.promise;
      log.push('a');
    });
    await sends.run('peer-b', async () => {
      log.push('b');
    });
    expect(log).toEqual(['b']);
    slow.resolve();
    await a;
    expect(log).toEqual(['b', 'a']);
  });

  it('gives a failure to its own caller only, and runs the next task of the key', async () => {
    const sends = new OrderedSends();
    const failure = new Error('peer gone');
    const log: string[] = [];
    const first = sends.run('peer-a', async () => {
      log.push('first');
      throw failure;
    });
    const second = sends.run('peer-a', async () => {
      log.push('second');
      return 'delivered';
    });
    await expect(first).rejects.toBe(failure);
    await expect(second).resolves.toBe('delivered');
    expect(log).toEqual(['first', 'second']);
  });

  it('waits for a failing task to finish before the next one starts', async () => {
    const sends = new OrderedSends();
    const failing = deferred();
    const log: string[] = [];
    const first = sends.run('peer-a', async () => {
      log.push('first starts');
      await failing.promise;
    });
    const second = sends.run('peer-a', async () => {
      log.push('second starts');
    });
    await settle();
    expect(log).toEqual(['first starts']);
    failing.reject(new Error('timeout'));
    await expect(first).rejects.toThrow('timeout');
    await second;
    expect(log).toEqual(['first starts', 'second starts']);
  });

  it('forgets a key once nothing is queued for it, whether its tasks succeeded or failed', async () => {
    const sends = new OrderedSends();
    expect(sends.size).toBe(0);
    const held = deferred();
    const a1 = sends.run('peer-a', () => held.promise);
    const a2 = sends.run('peer-a', async () => {
      throw new Error('no');
    });
    const b = sends.run('peer-b', async () => 'ok');
    expect(sends.size).toBe(2);
    await b;
    await settle();
    expect(sends.size).toBe(1); // peer-a still has work
    held.resolve();
    await a1;
    await expect(a2).rejects.toThrow('no');
    await settle();
    expect(sends.size).toBe(0);
  });

  it('keeps the order of tasks queued while earlier ones of the key are finishing', async () => {
    const sends = new OrderedSends();
    const log: number[] = [];
    const first = sends.run('peer-a', async () => {
      log.push(1);
    });
    await first; // the key's tail may still be in the map: a new task must queue behind nothing stale
    const later = [2, 3, 4].map((n) =>
      sends.run('peer-a', async () => {
        log.push(n);
      }),
    );
    await Promise.all(later);
    await settle();
    expect(log).toEqual([1, 2, 3, 4]);
    expect(sends.size).toBe(0);
  });
});
