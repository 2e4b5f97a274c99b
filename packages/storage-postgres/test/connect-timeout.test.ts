import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ModelRegistry } from '@highwater/core';
import { createPostgresStorage } from '@highwater/storage-postgres';

// A host that accepts TCP and never answers (a server hung, or a proxy in front of a dead
// one) must fail the open, not hang it: the pool the storage creates has a connect timeout.
describe('PostgreSQL storage against a server that never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let port = 0;
  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.push(socket); // accepted, read, never answered
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fails createPostgresStorage after connectTimeoutMs with an error naming the timeout', async () => {
    const registry = new ModelRegistry([{ name: 'note', ownership: 'device', key: 'id', fields: { text: { type: 'text' } } }]);
    const started = Date.now();
    const opening = createPostgresStorage({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, schema: 'hw_never', registry, connectTimeoutMs: 300 });
    await expect(opening).rejects.toThrow(/timeout/i);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(10_000); // the default would be 10 s; pg without one waits forever
    expect(sockets.length).toBeGreaterThan(0); // it did reach the silent server
  });
});
