/**
 * Seeded randomness for the rollout simulator and the statistical tests: a small PRNG (xoshiro128**, seeded through
 * splitmix32) and exact Poisson and binomial samplers. Nothing here reads a clock or `Math.random`; a `Rng` is
 * `() => number` in [0, 1), the same shape the routing engine injects.
 */

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * xoshiro128** (Blackman & Vigna), state seeded from `seed` (any number; combined with `stream` so that run i of a
 * cell gets an independent-looking stream without sequential dependence). Returns 32-bit resolution uniforms.
 */
export function createRng(seed: number, stream = 0): Rng {
  const sm = splitmix32((seed >>> 0) ^ Math.imul(stream >>> 0, 0x27d4eb2d) ^ (Math.floor(seed / 2 ** 32) >>> 0));
  let a = sm();
  let b = sm();
  let c = sm();
  let d = sm();
  if ((a | b | c | d) === 0) a = 1;
  return () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** `ln Γ(x)` for x > 0 (Lanczos, g = 7; relative error ≈ 1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = LANCZOS[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * An exact Poisson(mean) draw: sequential-search inversion below mean 10, Hörmann's PTRS transformed rejection
 * (1993, as in NumPy) above.
 */
export function samplePoisson(rng: Rng, mean: number): number {
  if (!(mean >= 0)) throw new RangeError(`Poisson mean must be ≥ 0, got ${mean}`);
  if (mean === 0) return 0;
  if (mean < 10) {
    for (;;) {
      let k = 0;
      let p = Math.exp(-mean);
      let f = p;
      const u = rng();
      while (u > f && k < 1000) {
        k++;
        p *= mean / k;
        f += p;
      }
      if (k < 1000) return k;
    }
  }
  const slam = Math.sqrt(mean);
  const loglam = Math.log(mean);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng() - 0.5;
    const v = rng();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -mean + k * loglam - logGamma(k + 1))
      return k;
  }
}

/**
 * An exact Binomial(n, p) draw by inversion (Kachitvichyanukul & Schmeiser's BINV), using `p ≤ 1/2` by symmetry and
 * splitting n so that `n·p ≤ 400` (keeps `(1−p)^n` far from underflow). Cost O(n·p).
 */
export function sampleBinomial(rng: Rng, n: number, p: number): number {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`binomial n must be a non-negative integer, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`binomial p must be in [0, 1], got ${p}`);
  if (n === 0 || p === 0) return 0;
  if (p === 1) return n;
  if (p > 0.5) return n - sampleBinomial(rng, n, 1 - p);
  if (n * p > 400) {
    const half = Math.floor(n / 2);
    return sampleBinomial(rng, half, p) + sampleBinomial(rng, n - half, p);
  }
  const q = 1 - p;
  const s = p / q;
  const a = (n + 1) * s;
  const r0 = q ** n;
  for (;;) {
    let r = r0;
    let u = rng();
    let x = 0;
    while (u > r) {
      u -= r;
      x++;
      if (x > n) break;
      r *= a / x - s;
    }
    if (x <= n) return x;
  }
}

/** A Bernoulli(p) draw. */
export function sampleBernoulli(rng: Rng, p: number): boolean {
  return rng() < p;
}
