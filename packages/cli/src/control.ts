/**
 * The control socket of a running `highwater serve`: a Unix socket in the device's folder
 * speaking one JSON object per line each way ({ id, cmd, ...args } → { id, ok, result | error }).
 * `highwater status` asks it; scripts (and the demo) write and delete through it.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type ControlHandler = (args: Record<string, unknown>) => Promise<unknown>;

export const controlSocketPath = (dir: string): string => join(dir, 'highwater.sock');

/** No `serve` is listening on the socket (not running, or gone without cleaning up). */
export class NotRunningError extends Error {
  override readonly name = 'NotRunningError';
}

export async function listenForControl(socketPath: string, handlers: Readonly<Record<string, ControlHandler>>): Promise<Server> {
  // A socket file left by a killed serve: nobody answers on it, so it is ours to replace.
  if (existsSync(socketPath)) {
    const alive = await controlRequest(socketPath, 'ping', {}, 1000).then(
      () => true,
      () => false,
    );
    if (alive) throw new Error(`Another highwater serve is running on ${socketPath}`);
    unlinkSync(socketPath);
  }
  const server = createServer((socket) => {
    const lines = createInterface({ input: socket });
    lines.on('error', () => socket.destroy());
    lines.on('line', (line) => {
      let request: { id?: unknown; cmd?: unknown } & Record<string, unknown>;
      try {
        request = JSON.parse(line) as typeof request;
      } catch {
        socket.write(JSON.stringify({ id: null, ok: false, error: 'not JSON' }) + '\n');
        return;
      }
      const handler = typeof request.cmd === 'string' ? handlers[request.cmd] : undefined;
      const reply = (body: Record<string, unknown>): void => {
        if (!socket.destroyed) socket.write(JSON.stringify({ id: request.id ?? null, ...body }) + '\n');
      };
      if (!handler) return reply({ ok: false, error: `unknown command ${String(request.cmd)}; known: ${Object.keys(handlers).join(', ')}` });
      handler(request).then(
        (result) => reply({ ok: true, result }),
        (error: unknown) => reply({ ok: false, error: (error as Error).message }),
      );
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return server;
}

/** One request to a running serve; rejects with NotRunningError when none listens. */
export function controlRequest<T = unknown>(socketPath: string, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const socket = createConnection(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${cmd}: no answer from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(() => reject(error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? new NotRunningError(`no highwater serve is running on ${socketPath}`) : error)),
    );
    const lines = createInterface({ input: socket });
    lines.on('error', () => undefined); // the socket's own error handler above reports it
    lines.once('line', (line) => {
      const reply = JSON.parse(line) as { ok: boolean; result?: T; error?: string };
      done(() => (reply.ok ? resolve(reply.result as T) : reject(new Error(`${cmd}: ${reply.error}`))));
    });
    socket.once('connect', () => socket.write(JSON.stringify({ id: 1, cmd, ...args }) + '\n'));
  });
}
