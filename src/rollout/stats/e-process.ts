/**
 * The anytime-valid e-processes of the sequential canary design (`sequential-canary.md` §1.3–§1.7, §2.1, §3.2):
 * discrete mixtures of likelihood ratios over fixed grids, evaluated in the log domain from count tables.
 * Pure functions: no I/O, no clock, no randomness. Every function returns `ln E`, never `E`.
 */

import type { CountTable } from './count-table.ts';
import { logMeanExp, logSumExp } from './log-math.ts';

/** Which null an e-process tests. `up`: H0 "θ ≤ θ₀" (rollback evidence). `down`: H0 "θ ≥ θ_m" (not-worse evidence). */
export type Direction = 'up' | 'down';

/**
 * A discrete mixing distribution: alternatives `θ_g = θ_null · r_g` with prior weights `π_g` (stored as `ln π_g`,
 * `Σ π_g = 1`). A discrete prior makes the mixture an exact finite sum (§1.4).
 */
export interface MixtureGrid {
  readonly ratios: readonly number[];
  readonly logWeights: readonly number[];
}

/** §1.5: the rollback grid `r ∈ {1.25, 1.5, 2, 3, 5, 10, 30}` above the null. */
export const ROLLBACK_RATIOS: readonly number[] = Object.freeze([1.25, 1.5, 2, 3, 5, 10, 30]);
/** §1.6: the not-worse grid `r ∈ {0.85, 0.7, 0.5, 0.35, 0.2, 0.1}` below the null. */
export const NOT_WORSE_RATIOS: readonly number[] = Object.freeze([0.85, 0.7, 0.5, 0.35, 0.2, 0.1]);

/** A grid with uniform weights `π_g = 1/G` (§1.5: "Weights. Uniform."). */
export function uniformGrid(ratios: readonly number[]): MixtureGrid {
  if (ratios.length === 0) throw new RangeError('a mixture grid needs at least one point');
  for (const r of ratios) if (!(r > 0 && Number.isFinite(r))) throw new RangeError(`grid ratio must be > 0, got ${r}`);
  const lw = -Math.log(ratios.length);
  return Object.freeze({ ratios: Object.freeze([...ratios]), logWeights: Object.freeze(ratios.map(() => lw)) });
}

/** The default 7-point rollback (`up`) grid of §1.5 with uniform weights. */
export const ROLLBACK_GRID: MixtureGrid = uniformGrid(ROLLBACK_RATIOS);
/** The default 6-point not-worse (`down`) grid of §1.6 with uniform weights. */
export const NOT_WORSE_GRID: MixtureGrid = uniformGrid(NOT_WORSE_RATIOS);

/** The default grid for a direction: {@link ROLLBACK_GRID} for `up`, {@link NOT_WORSE_GRID} for `down`. */
export function defaultGrid(direction: Direction): MixtureGrid {
  return direction === 'up' ? ROLLBACK_GRID : NOT_WORSE_GRID;
}

const checkedGrids = new WeakMap<MixtureGrid, Direction>();

function checkGrid(grid: MixtureGrid, direction: Direction): void {
  if (checkedGrids.get(grid) === direction) return;
  if (grid.ratios.length !== grid.logWeights.length || grid.ratios.length === 0) {
    throw new RangeError('mixture grid: ratios and logWeights must be non-empty and of equal length');
  }
  for (const r of grid.ratios) {
    if (direction === 'up' ? !(r > 1) : !(r > 0 && r < 1)) {
      throw new RangeError(`mixture grid for direction '${direction}' has ratio ${r} on the wrong side of 1`);
    }
  }
  checkedGrids.set(grid, direction);
}

const logRatioCache = new WeakMap<MixtureGrid, Float64Array>();

function logRatios(grid: MixtureGrid): Float64Array {
  let l = logRatioCache.get(grid);
  if (!l) {
    l = Float64Array.from(grid.ratios, Math.log);
    logRatioCache.set(grid, l);
  }
  return l;
}

/**
 * §1.2: `q(θ, w) = wθ / (wθ + 1 − w)`, the probability that an event (error, exceedance) was served by the canary,
 * given relative risk θ and canary routing probability w. Increasing in θ.
 */
