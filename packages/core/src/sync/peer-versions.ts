import { HighwaterError, ProtocolError, RecordValidationError } from '../errors.js';
import type { Change } from './change.js';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type WireVersions } from '../protocol/messages.js';
import { protocolRangeText } from '../protocol/schemas.js';
import type { RegisteredModel } from '../models/model-definition.js';
import type { WireChange } from '../protocol/messages.js';
import type { NodeComponents } from '../wiring/components.js';

/** One model as this node has it and as its peers have it (see `SyncNode.versionStatus`). */
export interface ModelVersionStatus {
  readonly model: string;
  /** This node's version of the model. */
  readonly version: number;
  /** The newest version a peer has said it has (this node's own when none is newer). */
  readonly newestSeen: number;
  /** The devices that said they have a version newer than this node's. */
  readonly newerOn: readonly string[];
}

/**
 * The handshake's versions (see WireVersions): what this node speaks, and what each peer said
 * it speaks in its last watermark exchange. A peer whose protocol range does not meet this
 * node's is refused (HW_PROTOCOL_VERSION, reported once on `errors$`): its exchange fails, so
 * this node neither pulls from it nor answers its exchange. A newer version of a model, had or
 * seen by a peer, is reported once per (device, model, version) on `errors$` (HW_MODEL_VERSION):
 * only then does this node keep aside the changes of that model it cannot read (`admit`); they
 * wait for an upgrade.
 */
export class PeerVersions {
  private readonly protocol: readonly [number, number] = [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION];
  private readonly ours: Readonly<Record<string, number>>;
  private readonly byDevice = new Map<string, WireVersions>();
  /** The newest version of each model a peer has or has seen, where newer than this node's. */
  private readonly newer = new Map<string, number>();
  private readonly reported = new Set<string>();

  constructor(private readonly components: Pick<NodeComponents, 'modelRegistry' | 'syncEvents'>) {
    const models: Record<string, number> = {};
    for (const model of components.modelRegistry.all()) models[model.name] = model.version;
    this.ours = Object.freeze(models);
  }

  /** What this node sends in its handshake: its versions, and the newer ones it has heard of. */
  get local(): WireVersions {
    return this.newer.size === 0 ? { protocol: this.protocol, models: this.ours } : { protocol: this.protocol, models: this.ours, seen: Object.fromEntries(this.newer) };
  }

  /**
   * Takes a peer's handshake versions (absent: a node from before versions, which speaks
   * protocol 1 and has version 1 of every model). Returns the protocol version the two agree on,
   * the newest both speak; throws ProtocolError HW_PROTOCOL_VERSION when there is none.
   */
  note(deviceId: string, theirs: WireVersions | undefined): number {
    const peer = theirs ?? { protocol: [1, 1] as const, models: {} };
    const agreed = agreedProtocol(this.protocol, peer.protocol);
    if (agreed === null) {
      const error = new ProtocolError(
        'HW_PROTOCOL_VERSION',
        `Device ${deviceId} speaks protocol ${protocolRangeText(peer.protocol[0], peer.protocol[1])}, this node ${protocolRangeText()}: upgrade the older one to sync them`,
      );
      if (this.once(`${deviceId}\u0000protocol\u0000${peer.protocol.join('-')}`)) this.components.syncEvents.reportError(error);
      throw error;
    }
    this.byDevice.set(deviceId, peer);
    this.learn(deviceId, peer.models, 'has');
    if (peer.seen) this.learn(deviceId, peer.seen, 'has heard of');
    return agreed;
  }

  /**
   * Refuses (RecordValidationError, as before versions) a change of a newer version of its
   * model (`newerFields`) when no peer has or has seen a newer version of that model: kept
   * aside, such a change would be covered by the watermark, so only the version a library really
   * has may hold a stream's changes back from being applied.
   */
  admit(changes: readonly Change[]): void {
    for (const c of changes) {
      if (c.newerFields === undefined || this.newer.has(c.model)) continue;
      throw new RecordValidationError(c.model, c.id, `unrecognized field${c.newerFields.length > 1 ? 's' : ''} ${c.newerFields.map((f) => `"${f}"`).join(', ')}, and no peer has a newer version of the model`);
    }
  }

  /**
   * The version of `model` that `deviceId` said it has in its last handshake (1 when it named
   * none: a node from before versions); this node's own before any handshake with it.
   */
  versionOf(deviceId: string, model: RegisteredModel): number {
    const peer = this.byDevice.get(deviceId);
    return peer === undefined ? model.version : (peer.models[model.name] ?? 1);
  }

  /** Each of this node's models with the newest version a peer has or has seen, and the peers that have a newer one. */
  status(): ModelVersionStatus[] {
    return Object.entries(this.ours).map(([model, version]) => {
      const newerOn: string[] = [];
      for (const [deviceId, peer] of this.byDevice) if ((peer.models[model] ?? 0) > version) newerOn.push(deviceId);
      return { model, version, newestSeen: this.newer.get(model) ?? version, newerOn: newerOn.sort() };
    });
  }

  private learn(deviceId: string, models: Readonly<Record<string, number>>, how: 'has' | 'has heard of'): void {
    for (const [model, version] of Object.entries(models)) {
      const mine = this.ours[model];
      if (mine === undefined || version <= mine) continue;
      if (version > (this.newer.get(model) ?? 0)) this.newer.set(model, version);
      if (!this.once(`${deviceId}\u0000${model}\u0000${version}`)) continue;
      this.components.syncEvents.reportError(
        new HighwaterError(
          'HW_MODEL_VERSION',
          `Device ${deviceId} ${how} version ${version} of model "${model}", this node version ${mine}: ` +
            'its changes this version cannot read are kept aside, unapplied, until this node is upgraded',
        ),
      );
    }
  }

  /** Whether `key` is reported for the first time (each news is reported once per peer). */
  private once(key: string): boolean {
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    return true;
  }
}

/** The fields a device on `version` of `model` has, in declaration order. */
export function fieldsOfVersion(model: RegisteredModel, version: number): string[] {
  return Object.keys(model.fields).filter((name) => (model.fields[name]!.since ?? 1) <= version);
}

/**
 * `changes` as a device on an older `version` of `model` reads them: the fields added after it
 * left off where they are null (the same record there, signed the same; see
 * `changeSigningBytes`). A change that sets one goes whole: that device keeps it aside.
 */
export function servedToVersion(model: RegisteredModel, version: number, changes: readonly WireChange[]): WireChange[] {
  const added = Object.keys(model.fields).filter((name) => (model.fields[name]!.since ?? 1) > version);
  return changes.map((c) => {
    if (c.model !== model.name || c.data === undefined || !added.some((name) => name in c.data! && c.data![name] === null)) return c;
    if (added.some((name) => c.data![name] !== null && c.data![name] !== undefined)) return c;
    const data = { ...c.data };
    for (const name of added) delete data[name];
    return { ...c, data };
  });
}

/** The newest protocol version two ranges share, or null when they do not meet. */
export function agreedProtocol(ours: readonly [number, number], theirs: readonly [number, number]): number | null {
  const newest = Math.min(ours[1], theirs[1]);
  return newest >= Math.max(ours[0], theirs[0]) ? newest : null;
}
