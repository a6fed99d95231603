/**
 * The pure decision rule of `sequential-canary.md` §3: (counts, step/time state, policy) → ADVANCE / HOLD / ROLLBACK /
 * PROMOTE / INCONCLUSIVE, with every statistic that made the decision. No I/O, no clock (time arrives as elapsed
 * milliseconds), no randomness; the controller that applies decisions to a VirtualService lives elsewhere.
 */

import { type CountTable, createCountTable, mergeCountTables, recordEvents, totalCounts } from './count-table.ts';
import {
  logAverageE,
  logMinimumE,
  logOneSampleE,
  logPromotionThreshold,
  logRelativeE,
  logRollbackThreshold,
  type MixtureGrid,
  NOT_WORSE_GRID,
  ROLLBACK_GRID,
} from './e-process.ts';

/** §3.5: what happens when `maxDuration` ends a run without a decision. */
export type InconclusivePolicy = 'pause' | 'rollback' | 'promote';

/** The error metric (Flagger `request-success-rate`): relative tests always, plus the SLO tests when `sloRate` is set. */
export interface ErrorMetricPolicy {
  /** §1.7: `s = 1 − thresholdRange.min/100` (e.g. 0.01 for min 99); null for no canary-only error test. */
  readonly sloRate: number | null;
}

/** The latency metric (Flagger `request-duration`): exceedance tests at τ_j plus the p-quantile SLO test. */
export interface LatencyMetricPolicy {
  /**
   * §2.2: τ_j in ms (the primary's p50/p90/p99 snapped to bucket edges), fixed from primary data before the requests
   * they judge (see {@link LatencyMetricPolicy.relativePending}). May be empty.
   */
  readonly thresholdsMs: readonly number[];
  /**
   * Set (to the reason, for the log) while the relative latency test is configured but its τ are not known yet: the
   * primary has not served enough requests to read its p50/p90/p99 from. The test then counts in K and in the latency
   * metric's R (so the thresholds fixed at run start stay valid when τ arrives), has `ln E = 0` (no evidence), and the
   * latency metric cannot be shown NOT-WORSE by any route: the SLO route must not promote a canary that the relative
   * test has not judged.
   */
  readonly relativePending?: string | null;
  /** §2.3: `thresholdRange.max` in ms; null for no canary-only latency test. */
  readonly sloThresholdMs: number | null;
  /** §2.3: the quantile the SLO bounds (0.99 for Flagger's p99); the test is on `P(L > max) ≤ 1 − sloQuantile`. */
  readonly sloQuantile: number;
}

/**
 * The `analysis.sequential` block of §3.6 plus the metrics, all frozen at run start (§6: changing α, the tolerance,
 * the margin or the grid mid-run starts a new test).
 */
export interface SequentialPolicy {
  /** α_R, the false-rollback budget (§3.2); default 0.05. */
  readonly alphaRollback: number;
  /** α_P, the missed-regression budget per metric (§3.2); default 0.05. */
  readonly alphaPromote: number;
  /** θ₀, the tolerated relative risk (§1.5); default 1.2. */
  readonly tolerance: number;
  /** θ_m, the not-worse margin (§1.6); default 2. */
  readonly margin: number;
  /** Step dwell (= Flagger `analysis.interval`, §3.3) in ms; default 60 000. */
  readonly dwellMs: number;
  /** Canary requests a step must see before it may end (§3.3); default 10. */
  readonly minRequestsPerStep: number;
  /** §3.5; default 30 min. */
  readonly maxDurationMs: number;
  /** §3.5; default `pause`. */
  readonly onInconclusive: InconclusivePolicy;
  /** §3.2: whether the canary-only SLO route may give not-worse evidence; default true. */
  readonly promoteOnSLO: boolean;
  readonly errors: ErrorMetricPolicy | null;
  readonly latency: LatencyMetricPolicy | null;
  /** Mixture grids (§1.5); default the 7-point up and 6-point down grids with uniform weights. */
  readonly grids?: { readonly up: MixtureGrid; readonly down: MixtureGrid };
}

