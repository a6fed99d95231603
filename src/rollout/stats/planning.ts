/**
 * Planning and the preflight estimate (`sequential-canary.md` §3.4): how many events or requests an e-process needs
 * to cross its threshold, `n* ≈ (ln(K/α) + ln(1/π_g)) / max_g D_g`, where `D_g` is the expected log-likelihood ratio
 * per event at grid point g under the truth (overshoot ignored). Pure; used by the controller to warn, before the
 * evidence is in, that a run cannot be decided within `maxDuration` at the traffic it sees.
 */

import { canaryShare, type MixtureGrid, NOT_WORSE_GRID, ROLLBACK_GRID } from './e-process.ts';

/** `x ln(x/y)` with the convention `0 ln 0 = 0`. */
function xlog(x: number, ratio: number): number {
  return x === 0 ? 0 : x * Math.log(ratio);
}

/**
 * §3.4: expected error (or exceedance) events for the relative e-process against `nullTheta` to reach `logThreshold`
 * when the true relative risk is `trueTheta` and the canary routing probability is `w` (0 < w < 1). Per event, the
 * label is canary with probability `q = q(θ, w)`; grid point g adds `D_g = q ln(q_g/q₀) + (1−q) ln((1−q_g)/(1−q₀))`.
 * Returns `Infinity` when no grid point drifts towards the threshold. The grid's ratios multiply `nullTheta`
 * (up: rollback, §1.3; down: not worse, §1.6).
 */
export function expectedEventsToCross(
  trueTheta: number,
  nullTheta: number,
  w: number,
  logThreshold: number,
  grid: MixtureGrid = ROLLBACK_GRID,
): number {
  if (!(w > 0 && w < 1)) throw new RangeError(`w must be in (0, 1), got ${w}`);
  const q = canaryShare(trueTheta, w);
  const q0 = canaryShare(nullTheta, w);
  let best = Number.POSITIVE_INFINITY;
  grid.ratios.forEach((r, i) => {
    const qg = canaryShare(nullTheta * r, w);
    const d = xlog(q, qg / q0) + xlog(1 - q, (1 - qg) / (1 - q0));
    if (d > 0) best = Math.min(best, (logThreshold - grid.logWeights[i]!) / d);
  });
  return best;
}

/**
 * §3.4 for the canary-only SLO test (§1.7): expected canary requests for `E^{slo}` against rate `s` to reach
 * `logThreshold` when the canary's true rate is `p`: `D_g = p ln(p_g/s) + (1−p) ln((1−p_g)/(1−s))` with `p_g = s·r_g`
 * (points outside (0, 1) dropped and the weights renormalised). `Infinity` when none drifts.
 */
export function expectedRequestsSlo(
  p: number,
  s: number,
  logThreshold: number,
  grid: MixtureGrid = NOT_WORSE_GRID,
): number {
  const usable = grid.ratios
    .map((r, i) => ({ pg: s * r, w: Math.exp(grid.logWeights[i]!) }))
    .filter((g) => g.pg > 0 && g.pg < 1);
  const total = usable.reduce((a, g) => a + g.w, 0);
  let best = Number.POSITIVE_INFINITY;
  for (const g of usable) {
    const d = xlog(p, g.pg / s) + xlog(1 - p, (1 - g.pg) / (1 - s));
    if (d > 0) best = Math.min(best, (logThreshold - Math.log(g.w / total)) / d);
  }
  return best;
}

/** What the preflight needs: observed traffic, the ladder and the policy's thresholds. */
export interface PreflightInput {
  /** Requests per second through the rolled-out routes (both versions). */
  readonly rps: number;
  /** The primary's observed error rate (fraction); the canary is assumed as good (the promotion case). */
  readonly errorRate: number;
  /** Canary routing probability of the last shared step (the not-worse gate, §3.1). */
  readonly gateWeight: number;
  /** Time before the gate can be reached at the earliest (the dwells of the earlier phases), ms. */
  readonly msBeforeGate: number;
  readonly maxDurationMs: number;
  /** θ_m, the not-worse margin. */
  readonly margin: number;
  /** `ln(R/α_P)`, the not-worse threshold of a route (§3.2). */
  readonly logPromotionThreshold: number;
  /** The error SLO rate s, or null without one (or with `promoteOnSLO: false`). */
  readonly sloRate: number | null;
}

/** The §3.4 estimate for the error metric's promotion gate. */
export interface PreflightEstimate {
  /** Canary requests the relative route needs at the gate (`Infinity` without errors). */
  readonly relativeCanaryRequests: number;
  /** Canary requests the SLO route needs (`Infinity` without an SLO or when p ≥ s). */
  readonly sloCanaryRequests: number;
  /** Estimated run time to the not-worse gate passing, ms (`Infinity` when neither route can pass). */
  readonly estimatedMs: number;
  /** Whether that is within `maxDurationMs`. */
  readonly feasible: boolean;
}

/**
 * §3.4 "Preflight": with the traffic and error rate seen, how long until the error metric can be shown not worse at
 * the gate — the relative route (θ = 1 vs θ_m, events at rate `rps·p`) or the SLO route (canary requests at rate
 * `rps·w`), whichever is sooner — plus the dwells before the gate. An estimate, not a guarantee (overshoot and the
 * latency metric are ignored; latency is the easier metric, §4.3).
 */
export function preflightEstimate(i: PreflightInput): PreflightEstimate {
  const p = Math.max(0, Math.min(1, i.errorRate));
  const w = i.gateWeight;
  const events = p > 0 ? expectedEventsToCross(1, i.margin, w, i.logPromotionThreshold, NOT_WORSE_GRID) : Infinity;
  // Events per canary request at the gate: errors of both versions per request, over the canary's share.
  const relativeCanaryRequests = p > 0 ? (events / p) * w : Number.POSITIVE_INFINITY;
  const sloCanaryRequests =
    i.sloRate !== null && p < i.sloRate ? expectedRequestsSlo(p, i.sloRate, i.logPromotionThreshold) : Infinity;
  const canaryRps = i.rps * w;
  const best = Math.min(relativeCanaryRequests, sloCanaryRequests);
  const estimatedMs = canaryRps > 0 && Number.isFinite(best) ? i.msBeforeGate + (best / canaryRps) * 1000 : Infinity;
  return { relativeCanaryRequests, sloCanaryRequests, estimatedMs, feasible: estimatedMs <= i.maxDurationMs };
}