export function canaryShare(theta: number, w: number): number {
  return (w * theta) / (w * theta + 1 - w);
}

/**
 * The share-aware relative e-process of §1.3 (rollback, `up`, H0↑: θ ≤ θ₀) and its mirror image of §1.6
 * (not-worse, `down`, H0↓: θ ≥ θ_m), from one event type's count table:
 *
 *   `ln E = logsumexp_g [ ln π_g + N_c·ln r_g − Σ_j M_j·( ln(1 + w_j(θ_g − 1)) − ln(1 + w_j(θ_null − 1)) ) ]`,
 *   `θ_g = θ_null·r_g`,
 *
 * where `N_c` is the number of canary events and `M_j` the events on both versions at routing probability `w_j`.
 * Rows with `w ∈ {0, 1}` carry no information (ℓ = 1) and are skipped; with no informative event the result is
 * exactly 0 (vector V4). Valid for any weight schedule and any drift of the baseline rate (§1.3 "Validity").
 *
 * @param nullTheta θ₀ (tolerance, e.g. 1.2) for `up`, θ_m (margin, e.g. 2) for `down`; > 0.
 * @param grid defaults to {@link ROLLBACK_GRID} / {@link NOT_WORSE_GRID}.
 */
export function logRelativeE(
  table: CountTable,
  nullTheta: number,
  direction: Direction,
  grid: MixtureGrid = defaultGrid(direction),
): number {
  if (!(nullTheta > 0 && Number.isFinite(nullTheta))) throw new RangeError(`null θ must be > 0, got ${nullTheta}`);
  checkGrid(grid, direction);
  let nCanary = 0;
  let informative = 0;
  for (const r of table.rows) {
    if (r.w > 0 && r.w < 1 && r.canary + r.primary > 0) {
      nCanary += r.canary;
      informative++;
    }
  }
  if (informative === 0) return 0;
  const lr = logRatios(grid);
  const G = grid.ratios.length;
  const terms = new Float64Array(G);
  let max = Number.NEGATIVE_INFINITY;
  for (let g = 0; g < G; g++) {
    const thetaG = nullTheta * grid.ratios[g]!;
    let s = grid.logWeights[g]! + nCanary * lr[g]!;
    for (const r of table.rows) {
      if (!(r.w > 0 && r.w < 1)) continue;
      const m = r.canary + r.primary;
      if (m === 0) continue;
      s -= m * (Math.log1p(r.w * (thetaG - 1)) - Math.log1p(r.w * (nullTheta - 1)));
    }
    terms[g] = s;
    if (s > max) max = s;
  }
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (let g = 0; g < G; g++) sum += Math.exp(terms[g]! - max);
  return max + Math.log(sum);
}

/**
 * The canary-only one-sample e-process of §1.7 (error SLO) and §2.3 (latency SLO = sequential p99 test):
 *
 *   `ln E = logsumexp_g [ ln π'_g + x·ln(p_g/s) + (n − x)·( ln(1 − p_g) − ln(1 − s) ) ]`,  `p_g = s·r_g`,
 *
 * where points with `p_g ∉ (0, 1)` are dropped and the weights renormalised (`π'`). `up` tests H0 `p ≤ s`
 * (rollback, SLO breached); `down` tests H0 `p ≥ s` (promotion route, SLO met). With `n = 0` the result is 0.
 *
 * @param n canary requests; @param x canary events (errors, or requests slower than the SLO threshold); `0 ≤ x ≤ n`.
 * @param nullRate s, e.g. `1 − thresholdRange.min/100` for errors or `1 − 0.99` for a p99 SLO; in (0, 1).
 */