/** §3.6 defaults with `request-success-rate` min 99 and `request-duration` max 500 ms, τ = {100, 250, 500} ms. */
export const DEFAULT_SEQUENTIAL_POLICY: SequentialPolicy = Object.freeze({
  alphaRollback: 0.05,
  alphaPromote: 0.05,
  tolerance: 1.2,
  margin: 2,
  dwellMs: 60_000,
  minRequestsPerStep: 10,
  maxDurationMs: 30 * 60_000,
  onInconclusive: 'pause',
  promoteOnSLO: true,
  errors: Object.freeze({ sloRate: 0.01 }),
  latency: Object.freeze({ thresholdsMs: Object.freeze([100, 250, 500]), sloThresholdMs: 500, sloQuantile: 0.99 }),
});

/** §1.7: the error SLO rate `s = 1 − thresholdRange.min/100` from Flagger's success-rate percentage. */
export function errorSloFromSuccessRateMin(minPercent: number): number {
  return 1 - minPercent / 100;
}

/**
 * §3.6 default `maxDuration = max(30 min, interval × (steps + threshold))`, in ms. Flagger's `threshold` feeds only this.
 */
export function defaultMaxDurationMs(intervalMs: number, steps: number, threshold: number): number {
  return Math.max(30 * 60_000, intervalMs * (steps + threshold));
}

/** §6 "Configuration validation": returns the problems (empty when the policy is usable). */
export function validateSequentialPolicy(p: SequentialPolicy): string[] {
  const out: string[] = [];
  if (!(p.alphaRollback > 0 && p.alphaRollback < 1)) out.push('alphaRollback must be in (0, 1)');
  if (!(p.alphaPromote > 0 && p.alphaPromote < 1)) out.push('alphaPromote must be in (0, 1)');
  if (!(p.tolerance >= 1)) out.push('tolerance must be ≥ 1');
  if (!(p.margin > p.tolerance)) out.push('margin must be greater than tolerance');
  if (!(p.dwellMs >= 0)) out.push('dwellMs must be ≥ 0');
  if (!(Number.isInteger(p.minRequestsPerStep) && p.minRequestsPerStep >= 0)) {
    out.push('minRequestsPerStep must be a non-negative integer');
  }
  if (!(p.maxDurationMs > 0)) out.push('maxDurationMs must be > 0');
  if (p.errors === null && p.latency === null) out.push('at least one of errors and latency must be judged');
  if (p.errors?.sloRate != null && !(p.errors.sloRate > 0 && p.errors.sloRate < 1)) {
    out.push('errors.sloRate must be in (0, 1)');
  }
  if (p.latency) {
    const t = p.latency.thresholdsMs;
    for (let i = 0; i < t.length; i++) {
      if (!(t[i]! > 0 && Number.isFinite(t[i]!))) out.push('latency thresholds must be finite and > 0');
      if (i > 0 && !(t[i]! > t[i - 1]!)) out.push('latency thresholds must increase strictly');
    }
    if (!(p.latency.sloQuantile > 0 && p.latency.sloQuantile < 1)) out.push('latency.sloQuantile must be in (0, 1)');
  }
  return out;
}

/**
 * Everything the proxy counts for one rollout (§1.3, §2.1, §6), all keyed by routing probability: requests (for the
 * canary-only tests' n and the request counts), errors, and exceedances `L > τ` for each counted threshold (the τ_j of
 * the relative test and the SLO threshold). Sums across proxy replicas with {@link mergeRolloutCounts}.
 */
export interface RolloutCounts {
  readonly requests: CountTable;
  readonly errors: CountTable;
  /** One table per threshold, sorted by `thresholdMs`. */
  readonly latency: readonly { readonly thresholdMs: number; readonly exceedances: CountTable }[];
  /**
   * The relative latency test's exceedance tables when they differ from `latency` (τ set during the run: only the
   * requests after that point are judged at τ, while the canary-only SLO test keeps counting from the start). Absent:
   * the relative test reads `latency`.
   */
  readonly latencyRelative?: readonly { readonly thresholdMs: number; readonly exceedances: CountTable }[];
}

/** Empty counts for a rollout that counts exceedances at `latencyThresholdsMs` (de-duplicated and sorted). */
export function createRolloutCounts(latencyThresholdsMs: readonly number[] = []): RolloutCounts {
  const ts = [...new Set(latencyThresholdsMs)].sort((a, b) => a - b);
  return {
    requests: createCountTable(),
    errors: createCountTable(),
    latency: ts.map((thresholdMs) => ({ thresholdMs, exceedances: createCountTable() })),
  };
}

