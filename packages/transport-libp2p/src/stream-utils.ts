import type { Stream } from '@libp2p/interface';

/** An Error to abort a stream with (libp2p wants an Error; handlers may throw anything). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  // A stream reset surfaces as a DOM Event (e.g. 'close'), whose String() says nothing.
  if (typeof Event !== 'undefined' && error instanceof Event) return `stream ${error.type === 'close' ? 'closed' : error.type} by the peer`;
  return String(error);
}

/**
 * Resolves once the stream is closed at both ends; rejects if it was reset or aborted instead,
 * or if `signal` fires first. Used where the remote's close is the acknowledgement (a one-way
 * message is acknowledged by the receiver closing the stream once its handler has it).
 */
export function whenClosed(stream: Stream, signal?: AbortSignal): Promise<void> {
  if (stream.status === 'closed') return Promise.resolve();
  if (stream.status === 'reset' || stream.status === 'aborted') {
    return Promise.reject(new Error(`stream ${stream.status}`));
  }
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.removeEventListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onClose = (event: Event): void => {
      cleanup();
      const error = (event as Event & { error?: Error }).error;
      if (error) reject(error);
      else resolve();
    };
    const onAbort = (): void => {
      cleanup();
      reject(asError(signal?.reason ?? new Error('aborted')));
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    stream.addEventListener('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Gives a stream whose work is done `graceMs` to be closed by the remote too, then aborts it.
 * A well-behaved peer closes right after its last frame; one that does not would otherwise
 * hold a stream slot until the connection ends.
 */
export function closeWithin(stream: Stream, graceMs: number): void {
  if (stream.status !== 'open' && stream.status !== 'closing') return;
  const timer = setTimeout(() => stream.abort(new Error(`remote did not close the stream within ${graceMs} ms`)), graceMs);
  // Not a reason to keep the process alive; the stream closes with its connection anyway.
  timer.unref?.();
  stream.addEventListener('close', () => clearTimeout(timer), { once: true });
}

/**
 * Waits for `work`, but stops waiting when the stream closes first (the peer gave up or the
 * connection dropped): an inbound handler that never settles must not pin the stream handler.
 */
export function untilStreamCloses<T>(stream: Stream, work: Promise<T>): Promise<{ done: true; value: T } | { done: false }> {
  return new Promise((resolve, reject) => {
    if (stream.status !== 'open' && stream.status !== 'closing') {
      work.catch(() => undefined);
      resolve({ done: false });
      return;
    }
    const onClose = (): void => {
      work.catch(() => undefined);
      resolve({ done: false });
    };
    stream.addEventListener('close', onClose, { once: true });
    work.then(
      (value) => {
        stream.removeEventListener('close', onClose);
        resolve({ done: true, value });
      },
      (error: unknown) => {
        stream.removeEventListener('close', onClose);
        reject(error);
      },
    );
  });
}

/** `promise`, or the signal's reason if it fires first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
