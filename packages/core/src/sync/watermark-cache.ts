import { compareHlc, type Hlc } from '../clock/hlc.js';
import type { SyncStore } from '../ports/sync-store.js';
import type { NodeComponents } from '../wiring/components.js';
import type { Startable } from '../wiring/lifecycle.js';
import { streamKey as key } from './stream-key.js';

/**
 * The node's per-(owner, resource) watermarks, read once from the SyncStore and kept in
 * memory: the live path asks "is this change new?" for every change it relays, and the
 * watermark exchange sends them all. Writes go through to the store first.
 */
export class WatermarkCache implements Startable {
  private readonly marks = new Map<string, { owner: string; resource: string; hlc: Hlc }>();
  private readonly store: SyncStore;

  constructor(components: Pick<NodeComponents, 'syncStore'>) {
    this.store = components.syncStore;
  }

  async load(): Promise<void> {
    this.marks.clear();
    for (const w of await this.store.listWatermarks()) {
      this.marks.set(key(w.ownerDeviceId, w.resourceType), { owner: w.ownerDeviceId, resource: w.resourceType, hlc: w.watermark });
    }
  }

  get(owner: string, resource: string): Hlc | null {
    return this.marks.get(key(owner, resource))?.hlc ?? null;
  }

  /** Durably moves the watermark forward (never back); returns whether it moved. */
  async advance(owner: string, resource: string, hlc: Hlc): Promise<boolean> {
    const current = this.get(owner, resource);
    if (current && compareHlc(hlc, current) <= 0) return false;
    await this.store.advanceWatermark(owner, resource, hlc);
    const now = this.get(owner, resource);
    if (!now || compareHlc(hlc, now) > 0) this.marks.set(key(owner, resource), { owner, resource, hlc });
    return true;
  }

  all(): { owner: string; resource: string; hlc: Hlc }[] {
    return [...this.marks.values()];
  }

  /** Highest watermark of all: every change this node has stored is at or below it, or was seen by its clock. */
  max(): Hlc | null {
    let max: Hlc | null = null;
    for (const m of this.marks.values()) if (!max || compareHlc(m.hlc, max) > 0) max = m.hlc;
    return max;
  }

  /** Highest watermark of one owner across resources (a device's own last issued HLC). */
  maxOfOwner(owner: string): Hlc | null {
    let max: Hlc | null = null;
    for (const m of this.marks.values()) if (m.owner === owner && (!max || compareHlc(m.hlc, max) > 0)) max = m.hlc;
    return max;
  }
}