/** One completed, user-visible request (mirrored requests excluded, retries counted once; §1.1). */
export interface RequestOutcome {
  /** Canary routing probability in force when the request was dispatched. */
  readonly w: number;
  readonly version: 'canary' | 'primary';
  /** 5xx from the upstream or a proxy-generated failure (§1.1). */
  readonly error: boolean;
  readonly latencyMs: number;
}

/** §6 "Per-request path": increments requests, errors and each exceedance table with `L > τ` (in place). */
export function recordRequest(counts: RolloutCounts, r: RequestOutcome): void {
  const c = r.version === 'canary' ? 1 : 0;
  const p = 1 - c;
  recordEvents(counts.requests, r.w, c, p);
  if (r.error) recordEvents(counts.errors, r.w, c, p);
  for (const t of counts.latency) if (r.latencyMs > t.thresholdMs) recordEvents(t.exceedances, r.w, c, p);
}

/** §1.8: sums the counts of several proxies; all must count the same thresholds. */
export function mergeRolloutCounts(...all: readonly RolloutCounts[]): RolloutCounts {
  const first = all[0];
  if (first === undefined) return createRolloutCounts();
  const key = first.latency.map((t) => t.thresholdMs).join(',');
  for (const c of all) {
    if (c.latency.map((t) => t.thresholdMs).join(',') !== key) {
      throw new RangeError('mergeRolloutCounts: replicas count different latency thresholds');
    }
  }
  return {
    requests: mergeCountTables(...all.map((c) => c.requests)),
    errors: mergeCountTables(...all.map((c) => c.errors)),
    latency: first.latency.map((t, j) => ({
      thresholdMs: t.thresholdMs,
      exceedances: mergeCountTables(...all.map((c) => c.latency[j]!.exceedances)),
    })),
  };
}

function exceedanceTable(counts: RolloutCounts, thresholdMs: number, relative = false): CountTable {
  const list = relative ? (counts.latencyRelative ?? counts.latency) : counts.latency;
  const t = list.find((x) => x.thresholdMs === thresholdMs);
  if (!t) throw new RangeError(`no exceedance counts for ${thresholdMs} ms`);
  return t.exceedances;
}

/** The four e-processes of the rollback family (§3.2) and, with the same names, the promotion routes. */
export type TestName = 'errors-relative' | 'errors-slo' | 'latency-relative' | 'latency-slo';

/** One e-process compared with its threshold. */
export interface TestEvidence {
  readonly test: TestName;
  /** `ln E` (for `latency-relative`: the log of the average over τ_j when rolling back, of the minimum when promoting). */
  readonly logE: number;
  readonly logThreshold: number;
  readonly crossed: boolean;
  /** Per-threshold `ln E^{(τ_j)}` for `latency-relative`. */
  readonly perThreshold?: readonly { readonly thresholdMs: number; readonly logE: number }[];
}

/** §3.1: NOT-WORSE(metric) = relative route OR SLO route (latency: unless {@link MetricNotWorse.blocked}). */
export interface MetricNotWorse {
  readonly metric: 'errors' | 'latency';
  readonly routes: readonly TestEvidence[];
  readonly notWorse: boolean;
  /**
   * Latency only: why no route may pass now, even one that crossed its threshold — the relative test's τ are not set
   * yet, or the relative evidence calls the canary worse (an SLO must never promote such a canary). Null otherwise.
   */
  readonly blocked?: string | null;
}

/** All statistics of one evaluation (§3.7's decision-log line, minus time and step). */
export interface Evidence {
  readonly canaryRequests: number;
  readonly primaryRequests: number;
  readonly canaryErrors: number;
  readonly primaryErrors: number;
  /** The rollback family; each at `ln(K/α_R)` with K its size. */
  readonly rollback: readonly TestEvidence[];
  /** Promotion evidence per judged metric. */
  readonly notWorse: readonly MetricNotWorse[];
}

/**
 * Evaluates every e-process of §3.1–§3.2 from the counts:
 * - rollback family (K = number of active tests, 4 with the defaults), each against `ln(K/α_R)`:
 *   errors-relative `E↑_err(θ₀)` (§1.3), errors-slo `E^{slo↑}(s)` (§1.7), latency-relative
 *   `(1/J) Σ_j E↑_{τ_j}(θ₀)` (§2.1), latency-slo `E^{slo↑}(1 − q)` at `thresholdRange.max` (§2.3);
 * - not-worse per metric, each route against `ln(R/α_P)` with R the metric's routes (2 by default → ln 40):
 *   errors `E↓_err(θ_m)` or `E^{slo↓}(s)`; latency `min_j E↓_{τ_j}(θ_m)` or `E^{slo↓}(1 − q)` (§3.1).
 */
