import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, type Rng } from '../../../src/rollout/random.ts';
import {
  canaryShare,
  cloneCountTable,
  createCountTable,
  createRolloutCounts,
  DEFAULT_SEQUENTIAL_POLICY,
  decide,
  evaluateEvidence,
  exceedanceCounts,
  logAverageE,
  logMinimumE,
  logOneSampleE,
  logPromotionThreshold,
  logRelativeE,
  logRollbackThreshold,
  logSumExp,
  mergeCountTables,
  mergeRolloutCounts,
  NOT_WORSE_GRID,
  NOT_WORSE_RATIOS,
  pooledCanaryShare,
  primaryLatencyThresholdsMs,
  quantileConfidenceSequence,
  ROLLBACK_GRID,
  ROLLBACK_RATIOS,
  type RolloutCounts,
  type RolloutProgress,
  recordEvent,
  recordEvents,
  recordRequest,
  relativeRiskConfidenceSequence,
  relativeRiskMle,
  roundRoutingProbability,
  type SequentialPolicy,
  snapUpToEdge,
  statisticsBucketEdgesMs,
  totalCounts,
  validateSequentialPolicy,
} from '../../../src/rollout/stats/index.ts';

// The design's vectors (sequential-canary.md §5), copied into the project's test data.
const VECTORS = JSON.parse(
  readFileSync(new URL('../../fixtures/rollout/sequential-canary-vectors.json', import.meta.url), 'utf8'),
) as Record<string, unknown>[];
// biome-ignore lint/suspicious/noExplicitAny: the vectors are heterogeneous JSON; each test reads the fields it checks
const vector = (id: string): Record<string, any> => {
  const v = VECTORS.find((x) => x.id === id);
  if (!v) throw new Error(`vector ${id} missing`);
  return v;
};

/** The vectors are quoted to 12 decimals; the design checks its JS port to 1e-9. */
const TOL = 1e-9;
const LN80 = Math.log(80);
const LN40 = Math.log(40);

/**
 * The vectors' verdicts, from the computed ln E and the thresholds the decision rule uses (the default rollback
 * family has K = 4 tests at α_R = 0.05; a metric's not-worse routes R = 2 at α_P = 0.05).
 */
const rollbackVerdict = (logE: number): string =>
  logE >= logRollbackThreshold(DEFAULT_SEQUENTIAL_POLICY.alphaRollback, 4) ? 'ROLLBACK' : 'CONTINUE';
const notWorseVerdict = (logE: number): string =>
  logE >= logPromotionThreshold(DEFAULT_SEQUENTIAL_POLICY.alphaPromote, 2) ? 'NOT-WORSE' : 'INSUFFICIENT';

