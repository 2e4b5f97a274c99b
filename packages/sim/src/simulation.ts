import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedCrash } from './crash-switch.js';
import { InvariantViolation } from './invariants.js';
import { linksOf, planFor, type Plan, type Step } from './plan.js';
import { VirtualTime } from './virtual-time.js';
import { contendedTag, deviceWrite, sharedWrite } from './workload.js';
import { World, type StoreWrapper } from './world.js';

export interface SimulationOptions {
  readonly seed: number;
  /** Run only these steps of the seed's plan (a shrunk trace); default all. */
  readonly only?: ReadonlySet<number>;
  /** Where the peers' SQLite folders go; default /dev/shm when it exists, else the OS temp dir. */
  readonly directory?: string;
  /** Overrides of the plan's size, for quick runs. */
  readonly steps?: number;
  readonly peers?: number;
  /**
   * Wraps the stores each node is given (after the crash switch): a test of the simulation
   * itself plants a bug here and expects the run to catch it.
   */
  readonly wrapStores?: StoreWrapper;
}

export interface SimulationFailure {
  readonly invariant: string;
  readonly message: string;
  /** The plan step after which it was found (-1: at the end; the final heal). */
  readonly step: number;
}

export interface SimulationResult {
  readonly seed: number;
  readonly plan: Plan;
  readonly ok: boolean;
  readonly failure?: SimulationFailure;
  readonly trace: readonly string[];
  readonly stats: World['stats'] & { readonly peers: number; readonly steps: number; readonly virtualMs: number; readonly events: number; readonly knownChanges: number };
}

