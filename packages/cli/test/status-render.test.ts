import { describe, expect, it } from '@jest/globals';
import { renderStatus, type DeviceStatus } from '../src/status.js';

const base: DeviceStatus = {
  library: 'lib',
  device: 'laptop',
  running: true,
  state: 'ready',
  backfillCompleted: true,
  progress: null,
  peers: [],
  streams: [],
  syncMetadataBytes: 2048,
  identity: { peerId: 'peer-1' } as DeviceStatus['identity'],
  metrics: null,
  versionsBehind: [],
};

describe('highwater status: models behind their peers', () => {
  it('names each model a peer has at a newer version, where, and what waits for the upgrade', () => {
    const text = renderStatus({
      ...base,
      versionsBehind: [
        { model: 'note', version: 1, newestSeen: 2, newerOn: ['phone'], keptAside: 41 },
        { model: 'tag', version: 1, newestSeen: 3, newerOn: [], keptAside: 0 },
      ],
    });
    expect(text).toContain('model note: version 1 here, version 2 on phone; 41 changes kept aside until this device is upgraded');
    expect(text).toContain('model tag: version 1 here, version 3 seen by its peers; 0 changes kept aside until this device is upgraded');
  });

  it('says nothing of versions when no model is behind', () => {
    expect(renderStatus(base)).not.toContain('model ');
  });
});

describe('highwater scrub: the report', () => {
  it('lines up what was damaged, diverged and repaired', async () => {
    const { renderScrub } = await import('../src/scrub.js');
    expect(
      renderScrub({
        streams: 3,
        compared: 4,
        damaged: [{ owner: 'dev-a', resource: 'entry', ids: ['e1', 'e2'] }],
        diverged: [{ owner: 'dev-a', resource: 'entry', device: 'dev-c' }],
        repaired: [{ owner: 'dev-a', resource: 'entry', from: 'dev-c', replaced: 2, restored: 1, removed: 0 }],
      }),
    ).toBe(
      [
        '3 streams read, 4 digests compared with peers',
        'damaged: 2 entry records of dev-a not as signed (e1, e2)',
        'diverged: entry of dev-a differs from dev-c',
        'repaired: entry of dev-a from dev-c: 2 replaced, 1 restored, 0 removed',
      ].join('\n'),
    );
  });
});