describe('design test vectors (sequential-canary.md §5)', () => {
  it('has exactly the 8 vectors V1–V8', () => {
    expect(VECTORS.map((v) => v.id)).toEqual(['V1', 'V2', 'V3', 'V4', 'V5', 'V6', 'V7', 'V8']);
  });

  it('thresholds: ln 80 = 4.382027 and ln 40 = 3.688879', () => {
    expect(logRollbackThreshold(0.05, 4)).toBeCloseTo(4.382027, 6);
    expect(logPromotionThreshold(0.05, 2)).toBeCloseTo(3.688879, 6);
  });

  it('V1: one batch at w = 0.5, 12 canary / 2 primary errors, θ₀ = 1.2 up → ln E, CONTINUE', () => {
    const v = vector('V1');
    const table = createCountTable(v.events as [number, number, number][]);
    const logE = logRelativeE(table, v.theta0, 'up');
    expect(Math.abs(logE - v.logE)).toBeLessThan(TOL);
    expect(rollbackVerdict(logE)).toBe(v.decision);
  });

  it('V2: events one by one at w = 0.1, θ₀ = 1 → the whole ln E trace and the first crossing of ln 80', () => {
    const v = vector('V2');
    const table = createCountTable();
    const trace: number[] = [];
    let first = 0;
    for (const label of v.labels as string) {
      recordEvent(table, v.w, label === 'C' ? 'canary' : 'primary');
      const logE = logRelativeE(table, v.theta0, 'up');
      trace.push(logE);
      if (first === 0 && logE >= LN80) first = trace.length;
    }
    expect(trace).toHaveLength((v.logE_trace as number[]).length);
    (v.logE_trace as number[]).forEach((want, i) => expect(Math.abs(trace[i]! - want)).toBeLessThan(TOL));
    expect(first).toBe(v.first_event_crossing_log80);
  });

  it('V3: weight changes → up and down ln E, decisions, pooled share and the weighted MLE', () => {
    const v = vector('V3');
    const table = createCountTable(v.events as [number, number, number][]);
    const up = logRelativeE(table, v.up.theta0, 'up');
    const down = logRelativeE(table, v.down.theta0, 'down');
    expect(Math.abs(up - v.up.logE)).toBeLessThan(TOL);
    expect(Math.abs(down - v.down.logE)).toBeLessThan(TOL);
    expect(rollbackVerdict(up)).toBe(v.up.decision);
    expect(notWorseVerdict(down)).toBe(v.down.decision);
    expect(Math.abs(pooledCanaryShare(table) - v.pooled_canary_share)).toBeLessThan(TOL);
    // The vector's θ̂ came from a numerical optimiser with a ~1e-9 tolerance: it is 2.395066467611, the exact root of
    // the score equation is 2.39506647003417 (checked with mpmath at 30 digits). Hold it to 1e-8 and the root to 1e-12.
    const mle = relativeRiskMle(table);
    expect(Math.abs(mle - v.theta_mle)).toBeLessThan(1e-8);
    expect(Math.abs(mle - 2.395066470034165)).toBeLessThan(1e-12);
  });

  it('V4: events at w = 1 and w = 0 carry no information → ln E = 0 exactly', () => {
    const v = vector('V4');
    const table = createCountTable(v.events as [number, number, number][]);
    expect(logRelativeE(table, v.theta0, 'up')).toBe(0);
    expect(Math.abs(logRelativeE(table, v.theta0, 'up') - v.logE)).toBe(0);
    expect(rollbackVerdict(logRelativeE(table, v.theta0, 'up'))).toBe(v.decision);
  });

  for (const id of ['V5', 'V6']) {
    it(`${id}: canary-only SLO test, every case's ln E and decision`, () => {
      const v = vector(id);
      for (const c of v.cases as { n: number; x: number; logE: number; decision: string }[]) {
        const logE = logOneSampleE(c.n, c.x, v.p0, v.direction);
        expect(Math.abs(logE - c.logE)).toBeLessThan(TOL);
        const verdict =
          v.direction === 'down' ? (logE >= LN40 ? 'SLO-MET' : 'INSUFFICIENT') : logE >= LN80 ? 'ROLLBACK' : 'CONTINUE';
        expect(verdict).toBe(c.decision);
      }
    });
  }

  it('V7: latency exceedances at 100/250/500 ms → per-threshold up and down, the mean, the decisions', () => {
    const v = vector('V7');
    const tables = (v.thresholds_ms as number[]).map((_, j) =>
      createCountTable([[v.w, v.canary_exceedances[j], v.primary_exceedances[j]]]),
    );
    const ups = tables.map((t) => logRelativeE(t, 1.2, 'up'));
    const downs = tables.map((t) => logRelativeE(t, 2, 'down'));
    (v.logE_up_each as number[]).forEach((want, j) => expect(Math.abs(ups[j]! - want)).toBeLessThan(TOL));
    (v.logE_down_each as number[]).forEach((want, j) => expect(Math.abs(downs[j]! - want)).toBeLessThan(TOL));
    expect(Math.abs(logAverageE(ups) - v.logE_up_mean)).toBeLessThan(TOL);
    expect(rollbackVerdict(logAverageE(ups))).toBe(v.rollback);
    expect(logMinimumE(downs) >= LN40).toBe(v.not_worse_all);
  });

  it('V8: p99 confidence sequence from a histogram → [250, 1000] ms', () => {
    const v = vector('V8');
    const edges = (v.edges as string[]).map((e) => (e === 'inf' ? Number.POSITIVE_INFINITY : Number(e)));
    const cs = quantileConfidenceSequence({ edges, counts: v.counts }, v.q, v.alpha);
    expect(cs.lower).toBe(v.lower);
    expect(cs.upper).toBe(Number(v.upper));
  });

  it('V3 through the decision rule: at the 50 % gate the errors lack not-worse evidence → HOLD', () => {
    const v = vector('V3');
    const counts = createRolloutCounts();
    for (const [w, c, p] of v.events as [number, number, number][]) recordEvents(counts.errors, w, c, p);
    recordEvents(counts.requests, 0.5, 100, 100);
    const policy: SequentialPolicy = { ...DEFAULT_SEQUENTIAL_POLICY, errors: { sloRate: null }, latency: null };
    const d = decide(
      counts,
      {
        weights: [0.05, 0.1, 0.25, 0.5, 1],
        stepIndex: 3,
        runElapsedMs: 240_000,
        stepElapsedMs: 60_000,
        canaryRequestsInStep: 100,
      },
      policy,
    );
    expect(d.action).toBe('HOLD');
    if (d.action === 'HOLD') expect(d.hold).toBe('not-worse');
    expect(Math.abs(d.evidence.rollback[0]!.logE - v.up.logE)).toBeLessThan(TOL);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Count tables

describe('count tables (§1.3, §1.8)', () => {
  it('rounds w to 1e-4, keeps rows sorted, sums same-w rows, rejects bad input', () => {
    const t = createCountTable([
      [0.25, 1, 2],
      [0.05, 3, 4],
      [0.250004, 1, 0],
    ]);
    expect(t.rows).toEqual([
      { w: 0.05, canary: 3, primary: 4 },
      { w: 0.25, canary: 2, primary: 2 },
    ]);
    expect(roundRoutingProbability(0.123456)).toBe(0.1235);
    expect(() => roundRoutingProbability(1.5)).toThrow(RangeError);
    expect(() => recordEvents(t, 0.5, -1, 0)).toThrow(RangeError);
    expect(totalCounts(t)).toEqual({ canary: 5, primary: 6 });
  });

  it('merging replicas equals one table (property: additivity, §5 "useful extra tests")', () => {
    const row = fc.tuple(fc.constantFrom(0, 0.05, 0.1, 0.25, 0.5, 1), fc.nat(40), fc.nat(40));
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        (rows, side) => {
          const whole = createCountTable(rows);
          const a = createCountTable(rows.filter((_, i) => side[i]));
          const b = createCountTable(rows.filter((_, i) => !side[i]));
          const merged = mergeCountTables(a, b);
          expect(merged).toEqual(whole);
          for (const dir of ['up', 'down'] as const) {
            expect(logRelativeE(merged, dir === 'up' ? 1.2 : 2, dir)).toBe(
              logRelativeE(whole, dir === 'up' ? 1.2 : 2, dir),
            );
          }
        },
      ),
      { seed: 8001, numRuns: 200 },
    );
  });

  it('rollout counts: recordRequest and mergeRolloutCounts', () => {
    const a = createRolloutCounts([500, 100, 250]);
    const b = createRolloutCounts([100, 250, 500]);
    recordRequest(a, { w: 0.1, version: 'canary', error: true, latencyMs: 300 });
    recordRequest(b, { w: 0.1, version: 'primary', error: false, latencyMs: 50 });
    recordRequest(b, { w: 0.1, version: 'primary', error: false, latencyMs: 501 });
    const m = mergeRolloutCounts(a, b);
    expect(m.requests.rows).toEqual([{ w: 0.1, canary: 1, primary: 2 }]);
    expect(m.errors.rows).toEqual([{ w: 0.1, canary: 1, primary: 0 }]);
    expect(m.latency.map((t) => [t.thresholdMs, totalCounts(t.exceedances)])).toEqual([
      [100, { canary: 1, primary: 1 }],
      [250, { canary: 1, primary: 1 }],
      [500, { canary: 0, primary: 1 }],
    ]);
    expect(() => mergeRolloutCounts(a, createRolloutCounts([100]))).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// E-process properties

/** ln E by the definition of §1.3: Σ_g π_g ∏_k ℓ_k(θ_g), one event at a time, with no table. */
function logEByDefinition(
  events: readonly { w: number; canary: boolean }[],
  theta0: number,
  ratios: readonly number[],
) {
  const terms = ratios.map((r) => {
    const thetaG = theta0 * r;
    let s = -Math.log(ratios.length);
    for (const e of events) {
      const qg = canaryShare(thetaG, e.w);
      const q0 = canaryShare(theta0, e.w);
      s += e.canary ? Math.log(qg / q0) : Math.log((1 - qg) / (1 - q0));
    }
    return s;
  });
  return logSumExp(terms);
}

const eventArb = fc.record({ w: fc.constantFrom(0.05, 0.1, 0.25, 0.5, 0.9), canary: fc.boolean() });

describe('e-process properties (§1.3–§1.7, §2.1, §2.4)', () => {
  it('the table formula equals the product of per-event likelihood ratios, in any event order', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), fc.constantFrom(1, 1.2, 1.5), (events, theta0) => {
        const table = createCountTable(events.map((e) => [e.w, e.canary ? 1 : 0, e.canary ? 0 : 1] as const));
        const shuffled = createCountTable(
          [...events].reverse().map((e) => [e.w, e.canary ? 1 : 0, e.canary ? 0 : 1] as const),
        );
        const byDef = logEByDefinition(events, theta0, ROLLBACK_RATIOS);
        const viaTable = logRelativeE(table, theta0, 'up');
        expect(Math.abs(viaTable - byDef)).toBeLessThan(1e-9 * (1 + Math.abs(byDef)));
        expect(logRelativeE(shuffled, theta0, 'up')).toBeCloseTo(viaTable, 12);
        const downDef = logEByDefinition(events, 2 * theta0, NOT_WORSE_RATIOS);
        expect(Math.abs(logRelativeE(table, 2 * theta0, 'down') - downDef)).toBeLessThan(
          1e-9 * (1 + Math.abs(downDef)),
        );
      }),
      { seed: 8002, numRuns: 300 },
    );
  });

  it('q(θ, w) increases in θ; a canary label raises E↑ and lowers E↓ (monotone in N_c at fixed M)', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 40 }),
        fc.constantFrom(0.05, 0.1, 0.25, 0.5),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.double({ min: 1.01, max: 5, noNaN: true }),
        (events, w, theta, factor) => {
          expect(canaryShare(theta * factor, w)).toBeGreaterThan(canaryShare(theta, w));
          const base = createCountTable(events.map((e) => [e.w, e.canary ? 1 : 0, e.canary ? 0 : 1] as const));
          const withCanary = recordEvents(cloneCountTable(base), w, 1, 0);
          const withPrimary = recordEvents(cloneCountTable(base), w, 0, 1);
          expect(logRelativeE(withCanary, 1.2, 'up')).toBeGreaterThan(logRelativeE(withPrimary, 1.2, 'up'));
          expect(logRelativeE(withCanary, 2, 'down')).toBeLessThan(logRelativeE(withPrimary, 2, 'down'));
        },
      ),
      { seed: 8003, numRuns: 300 },
    );
  });

  it('E↑(θ*) decreases and E↓(θ*) increases in θ* (so the θ confidence sequence is an interval, §1.6)', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0.2, max: 5, noNaN: true }),
        fc.double({ min: 1.01, max: 3, noNaN: true }),
        (events, theta, factor) => {
          const t = createCountTable(events.map((e) => [e.w, e.canary ? 1 : 0, e.canary ? 0 : 1] as const));
          expect(logRelativeE(t, theta * factor, 'up')).toBeLessThanOrEqual(logRelativeE(t, theta, 'up') + 1e-12);
          expect(logRelativeE(t, theta * factor, 'down')).toBeGreaterThanOrEqual(
            logRelativeE(t, theta, 'down') - 1e-12,
          );
        },
      ),
      { seed: 8004, numRuns: 300 },
    );
  });

  it('the θ confidence sequence contains the MLE and is bounded by where the tests reject', () => {
    const table = createCountTable([
      [0.05, 3, 20],
      [0.1, 4, 15],
      [0.25, 9, 12],
      [0.5, 14, 6],
    ]);
    const cs = relativeRiskConfidenceSequence(table, 0.05);
    const mle = relativeRiskMle(table);
    expect(cs.lower).toBeLessThan(mle);
    expect(cs.upper).toBeGreaterThan(mle);
    expect(logRelativeE(table, cs.lower * 0.999, 'up')).toBeGreaterThanOrEqual(LN40);
    expect(logRelativeE(table, cs.lower * 1.001, 'up')).toBeLessThan(LN40);
    expect(logRelativeE(table, cs.upper * 1.001, 'down')).toBeGreaterThanOrEqual(LN40);
    expect(logRelativeE(table, cs.upper * 0.999, 'down')).toBeLessThan(LN40);
    expect(relativeRiskConfidenceSequence(createCountTable(), 0.05)).toEqual({
      lower: 0,
      upper: Number.POSITIVE_INFINITY,
    });
  });

  it('one-sample: E^up increases and E^down decreases in x; with no errors ln E^down grows with n (§1.7, §2.4)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.nat(), fc.constantFrom(0.001, 0.01, 0.05), (n, seed, s) => {
        const x = seed % n;
        expect(logOneSampleE(n, x + 1, s, 'up')).toBeGreaterThan(logOneSampleE(n, x, s, 'up'));
        expect(logOneSampleE(n, x + 1, s, 'down')).toBeLessThan(logOneSampleE(n, x, s, 'down'));
        expect(logOneSampleE(n + 1, 0, s, 'down')).toBeGreaterThan(logOneSampleE(n, 0, s, 'down'));
      }),
      { seed: 8005, numRuns: 300 },
    );
    // §1.7/§3.4: "about 600" error-free canary requests reach ln 40 at s = 1 %. The planning figure 606 is
    // (ln 40 + ln 6)/D for the best grid point p = 0.1·s alone; the mixture is ≥ π_g × that point's LR, so it crosses
    // no later — in fact at 527, since the neighbouring points add mass.
    let n = 0;
    while (logOneSampleE(n, 0, 0.01, 'down') < LN40) n++;
    const planning = Math.ceil((LN40 + Math.log(6)) / (Math.log1p(-0.001) - Math.log1p(-0.01)));
    expect(planning).toBe(606);
    expect(n).toBeLessThanOrEqual(planning);
    expect(n).toBe(527);
  });

  it('one-sample grid points outside (0, 1) are dropped and the weights renormalised', () => {
    // s = 0.05: 30·s = 1.5 and 10·s = 0.5; the up grid keeps {1.25, 1.5, 2, 3, 5, 10}.
    const kept = [1.25, 1.5, 2, 3, 5, 10];
    const want = logSumExp(
      kept.map((r) => -Math.log(6) + 3 * Math.log(r) + 7 * (Math.log1p(-0.05 * r) - Math.log1p(-0.05))),
    );
    expect(logOneSampleE(10, 3, 0.05, 'up')).toBeCloseTo(want, 12);
    expect(logOneSampleE(0, 0, 0.05, 'up')).toBe(0);
  });

  it('averaging e-values costs at most ln J and the minimum is ≤ every term (§2.1)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 5 }), (logs) => {
        const max = Math.max(...logs);
        const avg = logAverageE(logs);
        expect(avg).toBeLessThanOrEqual(max + 1e-12);
        expect(avg).toBeGreaterThanOrEqual(max - Math.log(logs.length) - 1e-12);
        expect(logMinimumE(logs)).toBe(Math.min(...logs));
      }),
      { seed: 8006, numRuns: 200 },
    );
  });

  it('quantile CS: nested rejections, coverage of the true edge interval on a known histogram', () => {
    expect(snapUpToEdge(216, [100, 250, 500])).toBe(250);
    expect(snapUpToEdge(600, [100, 250, 500])).toBe(Number.POSITIVE_INFINITY);
    expect(exceedanceCounts({ edges: [1, 2, Number.POSITIVE_INFINITY], counts: [5, 3, 2] })).toEqual([5, 2, 0]);
    const edges = statisticsBucketEdgesMs();
    expect(edges).toContain(500);
    expect(edges).toContain(250);
    expect(edges.length).toBeGreaterThan(180);
    expect(edges.length).toBeLessThan(215);
    // primary's p50/p90/p99 → {100, 250, 500} (§2.2) from a histogram over Envoy edges.
    const envoy = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, Number.POSITIVE_INFINITY];
    expect(
      primaryLatencyThresholdsMs({ edges: envoy, counts: [0, 0, 0, 0, 10, 190, 800, 820, 160, 18, 2, 0] }),
    ).toEqual([100, 250, 500]);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Validity under the null: Ville's inequality, checked by simulation

/**
 * One-sided binomial bound: with R runs and crossing probability at most α, the count exceeds
 * α·R + 5·sqrt(R·α·(1−α)) with probability < 3e-7 (normal approximation; far beyond it for these R).
 */
function fiveSigmaBound(runs: number, alpha: number): number {
  return alpha * runs + 5 * Math.sqrt(runs * alpha * (1 - alpha));
}

/** Simulates error-event labels under θ = θ_true ≤ θ₀ along a weight schedule; true iff ln E↑ ever reaches ln(1/α). */
function crossesUnderNull(
  rng: Rng,
  schedule: readonly number[],
  eventsPerStep: number,
  theta: number,
  theta0: number,
  alpha: number,
) {
  const table = createCountTable();
  const limit = Math.log(1 / alpha);
  for (const w of schedule) {
    const q = canaryShare(theta, w);
    for (let k = 0; k < eventsPerStep; k++) {
      recordEvent(table, w, rng() < q ? 'canary' : 'primary');
      if (logRelativeE(table, theta0, 'up') >= limit) return true;
    }
  }
  return false;
}

describe('validity under the null (Ville: P(∃t: E_t ≥ 1/α) ≤ α)', () => {
  const alpha = 0.05;

  it('rollback e-process, θ = θ₀ (the boundary) and θ < θ₀, random weight ladders: crossings within α·runs + 5σ', () => {
    let totalRuns = 0;
    let totalCross = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.95), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(1, 1.2),
        fc.constantFrom(1, 0.5),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (schedule, theta0, shrink, seed) => {
          const rng = createRng(seed);
          const runs = 200;
          let crossed = 0;
          for (let i = 0; i < runs; i++)
            if (crossesUnderNull(rng, schedule, 60, theta0 * shrink, theta0, alpha)) crossed++;
          totalRuns += runs;
          totalCross += crossed;
          expect(crossed).toBeLessThanOrEqual(fiveSigmaBound(runs, alpha));
        },
      ),
      { seed: 8007, numRuns: 12 },
    );
    expect(totalCross).toBeLessThanOrEqual(fiveSigmaBound(totalRuns, alpha));
  });

  it('not-worse e-process at θ = θ_m and the canary-only SLO tests at p = s: crossings within α·runs + 5σ', () => {
    const rng = createRng(8008);
    const runs = 1500;
    const limit = Math.log(1 / alpha);
    let notWorse = 0;
    let sloUp = 0;
    let sloDown = 0;
    for (let i = 0; i < runs; i++) {
      const table = createCountTable();
      let hit = false;
      for (const w of [0.1, 0.5]) {
        const q = canaryShare(2, w);
        for (let k = 0; k < 100 && !hit; k++) {
          recordEvent(table, w, rng() < q ? 'canary' : 'primary');
          hit = logRelativeE(table, 2, 'down') >= limit;
        }
      }
      if (hit) notWorse++;
      // SLO at s = 5 % (so that a few hundred requests carry real evidence).
      let x = 0;
      let up = false;
      let down = false;
      for (let n = 1; n <= 600; n++) {
        if (rng() < 0.05) x++;
        if (n % 5 !== 0) continue;
        up ||= logOneSampleE(n, x, 0.05, 'up') >= limit;
        down ||= logOneSampleE(n, x, 0.05, 'down') >= limit;
      }
      if (up) sloUp++;
      if (down) sloDown++;
    }
    const bound = fiveSigmaBound(runs, alpha);
    expect(notWorse).toBeLessThanOrEqual(bound);
    expect(sloUp).toBeLessThanOrEqual(bound);
    expect(sloDown).toBeLessThanOrEqual(bound);
  });

  it('§4.4 stress: identical drifting error rates with a blip during the 50 % step — no more than α false alarms', () => {
    // Request-level simulation: both versions share p(t), 5 % during the 50 % step; routing per request with known w.
    const rng = createRng(8009);
    const runs = 300;
    let crossed = 0;
    for (let i = 0; i < runs; i++) {
      const table = createCountTable();
      let hit = false;
      for (const w of [0.05, 0.1, 0.25, 0.5]) {
        const p = w === 0.5 ? 0.05 : 0.005;
        for (let k = 0; k < 6000 && !hit; k++) {
          if (rng() >= p) continue; // no error: ℓ = 1
          recordEvent(table, w, rng() < w ? 'canary' : 'primary');
          hit = logRelativeE(table, 1, 'up') >= Math.log(1 / alpha);
        }
      }
      if (hit) crossed++;
    }
    expect(crossed).toBeLessThanOrEqual(fiveSigmaBound(runs, alpha));
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// The decision rule (§3.1)

const LADDER = [0.05, 0.1, 0.25, 0.5, 1];
const progress = (over: Partial<RolloutProgress>): RolloutProgress => ({
  weights: LADDER,
  stepIndex: 0,
  runElapsedMs: 0,
  stepElapsedMs: 0,
  canaryRequestsInStep: 0,
  ...over,
});

function healthyCounts(canary: number, primary: number, w: number): RolloutCounts {
  const c = createRolloutCounts([100, 250, 500]);
  recordEvents(c.requests, w, canary, primary);
  return c;
}

describe('decide (§3.1)', () => {
  const policy = DEFAULT_SEQUENTIAL_POLICY;

  it('the default policy is valid; bad policies are reported', () => {
    expect(validateSequentialPolicy(policy)).toEqual([]);
    expect(validateSequentialPolicy({ ...policy, alphaRollback: 0, margin: 1.1, tolerance: 1.2 })).toEqual([
      'alphaRollback must be in (0, 1)',
      'margin must be greater than tolerance',
    ]);
  });

  it('no traffic is HOLD (dwell, then min-requests), never a failure; maxDuration → INCONCLUSIVE with its policy', () => {
    const empty = createRolloutCounts([100, 250, 500]);
    const a = decide(empty, progress({ stepElapsedMs: 30_000, runElapsedMs: 30_000 }), policy);
    expect(a.action === 'HOLD' && a.hold).toBe('dwell');
    const b = decide(empty, progress({ stepElapsedMs: 90_000, runElapsedMs: 90_000 }), policy);
    expect(b.action === 'HOLD' && b.hold).toBe('min-requests');
    expect(b.reason).toContain('0 of 10 canary requests');
    const c = decide(empty, progress({ stepElapsedMs: 1_800_000, runElapsedMs: 1_800_000 }), {
      ...policy,
      onInconclusive: 'rollback',
    });
    expect(c.action).toBe('INCONCLUSIVE');
    if (c.action === 'INCONCLUSIVE') expect(c.onInconclusive).toBe('rollback');
    // No events: every relative e-value is exactly 1.
    expect(c.evidence.rollback.map((t) => t.logE)).toEqual([0, 0, 0, 0]);
  });

  it('below the last shared step: ADVANCE after dwell and n_min', () => {
    const d = decide(
      healthyCounts(12, 200, 0.05),
      progress({ stepElapsedMs: 60_000, runElapsedMs: 60_000, canaryRequestsInStep: 12 }),
      policy,
    );
    expect(d.action).toBe('ADVANCE');
    if (d.action === 'ADVANCE') expect([d.toStep, d.toWeight]).toEqual([1, 0.1]);
  });

  it('at the last shared step: HOLD without not-worse evidence, ADVANCE to 100 % with it (SLO route), PROMOTE at 100 %', () => {
    const at50 = progress({ stepIndex: 3, stepElapsedMs: 60_000, runElapsedMs: 240_000, canaryRequestsInStep: 50 });
    const few = healthyCounts(100, 1000, 0.5);
    const hold = decide(few, at50, policy);
    expect(hold.action === 'HOLD' && hold.hold).toBe('not-worse');
    expect(hold.reason).toContain('errors');
    // 1000 clean canary requests: errors and latency SLO routes both reach ln 40 (V5: ln E = 7.64 at n = 1000).
    const clean = healthyCounts(1000, 1000, 0.5);
    const adv = decide(clean, at50, policy);
    expect(adv.action).toBe('ADVANCE');
    if (adv.action === 'ADVANCE') expect(adv.toWeight).toBe(1);
    expect(adv.evidence.notWorse.every((m) => m.notWorse)).toBe(true);
    // With promoteOnSLO off only the relative routes count, and they have no events.
    expect(decide(clean, at50, { ...policy, promoteOnSLO: false }).action).toBe('HOLD');
    const at100 = progress({ stepIndex: 4, stepElapsedMs: 60_000, runElapsedMs: 300_000, canaryRequestsInStep: 500 });
    expect(decide(clean, at100, policy).action).toBe('PROMOTE');
    // maxWeight < 100 %: the gate promotes directly.
    const short = { ...at50, weights: [0.05, 0.1, 0.25, 0.5] };
    expect(decide(clean, short, policy).action).toBe('PROMOTE');
  });

  it('ROLLBACK at any step as soon as a rollback e-process reaches K/α_R, naming the test', () => {
    const c = createRolloutCounts([100, 250, 500]);
    recordEvents(c.requests, 0.1, 200, 1800);
    recordEvents(c.errors, 0.1, 12, 2); // strong canary excess at w = 0.1
    const d = decide(c, progress({ stepIndex: 1, stepElapsedMs: 5_000, runElapsedMs: 65_000 }), policy);
    expect(d.action).toBe('ROLLBACK');
    if (d.action === 'ROLLBACK') expect(d.triggeredBy).toContain('errors-relative');
    expect(d.evidence.rollback[0]!.logThreshold).toBeCloseTo(Math.log(80), 12);
    // At 100 %, relative tests are frozen but the SLO test still rolls back (V6: n = 60, x = 6).
    const at100 = createRolloutCounts([100, 250, 500]);
    recordEvents(at100.requests, 1, 60, 0);
    recordEvents(at100.errors, 1, 6, 0);
    const e = decide(at100, progress({ stepIndex: 4, stepElapsedMs: 1000, runElapsedMs: 250_000 }), policy);
    expect(e.action === 'ROLLBACK' && e.triggeredBy).toEqual(['errors-slo']);
  });

  it('K and R follow the active tests: errors only, no SLO → K = 1 (ln 20), R = 1 (ln 20)', () => {
    const ev = evaluateEvidence(createRolloutCounts(), { ...policy, errors: { sloRate: null }, latency: null });
    expect(ev.rollback.map((t) => t.test)).toEqual(['errors-relative']);
    expect(ev.rollback[0]!.logThreshold).toBeCloseTo(Math.log(20), 12);
    expect(ev.notWorse[0]!.routes[0]!.logThreshold).toBeCloseTo(Math.log(20), 12);
    const full = evaluateEvidence(createRolloutCounts([100, 250, 500]), policy);
    expect(full.rollback.map((t) => t.test)).toEqual([
      'errors-relative',
      'errors-slo',
      'latency-relative',
      'latency-slo',
    ]);
    expect(full.notWorse.map((m) => m.routes.map((r) => r.logThreshold))).toEqual([
      [LN40, LN40],
      [LN40, LN40],
    ]);
  });

  it('an absolute SLO never promotes a canary the relative latency test calls worse (issue 12)', () => {
    const at50 = progress({ stepIndex: 3, stepElapsedMs: 60_000, runElapsedMs: 240_000, canaryRequestsInStep: 50 });
    // 1000 clean canary requests, none above 500 ms: the latency SLO route passes (V5), and so do the errors.
    const c = healthyCounts(1000, 1000, 0.5);
    // …but above τ = 100 ms the canary has 35 exceedances to the primary's 10 at w = 0.5: E↑(θ₀) at that τ is past
    // 2/α (its confidence sequence lies above the tolerance), while the average over the three τ stays below K/α_R.
    recordEvents(c.latency.find((l) => l.thresholdMs === 100)!.exceedances, 0.5, 35, 10);
    const d = decide(c, at50, policy);
    const lat = d.evidence.notWorse.find((m) => m.metric === 'latency')!;
    const up100 = d.evidence.rollback.find((t) => t.test === 'latency-relative')!.perThreshold![0]!;
    expect(up100.thresholdMs).toBe(100);
    expect(up100.logE).toBeGreaterThanOrEqual(LN40);
    expect(d.evidence.rollback.every((t) => !t.crossed)).toBe(true);
    expect(lat.routes.find((r) => r.test === 'latency-slo')!.crossed).toBe(true);
    expect(lat.notWorse).toBe(false);
    expect(lat.blocked).toMatch(
      /slower than 1\.2× the primary at τ = 100 ms \(ln E↑ = 4\.06\d ≥ ln\(2\/α\) = 3\.689\)/,
    );
    expect(d.action === 'HOLD' && d.hold).toBe('not-worse');
    expect(d.reason).toMatch(/latency \(.*; blocked: the relative test calls the canary slower/);
    // The errors metric keeps the design's §3.2 choice (never blocked).
    expect(d.evidence.notWorse.find((m) => m.metric === 'errors')!.blocked).toBeNull();
  });

  it('τ pending: the relative latency test keeps its place in K and R at ln E = 0, and latency cannot pass the gate', () => {
    const pending: SequentialPolicy = {
      ...policy,
      latency: {
        ...policy.latency!,
        thresholdsMs: [],
        relativePending: 'the primary has served 40 of the 100 requests',
      },
    };
    const at50 = progress({ stepIndex: 3, stepElapsedMs: 60_000, runElapsedMs: 240_000, canaryRequestsInStep: 50 });
    const clean = healthyCounts(1000, 1000, 0.5);
    const d = decide(clean, at50, pending);
    expect(d.evidence.rollback.map((t) => [t.test, t.logE])).toEqual([
      ['errors-relative', 0],
      ['errors-slo', expect.any(Number)],
      ['latency-relative', 0],
      ['latency-slo', expect.any(Number)],
    ]);
    expect(d.evidence.rollback[0]!.logThreshold).toBeCloseTo(LN80, 12);
    const lat = d.evidence.notWorse.find((m) => m.metric === 'latency')!;
    expect(lat.routes.map((r) => r.logThreshold)).toEqual([LN40, LN40]);
    expect(lat.routes.find((r) => r.test === 'latency-slo')!.crossed).toBe(true);
    expect(lat.notWorse).toBe(false);
    expect(d.action === 'HOLD' && d.hold).toBe('not-worse');
    expect(d.reason).toContain('blocked: τ not set yet: the primary has served 40 of the 100 requests');
    // Without latency thresholds and not pending, latency is judged by its SLO alone (as before).
    const sloOnly = decide(clean, at50, { ...policy, latency: { ...policy.latency!, thresholdsMs: [] } });
    expect(sloOnly.action).toBe('ADVANCE');
  });

  it('grids are the design defaults', () => {
    expect(ROLLBACK_GRID.ratios).toEqual([1.25, 1.5, 2, 3, 5, 10, 30]);
    expect(NOT_WORSE_GRID.ratios).toEqual([0.85, 0.7, 0.5, 0.35, 0.2, 0.1]);
    expect(() => logRelativeE(createCountTable(), 1.2, 'up', NOT_WORSE_GRID)).toThrow(RangeError);
  });
});
