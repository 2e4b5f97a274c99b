/**
 * @highwater/sim — a deterministic simulation of many Highwater peers.
 *
 * 3–8 devices on the in-process transport, real SQLite files, one seeded scheduler in virtual
 * time, a skewed and jumping wall clock per device; random workloads (device-owned and shared
 * records, deletes, concurrent updates, cross-owner references, late joiners) under random
 * faults (message drop, delay, reorder, duplication, partitions in any shape, crashes at any
 * storage call and restarts on the same files). Invariants are checked after every step, every
 * heal and at the end.
 *
 * ```ts
 * import { runSimulation } from '@highwater/sim';
 * const result = await runSimulation({ seed: 42 });
 * if (!result.ok) console.log(result.failure, result.trace.slice(-30));
 * ```
 */
export { runSimulation, type SimulationOptions, type SimulationResult, type SimulationFailure } from './simulation.js';
export { shrinkFailure, type ShrunkFailure } from './shrink.js';
export { planFor, type Plan, type Step } from './plan.js';
export { InvariantViolation } from './invariants.js';
export type { StoreWrapper } from './world.js';
export { Random } from './random.js';
