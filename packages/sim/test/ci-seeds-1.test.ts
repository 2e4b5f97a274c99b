import { describe, it } from '@jest/globals';
import { expectSeedsPass } from './seeds.js';

// The simulation's CI seeds, split over two files so jest runs them on both cores.
describe('simulation, CI seeds 1-110', () => {
  it('holds every invariant', () => expectSeedsPass(1, 110), 600_000);
});
