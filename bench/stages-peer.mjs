// The other process of bench/stages.mjs: answers every request with `bytes` bytes.
//   node stages-peer.mjs <libp2p|http> <bytes> <keyPath>   (the caller owns and removes keyPath's folder)
import { openPeerTransport } from '../packages/cli/dist/index.js';

const [kind, size, keyPath] = process.argv.slice(2);
const peer = await openPeerTransport(kind, { keyPath, host: '127.0.0.1', port: 0 });
const reply = new Uint8Array(Number(size)).fill(0x61);
peer.transport.handle(async () => reply);
await peer.transport.start();
process.on('message', async (m) => {
  await peer.setMembers(m.members);
  process.send({ ok: true });
});
process.send(await peer.identity());
