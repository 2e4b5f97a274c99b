// Spawns bench/peer.mjs processes and talks to them over IPC.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = new URL('./peer.mjs', import.meta.url).pathname;

export class BenchPeer {
  constructor(device, transport, extraArgs = []) {
    this.device = device;
    this.dir = mkdtempSync(join(tmpdir(), `hw-bench-${device}-`));
    // HW_BENCH_CPU_PROF=<dir> profiles every peer process (node --cpu-prof), for finding hot spots;
    // HW_BENCH_CPU_PROF_INTERVAL=<µs> samples more often than the default 1000 µs.
    const interval = process.env.HW_BENCH_CPU_PROF_INTERVAL ? [`--cpu-prof-interval=${process.env.HW_BENCH_CPU_PROF_INTERVAL}`] : [];
    const profile = process.env.HW_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HW_BENCH_CPU_PROF}`, `--cpu-prof-name=${device}.cpuprofile`, ...interval] : [];
    this.child = fork(script, ['--dir', this.dir, '--device', device, '--transport', transport, ...extraArgs], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // --expose-gc: only the `liveHeap` command calls gc(), after the measurements it would disturb.
      execArgv: [...process.execArgv, '--expose-gc', ...profile],
    });
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set();
    this.state = 'uninitialized';
    this.child.on('message', (m) => {
      if (m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        return m.ok ? p.resolve(m.result) : p.reject(new Error(`${device}: ${m.error}`));
      }
      if (m.event === 'state') this.state = m.state;
      for (const l of [...this.listeners]) l(m);
    });
    this.ready = this.next((m) => m.event === 'ready');
  }

  command(cmd, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, ...args });
    });
  }

  /** The next event matching `predicate`. */
  next(predicate) {
    return new Promise((resolve) => {
      const l = (m) => {
        if (!predicate(m)) return;
        this.listeners.delete(l);
        resolve(m);
      };
      this.listeners.add(l);
    });
  }

  /** The next time `device` (default: any device of this process) enters `state`. */
  nextState(state, device) {
    return this.next((m) => m.event === 'state' && m.state === state && (device === undefined || m.device === device));
  }

  /** Connects to `peer` and waits until this process is ready and holds `n` entries: ms from the connect. */
  async backfillFrom(peer, n) {
    const ready = this.nextState('ready');
    const started = performance.now();
    await this.command('connect', { peer });
    await ready;
    for (;;) {
      const { entries } = await this.command('status');
      if (entries === n) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async stop(args = {}) {
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.command('stop', args).catch(() => undefined);
    await exited;
    // A 1M run leaves ~400 MB per peer; a bench must not fill the disk run after run.
    rmSync(this.dir, { recursive: true, force: true });
  }
}
