import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = new URL('../peer/dist/sync-peer.js', import.meta.url).pathname;

export interface PeerRef {
  readonly peerId: string;
  readonly addresses?: readonly string[];
  readonly url?: string;
  readonly publicKey?: string;
}

interface Progress {
  readonly phase: string;
  readonly applied: number;
  readonly total: number;
  readonly current: { resource: string } | null;
}

/**
 * A Highwater device in its own OS process (test/peer/dist/sync-peer.js), driven over IPC.
 * `kill()` is a SIGKILL: no clean stop, files kept — a crash.
 */
export class PeerProcess {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(event: { event: string } & Record<string, unknown>) => void>();
  state = 'uninitialized';
  lastProgress: Progress | null = null;

  constructor(
    readonly device: string,
    readonly transport: 'libp2p' | 'http',
    readonly dir: string = mkdtempSync(join(tmpdir(), `hw-proc-${device}-`)),
  ) {}

  async start(extraArgs: string[] = []): Promise<void> {
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first (npm test does)`);
    const child = fork(script, ['--dir', this.dir, '--device', this.device, '--transport', this.transport, ...extraArgs], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.state = 'uninitialized';
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${this.device} exited with ${code} before it was ready`)));
      this.listeners.add(function onReady(e) {
        if (e.event === 'ready') resolve();
      });
    });
    child.on('message', (raw) => {
      const m = raw as { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string } & Record<string, unknown>;
      if (m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(`${this.device}: ${m.error}`));
        return;
      }
      if (m.event === 'state') this.state = m['state'] as string;
      if (m.event === 'progress') this.lastProgress = m['progress'] as Progress;
      for (const l of this.listeners) l(m as { event: string } & Record<string, unknown>);
    });
    child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`${this.device} exited`));
      this.pending.clear();
    });
    await ready;
  }

  command<T = unknown>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error(`${this.device} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.device}: ${cmd} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, cmd, ...args });
    });
  }

  /** Resolves when an event matching `predicate` arrives (or the current state already matches). */
  waitFor(predicate: (event: { event: string } & Record<string, unknown>) => boolean, what: string, timeoutMs = 120_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`${this.device}: timed out waiting for ${what} (state ${this.state})`));
      }, timeoutMs);
      const listener = (e: { event: string } & Record<string, unknown>): void => {
        if (!predicate(e)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  /** Calls `listener` with every event the process sends (across restarts) until the returned function is called. */
  onEvent(listener: (event: { event: string } & Record<string, unknown>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  waitForState(state: string, timeoutMs = 120_000): Promise<void> {
    if (this.state === state) return Promise.resolve();
    return this.waitFor((e) => e.event === 'state' && e['state'] === state, `state ${state}`, timeoutMs);
  }

  /** SIGKILL: the process dies where it stands. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || !child.connected) return;
    const exited = new Promise((r) => child.once('exit', r));
    await this.command('stop').catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
    this.child = null;
  }

  /** Stops the process and removes its folder (a stopped or killed process can be started again until then). */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
