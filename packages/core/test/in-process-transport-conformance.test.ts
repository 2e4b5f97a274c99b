import { createInProcessNetwork, type InProcessTransport } from '@highwater/core';
import { runTransportConformance } from '@highwater/core/testing';

// The in-process transport is the reference the real adapters are compared with.
let counter = 0;
runTransportConformance(
  'in-process',
  async () => {
    const network = createInProcessNetwork({ maxMessageBytes: 16 * 1024 * 1024 });
    const created: InProcessTransport[] = [];
    return {
      create: async () => {
        const t = network.transport(`peer-${++counter}`);
        await t.start();
        created.push(t);
        return t;
      },
      connect: async (a, b) => network.connect(a.localPeerId, b.localPeerId),
      disconnect: async (a, b) => network.disconnect(a.localPeerId, b.localPeerId),
      cleanup: async () => {
        for (const t of created) await t.stop();
      },
    };
  },
  { maxMessageBytes: 16 * 1024 * 1024 },
);
