// The stages with more than two peers (issue #17), each peer its own OS process (peer.mjs):
//   parallelBackfill — a fresh peer backfills three owners' entries from all three owners at once
//                      (SyncNode's parallelPulls) against a fresh peer pulling them from one
//   syncDbSize       — sync.db of three members after 100 000 entries, deletes and shared-record
//                      updates, before and after every member acked and garbage collection ran
import { entryKey, tagRecord } from './bench-models.mjs';
import { BenchPeer } from './processes.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Polls `check` until it returns something truthy (returned); after `timeoutMs`, null. */
async function until(check, timeoutMs = 120_000, every = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) return null;
    await sleep(every);
  }
}

async function must(check, what, timeoutMs) {
  if (!(await until(check, timeoutMs))) throw new Error(`timed out waiting for ${what}`);
}

async function startPeer(device, transport, args) {
  const peer = new BenchPeer(device, transport, args);
  await peer.ready;
  peer.id = await peer.command('identity');
  return peer;
}

const entries = async (peer) => (await peer.command('counts', { models: ['entry'] })).entry;

/** Connects every pair of `peers` (each lists the others as members) and waits until each holds `total` entries and is ready. */
async function mesh(peers, total) {
  await Promise.all(peers.map((p) => p.command('members', { peers: peers.filter((q) => q !== p).map((q) => q.id) })));
  for (const [i, p] of peers.entries()) for (const q of peers.slice(0, i)) await p.command('connect', { peer: q.id });
  await must(async () => (await Promise.all(peers.map(async (p) => p.state === 'ready' && (await entries(p)) === total))).every(Boolean), `${total} entries on every peer`, 180_000);
}

/** Owner i's entries: ranges starting at a multiple of 100, so every directory's files are its own. */
function ranges(total, owners) {
  const per = Math.ceil(total / owners / 100) * 100;
  return Array.from({ length: owners }, (_, i) => ({ from: i * per, count: Math.max(0, Math.min(per, total - i * per)) }));
}

const cpuMs = (before, after) => (after.user - before.user + after.system - before.system) / 1000;

/**
 * Three owner processes A, B, C each write a third of `total` entries and sync with each other.
 * Then, `rounds` times, each round in another order, a fresh process D connects to all three
 * and backfills (each owner's stream from its owner, `parallelPulls` 3); a fresh process E
 * connects to A only and backfills the same from it (the three streams, still three at once,
 * from one source); a fresh process F does as E with `parallelPulls` 1 (one stream after
 * another, as before parallel pulls). Each runs alone beside A, B, C (the last is stopped first).
 * Each dials its peers before its node sees any (`--gated`, see peer.mjs), so its pass starts
 * with all of them connected; its time runs from that moment to `ready`.
 */
