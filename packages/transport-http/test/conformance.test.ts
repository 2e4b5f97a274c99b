import type { Transport } from '@highwater/core';
import { runTransportConformance } from '@highwater/core/testing';
import { DEFAULT_MAX_BODY_BYTES, type HttpTransport } from '../src/index.js';
import { TestNodes, connect } from './helpers.js';

// Real HTTP servers on 127.0.0.1 (port 0) with a fresh key file each. HTTP has no link to cut,
// so `disconnect` removes the two peers from each other's member list: the HTTP equivalent of a
// dropped link (calls fail, both sides report 'disconnected', and addPeer brings them back).
runTransportConformance(
  'http',
  async () => {
    const nodes = new TestNodes();
    const asHttp = (t: Transport): HttpTransport => t as HttpTransport;
    return {
      create: async () => nodes.create(),
      connect: async (a, b) => connect(asHttp(a), asHttp(b)),
      disconnect: async (a, b) => {
        asHttp(a).removePeer(b.localPeerId);
        asHttp(b).removePeer(a.localPeerId);
      },
      cleanup: async () => nodes.cleanup(),
    };
  },
  { maxMessageBytes: DEFAULT_MAX_BODY_BYTES },
);
