/** Seeded randomness for tests: the simulator's mulberry32, so randomised tests replay exactly. */
import { createRandom } from '../../src/testing/simulator/random.js';

export const seeded = createRandom;

/** An integer in [min, max]. */
export const between = (random: () => number, min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
