/**
 * §3.4 planning: the `n*` approximation against the design's table (`sequential-canary.md` §3.4, computed there by
 * `sim/planning.py` with primary errors 0.5 %), and the preflight estimate built on it.
 */
import { describe, expect, it } from 'vitest';
import {
  expectedEventsToCross,
  expectedRequestsSlo,
  logPromotionThreshold,
  logRollbackThreshold,
  NOT_WORSE_GRID,
  preflightEstimate,
  ROLLBACK_GRID,
} from '../../../src/rollout/stats/index.ts';

const ROLLBACK = logRollbackThreshold(0.05, 4); // ln 80
const PROMOTE = logPromotionThreshold(0.05, 2); // ln 40

describe('§3.4 n* against the design table', () => {
  // [test, w, truth, events, canary requests] with p = 0.5 % on the primary.
  it('rollback, θ₀ = 1.2, θ = 2 and 4', () => {
    expect(Math.round(expectedEventsToCross(2, 1.2, 0.1, ROLLBACK))).toBe(382);
    expect(Math.round(expectedEventsToCross(2, 1.2, 0.5, ROLLBACK))).toBe(217);
    expect(Math.round(expectedEventsToCross(4, 1.2, 0.1, ROLLBACK))).toBe(50);
    expect(Math.round(expectedEventsToCross(4, 1.2, 0.5, ROLLBACK))).toBe(45);
    // Canary requests: events over the error rate of all requests (w·θ·p + (1−w)·p), times the canary share.
    const canary = (events: number, w: number, theta: number) => (events / (w * theta * 0.005 + (1 - w) * 0.005)) * w;
    expect(canary(expectedEventsToCross(2, 1.2, 0.1, ROLLBACK), 0.1, 2)).toBeCloseTo(6947, -1);
    expect(canary(expectedEventsToCross(4, 1.2, 0.5, ROLLBACK), 0.5, 4)).toBeCloseTo(1791, -1);
  });

  it('not worse, θ_m = 2, θ = 1', () => {
    expect(Math.round(expectedEventsToCross(1, 2, 0.1, PROMOTE, NOT_WORSE_GRID))).toBe(211);
    expect(Math.round(expectedEventsToCross(1, 2, 0.5, PROMOTE, NOT_WORSE_GRID))).toBe(93);
  });

  it('SLO routes at s = 1 %', () => {
    expect(Math.round(expectedRequestsSlo(0, 0.01, PROMOTE))).toBe(606);
    expect(Math.round(expectedRequestsSlo(0.005, 0.01, PROMOTE))).toBe(3543);
    expect(Math.round(expectedRequestsSlo(0.008, 0.01, PROMOTE))).toBe(27_167);
    // SLO breached (rollback direction, up grid at ln 80): p = 2 % → 1617 canary requests.
    expect(Math.round(expectedRequestsSlo(0.02, 0.01, ROLLBACK, ROLLBACK_GRID))).toBe(1617);
    expect(expectedRequestsSlo(0.01, 0.01, PROMOTE)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('preflight', () => {
  const base = {
    errorRate: 0.005,
    gateWeight: 0.5,
    msBeforeGate: 3 * 60_000,
    maxDurationMs: 30 * 60_000,
    margin: 2,
    logPromotionThreshold: PROMOTE,
    sloRate: 0.01,
  };
  it('at 20 req/s a healthy canary can be promoted within 30 min; at 1 req/s it cannot', () => {
    const busy = preflightEstimate({ ...base, rps: 20 });
    // SLO route: 3543 canary requests at 10 req/s ≈ 354 s, after 3 min of earlier steps.
    expect(busy.sloCanaryRequests).toBeCloseTo(3543, 0);
    expect(busy.estimatedMs / 60_000).toBeCloseTo(3 + 3543 / 10 / 60, 1);
    expect(busy.feasible).toBe(true);
    const quiet = preflightEstimate({ ...base, rps: 1 });
    expect(quiet.feasible).toBe(false);
  });
  it('without traffic or without any route it is infeasible, not a crash', () => {
    expect(preflightEstimate({ ...base, rps: 0 }).feasible).toBe(false);
    const noSlo = preflightEstimate({ ...base, rps: 100, errorRate: 0, sloRate: null });
    expect(noSlo.estimatedMs).toBe(Number.POSITIVE_INFINITY);
  });
});