export function evaluateEvidence(counts: RolloutCounts, policy: SequentialPolicy): Evidence {
  const up = policy.grids?.up ?? ROLLBACK_GRID;
  const down = policy.grids?.down ?? NOT_WORSE_GRID;
  const req = totalCounts(counts.requests);
  const err = totalCounts(counts.errors);
  const rb: { test: TestName; logE: number; perThreshold?: { thresholdMs: number; logE: number }[] }[] = [];
  const nw: { metric: 'errors' | 'latency'; routes: { test: TestName; logE: number; perThreshold?: unknown }[] }[] = [];

  if (policy.errors) {
    const routes: { test: TestName; logE: number }[] = [];
    rb.push({ test: 'errors-relative', logE: logRelativeE(counts.errors, policy.tolerance, 'up', up) });
    routes.push({ test: 'errors-relative', logE: logRelativeE(counts.errors, policy.margin, 'down', down) });
    const s = policy.errors.sloRate;
    if (s !== null) {
      rb.push({ test: 'errors-slo', logE: logOneSampleE(req.canary, err.canary, s, 'up', up) });
      if (policy.promoteOnSLO) {
        routes.push({ test: 'errors-slo', logE: logOneSampleE(req.canary, err.canary, s, 'down', down) });
      }
    }
    nw.push({ metric: 'errors', routes });
  }
  let latencyBlocked: string | null = null;
  if (policy.latency) {
    const routes: { test: TestName; logE: number; perThreshold?: { thresholdMs: number; logE: number }[] }[] = [];
    const ts = policy.latency.thresholdsMs;
    if (ts.length > 0) {
      const upEach = ts.map((t) => ({
        thresholdMs: t,
        logE: logRelativeE(exceedanceTable(counts, t, true), policy.tolerance, 'up', up),
      }));
      const downEach = ts.map((t) => ({
        thresholdMs: t,
        logE: logRelativeE(exceedanceTable(counts, t, true), policy.margin, 'down', down),
      }));
      rb.push({ test: 'latency-relative', logE: logAverageE(upEach.map((e) => e.logE)), perThreshold: upEach });
      routes.push({ test: 'latency-relative', logE: logMinimumE(downEach.map((e) => e.logE)), perThreshold: downEach });
      latencyBlocked = relativeLatencyVeto(upEach, policy);
    } else if (policy.latency.relativePending) {
      // Configured, τ not known yet: no evidence, but it keeps its place in K and R (thresholds fixed at run start).
      rb.push({ test: 'latency-relative', logE: 0, perThreshold: [] });
      routes.push({ test: 'latency-relative', logE: 0, perThreshold: [] });
      latencyBlocked = `τ not set yet: ${policy.latency.relativePending}`;
    }
    const max = policy.latency.sloThresholdMs;
    if (max !== null) {
      const s = 1 - policy.latency.sloQuantile;
      const x = totalCounts(exceedanceTable(counts, max)).canary;
      rb.push({ test: 'latency-slo', logE: logOneSampleE(req.canary, x, s, 'up', up) });
      if (policy.promoteOnSLO)
        routes.push({ test: 'latency-slo', logE: logOneSampleE(req.canary, x, s, 'down', down) });
    }
    if (routes.length > 0) nw.push({ metric: 'latency', routes });
  }

  const rbLimit = rb.length > 0 ? logRollbackThreshold(policy.alphaRollback, rb.length) : Number.POSITIVE_INFINITY;
  return {
    canaryRequests: req.canary,
    primaryRequests: req.primary,
    canaryErrors: err.canary,
    primaryErrors: err.primary,
    rollback: rb.map((t) => ({ ...t, logThreshold: rbLimit, crossed: t.logE >= rbLimit })),
    notWorse: nw.map((m) => {
      const limit = logPromotionThreshold(policy.alphaPromote, m.routes.length);
      const routes = m.routes.map((r) => ({ ...r, logThreshold: limit, crossed: r.logE >= limit })) as TestEvidence[];
      const blocked = m.metric === 'latency' ? latencyBlocked : null;
      return { metric: m.metric, routes, notWorse: blocked === null && routes.some((r) => r.crossed), blocked };
    }),
  };
}

