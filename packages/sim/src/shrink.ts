import { runSimulation, type SimulationOptions, type SimulationResult } from './simulation.js';

export interface ShrunkFailure {
  /** The plan steps that still fail the same invariant, in order. */
  readonly steps: readonly number[];
  /** The run of those steps alone. */
  readonly result: SimulationResult;
  /** Runs it took. */
  readonly runs: number;
}

/**
 * Removes steps from a failing run while it still fails the same invariant (delta debugging:
 * chunks of half the steps, then quarters, down to single steps), within a time budget. A step
 * after the one the failure was found at never matters; a step that no longer applies once
 * others are gone does nothing, so every subset is a valid run.
 */
export async function shrinkFailure(
  failed: SimulationResult,
  options: Omit<SimulationOptions, 'seed' | 'only'> & { budgetMs?: number; onRun?: (steps: number) => void } = {},
): Promise<ShrunkFailure> {
  if (failed.ok || !failed.failure) throw new Error('shrinkFailure needs a failed run');
  const { budgetMs = 60_000, onRun, ...simOptions } = options;
  const invariant = failed.failure.invariant;
  const last = failed.failure.step >= 0 ? failed.failure.step : failed.plan.steps.length - 1;
  let kept = Array.from({ length: last + 1 }, (_, i) => i);
  let best = failed;
  let runs = 0;
  const deadline = Date.now() + budgetMs;
  const fails = async (steps: number[]): Promise<SimulationResult | null> => {
    runs++;
    onRun?.(steps.length);
    const result = await runSimulation({ ...simOptions, seed: failed.seed, only: new Set(steps) });
    return !result.ok && result.failure?.invariant === invariant ? result : null;
  };
  // The failure may need only the steps the first run already took, with nothing after them.
  const prefix = await fails(kept);
  if (prefix) best = prefix;
  else kept = failed.plan.steps.map((_, i) => i);
  for (let chunk = Math.ceil(kept.length / 2); chunk >= 1 && Date.now() < deadline; chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
    for (let start = 0; start < kept.length && Date.now() < deadline; ) {
      const candidate = [...kept.slice(0, start), ...kept.slice(start + chunk)];
      const result = candidate.length > 0 ? await fails(candidate) : null;
      if (result) {
        kept = candidate;
        best = result;
      } else start += chunk;
    }
  }
  return { steps: kept, result: best, runs };
}
