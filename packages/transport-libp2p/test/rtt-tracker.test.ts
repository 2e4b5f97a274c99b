import { describe, expect, it } from '@jest/globals';
import type { Connection, Logger } from '@libp2p/interface';
import { RttTracker } from '../src/rtt-tracker.js';
import { silentLogger } from '../src/logger.js';

/** A connection whose stream opens are only counted (each fails, which a probe just logs). */
function countingConnection(peerId: string): { connection: Connection; opened: string[] } {
  const opened: string[] = [];
  const connection = {
    remotePeer: { toString: () => peerId },
    status: 'open',
    newStream: async (protocol: string) => {
      opened.push(protocol);
      throw new Error('no streams here');
    },
  } as unknown as Connection;
  return { connection, opened };
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The probe after a connect waits, so it does not compete with the connection's first
// exchanges; a request measured in the meantime makes it unnecessary.
describe('RttTracker.probeSoon', () => {
  it('probes once after the delay when nothing measured the peer', async () => {
    const tracker = new RttTracker(silentLogger as Logger);
    const { connection, opened } = countingConnection('peer-a');
    tracker.probeSoon(connection, 30);
    await sleep(5);
    expect(opened).toEqual([]);
    await sleep(80);
    expect(opened).toEqual(['/ipfs/ping/1.0.0']);
    tracker.stop();
  });

  it('drops the probe when a request measured the peer first', async () => {
    const tracker = new RttTracker(silentLogger as Logger);
    const { connection, opened } = countingConnection('peer-a');
    const other = countingConnection('peer-b');
    tracker.probeSoon(connection, 30);
    tracker.probeSoon(other.connection, 30);
    tracker.record('peer-a', 1.5);
    await sleep(80);
    expect(opened).toEqual([]);
    expect(other.opened).toEqual(['/ipfs/ping/1.0.0']);
    expect(tracker.get('peer-a')).toBe(1.5);
    tracker.stop();
  });

  it('cancels scheduled probes on stop', async () => {
    const tracker = new RttTracker(silentLogger as Logger);
    const { connection, opened } = countingConnection('peer-a');
    tracker.probeSoon(connection, 30);
    tracker.stop();
    await sleep(80);
    expect(opened).toEqual([]);
  });
});
