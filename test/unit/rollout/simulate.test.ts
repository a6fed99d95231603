import { describe, expect, it } from 'vitest';
import { createRng, sampleBinomial, samplePoisson } from '../../../src/rollout/random.ts';
import {
  type CellResult,
  cellSeed,
  DESIGN_TABLE_4_2,
  type DesignCell,
  histogramQuantile,
  latencySurvival,
  primaryThresholdsMs,
  type RuleSummary,
  SCENARIOS,
  simulateCell,
} from '../../../src/rollout/simulate.ts';

/**
 * Monte-Carlo tolerances. The design's cells have 2000 runs each, ours `n`; both estimates carry sampling error, so
 * a rate p is compared with `Z·sqrt(p(1−p)/n + p(1−p)/2000)` plus the design's rounding (0.05 points), with p floored
 * at 1/n so that a 0 % or 100 % cell still allows a handful of runs. Z = 5: each check fails with probability
 * < 1e-6 when the simulator matches the design's model.
 */
const Z = 5;
const DESIGN_RUNS = 2000;

function rateTolerance(pDesign: number, n: number): number {
  const p = Math.min(Math.max(pDesign, 1 / n), 1 - 1 / n);
  return Z * Math.sqrt((p * (1 - p)) / n + (p * (1 - p)) / DESIGN_RUNS) + 0.0005;
}

function expectRate(k: number, n: number, designPercent: number, what: string): void {
  const p = designPercent / 100;
  const tol = rateTolerance(p, n);
  expect(
    Math.abs(k / n - p),
    `${what}: ${k}/${n} vs design ${designPercent} % (±${(100 * tol).toFixed(1)} pts)`,
  ).toBeLessThanOrEqual(tol);
}

/**
 * The design's median m (rounded to `resolutionMin`) is consistent with our decided runs if our empirical CDF crosses
 * 1/2 within the rounding interval, up to Z standard errors of both medians' ranks: F̂(m + r/2) ≥ 1/2 − tol and
 * F̂(< m − r/2) ≤ 1/2 + tol, tol = Z·sqrt(1/(4n) + 1/(4·n_design)).
 */
function expectMedian(
  s: RuleSummary,
  designMin: number,
  designDecidedShare: number,
  resolutionMin: number,
  what: string,
) {
  const times = s.decisionTimesMs;
  const n = times.length;
  expect(n, `${what}: no decided runs`).toBeGreaterThan(0);
  const nDesign = Math.max(1, DESIGN_RUNS * designDecidedShare);
  const tol = Z * Math.sqrt(1 / (4 * n) + 1 / (4 * nDesign));
  const hiMs = (designMin + resolutionMin / 2) * 60_000;
  const loMs = (designMin - resolutionMin / 2) * 60_000;
  const atOrBelowHi = times.filter((t) => t <= hiMs + 1e-9).length / n;
  const belowLo = times.filter((t) => t < loMs - 1e-9).length / n;
  expect(atOrBelowHi, `${what}: F(${designMin} min + rounding)`).toBeGreaterThanOrEqual(0.5 - tol);
  expect(belowLo, `${what}: F(< ${designMin} min − rounding)`).toBeLessThanOrEqual(0.5 + tol);
}

const design = (scenario: string, rps: number): DesignCell => {
  const d = DESIGN_TABLE_4_2.find((c) => c.scenario === scenario && c.rps === rps);
  if (!d) throw new Error(`no design cell ${scenario}@${rps}`);
  return d;
};

function checkSequential(c: CellResult): void {
  const d = design(c.scenario, c.rps);
  const s = c.sequential!;
  const what = `sequential ${c.scenario}@${c.rps}`;
  expectRate(s.rollbacks, s.runs, d.sequential.rollback, `${what} rollback`);
  expectRate(s.promotions, s.runs, d.sequential.promote, `${what} promote`);
  expectRate(s.inconclusive, s.runs, d.sequential.inconclusive, `${what} inconclusive`);
  expectMedian(s, d.sequential.medianMin, 1 - d.sequential.inconclusive / 100, 0.1, `${what} median`);
}

function checkFlagger(c: CellResult): void {
  const d = design(c.scenario, c.rps);
  const f = c.flagger!;
  const what = `Flagger ${c.scenario}@${c.rps}`;
  expectRate(f.rollbacks, f.runs, d.flagger.rollback, `${what} rollback`);
  expectRate(f.promotions, f.runs, d.flagger.promote, `${what} promote`);
  // Flagger decides on whole-minute ticks: the median is an integer number of minutes.
  expectMedian(f, d.flagger.medianMin, 1, 1e-9, `${what} median`);
}

