import type { Subscription } from 'rxjs';
import { compareHlc } from '../../clock/hlc.js';
import { HighwaterError } from '../../errors.js';
import type { ConflictResolver, RecordVersion } from '../../ports/conflict-resolver.js';
import { canonicalPublicKey } from '../../identity/device-key.js';
import type { ModelDefinition } from '../../models/model-definition.js';
import type { RecordCursor } from '../../ports/record-store.js';
import type { NodeComponents } from '../../wiring/components.js';
import type { Startable } from '../../wiring/lifecycle.js';
import { SerialQueue } from '../serial-queue.js';
import type { TrustedDevice, TrustOptions } from './change-signatures.js';

/** The roster's model name. */
export const DEVICE_ROSTER = 'hw_device';

/** Sync-state key of the devices a pairing handed this node (see {@link DeviceRoster.adopt}). */
export const PAIRED_DEVICES_KEY = 'paired-devices';

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

/**
 * How peers pick between two versions of a roster record: a revoked version wins over one that
 * is not, then the newer HLC. So a revocation cannot be undone by a later write, and every peer
 * keeps the same version whatever order the writes reach it in (a rule that refused the later
 * write instead would leave peers that saw it first with the device still a member). Nodes
 * register it for the roster by default; keep it when replacing `Tokens.ConflictResolvers`.
 */
export const rosterResolver: ConflictResolver = Object.freeze({
  compare: (_model: string, a: RecordVersion, b: RecordVersion): number => {
    const revoked = (v: RecordVersion): number => (v.data !== null && typeof v.data['revokedAt'] === 'number' ? 1 : 0);
    return revoked(a) - revoked(b) || compareHlc(a.hlc, b.hlc);
  },
});

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
  /** What a pairing handed this node: the inviter's devices, founders included, which the roster records do not list. */
  private paired: RosterDevice[] = [];
  private running = false;

  constructor(
    private readonly components: Pick<
      NodeComponents,
      'modelRegistry' | 'recordStore' | 'syncStore' | 'signatures' | 'transport' | 'syncEvents' | 'logger' | 'localWriter' | 'identity' | 'wallClock'
    >,
    private readonly trust: TrustOptions | undefined,
  ) {}

  /** Whether this node keeps a roster: `trust` on and the roster model registered. */
  get enabled(): boolean {
    return this.trust !== undefined && this.components.modelRegistry.has(DEVICE_ROSTER);
  }

  async load(): Promise<void> {
    if (!this.enabled) return;
    const saved = await this.components.syncStore.getSyncState(PAIRED_DEVICES_KEY);
    this.paired = saved ? (JSON.parse(saved) as RosterDevice[]) : [];
    await this.refresh();
  }

  start(): void {
    if (!this.enabled) return;
    this.running = true;
    this.subscription = this.components.syncEvents.applied$.subscribe((applied) => {
      if (applied.model !== DEVICE_ROSTER) return;
      this.queue
        .run(() => this.refresh(true))
        .catch((error: unknown) => this.components.logger.warn({ err: (error as Error).message }, 'could not take up the roster'));
    });
  }

  stop(): Promise<void> {
    this.running = false;
    this.subscription?.unsubscribe();
    this.subscription = null;
    return this.queue.idle();
  }

  /**
   * Adds a device (a signed roster record that syncs to every device) and takes the roster up
   * at once. Its key never changes afterwards.
   */
  async add(device: { deviceId: string; publicKey: string; name?: string | undefined }): Promise<void> {
    this.require();
    if ((await this.devices()).find((d) => d.deviceId === device.deviceId)?.revokedAt !== undefined) {
      throw new HighwaterError('HW_DEVICE_REVOKED', `${device.deviceId} was revoked; a revoked device stays revoked (pair it under a new device id and key)`);
    }
    const publicKey = canonicalPublicKey(device.publicKey);
    const data = { publicKey, name: device.name ?? null, addedBy: this.components.identity.deviceId, revokedAt: null };
    await this.components.localWriter.write(DEVICE_ROSTER, [{ id: device.deviceId, data }]);
    await this.refreshNow();
  }

  /** Revokes a device: its roster record gets `revokedAt` (now), and the roster is taken up at once. */
  async revoke(deviceId: string): Promise<void> {
    this.require();
    const device = (await this.devices()).find((d) => d.deviceId === deviceId);
    if (!device) throw new HighwaterError('HW_UNKNOWN_DEVICE', `${deviceId} is not a device of this library`);
    const { identity, wallClock } = this.components;
    const data = { publicKey: device.publicKey, name: device.name ?? null, addedBy: device.addedBy ?? identity.deviceId, revokedAt: wallClock.now() };
    await this.components.localWriter.write(DEVICE_ROSTER, [{ id: deviceId, data }]);
    await this.refreshNow();
  }

  /**
   * Keeps the devices a pairing handed this node (the inviter's list, founders included) in
   * sync state, so they still count after a restart though no roster record lists founders,
   * and takes them up at once.
   */
  async adopt(devices: readonly RosterDevice[]): Promise<void> {
    this.require();
    const own = this.components.identity.deviceId;
    this.paired = devices.filter((d) => d.deviceId !== own).map((d) => ({ ...d }));
    await this.components.syncStore.setSyncState(PAIRED_DEVICES_KEY, JSON.stringify(this.paired));
    await this.refreshNow();
  }

  /** Takes the roster up now (queued behind any refresh under way). */
  refreshNow(): Promise<void> {
    return this.queue.run(() => this.refresh(this.running));
  }

  /** Every device, this one included: the roster's, and `trust.devices` and those a pairing handed over for those it does not hold. */
  async devices(): Promise<RosterDevice[]> {
    const byId = new Map<string, RosterDevice>();
    for (const d of this.trust?.devices ?? []) byId.set(d.deviceId, d);
    for (const d of this.paired) if (!byId.has(d.deviceId)) byId.set(d.deviceId, d);
    const own = this.components.identity.deviceId;
    if (this.trust && !byId.has(own)) byId.set(own, { deviceId: own, publicKey: this.trust.deviceKey.publicKey });
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

  private require(): void {
    if (!this.enabled) throw new HighwaterError('HW_INVALID_OPTION', 'A device roster needs the trust option and deviceRosterModel in the model registry');
  }

  /** Takes the roster up: the signatures' device list, and (running) the transport's members. */
  private async refresh(running = false): Promise<void> {
    const { signatures, transport } = this.components;
    signatures.setDevices(await this.devices());
    if (running) transport.setMembers?.(signatures.activeDevices().map((d) => d.publicKey));
  }
}
