import { expect } from '@jest/globals';
import { runSimulation, type SimulationResult } from '../src/index.js';

/** A failed seed's report: what broke and the end of its trace (replay: npm run sim -- --seed N). */
export function report(result: SimulationResult): string {
  if (result.ok) return 'passed';
  return [
    `seed ${result.seed}: ${result.failure!.invariant} after step ${result.failure!.step} (replay and shrink it: npm run sim -- --seed ${result.seed})`,
    result.failure!.message,
    ...result.trace.slice(-40),
  ].join('\n');
}

/** Runs seeds `from`…`from + count - 1` and expects every one to pass. */
export async function expectSeedsPass(from: number, count: number): Promise<void> {
  const failed: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const result = await runSimulation({ seed });
    if (!result.ok) failed.push(report(result));
  }
  expect(failed).toEqual([]);
}
