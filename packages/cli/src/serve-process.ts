/**
 * A `highwater serve` child process, as the demo (and the command's tests) run devices: what it
 * printed (JSON lines), its control socket, and SIGKILL or SIGTERM to end it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DeviceConfig } from './config.js';
import { controlRequest, controlSocketPath } from './control.js';
import type { DeviceStatus } from './status.js';

const bin = fileURLToPath(new URL('./bin.js', import.meta.url));

export class ServeProcess {
  /** Every event printed, across restarts. */
  readonly events: Record<string, unknown>[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  /** `command`: the highwater bin to run (default: this package's own). */
  constructor(
    readonly config: DeviceConfig,
    private readonly command = bin,
  ) {}

  /** Starts (or starts again) the process; resolves once it listens on its control socket. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [this.command, 'serve', this.config.path, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        this.events.push(event);
        if (event['event'] === 'listening') resolve();
      });
      child.once('exit', (code) => reject(new Error(`${this.config.device} exited with ${String(code)} before listening: ${stderr}`)));
    });
  }

  request<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    return controlRequest<T>(controlSocketPath(this.config.dir), cmd, args);
  }

  status(): Promise<DeviceStatus> {
    return this.request<DeviceStatus>('status');
  }

  /** SIGKILL: a crash, nothing saved on the way out. */
  kill(): Promise<number | null> {
    this.child?.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, as a service manager stops it; resolves with the exit code (0 for a clean stop). */
  stop(): Promise<number | null> {
    if (this.child?.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
