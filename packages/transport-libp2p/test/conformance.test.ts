import { runTransportConformance, type TransportHarness } from '@highwater/core/testing';
import { DEFAULT_MAX_MESSAGE_BYTES, type Libp2pTransport } from '../src/index.js';
import { TestNetwork } from './support.js';

runTransportConformance(
  'libp2p',
  async (): Promise<TransportHarness> => {
    const network = new TestNetwork();
    const own = new Map<string, Libp2pTransport>();
    const mine = (t: { localPeerId: string }): Libp2pTransport => {
      const transport = own.get(t.localPeerId);
      if (!transport) throw new Error('not created by this harness');
      return transport;
    };
    return {
      async create() {
        const transport = await network.create();
        own.set(transport.localPeerId, transport);
        return transport;
      },
      connect: (a, b) => network.connect(mine(a), mine(b)),
      // Closes the connection from a's side: b sees it drop as it would a network failure.
      disconnect: (a, b) => mine(a).hangUp(b.localPeerId),
      cleanup: () => network.cleanup(),
    };
  },
  { maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES },
);