export function logOneSampleE(
  n: number,
  x: number,
  nullRate: number,
  direction: Direction,
  grid: MixtureGrid = defaultGrid(direction),
): number {
  if (!(nullRate > 0 && nullRate < 1)) throw new RangeError(`SLO rate must be in (0, 1), got ${nullRate}`);
  if (!(x >= 0 && n >= x)) throw new RangeError(`need 0 ≤ x ≤ n, got x=${x}, n=${n}`);
  checkGrid(grid, direction);
  if (n === 0) return 0;
  const prep = prepareOneSample(grid, nullRate);
  const K = prep.logWeights.length;
  if (K === 0) return 0;
  let max = Number.NEGATIVE_INFINITY;
  const terms = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    const success = n - x === 0 ? 0 : (n - x) * prep.logSurvivalRatios[i]!;
    const fail = x === 0 ? 0 : x * prep.logRatios[i]!;
    const t = prep.logWeights[i]! + fail + success;
    terms[i] = t;
    if (t > max) max = t;
  }
  let sum = 0;
  for (let i = 0; i < K; i++) sum += Math.exp(terms[i]! - max);
  return max + Math.log(sum);
}

interface PreparedOneSample {
  /** Renormalised `ln π'_g` of the kept points. */
  readonly logWeights: Float64Array;
  /** `ln r_g`. */
  readonly logRatios: Float64Array;
  /** `ln(1 − p_g) − ln(1 − s)`. */
  readonly logSurvivalRatios: Float64Array;
}

const oneSampleCache = new WeakMap<MixtureGrid, Map<number, PreparedOneSample>>();

/** §1.7's grid at a given s: drops `p_g = s·r_g ∉ (0, 1)`, renormalises the weights, precomputes the logs. Cached. */
function prepareOneSample(grid: MixtureGrid, nullRate: number): PreparedOneSample {
  let bySlo = oneSampleCache.get(grid);
  if (!bySlo) {
    bySlo = new Map();
    oneSampleCache.set(grid, bySlo);
  }
  let prep = bySlo.get(nullRate);
  if (!prep) {
    const kept: number[] = [];
    for (let g = 0; g < grid.ratios.length; g++) {
      const p = nullRate * grid.ratios[g]!;
      if (p > 0 && p < 1) kept.push(g);
    }
    const norm = logSumExp(kept.map((g) => grid.logWeights[g]!));
    const l1s = Math.log1p(-nullRate);
    prep = {
      logWeights: Float64Array.from(kept, (g) => grid.logWeights[g]! - norm),
      logRatios: Float64Array.from(kept, (g) => Math.log(grid.ratios[g]!)),
      logSurvivalRatios: Float64Array.from(kept, (g) => Math.log1p(-nullRate * grid.ratios[g]!) - l1s),
    };
    if (bySlo.size < 64) bySlo.set(nullRate, prep);
  }
  return prep;
}

/**
 * §2.1: the latency rollback statistic is the average of the per-threshold e-values,
 * `E^{lat↑} = (1/J) Σ_j E^{(τ_j)↑}`, an e-value under the intersection null (Vovk & Wang 2021). Returns its log.
 */
export function logAverageE(logEs: readonly number[]): number {
  return logMeanExp(logEs);
}

/**
 * §2.1: promotion on latency needs every threshold's not-worse process, `min_j E^{(τ_j)↓}` (intersection–union,
 * Berger 1982). Returns its log.
 */
export function logMinimumE(logEs: readonly number[]): number {
  if (logEs.length === 0) throw new RangeError('logMinimumE: no values');
  return Math.min(...logEs);
}

/**
 * §1.3, §3.2: the rollback threshold `ln(K/α_R)` (Bonferroni over the K rollback e-processes; defaults K = 4,
 * α_R = 0.05 → ln 80).
 */
export function logRollbackThreshold(alphaRollback: number, tests: number): number {
  if (!(alphaRollback > 0 && alphaRollback < 1)) throw new RangeError(`α_R must be in (0, 1), got ${alphaRollback}`);
  if (!(Number.isInteger(tests) && tests >= 1)) throw new RangeError(`K must be a positive integer, got ${tests}`);
  return Math.log(tests / alphaRollback);
}

/**
 * §1.6, §3.2: the promotion threshold `ln(R/α_P)` per route, R = number of routes of the metric (2 by default:
 * relative OR SLO → ln 40 at α_P = 0.05).
 */
export function logPromotionThreshold(alphaPromote: number, routes = 2): number {
  if (!(alphaPromote > 0 && alphaPromote < 1)) throw new RangeError(`α_P must be in (0, 1), got ${alphaPromote}`);
  if (!(Number.isInteger(routes) && routes >= 1)) throw new RangeError(`routes must be a positive integer`);
  return Math.log(routes / alphaPromote);
}

