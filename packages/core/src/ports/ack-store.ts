import type { Hlc } from '../clock/hlc.js';

/** Port: how far each peer has applied this node's shared log (what may be pruned). */
export interface AckStore {
  /**
   * Records that `peerDeviceId` has applied the shared log up to `hlc`; returns whether its
   * ack moved. Forward only, as watermarks: an older or repeated ack changes nothing.
   */
  recordAck(peerDeviceId: string, hlc: Hlc): Promise<boolean>;
  /** All acks, ordered by peer. */
  listAcks(): Promise<PeerAck[]>;
}

export interface PeerAck {
  readonly peerDeviceId: string;
  readonly hlc: Hlc;
  /** Wall time (ms) of the last move. */
  readonly updatedAt: number;
}