export async function parallelBackfill({ transport, total, rounds, peerArgs, sourceArgs = [], log }) {
  const owners = await Promise.all(['device-a', 'device-b', 'device-c'].map((d) => startPeer(d, transport, [...peerArgs, ...sourceArgs])));
  const split = ranges(total, owners.length);
  log(`parallel backfill over ${transport}: ${split.map((r) => r.count).join(' + ')} entries written on A, B, C, then synced between them`);
  await Promise.all(owners.map((o, i) => o.command('generate', split[i])));
  await mesh(owners, total);
  const nameOf = new Map(owners.map((o) => [o.id.peerId, o.device.replace('device-', '').toUpperCase()]));
  const variants = [
    { key: 'three', device: 'd', sources: owners, args: [], says: 'from A, B and C' },
    { key: 'one', device: 'e', sources: owners.slice(0, 1), args: [], says: 'from A alone' },
    { key: 'serial', device: 'f', sources: owners.slice(0, 1), args: ['--parallel-pulls', '1'], says: 'from A alone, one stream at a time' },
  ];
  const runs = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let round = 0; round < rounds; round++) {
    // Each round in another order: the machine's speed drifts within a minute.
    for (const v of [...variants.slice(round % variants.length), ...variants.slice(0, round % variants.length)]) {
      const { key: variant, sources } = v;
      const device = `device-${v.device}${round}`;
      const r = await startPeer(device, transport, [...peerArgs, ...v.args, '--gated']);
      await Promise.all(sources.map((s) => s.command('members', { peers: [...owners.filter((o) => o !== s).map((o) => o.id), r.id] })));
      // Its first pass (no peer yet) has ended.
      await must(() => r.state === 'paused', `${device} paused`, 30_000);
      const [cpuBefore, ...ownersBefore] = await Promise.all([r, ...owners].map((p) => p.command('cpu')));
      const ready = r.nextState('ready');
      const { at } = await r.command('connectAll', { peers: sources.map((s) => s.id) });
      const seconds = ((await ready).at - at) / 1000;
      const [cpuAfter, ...ownersAfter] = await Promise.all([r, ...owners].map((p) => p.command('cpu')));
      const status = await r.command('status');
      if (status.entries !== total) throw new Error(`${device} has ${status.entries} entries, expected ${total}`);
      const bySource = Object.entries(await r.command('sources')).sort(([x], [y]) => ((nameOf.get(x) ?? x) < (nameOf.get(y) ?? y) ? -1 : 1)).map(([peerId, n]) => `${nameOf.get(peerId) ?? peerId} ${n.toLocaleString('en-US')}`);
      const rtt = Object.entries(status.metrics.peerRttMs).sort(([x], [y]) => ((nameOf.get(x) ?? x) < (nameOf.get(y) ?? y) ? -1 : 1)).map(([peerId, ms]) => `${nameOf.get(peerId) ?? peerId} ${ms.toFixed(1)}`);
      const perThousand = (ms) => ms / (total / 1000);
      const run = {
        seconds,
        rate: total / seconds,
        busy: cpuMs(cpuBefore, cpuAfter) / 1000 / seconds,
        receiverCpu: perThousand(cpuMs(cpuBefore, cpuAfter)),
        sendersCpu: perThousand(owners.reduce((sum, _, i) => sum + cpuMs(ownersBefore[i], ownersAfter[i]), 0)),
        fetched: status.metrics.changesFetched,
        bySource: bySource.join(', '),
        rtt: rtt.join(', '),
        rss: status.maxRssBytes,
      };
      runs[variant].push(run);
      log(`  ${v.says}: ${seconds.toFixed(2)} s, ${Math.round(run.rate)} records/s (records by source: ${run.bySource}; smoothed RTT ms: ${run.rtt})`);
      await r.stop();
      await Promise.all(sources.map((s) => s.command('members', { peers: owners.filter((o) => o !== s).map((o) => o.id) })));
    }
  }
  await Promise.all(owners.map((o) => o.stop()));
  return { transport, total, split: split.map((x) => x.count), rounds, runs, sources: sourceArgs.length > 0 ? `slow (${sourceArgs.join(' ')})` : 'local' };
}

/** The run of median rate; `all` lists every run's rate. */
export function medianRunOf(runs) {
  const sorted = [...runs].sort((x, y) => x.rate - y.rate);
  return { ...sorted[Math.floor(sorted.length / 2)], all: runs.map((r) => Math.round(r.rate)) };
}

/** A variant's rate over E's (one source, streams at once), per round (the machine drifts between rounds), and their median. */
export function parallelRatio({ runs }, variant) {
  const pairs = runs[variant].map((x, i) => x.rate / runs.one[i].rate);
  return { pairs, medianPair: median(pairs) };
}

const MEMBERS = ['device-a', 'device-b', 'device-c'];

/**
 * sync.db of every peer: its pages (what the file holds once the WAL is folded in), and the two
 * files as they are on disk; with `checkpoint`, after folding the WAL in and truncating it (done
 * only at the end: a checkpoint moves what the node's own checkpoints would have left in place).
 */
const syncDbs = (peers, checkpoint = false) => Promise.all(peers.map((p) => p.command('syncDb', { checkpoint })));

/**
 * Three members A, B, C (each lists all three: tombstones and shared changes are pruned only
 * below every member's ack), `antiEntropyMs` 1000. A writes `entries` entries and `tags` shared
 * tags; all sync. C leaves; A deletes `deletes` entries while A, B and C update the tags
 * `updates` times in all (C offline, a third each): C's acks hold every prune back. sync.db of
 * each once A and B agree: "before". C returns; once every peer holds the same entries and has
 * pruned every tombstone and shared change (or `timeoutMs` passed): "after", then checkpointed.
 */