/** The pooled canary share of events `Σ canary / Σ events` over all rows (what a naive comparison looks at; V3). */
export function pooledCanaryShare(table: CountTable): number {
  let c = 0;
  let m = 0;
  for (const r of table.rows) {
    c += r.canary;
    m += r.canary + r.primary;
  }
  return m === 0 ? Number.NaN : c / m;
}

function informativeCounts(table: CountTable): { nCanary: number; nEvents: number } {
  let nCanary = 0;
  let nEvents = 0;
  for (const r of table.rows) {
    if (r.w > 0 && r.w < 1) {
      nCanary += r.canary;
      nEvents += r.canary + r.primary;
    }
  }
  return { nCanary, nEvents };
}

/**
 * The weighted maximum-likelihood estimate of the relative risk θ from a count table (for reports, V3):
 * the root of `N_c = Σ_j M_j q(θ, w_j)`, unique because the log-likelihood `N_c ln θ − Σ_j M_j ln(1 − w_j + w_jθ)` is
 * concave in `ln θ`. Returns 0 with no canary events, `Infinity` with no primary events, NaN with no informative events.
 */
export function relativeRiskMle(table: CountTable): number {
  const { nCanary, nEvents } = informativeCounts(table);
  if (nEvents === 0) return Number.NaN;
  if (nCanary === 0) return 0;
  if (nCanary === nEvents) return Number.POSITIVE_INFINITY;
  const score = (u: number): number => {
    const theta = Math.exp(u);
    let s = nCanary;
    for (const r of table.rows) {
      if (r.w > 0 && r.w < 1) s -= (r.canary + r.primary) * canaryShare(theta, r.w);
    }
    return s;
  };
  let lo = -60;
  let hi = 60;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (score(mid) > 0) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}

/** An interval for a positive quantity; `lower` may be 0 and `upper` may be `Infinity`. */
export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/**
 * §1.6: the anytime-valid confidence sequence for θ, for reports (not decisions):
 * `C_t = {θ* : E↑_t(θ*) < 2/α and E↓_t(θ*) < 2/α}`, where `E↑(θ*)` uses the grid `θ*·r` above θ* and `E↓(θ*)` the
 * grid below it. `E↑(θ*)` is decreasing and `E↓(θ*)` increasing in θ*, so the set is an interval, found by bisection
 * on `ln θ*` in [1e-6, 1e6] (outside that range the bound is reported as 0 or `Infinity`).
 */
export function relativeRiskConfidenceSequence(
  table: CountTable,
  alpha: number,
  upGrid: MixtureGrid = ROLLBACK_GRID,
  downGrid: MixtureGrid = NOT_WORSE_GRID,
): Interval {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`α must be in (0, 1), got ${alpha}`);
  const limit = Math.log(2 / alpha);
  const uMin = Math.log(1e-6);
  const uMax = Math.log(1e6);
  const upRejects = (u: number): boolean => logRelativeE(table, Math.exp(u), 'up', upGrid) >= limit;
  const downRejects = (u: number): boolean => logRelativeE(table, Math.exp(u), 'down', downGrid) >= limit;
  let lower = 0;
  if (upRejects(uMin)) {
    let lo = uMin;
    let hi = uMax;
    if (upRejects(hi)) lower = Number.POSITIVE_INFINITY;
    else {
      for (let i = 0; i < 100 && hi - lo > 1e-12; i++) {
        const mid = (lo + hi) / 2;
        if (upRejects(mid)) lo = mid;
        else hi = mid;
      }
      lower = Math.exp(lo);
    }
  }
  let upper = Number.POSITIVE_INFINITY;
  if (downRejects(uMax)) {
    let lo = uMin;
    let hi = uMax;
    if (downRejects(lo)) upper = 0;
    else {
      for (let i = 0; i < 100 && hi - lo > 1e-12; i++) {
        const mid = (lo + hi) / 2;
        if (downRejects(mid)) hi = mid;
        else lo = mid;
      }
      upper = Math.exp(hi);
    }
  }
  return { lower, upper };
}
