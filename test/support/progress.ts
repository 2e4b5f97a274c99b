import { expect } from '@jest/globals';

/** A progress event as `progress$` emits it (or a peer process reports it). */
export interface ProgressEvent {
  readonly applied: number;
  readonly total: number;
  readonly ratio: number;
  readonly current: unknown;
}

/** Progress of one node, split into passes (a pass starts with applied 0 and no current stream). */
export function passes<P extends ProgressEvent>(events: readonly P[]): P[][] {
  const out: P[][] = [];
  for (const e of events) {
    if (e.applied === 0 && e.current === null) out.push([e]);
    else out.at(-1)?.push(e);
  }
  return out;
}

/** Within every pass, progress only grows; the last pass ends at exactly 100 %. */
export function expectHonestProgress(events: readonly ProgressEvent[]): void {
  const all = passes(events);
  expect(all.length).toBeGreaterThan(0);
  for (const pass of all) {
    for (let i = 1; i < pass.length; i++) {
      expect(pass[i]!.applied).toBeGreaterThanOrEqual(pass[i - 1]!.applied);
      expect(pass[i]!.ratio).toBeGreaterThanOrEqual(pass[i - 1]!.ratio);
    }
  }
  const last = all.at(-1)!.at(-1)!;
  expect(last.ratio).toBe(1);
  expect(last.applied).toBe(last.total);
}
