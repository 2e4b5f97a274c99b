import type { Hlc } from '../clock/hlc.js';

/**
 * Port: how far each peer holds each (owner, resource) stream, as it said in its heads (its
 * watermarks: every change of the stream up to that HLC is stored there). Tombstones and shared
 * changes of a stream are pruned below every member's ack of it.
 */
export interface AckStore {
  /**
   * Records what `peerDeviceId` holds of each named stream, heard at wall time `at`. Each
   * stream's ack moves forward only, as watermarks (an older or repeated one keeps its HLC),
   * and every named stream's `updatedAt` becomes `at`: when the peer was last heard from.
   * Returns how many acks moved.
   */
  recordAcks(peerDeviceId: string, acks: readonly StreamAck[], at: number): Promise<number>;
  /** All acks, ordered by peer, then owner, then resource. */
  listAcks(): Promise<PeerAck[]>;
}

/** A peer's position in one (owner, resource) stream. */
export interface StreamAck {
  readonly owner: string;
  readonly resource: string;
  readonly hlc: Hlc;
}

export interface PeerAck extends StreamAck {
  readonly peerDeviceId: string;
  /** Wall time (ms) the peer last acked this stream, moved or not. */
  readonly updatedAt: number;
}