export async function syncDbSize({ entries: n, deletes, updates, tags = 100, peerArgs, log, timeoutMs = 120_000 }) {
  const args = [...peerArgs, '--members', MEMBERS.join(','), '--anti-entropy-ms', '1000'];
  const peers = await Promise.all(MEMBERS.map((d) => startPeer(d, 'libp2p', args)));
  const [a, b, c] = peers;
  log(`sync.db: ${n} entries and ${tags} tags written on A, synced to B and C`);
  await a.command('generate', { from: 0, count: n });
  await a.command('write', { model: 'tag', inputs: Array.from({ length: tags }, (_, i) => tagRecord(i, 'device-a', 0)) });
  await mesh(peers, n);
  const quiet = (stats) => stats.every((s) => s.rows.tombstones === 0 && s.rows.shared_changes === 0);
  const synced = (await until(async () => {
    const stats = await syncDbs(peers);
    return quiet(stats) && stats;
  }, 30_000, 250)) ?? (await syncDbs(peers));

  log(`  C leaves; A deletes ${deletes} entries, A, B and C update tags ${updates} times`);
  const paused = c.nextState('paused');
  await Promise.all([c.command('disconnect', { peerId: a.id.peerId }), c.command('disconnect', { peerId: b.id.peerId }), a.command('disconnect', { peerId: c.id.peerId }), b.command('disconnect', { peerId: c.id.peerId })]);
  await paused;
  // Every tenth entry (for 10 000 of 100 000), never a directory (n % 100 === 0).
  const step = Math.floor(n / deletes);
  const doomed = Array.from({ length: deletes }, (_, i) => entryKey(i * step + 1));
  const deleting = (async () => {
    for (let i = 0; i < doomed.length; i += 1000) await a.command('delete', { model: 'entry', ids: doomed.slice(i, i + 1000) });
  })();
  const updating = peers.map(async (p, w) => {
    let left = Math.floor(updates / peers.length) + (w < updates % peers.length ? 1 : 0);
    for (let version = 1; left > 0; version++) {
      const count = Math.min(tags, left);
      await p.command('write', { model: 'tag', inputs: Array.from({ length: count }, (_, i) => tagRecord(i, p.device, version)) });
      left -= count;
    }
  });
  await Promise.all([deleting, ...updating]);
  // A and B agree (B holds A's deletes and both hold each other's updates); acks flow for a while.
  await must(async () => {
    const [sa, sb] = await Promise.all([a.command('syncDb'), b.command('syncDb')]);
    return sb.rows.tombstones === deletes && sa.rows.shared_changes === sb.rows.shared_changes && (await entries(b)) === n - deletes;
  }, 'B holding A’s deletes and A and B each other’s updates', 60_000);
  await sleep(2500);
  const before = await syncDbs(peers);

  log('  C returns; waiting for every tombstone and shared change to be pruned');
  const returned = performance.now();
  await c.command('connect', { peer: a.id });
  await c.command('connect', { peer: b.id });
  const collected = await until(
    async () => {
      const stats = await Promise.all(peers.map((p) => p.command('syncDb')));
      const counts = await Promise.all(peers.map(entries));
      return counts.every((x) => x === n - deletes) && quiet(stats);
    },
    timeoutMs,
    250,
  );
  const seconds = (performance.now() - returned) / 1000;
  const held = await Promise.all(peers.map(async (p) => JSON.stringify(await p.command('tags', { count: tags }))));
  const tagsAgree = held.every((x) => x === held[0]);
  const after = await syncDbs(peers, true);
  if (!collected) {
    // What held collection back: each peer's watermarks, the acks it holds and its prune points.
    for (const p of peers) console.log(p.device, JSON.stringify((await p.command('syncDb', { dump: true })).dump));
  }
  const counts = await Promise.all(peers.map(entries));
  log(`  ${collected ? `pruned everywhere ${seconds.toFixed(1)} s after C returned` : `NOT pruned everywhere within ${timeoutMs / 1000} s`}: sync.db ${after.map((s) => `${Math.round(s.dbBytes / 1000)} kB`).join(', ')}`);
  await Promise.all(peers.map((p) => p.stop()));
  return { n, deletes, updates, tags, synced, before, after, counts, collected: Boolean(collected), seconds, tagsAgree, timeoutMs };
}
