// A backfill over HTTP while the source's port is under attack (issue #20): device B backfills
// N entries from device A (two bench/peer.mjs processes) with 500 other connections on A's
// port, held by this process:
//   none   — no attack, the reference;
//   stall  — 250 slow-header clients (a request begun, a header line every 300 ms, never
//            finished) and 250 connections that send nothing;
//   flood  — 500 keep-alive connections, each sending an unsigned request as soon as the last
//            was answered (every one refused 401 before its body is read).
// Each run is a fresh pair of processes; rounds rotate the order of the three.
import { connect } from 'node:net';
import { BenchPeer } from './processes.mjs';

const ATTACKERS = 500;

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** Opens the attack of `mode` on `url`'s port; `stop()` ends it and tells what it saw. */
function attack(url, mode) {
  const { hostname, port } = new URL(url);
  const sockets = new Set();
  const timers = [];
  let running = true;
  let answered = 0;
  let closedByServer = 0;
  const open = (i) => {
    const socket = connect({ host: hostname, port: Number(port) });
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      if (!running) return;
      closedByServer += 1;
      // A flood connection the server closed comes straight back.
      if (mode === 'flood') open(i);
    });
    socket.once('connect', () => {
      if (mode === 'stall') {
        if (i % 2 === 1) return; // silent
        socket.write('POST /highwater/v1/message HTTP/1.1\r\nHost: highwater\r\n');
        timers.push(setInterval(() => socket.writable && socket.write(`X-Slow-${i}: ${Date.now()}\r\n`), 300));
        return;
      }
      const ask = () => socket.writable && socket.write('POST /highwater/v1/message HTTP/1.1\r\nHost: highwater\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\n{}');
      socket.on('data', (chunk) => {
        // One answer per request: count the status lines, ask again for each.
        for (let at = chunk.indexOf('HTTP/1.1 '); at >= 0; at = chunk.indexOf('HTTP/1.1 ', at + 1)) {
          answered += 1;
          ask();
        }
      });
      ask();
    });
  };
  for (let i = 0; i < ATTACKERS; i++) open(i);
  return {
    stop: () => {
      running = false;
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      return { answered, closedByServer };
    },
  };
}

async function oneRun(n, mode, peerArgs) {
  const a = new BenchPeer('device-a', 'http', peerArgs);
  const b = new BenchPeer('device-b', 'http', peerArgs);
  try {
    await Promise.all([a.ready, b.ready]);
    const [idA, idB] = await Promise.all([a.command('identity'), b.command('identity')]);
    await a.command('members', { peers: [idB] });
    await a.command('generate', { from: 0, count: n });
    const onPort = mode === 'none' ? null : attack(idA.url, mode);
    // The attack in place (connections open, the first requests answered) before the backfill starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const cpuBefore = await a.command('cpu');
    const ms = await b.backfillFrom(idA, n);
    const cpuAfter = await a.command('cpu');
    const seen = onPort?.stop() ?? { answered: 0, closedByServer: 0 };
    const sourceCpuMs = (cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system) / 1000;
    return { ms, rate: (n / ms) * 1000, sourceCpuMs, ...seen };
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

/** `rounds` runs of each mode (median by rate), each a backfill of `n` entries over HTTP. */
export async function httpStress({ n, rounds, peerArgs = [], log = () => undefined }) {
  const modes = ['none', 'stall', 'flood'];
  const runs = { none: [], stall: [], flood: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of [...modes.slice(r % 3), ...modes.slice(0, r % 3)]) {
      const run = await oneRun(n, mode, peerArgs);
      runs[mode].push(run);
      log(`http backfill ${n} under attack "${mode}": ${Math.round(run.rate)} records/s, source CPU ${Math.round(run.sourceCpuMs)} ms, ${run.answered} attack requests answered, ${run.closedByServer} attack connections closed by the source`);
    }
  }
  const pick = (list) => list.find((x) => x.rate === median(list.map((y) => y.rate)));
  return { n, rounds, attackers: ATTACKERS, modes: Object.fromEntries(modes.map((m) => [m, { median: pick(runs[m]), runs: runs[m] }])) };
}