/**
 * Runs one seed: its plan's steps in order, each followed by its gap of virtual time and the
 * safety checks, heals checked for convergence, and a final heal with every peer. Deterministic:
 * the same seed (and `only`) gives the same trace.
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const plan = planFor(options.seed, { ...(options.steps !== undefined ? { steps: options.steps } : {}), ...(options.peers !== undefined ? { peers: options.peers } : {}) });
  const time = new VirtualTime();
  const base = options.directory ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const world = new World(plan, time, mkdtempSync(join(base, `hw-sim-${options.seed}-`)), options.wrapStores);
  // Rejections nobody handles: a node must not leave any (a real process would die of one).
  // Those of a crashed node's storage are its death throes, not bugs.
  const onRejection = (reason: unknown): void => {
    if (reason instanceof SimulatedCrash) return;
    world.failures.push(new InvariantViolation('unhandled-rejection', reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)));
  };
  process.on('unhandledRejection', onRejection);
  time.install();
  let failure: SimulationFailure | undefined;
  let current = -1;
  try {
    world.log(
      `seed ${plan.seed}: ${plan.peers} peers (${plan.founders.map((i) => `d${i}`).join(' ')} from the start), ${plan.steps.length} steps, ` +
        `${JSON.stringify(plan.node)}, latency ${plan.latencyMs} ms`,
    );
    for (const i of plan.founders) await world.start(world.peers[i]!);
    world.setLinks(linksOf(plan.initial.shape, plan.initial.order), true);
    world.log(`links: ${world.describeLinks()}`);
    for (const [i, step] of plan.steps.entries()) {
      if (options.only && !options.only.has(i)) continue;
      current = i;
      await execute(world, i, step);
      await time.advance(step.gapMs);
      await world.checkSafety();
    }
    current = -1;
    world.log('final heal: every peer joins and runs');
    await world.heal('mesh', plan.peers === 0 ? [] : world.peers.map((p) => p.index), true);
    await world.checkSafety();
  } catch (error) {
    failure =
      error instanceof InvariantViolation
        ? { invariant: error.invariant, message: error.message, step: current }
        : { invariant: 'simulation-error', message: error instanceof Error ? (error.stack ?? error.message) : String(error), step: current };
    world.log(`FAILED after step ${current}: ${failure.message}`);
  } finally {
    world.dispose();
    // Let the dead processes' last promise chains run out before the real timers return.
    await time.advance(0);
    time.uninstall();
    process.off('unhandledRejection', onRejection);
  }
  return {
    seed: options.seed,
    plan,
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
    trace: world.trace,
    stats: {
      ...world.stats,
      peers: plan.peers,
      steps: options.only?.size ?? plan.steps.length,
      virtualMs: world.elapsedMs,
      events: time.eventsRun,
      knownChanges: world.oracle.changes,
    },
  };
}

async function execute(world: World, index: number, step: Step): Promise<void> {
  const peerOf = (i: number) => world.peers[i]!;
  const tag = `#${index}`;
  switch (step.kind) {
    case 'write': {
      const peer = peerOf(step.peer);
      if (peer.status !== 'up') return world.log(`${tag} ${peer.name} is ${peer.status}: no ${step.op} of ${step.model}`);
      const request = deviceWrite(peer, world.oracle, step);
      if (request) await world.issue(peer, request);
      return;
    }
    case 'shared': {
      const peer = peerOf(step.peer);
      if (peer.status !== 'up') return world.log(`${tag} ${peer.name} is ${peer.status}: no ${step.op} of ${step.model}`);
      const request = sharedWrite(peer, world.oracle, step);
      if (request) await world.issue(peer, request);
      return;
    }
    case 'contend': {
      world.log(`${tag} concurrent updates of one tag by ${step.peers.map((i) => `d${i}`).join(' ')}`);
      for (const i of step.peers) if (peerOf(i).status === 'up') await world.issue(peerOf(i), contendedTag(peerOf(i), step.r));
      return;
    }
    case 'link':
      if (step.up) world.setLinks([[step.a, step.b]], false);
      else world.unlink(step.a, step.b);
      return world.log(`${tag} link d${step.a}–d${step.b} ${step.up ? 'up' : 'down'}; links: ${world.describeLinks()}`);
    case 'partition':
      world.setLinks(
        step.groups.flatMap((g) => linksOf(step.shape, g)),
        true,
      );
      return world.log(`${tag} partition ${step.groups.map((g) => `{${g.map((i) => `d${i}`).join(' ')}}`).join(' ')} as ${step.shape}s; links: ${world.describeLinks()}`);
    case 'heal':
      world.log(`${tag} heal`);
      return world.heal(step.shape, step.order);
    case 'crash': {
      const peer = peerOf(step.peer);
      if (peer.status !== 'up') return world.log(`${tag} ${peer.name} is ${peer.status}: no crash`);
      world.log(`${tag} crash ${peer.name}${step.afterCalls > 0 ? ` at its ${step.afterCalls}th storage call` : ' now'}`);
      return world.crash(peer, step.afterCalls);
    }
    case 'restart': {
      const peer = peerOf(step.peer);
      if (peer.status !== 'down') return world.log(`${tag} ${peer.name} is ${peer.status}: no restart`);
      world.log(`${tag} restart ${peer.name}`);
      return world.start(peer);
    }
    case 'join': {
      const peer = peerOf(step.peer);
      if (peer.status !== 'absent') return world.log(`${tag} ${peer.name} already joined`);
      world.log(`${tag} ${peer.name} joins, linked to ${step.partners.map((i) => `d${i}`).join(' ')}`);
      await world.start(peer);
      world.setLinks(
        step.partners.map((p) => [peer.index, p] as [number, number]),
        false,
      );
      return;
    }
    case 'clock': {
      const peer = peerOf(step.peer);
      const before = peer.offsetMs;
      peer.offsetMs = step.offsetMs;
      return world.log(`${tag} ${peer.name}'s wall clock jumps ${step.offsetMs < before ? 'back' : 'ahead'} ${Math.abs(step.offsetMs - before)} ms`);
    }
    case 'net':
      world.log(`${tag} network changes`);
      return world.setFaults(step.faults);
    case 'wait':
      world.log(`${tag} wait ${step.ms} ms`);
      return world.time.advance(step.ms);
  }
}