describe('simulator building blocks', () => {
  it('Poisson and binomial samplers have the right mean and variance (5σ bounds)', () => {
    const rng = createRng(42);
    const N = 20_000;
    for (const [mean, draw] of [
      [3, () => samplePoisson(rng, 3)],
      [95, () => samplePoisson(rng, 95)],
      [0.5 * 130, () => sampleBinomial(rng, 130, 0.5)],
      [2000 * 0.3, () => sampleBinomial(rng, 2000, 0.3)],
    ] as const) {
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < N; i++) {
        const k = draw();
        s += k;
        s2 += k * k;
      }
      const m = s / N;
      const v = s2 / N - m * m;
      const variance = mean === 3 || mean === 95 ? mean : mean * (mean === 65 ? 0.5 : 0.7);
      expect(Math.abs(m - mean)).toBeLessThan(5 * Math.sqrt(variance / N));
      expect(Math.abs(v / variance - 1)).toBeLessThan(5 * Math.sqrt(2 / N) * 1.5);
    }
  });

  it('the §4.1 primary gives thresholds {100, 250, 500} ms and S(500) = 0.37 %, ×1.5 → 2.24 % (§2.2)', () => {
    expect(primaryThresholdsMs(SCENARIOS.H05.primary)).toEqual([100, 250, 500]);
    expect(latencySurvival(SCENARIOS.H05.primary, 500)).toBeCloseTo(0.0037, 4);
    expect(latencySurvival(SCENARIOS.BL.canary, 500)).toBeCloseTo(0.0224, 4);
  });

  it('histogram_quantile follows Prometheus: interpolation, +Inf bucket, NaN when empty', () => {
    const edges = [100, 250, 500, 1000, Number.POSITIVE_INFINITY];
    expect(histogramQuantile(0.99, edges, [50, 90, 99, 100, 100])).toBeCloseTo(500, 9);
    expect(histogramQuantile(0.99, edges, [50, 90, 100, 100, 100])).toBeCloseTo(475, 9);
    expect(histogramQuantile(0.99, edges, [50, 90, 98, 99.5, 100])).toBeGreaterThan(500);
    expect(histogramQuantile(0.99, edges, [50, 90, 95, 95, 100])).toBe(1000);
    expect(Number.isNaN(histogramQuantile(0.99, edges, [0, 0, 0, 0, 0]))).toBe(true);
  });

  it('is reproducible: the same seed gives the same cell', () => {
    const o = { scenario: SCENARIOS.B4, rps: 20, runs: 5, seed: 7 };
    expect(simulateCell(o)).toEqual(simulateCell(o));
  });
});

describe('reproduces cells of sequential-canary.md §4.2 within Monte-Carlo error', () => {
  const seed = 20240601;

  it("Flagger's fixed-threshold rule: H08@5, B2@100, B4@1, BL@1, H05@20 (2000 runs each)", () => {
    for (const [k, rps] of [
      ['H08', 5],
      ['B2', 100],
      ['B4', 1],
      ['BL', 1],
      ['H05', 20],
    ] as const) {
      checkFlagger(
        simulateCell({ scenario: SCENARIOS[k], rps, runs: 2000, seed: cellSeed(seed, k, rps), rules: ['flagger'] }),
      );
    }
  });

  it('sequential rule, grey zone G16@100 (160 runs): rollback ≈ 1/3, promote ≈ 2/3, median ≈ 7.7 min', () => {
    checkSequential(
      simulateCell({
        scenario: SCENARIOS.G16,
        rps: 100,
        runs: 160,
        seed: cellSeed(seed, 'G16', 100),
        rules: ['sequential'],
      }),
    );
  });

  it('sequential rule, B4@20 (120 runs): all rolled back by the error tests, median ≈ 3.5 min', () => {
    const c = simulateCell({
      scenario: SCENARIOS.B4,
      rps: 20,
      runs: 120,
      seed: cellSeed(seed, 'B4', 20),
      rules: ['sequential'],
    });
    checkSequential(c);
    const t = c.sequential!.rollbackTriggers;
    expect((t['errors-relative'] ?? 0) + (t['errors-slo'] ?? 0)).toBeGreaterThanOrEqual(c.sequential!.rollbacks);
  });

  it('sequential rule, BL@5 (120 runs): +50 % latency rolled back by the latency tests, median ≈ 3.0 min', () => {
    const c = simulateCell({
      scenario: SCENARIOS.BL,
      rps: 5,
      runs: 120,
      seed: cellSeed(seed, 'BL', 5),
      rules: ['sequential'],
    });
    checkSequential(c);
    expect(c.sequential!.rollbackTriggers['latency-relative'] ?? 0).toBeGreaterThan(0.9 * c.sequential!.rollbacks);
  });

  it('sequential rule, healthy H05@20 (120 runs): promoted through the not-worse gate, median ≈ 7.8 min', () => {
    checkSequential(
      simulateCell({
        scenario: SCENARIOS.H05,
        rps: 20,
        runs: 120,
        seed: cellSeed(seed, 'H05', 20),
        rules: ['sequential'],
      }),
    );
  });
});
