/**
 * A device's config file: one JSON document saying which library and device, which models,
 * where the records live (SQLite folder or PostgreSQL schema), how peers are reached (libp2p
 * or HTTP) and who they are. `highwater serve`, `status`, `verify` and `id` all read it.
 * Relative paths are resolved against the file's folder, so a config and its data move together.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { modelFromEntity, parsePublicKey, type ModelDefinition } from '@highwater/core';
import { z } from 'zod';
import { libraryModels } from './demo-library.js';

/** A device's Ed25519 public key, as `highwater id` prints it (raw base64url; base64 and SPKI PEM work too). */
const publicKey = z.string().refine(
  (text) => {
    try {
      parsePublicKey(text);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an Ed25519 public key (expected what `highwater id` prints as publicKey)' },
);

const libp2pPeer = z
  .object({
    /** The member's device id, when known: `status` shows it beside the peer id. */
    deviceId: z.string().optional(),
    /** The member's libp2p peer id; derived from `publicKey` when omitted (both given must agree). */
    peerId: z.string().min(1).optional(),
    publicKey: publicKey.optional(),
    /** Multiaddrs, ideally ending in /p2p/<peerId>; redialled while the peer is away. */
    addresses: z.array(z.string().min(1)).min(1),
  })
  .refine((peer) => peer.peerId !== undefined || peer.publicKey !== undefined, { message: 'a libp2p peer needs a peerId or a publicKey' });

const httpPeer = z.object({
  deviceId: z.string().optional(),
  /** Derived from `publicKey` when omitted (both given must agree). */
  peerId: z.string().min(1).optional(),
  url: z.string().url(),
  publicKey,
});

const nodeOptions = z
  .object({
    pageSize: z.number().int().positive(),
    pagesPerRequest: z.number().int().positive(),
    parallelPulls: z.number().int().positive(),
    requestTimeoutMs: z.number().int().positive(),
    antiEntropyMs: z.number().int().nonnegative(),
    metricsIntervalMs: z.number().int().nonnegative(),
    gcHorizonMs: z.number().int().positive(),
  })
  .partial()
  .strict();

export const deviceConfigSchema = z
  .object({
    library: z.string().min(1),
    device: z.string().min(1),
    /**
     * The device's folder: its device key (`device.key`, or the `libp2p.key`/`http.key` of
     * earlier versions when present), the control socket of a running `serve`, and —
     * with SQLite storage — sync.db and database.db.
     */
    dir: z.string().min(1),
    /**
     * The library's models: "demo" (the demo library), a path to an ES module whose `models`
     * (or default) export is an array of model definitions or `@Syncable` entity classes, or
     * the definitions themselves.
     */
    models: z.union([z.string().min(1), z.array(z.record(z.string(), z.unknown())).min(1)]),
    storage: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('sqlite') }).strict(),
      z.object({ kind: z.literal('postgres'), url: z.string().min(1), schema: z.string().min(1) }).strict(),
    ]),
    transport: z.discriminatedUnion('kind', [
      z
        .object({
          kind: z.literal('libp2p'),
          host: z.string().default('127.0.0.1'),
          port: z.number().int().min(0).max(65535).default(0),
          peers: z.array(libp2pPeer).default([]),
          /** Multiaddrs the others should dial instead of host:port (a public address behind NAT); what `id` and invites give. */
          announce: z.array(z.string().min(1)).optional(),
          /** How often an unconnected peer is redialled (ms). */
          redialMs: z.number().int().positive().default(2000),
        })
        .strict(),
      z
        .object({
          kind: z.literal('http'),
          host: z.string().default('127.0.0.1'),
          port: z.number().int().min(0).max(65535).default(0),
          peers: z.array(httpPeer).default([]),
          /** The base url the others should call instead of http://host:port (behind a reverse proxy or NAT); what `id` and invites give. */
          publicUrl: z.string().url().optional(),
        })
        .strict(),
    ]),
    /** Every device of the library (device ids): deletes are forgotten once all of them hold them. Default: the ids in `devices`. */
    members: z.array(z.string().min(1)).optional(),
    /**
     * The library's devices and their public keys (what `highwater id` prints). With it, this
     * device signs its changes with its device key and accepts a change only with its owner's
     * signature, whoever relayed it (see @highwater/core, Trust). This device must be listed
     * with its own key.
     */
    devices: z.array(z.object({ deviceId: z.string().min(1), publicKey, /** Revoked at (ms since the epoch): see TrustedDevice. */ revokedAt: z.number().int().nonnegative().optional() }).strict()).min(1).optional(),
    node: nodeOptions.default({}),
  })
  .strict();

export type DeviceConfig = z.infer<typeof deviceConfigSchema> & {
  /** The file this was read from. */
  readonly path: string;
};
export type Libp2pPeerConfig = z.infer<typeof libp2pPeer>;
export type HttpPeerConfig = z.infer<typeof httpPeer>;

/** A config file that does not parse or does not match the schema; the message says where. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates a device config, resolving `dir` (and a models module path) against the file's folder. */
export function loadDeviceConfig(path: string): DeviceConfig {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`${file}: ${(cause as Error).message}`);
  }
  const parsed = deviceConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new ConfigError(`${file} is not a valid Highwater device config:\n${problems}`);
  }
  const base = dirname(file);
  const config = parsed.data;
  const models = typeof config.models === 'string' && config.models !== 'demo' ? absolute(base, config.models) : config.models;
  return { ...config, dir: absolute(base, config.dir), models, path: file };
}

const absolute = (base: string, path: string): string => (isAbsolute(path) ? path : resolve(base, path));

/** The model definitions a config names. */
export async function loadModels(config: DeviceConfig): Promise<ModelDefinition[]> {
  if (config.models === 'demo') return libraryModels;
  if (Array.isArray(config.models)) return config.models as unknown as ModelDefinition[];
  const module = (await import(pathToFileURL(config.models).href)) as { models?: unknown; default?: unknown };
  const exported = module.models ?? module.default;
  if (!Array.isArray(exported) || exported.length === 0) {
    throw new ConfigError(`${config.models} must export \`models\` (or a default export): an array of model definitions or @Syncable entity classes`);
  }
  return exported.map((m: unknown) => (typeof m === 'function' ? modelFromEntity(m) : (m as ModelDefinition)));
}