/**
 * The veto on the latency metric's promotion (issue 12: an absolute SLO must never promote a canary that the
 * relative evidence calls worse): the reason when, at some τ_j, the anytime-valid confidence sequence of the tail
 * ratio `S_c(τ_j)/S_p(τ_j)` lies entirely above the tolerance θ₀ — i.e. `E↑_{τ_j}(θ₀) ≥ 2/α_P` (§1.6: the CS is
 * `{θ*: E↑(θ*) < 2/α and E↓(θ*) < 2/α}` and E↑ decreases in θ*). Null otherwise. Only ever removes promotions, so
 * neither guarantee of §3.2 is affected (fewer promotions cannot raise the missed-regression rate, and rollbacks are
 * untouched). Errors keep the design's §3.2 choice (a canary worse than the primary but inside the SLO may pass).
 */
function relativeLatencyVeto(
  upEach: readonly { thresholdMs: number; logE: number }[],
  policy: SequentialPolicy,
): string | null {
  const limit = Math.log(2 / policy.alphaPromote);
  const worse = upEach.filter((e) => e.logE >= limit);
  if (worse.length === 0) return null;
  return `the relative test calls the canary slower than ${policy.tolerance}× the primary at ${worse
    .map((e) => `τ = ${Number(e.thresholdMs.toPrecision(3))} ms (ln E↑ = ${fmt(e.logE)} ≥ ln(2/α) = ${fmt(limit)})`)
    .join(', ')}`;
}

/** Where the run is: the weight ladder and the elapsed times, supplied by the controller's clock. */
export interface RolloutProgress {
  /** Canary routing probability per step, strictly increasing, in (0, 1]; a last entry of 1 is the 100 % step. */
  readonly weights: readonly number[];
  readonly stepIndex: number;
  /** Time since the run started (ms). */
  readonly runElapsedMs: number;
  /** Time since the current step started (ms). */
  readonly stepElapsedMs: number;
  /** Canary requests served during the current step. */
  readonly canaryRequestsInStep: number;
}

/**
 * Why a HOLD: the step's dwell, its minimum canary requests, or missing not-worse evidence at the gate (§3.1) — and,
 * from the controller, `metrics` (a count source did not answer, so the counts may be stale) or `webhook` (a failing
 * `rollout` check).
 */
export type HoldReason = 'dwell' | 'min-requests' | 'not-worse' | 'metrics' | 'webhook';

/** The decision of one tick, with the statistics that made it. */
export type Decision =
  | {
      readonly action: 'ROLLBACK';
      readonly triggeredBy: readonly TestName[];
      readonly reason: string;
      readonly evidence: Evidence;
    }
  | {
      readonly action: 'ADVANCE';
      readonly toStep: number;
      readonly toWeight: number;
      readonly reason: string;
      readonly evidence: Evidence;
    }
  | { readonly action: 'PROMOTE'; readonly reason: string; readonly evidence: Evidence }
  | { readonly action: 'HOLD'; readonly hold: HoldReason; readonly reason: string; readonly evidence: Evidence }
  | {
      readonly action: 'INCONCLUSIVE';
      readonly onInconclusive: InconclusivePolicy;
      readonly reason: string;
      readonly evidence: Evidence;
    };

/** The action names of {@link Decision}. */
export type DecisionAction = Decision['action'];

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : String(x));
const pct = (w: number): string => `${Math.round(w * 10_000) / 100} %`;

function checkProgress(p: RolloutProgress): void {
  const ws = p.weights;
  if (ws.length === 0) throw new RangeError('the weight ladder is empty');
  for (let i = 0; i < ws.length; i++) {
    if (!(ws[i]! > 0 && ws[i]! <= 1)) throw new RangeError(`step weight must be in (0, 1], got ${ws[i]}`);
    if (i > 0 && !(ws[i]! > ws[i - 1]!)) throw new RangeError('step weights must increase strictly');
  }
  if (!(Number.isInteger(p.stepIndex) && p.stepIndex >= 0 && p.stepIndex < ws.length)) {
    throw new RangeError(`step index ${p.stepIndex} outside the ladder`);
  }
}

