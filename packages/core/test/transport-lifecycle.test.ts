import { describe, expect, it } from '@jest/globals';
import { TransportLifecycle } from '../src/transport/transport-lifecycle.js';
import { deferred, settle, type Deferred } from './support/deferred.js';

/**
 * A lifecycle whose steps wait for the test: each call to a step takes the next deferred from
 * its list (or resolves at once when the list is empty) and logs what happened, with the
 * state the lifecycle was in.
 */
function scripted() {
  const log: string[] = [];
  const starts: Deferred[] = [];
  const stops: Deferred[] = [];
  const lifecycle: TransportLifecycle = new TransportLifecycle({
    start: async () => {
      log.push(`start step (${lifecycle.state})`);
      await starts.shift()?.promise;
    },
    afterStart: () => log.push(`after start (${lifecycle.state})`),
    stop: async () => {
      log.push(`stop step (${lifecycle.state})`);
      await stops.shift()?.promise;
    },
  });
  return { lifecycle, log, starts, stops };
}

describe('TransportLifecycle', () => {
  it('starts stopped, is starting during the start step and running after it', async () => {
    const { lifecycle, log, starts } = scripted();
    expect(lifecycle.state).toBe('stopped');
    expect(lifecycle.isRunning).toBe(false);
    const gate = deferred();
    starts.push(gate);
    const started = lifecycle.start();
    expect(lifecycle.state).toBe('starting');
    expect(lifecycle.isRunning).toBe(false);
    gate.resolve();
    await started;
    expect(lifecycle.state).toBe('running');
    expect(lifecycle.isRunning).toBe(true);
    expect(log).toEqual(['start step (starting)', 'after start (running)']);
  });

  it('is stopping during the stop step and stopped after it', async () => {
    const { lifecycle, log, stops } = scripted();
    await lifecycle.start();
    const gate = deferred();
    stops.push(gate);
    const stopped = lifecycle.stop();
    expect(lifecycle.state).toBe('stopping');
    expect(lifecycle.isRunning).toBe(false);
    gate.resolve();
    await stopped;
    expect(lifecycle.state).toBe('stopped');
    expect(log).toEqual(['start step (starting)', 'after start (running)', 'stop step (stopping)']);
  });

  it('is idempotent: start while running and stop while stopped run no step', async () => {
    const { lifecycle, log } = scripted();
    await lifecycle.stop();
    expect(log).toEqual([]);
    await lifecycle.start();
    await lifecycle.start();
    expect(log).toEqual(['start step (starting)', 'after start (running)']);
    await lifecycle.stop();
    await lifecycle.stop();
    expect(log).toEqual(['start step (starting)', 'after start (running)', 'stop step (stopping)']);
  });

  it('starts again after a stop', async () => {
    const { lifecycle, log } = scripted();
    await lifecycle.start();
    await lifecycle.stop();
    await lifecycle.start();
    expect(lifecycle.state).toBe('running');
    expect(log.filter((line) => line.startsWith('start step'))).toHaveLength(2);
  });

  it('lets concurrent start() callers share one start', async () => {
    const { lifecycle, log, starts } = scripted();
    const gate = deferred();
    starts.push(gate);
    const first = lifecycle.start();
    const second = lifecycle.start();
    gate.resolve();
    await Promise.all([first, second]);
    expect(lifecycle.state).toBe('running');
    expect(log).toEqual(['start step (starting)', 'after start (running)']);
  });

  it('gives concurrent start() callers the same error, leaves it stopped, and a later start() tries again', async () => {
    const { lifecycle, log, starts } = scripted();
    const gate = deferred();
    starts.push(gate);
    const first = lifecycle.start();
    const second = lifecycle.start();
    const failure = new Error('cannot listen');
    gate.reject(failure);
    await expect(first).rejects.toBe(failure);
    await expect(second).rejects.toBe(failure);
    expect(lifecycle.state).toBe('stopped');
    expect(log).toEqual(['start step (starting)']); // no afterStart for a failed start

    await lifecycle.start();
    expect(lifecycle.state).toBe('running');
    expect(log).toEqual(['start step (starting)', 'start step (starting)', 'after start (running)']);
  });

  it('turns a synchronous throw of the start step into a rejection and a stopped state', async () => {
    const failure = new Error('bad options');
    const lifecycle = new TransportLifecycle({
      start: () => {
        throw failure;
      },
      stop: async () => undefined,
    });
    await expect(lifecycle.start()).rejects.toBe(failure);
    expect(lifecycle.state).toBe('stopped');
  });

  it('lets concurrent stop() callers share one stop', async () => {
    const { lifecycle, log, stops } = scripted();
    await lifecycle.start();
    const gate = deferred();
    stops.push(gate);
    const first = lifecycle.stop();
    const second = lifecycle.stop();
    gate.resolve();
    await Promise.all([first, second]);
    expect(lifecycle.state).toBe('stopped');
    expect(log.filter((line) => line.startsWith('stop step'))).toHaveLength(1);
  });

  it('is stopped after a stop step that fails, and can start again', async () => {
    const { lifecycle, stops } = scripted();
    await lifecycle.start();
    const gate = deferred();
    stops.push(gate);
    const stopped = lifecycle.stop();
    const failure = new Error('close failed');
    gate.reject(failure);
    await expect(stopped).rejects.toBe(failure);
    expect(lifecycle.state).toBe('stopped');
    await lifecycle.start();
    expect(lifecycle.state).toBe('running');
  });

  it('makes a stop() during a start wait for the start, then stop', async () => {
    const { lifecycle, log, starts } = scripted();
    const gate = deferred();
    starts.push(gate);
    const started = lifecycle.start();
    const stopped = lifecycle.stop();
    await settle();
    expect(log).toEqual(['start step (starting)']); // the stop waits
    gate.resolve();
    await Promise.all([started, stopped]);
    expect(lifecycle.state).toBe('stopped');
    expect(log).toEqual(['start step (starting)', 'after start (running)', 'stop step (stopping)']);
  });

  it('makes a stop() during a start that fails resolve without a stop step', async () => {
    const { lifecycle, log, starts } = scripted();
    const gate = deferred();
    starts.push(gate);
    const started = lifecycle.start();
    const stopped = lifecycle.stop();
    gate.reject(new Error('cannot listen'));
    await expect(started).rejects.toThrow('cannot listen');
    await stopped;
    expect(lifecycle.state).toBe('stopped');
    expect(log).toEqual(['start step (starting)']);
  });

  it('makes a start() during a stop wait for the stop, then start', async () => {
    const { lifecycle, log, stops } = scripted();
    await lifecycle.start();
    const gate = deferred();
    stops.push(gate);
    const stopped = lifecycle.stop();
    const restarted = lifecycle.start();
    await settle();
    expect(lifecycle.state).toBe('stopping'); // the start waits
    gate.resolve();
    await Promise.all([stopped, restarted]);
    expect(lifecycle.state).toBe('running');
    expect(log).toEqual([
      'start step (starting)',
      'after start (running)',
      'stop step (stopping)',
      'start step (starting)',
      'after start (running)',
    ]);
  });

  it('runs one start step for several start() callers that waited for the same stop', async () => {
    const { lifecycle, log, stops } = scripted();
    await lifecycle.start();
    const gate = deferred();
    stops.push(gate);
    const stopped = lifecycle.stop();
    const waiting = [lifecycle.start(), lifecycle.start(), lifecycle.start()];
    gate.resolve();
    await Promise.all([stopped, ...waiting]);
    expect(lifecycle.state).toBe('running');
    expect(log.filter((line) => line.startsWith('start step'))).toHaveLength(2); // the first start, and one restart
  });

  it('starts again after a stop even when a stop step fails while a start() waits for it', async () => {
    const { lifecycle, stops } = scripted();
    await lifecycle.start();
    const gate = deferred();
    stops.push(gate);
    const stopped = lifecycle.stop();
    const restarted = lifecycle.start();
    gate.reject(new Error('close failed'));
    await expect(stopped).rejects.toThrow('close failed');
    await restarted;
    expect(lifecycle.state).toBe('running');
  });

  it('rejects start() when afterStart throws, but stays running so stop() can clean up', async () => {
    const stopSteps: string[] = [];
    const lifecycle = new TransportLifecycle({
      start: async () => undefined,
      afterStart: () => {
        throw new Error('timer failed');
      },
      stop: async () => {
        stopSteps.push('stop');
      },
    });
    await expect(lifecycle.start()).rejects.toThrow('timer failed');
    expect(lifecycle.state).toBe('running');
    await lifecycle.stop();
    expect(stopSteps).toEqual(['stop']);
    expect(lifecycle.state).toBe('stopped');
  });
});
