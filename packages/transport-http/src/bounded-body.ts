import type { IncomingMessage } from 'node:http';

/** The body passed `limit` bytes; reading stopped there. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** The stream ended or failed before the whole body arrived. */
export class BodyIncompleteError extends Error {
  constructor(cause?: unknown) {
    super('connection closed before the whole body arrived', cause === undefined ? undefined : { cause });
    this.name = 'BodyIncompleteError';
  }
}

/** The declared Content-Length, or undefined when absent (chunked) or unparsable. */
export function declaredLength(message: IncomingMessage): number | undefined {
  const header = message.headers['content-length'];
  if (header === undefined || !/^[0-9]{1,15}$/.test(header)) return undefined;
  return Number(header);
}

/**
 * Reads a request or response body into memory, never more than `limit` bytes: as soon as a
 * chunk passes the limit it stops listening, pauses the stream and rejects with
 * {@link BodyTooLargeError}. The caller then destroys the stream (closing the connection is
 * the only way to stop a peer that keeps sending). A Content-Length over the limit is refused
 * before any byte is read.
 */
export function readBoundedBody(message: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const declared = declaredLength(message);
    if (declared !== undefined && declared > limit) {
      reject(new BodyTooLargeError(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      message.off('data', onData);
      message.off('end', onEnd);
      message.off('error', onError);
      message.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        message.pause();
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      // A plain Uint8Array view: callers get bytes, not Buffer's shared-memory `slice` semantics.
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    };
    const onError = (error: unknown): void => {
      cleanup();
      reject(new BodyIncompleteError(error));
    };
    const onClose = (): void => {
      if (message.complete) return; // 'end' resolves
      cleanup();
      reject(new BodyIncompleteError());
    };
    message.on('data', onData);
    message.on('end', onEnd);
    message.on('error', onError);
    message.on('close', onClose);
  });
}