/**
 * §3.1, one tick (the controller calls it every second, or whenever it likes: no α is spent on looks, §3.2):
 * 1. ROLLBACK as soon as any rollback e-process reaches `K/α_R` (any step, including 100 %).
 * 2. INCONCLUSIVE once `runElapsedMs ≥ maxDurationMs`, carrying `onInconclusive` for the controller to apply.
 * 3. HOLD until the step has lasted `dwellMs` and seen `minRequestsPerStep` canary requests.
 * 4. Below the last shared step (0 < w < 1): ADVANCE. At the last shared step: if every judged metric is NOT-WORSE
 *    (relative route or SLO route at `R/α_P`), ADVANCE to 100 % — or PROMOTE when the ladder has no 100 % step
 *    (`maxWeight < 100`); otherwise HOLD with the metrics that lack evidence. At the 100 % step: PROMOTE.
 */
export function decide(counts: RolloutCounts, progress: RolloutProgress, policy: SequentialPolicy): Decision {
  checkProgress(progress);
  const evidence = evaluateEvidence(counts, policy);
  const crossed = evidence.rollback.filter((t) => t.crossed);
  if (crossed.length > 0) {
    return {
      action: 'ROLLBACK',
      triggeredBy: crossed.map((t) => t.test),
      reason: crossed.map((t) => `${t.test}: ln E = ${fmt(t.logE)} ≥ ln(K/α_R) = ${fmt(t.logThreshold)}`).join('; '),
      evidence,
    };
  }
  if (progress.runElapsedMs >= policy.maxDurationMs) {
    return {
      action: 'INCONCLUSIVE',
      onInconclusive: policy.onInconclusive,
      reason: `maxDuration ${policy.maxDurationMs >= 60_000 ? `${Number((policy.maxDurationMs / 60_000).toFixed(1))} min` : `${Math.round(policy.maxDurationMs / 1000)} s`} reached without a decision; onInconclusive: ${policy.onInconclusive}`,
      evidence,
    };
  }
  const ws = progress.weights;
  const w = ws[progress.stepIndex]!;
  if (progress.stepElapsedMs < policy.dwellMs) {
    return {
      action: 'HOLD',
      hold: 'dwell',
      reason: `dwell: ${Math.floor(progress.stepElapsedMs / 1000)} s of ${policy.dwellMs / 1000} s at ${pct(w)}`,
      evidence,
    };
  }
  if (progress.canaryRequestsInStep < policy.minRequestsPerStep) {
    return {
      action: 'HOLD',
      hold: 'min-requests',
      reason: `${progress.canaryRequestsInStep} of ${policy.minRequestsPerStep} canary requests in this step at ${pct(w)}`,
      evidence,
    };
  }
  let lastShared = -1;
  for (let i = 0; i < ws.length; i++) if (ws[i]! < 1) lastShared = i;
  const next = progress.stepIndex + 1;
  if (progress.stepIndex < lastShared) {
    return {
      action: 'ADVANCE',
      toStep: next,
      toWeight: ws[next]!,
      reason: `step at ${pct(w)} done (${progress.canaryRequestsInStep} canary requests); no rollback evidence`,
      evidence,
    };
  }
  if (w === 1) return { action: 'PROMOTE', reason: 'the 100 % step is done with no rollback evidence', evidence };
  const missing = evidence.notWorse.filter((m) => !m.notWorse);
  if (missing.length > 0) {
    return {
      action: 'HOLD',
      hold: 'not-worse',
      reason:
        'insufficient evidence that the canary is not worse: ' +
        missing
          .map(
            (m) =>
              `${m.metric} (${m.routes.map((r) => `${r.test} ln E = ${fmt(r.logE)}`).join(', ')}; need ≥ ${fmt(m.routes[0]?.logThreshold ?? Number.NaN)}${m.blocked ? `; blocked: ${m.blocked}` : ''})`,
          )
          .join('; '),
      evidence,
    };
  }
  const how = evidence.notWorse.map((m) => `${m.metric} via ${m.routes.filter((r) => r.crossed)[0]!.test}`).join(', ');
  if (next < ws.length) {
    return { action: 'ADVANCE', toStep: next, toWeight: ws[next]!, reason: `not worse: ${how}`, evidence };
  }
  return { action: 'PROMOTE', reason: `not worse: ${how} (maxWeight < 100 %)`, evidence };
}
