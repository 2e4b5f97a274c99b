import { Random } from './random.js';

/** How the links among a group of peers are laid out. */
export type Shape = 'chain' | 'star' | 'ring' | 'mesh';

/** Message faults on every link, per message. */
export interface NetFaults {
  readonly drop: number;
  readonly duplicate: number;
  readonly reorder: number;
  /** Probability of an extra delay, and its bound (ms). */
  readonly delay: number;
  readonly maxDelayMs: number;
}

export const CALM: NetFaults = { drop: 0, duplicate: 0, reorder: 0, delay: 0, maxDelayMs: 0 };

export type DeviceModel = 'location' | 'volume' | 'entry';
export type SharedModel = 'tag' | 'tagging';

/**
 * One step of a simulation. Peers are indices; `r` is a random number the step interprets
 * against the state it meets (which record to update, which to reference), so a plan is fixed by
 * its seed alone and a step that no longer applies (its peer is down) does nothing.
 */
export type Step = (
  | { kind: 'write'; peer: number; model: DeviceModel; op: 'insert' | 'update' | 'delete'; count: number; r: number }
  | { kind: 'shared'; peer: number; model: SharedModel; op: 'upsert' | 'delete'; count: number; r: number }
  | { kind: 'contend'; peers: number[]; r: number }
  | { kind: 'link'; a: number; b: number; up: boolean }
  | { kind: 'partition'; groups: number[][]; shape: Shape }
  | { kind: 'heal'; order: number[]; shape: Shape }
  | { kind: 'crash'; peer: number; afterCalls: number }
  | { kind: 'restart'; peer: number }
  | { kind: 'join'; peer: number; partners: number[] }
  | { kind: 'clock'; peer: number; offsetMs: number }
  | { kind: 'net'; faults: NetFaults }
  | { kind: 'wait'; ms: number }
) & {
  /** Virtual time that passes after the step, before the next one. */
  readonly gapMs: number;
};

/** Node settings of a run, drawn from its seed. */
export interface NodeSettings {
  readonly pageSize: number;
  readonly pagesPerRequest: number;
  readonly requestTimeoutMs: number;
  readonly antiEntropyMs: number;
  readonly liveBufferLimit: number;
  readonly liveBatchWindowMs: number;
  /** How long a member may be away before garbage collection goes on without it. */
  readonly gcHorizonMs: number;
}

export interface Plan {
  readonly seed: number;
  readonly peers: number;
  /** Peers that exist from the start; the others join at their `join` step (or the final heal). */
  readonly founders: readonly number[];
  readonly initial: { readonly shape: Shape; readonly order: readonly number[] };
  /** Each peer's wall-clock offset from virtual time at the start (ms). */
  readonly skews: readonly number[];
  readonly latencyMs: number;
  readonly node: NodeSettings;
  readonly steps: readonly Step[];
}

/** Wall clocks stay within this of virtual time, well inside the HLC's 60 s drift limit. */
export const MAX_SKEW_MS = 25_000;

/** The plan of one seed: peers, settings and every step, all from the seed alone. */
export function planFor(seed: number, options: { steps?: number; peers?: number } = {}): Plan {
  const random = new Random(seed);
  const peers = options.peers ?? random.int(3, 8);
  const all = Array.from({ length: peers }, (_, i) => i);
  const late = all.filter((i) => i >= 2 && random.chance(0.3));
  const founders = all.filter((i) => !late.includes(i));
  const count = options.steps ?? random.int(40, 120);
  const node: NodeSettings = {
    pageSize: random.pick([3, 7, 16, 40]),
    pagesPerRequest: random.int(1, 4),
    requestTimeoutMs: random.pick([1500, 3000, 8000]),
    antiEntropyMs: random.pick([2000, 5000, 15_000]),
    liveBufferLimit: random.pick([8, 40, 10_000]),
    liveBatchWindowMs: random.pick([0, 0, 5]),
    // From a random stream of its own, so the rest of the plan is what it was before this setting.
    gcHorizonMs: new Random(seed ^ 0x5eed6c).pick([30 * 24 * 3600_000, 20_000, 60_000]),
  };
  const steps: Step[] = [];
  const joinAt = new Map(late.map((p) => [random.int(0, Math.floor(count * 0.7)), p]));
  const gap = (): number => random.pick([0, 0, 1, 5, 20, 100, 400]);
  for (let i = 0; i < count; i++) {
    const joining = joinAt.get(i);
    if (joining !== undefined) {
      steps.push({ kind: 'join', peer: joining, partners: random.shuffle(all.filter((p) => p !== joining)).slice(0, random.int(1, 2)), gapMs: gap() });
      continue;
    }
    steps.push({ ...stepOf(random, all), gapMs: gap() });
  }
  return {
    seed,
    peers,
    founders,
    initial: { shape: random.pick(['chain', 'star', 'ring', 'mesh'] as const), order: random.shuffle(founders) },
    skews: all.map(() => random.int(-10_000, 10_000)),
    latencyMs: random.int(0, 3),
    node,
    steps,
  };
}

