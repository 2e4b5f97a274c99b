/**
 * Runs tasks one after another per key (a peer id), in the order `run` was called, so one-way
 * messages to a peer leave, and are handled, in the order `send` was called even when the
 * caller does not await them. A task that fails does not block the next one; the caller of
 * `run` gets the failure. A key with nothing queued takes no memory.
 *
 * Tasks always start asynchronously (never inside `run`), so a task should re-check what may
 * have changed while it waited: whether the transport still runs, whether the peer is still
 * there.
 */
export class OrderedSends {
  /** Per key, a promise that settles (never rejects) when the last queued task has finished. */
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** How many keys have a task running or waiting (the others take no memory). */
  get size(): number {
    return this.tails.size;
  }
}
