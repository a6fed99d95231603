/**
 * A small seeded PRNG (mulberry32), used by the test backend (reproducible error and fault rates), the benchmarks
 * and the tests. Not cryptographic; the proxy takes its RNG by injection.
 */
import { randomInt } from 'node:crypto';

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/**
 * Returns a mulberry32 generator for `seed` (any finite number; reduced to an unsigned 32-bit integer). The same seed
 * always yields the same sequence.
 */
export function createSeededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh random 32-bit seed, for backends started without one (the seed is reported so a run can be replayed). */
export function randomSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}
