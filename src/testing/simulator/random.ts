/**
 * Seeded PRNG (mulberry32): the same seed and the same request order give the
 * same faults and latencies, so a failing benchmark run can be replayed.
 */
export type Random = () => number;

/** Returns a function yielding uniform numbers in [0, 1) from a 32-bit seed. */
export function createRandom(seed: number): Random {
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}