type StepBody = Step extends infer S ? (S extends unknown ? Omit<S, 'gapMs'> : never) : never;

function stepOf(random: Random, all: readonly number[]): StepBody {
  const peer = random.pick(all);
  const r = random.int(0, 1_000_000);
  switch (
    random.weighted({ write: 30, shared: 12, contend: 4, link: 8, partition: 3, heal: 3, crash: 5, restart: 5, clock: 4, net: 4, wait: 6 })
  ) {
    case 'write':
      return {
        kind: 'write',
        peer,
        model: random.weighted({ location: 2, volume: 1, entry: 6 }),
        op: random.weighted({ insert: 6, update: 3, delete: 2 }),
        count: random.pick([1, 1, 2, 5, 12]),
        r,
      };
    case 'shared':
      return { kind: 'shared', peer, model: random.weighted({ tag: 2, tagging: 1 }), op: random.weighted({ upsert: 4, delete: 1 }), count: random.pick([1, 2, 4]), r };
    case 'contend':
      return { kind: 'contend', peers: random.shuffle(all).slice(0, random.int(2, all.length)), r };
    case 'link': {
      const [a, b] = random.shuffle(all) as [number, number];
      return { kind: 'link', a, b, up: random.chance(0.5) };
    }
    case 'partition': {
      const shuffled = random.shuffle(all);
      const cut = random.int(1, shuffled.length - 1);
      const groups = random.chance(0.3) && shuffled.length > 3 ? split3(random, shuffled) : [shuffled.slice(0, cut), shuffled.slice(cut)];
      return { kind: 'partition', groups, shape: random.pick(['chain', 'star', 'ring', 'mesh'] as const) };
    }
    case 'heal':
      return { kind: 'heal', order: random.shuffle(all), shape: random.pick(['chain', 'star', 'ring', 'mesh'] as const) };
    case 'crash':
      return { kind: 'crash', peer, afterCalls: random.chance(0.3) ? 0 : random.int(1, 40) };
    case 'restart':
      return { kind: 'restart', peer };
    case 'clock':
      return { kind: 'clock', peer, offsetMs: random.int(-MAX_SKEW_MS, MAX_SKEW_MS) };
    case 'net':
      return {
        kind: 'net',
        faults: random.chance(0.3)
          ? CALM
          : {
              drop: random.pick([0, 0.02, 0.1]),
              duplicate: random.pick([0, 0.05, 0.2]),
              reorder: random.pick([0, 0.1, 0.3]),
              delay: random.pick([0, 0.2, 0.5]),
              maxDelayMs: random.pick([10, 200, 2000]),
            },
      };
    case 'wait':
      return { kind: 'wait', ms: random.pick([50, 500, 3000, 20_000]) };
  }
}

function split3(random: Random, shuffled: number[]): number[][] {
  const a = random.int(1, shuffled.length - 2);
  const b = random.int(a + 1, shuffled.length - 1);
  return [shuffled.slice(0, a), shuffled.slice(a, b), shuffled.slice(b)];
}

/** Links of `shape` over `order` (pairs of peer indices). */
export function linksOf(shape: Shape, order: readonly number[]): [number, number][] {
  const links: [number, number][] = [];
  if (order.length < 2) return links;
  switch (shape) {
    case 'chain':
      for (let i = 1; i < order.length; i++) links.push([order[i - 1]!, order[i]!]);
      break;
    case 'ring':
      for (let i = 1; i < order.length; i++) links.push([order[i - 1]!, order[i]!]);
      if (order.length > 2) links.push([order.at(-1)!, order[0]!]);
      break;
    case 'star':
      for (let i = 1; i < order.length; i++) links.push([order[0]!, order[i]!]);
      break;
    case 'mesh':
      for (let i = 0; i < order.length; i++) for (let j = i + 1; j < order.length; j++) links.push([order[i]!, order[j]!]);
      break;
  }
  return links;
}
