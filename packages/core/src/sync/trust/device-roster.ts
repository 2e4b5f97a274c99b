import type { Subscription } from 'rxjs';
import type { ModelDefinition } from '../../models/model-definition.js';
import type { RecordCursor } from '../../ports/record-store.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import { SerialQueue } from '../serial-queue.js';
import type { TrustedDevice, TrustOptions } from './change-signatures.js';

/** The roster's model name. */
export const DEVICE_ROSTER = 'hw_device';

/**
 * The device roster as library data: one shared record per device (key: the device id), synced
 * like any record and signed by the device that wrote it. Add it to the registry to use it
 * (`new ModelRegistry([...models, deviceRosterModel])`); with `trust`, a node then takes its
 * devices from `trust.devices` (the founders) and the roster together.
 */
export const deviceRosterModel: ModelDefinition = {
  name: DEVICE_ROSTER,
  ownership: 'shared',
  key: 'id',
  fields: {
    /** Raw 32-byte Ed25519 public key, base64url. Never changes for a device id. */
    publicKey: { type: 'text' },
    name: { type: 'text', nullable: true },
    /** The device that added it. */
    addedBy: { type: 'text' },
    /** Wall ms of the revocation; null while the device is a member. */
    revokedAt: { type: 'integer', nullable: true },
  },
};

/** A device as the roster holds it. */
export interface RosterDevice extends TrustedDevice {
  readonly name?: string | undefined;
  readonly addedBy?: string | undefined;
}

/**
 * Keeps the node's device list (ChangeSignatures, the transport's members) equal to
 * `trust.devices` and the roster together, from load and after every applied roster change.
 * Without the roster model in the registry, or without `trust`, it does nothing.
 */
export class DeviceRoster implements Startable {
  private readonly queue = new SerialQueue();
  private subscription: Subscription | null = null;

  constructor(
    private readonly components: Pick<NodeComponents, 'modelRegistry' | 'recordStore' | 'signatures' | 'transport' | 'syncEvents' | 'logger'>,
    private readonly trust: TrustOptions | undefined,
  ) {}

  /** Whether this node keeps a roster: `trust` on and the roster model registered. */
  get enabled(): boolean {
    return this.trust !== undefined && this.components.modelRegistry.has(DEVICE_ROSTER);
  }

  async load(): Promise<void> {
    if (this.enabled) await this.refresh();
  }

  start(): void {
    if (!this.enabled) return;
    this.subscription = this.components.syncEvents.applied$.subscribe((applied) => {
      if (applied.model !== DEVICE_ROSTER) return;
      this.queue
        .run(() => this.refresh(true))
        .catch((error: unknown) => this.components.logger.warn({ err: (error as Error).message }, 'could not take up the roster'));
    });
  }

  stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = null;
    return this.queue.idle();
  }

  /** Every device: the roster's, and `trust.devices` for those it does not hold. */
  async devices(): Promise<RosterDevice[]> {
    const byId = new Map<string, RosterDevice>();
    for (const d of this.trust?.devices ?? []) byId.set(d.deviceId, d);
    if (!this.enabled) return [...byId.values()];
    for (let after: RecordCursor | null = null; ; ) {
      const page = await this.components.recordStore.page(DEVICE_ROSTER, { after, limit: 1000 });
      for (const r of page) {
        const founder = byId.get(r.id);
        const revokedAt = typeof r.data['revokedAt'] === 'number' ? r.data['revokedAt'] : undefined;
        byId.set(r.id, {
          deviceId: r.id,
          publicKey: founder?.publicKey ?? String(r.data['publicKey']),
          name: (r.data['name'] as string | null) ?? undefined,
          addedBy: String(r.data['addedBy']),
          ...(revokedAt !== undefined ? { revokedAt } : founder?.revokedAt !== undefined ? { revokedAt: founder.revokedAt } : {}),
        });
      }
      if (page.length < 1000) break;
      after = { hlc: page.at(-1)!.hlc, id: page.at(-1)!.id };
    }
    return [...byId.values()];
  }

  /** Takes the roster up: the signatures' device list, and (running) the transport's members. */
  private async refresh(running = false): Promise<void> {
    const { signatures, transport } = this.components;
    signatures.setDevices(await this.devices());
    if (running) transport.setMembers?.(signatures.activeDevices().map((d) => d.publicKey));
  }
}
