import { TransportError } from '@highwater/core';
import type { Deadline } from './deadline.js';
import { isFrameTooLargeError } from './frames.js';
import { errorMessage } from './stream-utils.js';

export interface OutboundErrorContext {
  readonly peerId: string;
  readonly what: 'Request' | 'Message' | 'Pairing request';
  readonly deadline: Deadline;
  /** The frame limit that applied (`maxMessageBytes`, or PAIRING_MAX_BYTES for a pairing). */
  readonly maxMessageBytes: number;
  /** The error to give when the transport stopped meanwhile. */
  readonly stopped: TransportError | undefined;
}

/**
 * What a failed request or one-way message rejects with. The cause underneath (a reset stream,
 * a closed connection, an aborted read) says less than why it happened, so the deadline's reason
 * comes first: a timeout is HW_REQUEST_TIMEOUT and a stop HW_TRANSPORT_STOPPED whatever stream
 * error they caused; a caller's abort rejects with the caller's own reason (as the in-process
 * transport does), except that a timeout signal (AbortSignal.timeout) is a timeout.
 */
export function outboundError(error: unknown, context: OutboundErrorContext): unknown {
  const { peerId, what, deadline } = context;
  switch (deadline.reason) {
    case 'timeout':
      return new TransportError('HW_REQUEST_TIMEOUT', `${what} to peer ${peerId} timed out after ${deadline.timeoutMs} ms`, { cause: error });
    case 'stopped':
      return context.stopped ?? new TransportError('HW_TRANSPORT_STOPPED', `${what} to peer ${peerId} was cut short: the transport stopped`);
    case 'caller': {
      const reason = deadline.callerReason;
      if ((reason as { name?: unknown } | undefined)?.name === 'TimeoutError') {
        return new TransportError('HW_REQUEST_TIMEOUT', `${what} to peer ${peerId} timed out (caller's signal)`, { cause: reason });
      }
      return reason;
    }
  }
  if (error instanceof TransportError) return error;
  if (context.stopped) return context.stopped;
  if (isFrameTooLargeError(error)) {
    return new TransportError('HW_FRAME_TOO_LARGE', `Peer ${peerId} sent more than the limit of ${context.maxMessageBytes} bytes`, { cause: error });
  }
  return new TransportError('HW_PEER_UNREACHABLE', `${what} to peer ${peerId} failed: ${errorMessage(error)}`, { cause: error });
}
