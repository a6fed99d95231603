/**
 * The Monte-Carlo canary simulator of `sequential-canary.md` §4: synthetic traffic for a primary and a canary, the
 * sequential decision rule of §3 (the same {@link decide} the controller will call) and Flagger's fixed-threshold rule,
 * many seeded runs. Pure: randomness comes from {@link createRng} seeds, time is simulated seconds; no I/O.
 */

import { createRng, type Rng, sampleBinomial, samplePoisson } from './random.ts';
import {
  createRolloutCounts,
  DEFAULT_SEQUENTIAL_POLICY,
  decide,
  ENVOY_DEFAULT_BUCKETS_MS,
  recordEvents,
  type SequentialPolicy,
  snapUpToEdge,
  type TestName,
} from './stats/index.ts';

/** One version's traffic model: per-request error probability and a lognormal latency. */
export interface VersionModel {
  /** Probability that a request fails (5xx), independent of its latency. */
  readonly errorRate: number;
  /** Median latency in ms (the lognormal's `e^μ`). */
  readonly latencyMedianMs: number;
  /** The lognormal's σ (of ln L). */
  readonly latencySigma: number;
}

/** A §4.1 scenario: the primary and the canary. */
export interface Scenario {
  readonly key: string;
  readonly description: string;
  readonly primary: VersionModel;
  readonly canary: VersionModel;
}

const PRIMARY: VersionModel = Object.freeze({ errorRate: 0.005, latencyMedianMs: 100, latencySigma: 0.6 });
const canaryWith = (over: Partial<VersionModel>): VersionModel => Object.freeze({ ...PRIMARY, ...over });

/** §4.1's six scenarios; the primary is always 0.5 % 5xx, lognormal latency with median 100 ms and σ = 0.6. */
export const SCENARIOS: Readonly<Record<'H05' | 'H08' | 'G16' | 'B2' | 'B4' | 'BL', Scenario>> = Object.freeze({
  H05: { key: 'H05', description: 'healthy, both 0.5 %', primary: PRIMARY, canary: PRIMARY },
  H08: {
    key: 'H08',
    description: 'healthy, both 0.8 %',
    primary: canaryWith({ errorRate: 0.008 }),
    canary: canaryWith({ errorRate: 0.008 }),
  },
  G16: {
    key: 'G16',
    description: 'grey zone, canary 0.8 %',
    primary: PRIMARY,
    canary: canaryWith({ errorRate: 0.008 }),
  },
  B2: { key: 'B2', description: 'canary 1.0 % (2×)', primary: PRIMARY, canary: canaryWith({ errorRate: 0.01 }) },
  B4: { key: 'B4', description: 'canary 2.0 % (4×)', primary: PRIMARY, canary: canaryWith({ errorRate: 0.02 }) },
  BL: {
    key: 'BL',
    description: 'canary latency × 1.5',
    primary: PRIMARY,
    canary: canaryWith({ latencyMedianMs: 150 }),
  },
});

/** Complementary error function (Numerical Recipes `erfcc`, fractional error < 1.2e-7 everywhere). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** `P(L > τ)` for a lognormal latency. */
export function latencySurvival(m: VersionModel, thresholdMs: number): number {
  if (thresholdMs <= 0) return 1;
  return 0.5 * erfc((Math.log(thresholdMs) - Math.log(m.latencyMedianMs)) / (m.latencySigma * Math.SQRT2));
}

/** The q-quantile of a lognormal latency (bisection on {@link latencySurvival}). */
export function latencyQuantileMs(m: VersionModel, q: number): number {
  let lo = Math.log(m.latencyMedianMs) - 20 * m.latencySigma;
  let hi = Math.log(m.latencyMedianMs) + 20 * m.latencySigma;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (1 - latencySurvival(m, Math.exp(mid)) < q) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * §2.2 in the simulation: the primary's true p50/p90/p99 snapped up to the Envoy edges ({100, 250, 500} ms for the
 * §4.1 primary).
 */
export function primaryThresholdsMs(primary: VersionModel, quantiles: readonly number[] = [0.5, 0.9, 0.99]): number[] {
  const out = new Set<number>();
  for (const q of quantiles) {
    // erfc is accurate to ~1e-7 relative, so a quantile that sits on an edge (the median, 100 ms) must not be pushed
    // over it by rounding: snap from 1e-6 below.
    const tau = snapUpToEdge(latencyQuantileMs(primary, q) * (1 - 1e-6), ENVOY_DEFAULT_BUCKETS_MS);
    if (Number.isFinite(tau)) out.add(tau);
  }
  return [...out].sort((a, b) => a - b);
}

/** Flagger's rule as modelled in §4.1 (a). */
export interface FlaggerModel {
  /** `analysis.threshold`: cumulative failed checks before rollback; default 5. */
  readonly threshold: number;
  /** `request-success-rate` `thresholdRange.min` in %; default 99. */
  readonly successRateMin: number;
  /** `request-duration` `thresholdRange.max` in ms (p99), or null for the success-rate-only variant; default 500. */
  readonly p99MaxMs: number | null;
}

/** §4.1's Flagger: threshold 5, success ≥ 99 %, p99 ≤ 500 ms. */
export const DEFAULT_FLAGGER: FlaggerModel = Object.freeze({ threshold: 5, successRateMin: 99, p99MaxMs: 500 });

/** One simulated cell. */
export interface SimulationOptions {
  readonly scenario: Scenario;
  /** Total requests per second (Poisson arrivals). */
  readonly rps: number;
  /** Independent runs per rule. */
  readonly runs: number;
  readonly seed: number;
  /** Canary routing probability per step; default 5 → 10 → 25 → 50 → 100 % (§4.1). */
  readonly ladder?: readonly number[];
  /** Step length for both rules (Flagger's interval, the sequential dwell); default 60 s. */
  readonly stepMs?: number;
  /** The sequential rule's maxDuration and the simulated horizon; default 30 min. */
  readonly maxDurationMs?: number;
  /**
   * The sequential policy; default {@link DEFAULT_SEQUENTIAL_POLICY} with the latency thresholds from
   * {@link primaryThresholdsMs}, `dwellMs = stepMs` and `maxDurationMs`.
   */
  readonly policy?: SequentialPolicy;
  readonly flagger?: FlaggerModel;
  /** Skip one of the rules (e.g. in tests); default both. */
  readonly rules?: readonly ('sequential' | 'flagger')[];
}

/** How one run ended. */
export interface RunResult {
  readonly outcome: 'rollback' | 'promote' | 'inconclusive';
  /** Time of the decision, or the horizon for an inconclusive run (ms). */
  readonly timeMs: number;
  /** Canary requests served until then (the blast radius; bad canaries' requests for a bad canary). */
  readonly canaryRequests: number;
  /** The canary weight when the run ended (where an inconclusive run is parked). */
  readonly finalWeight: number;
  /** Sequential rule: which rollback tests crossed. */
  readonly triggeredBy?: readonly TestName[];
}

/** Aggregates of one rule over the runs of a cell. */
export interface RuleSummary {
  readonly runs: number;
  readonly rollbacks: number;
  readonly promotions: number;
  readonly inconclusive: number;
  /** Median time to decision over decided runs (ms); NaN if none decided. */
  readonly medianDecisionMs: number;
  /** Median canary requests served per run, inconclusive runs included. */
  readonly medianCanaryRequests: number;
  /** Decision times of decided runs, ascending (ms). */
  readonly decisionTimesMs: readonly number[];
  /** Rollbacks per triggering test (sequential only; a run can name several). */
  readonly rollbackTriggers: Readonly<Partial<Record<TestName, number>>>;
}

/** Results for one (scenario, rps) cell. */
export interface CellResult {
  readonly scenario: string;
  readonly rps: number;
  readonly sequential?: RuleSummary;
  readonly flagger?: RuleSummary;
}

const LADDER = Object.freeze([0.05, 0.1, 0.25, 0.5, 1]);

/** The sequential policy used for a cell (see {@link SimulationOptions.policy}). */
export function simulationPolicy(o: SimulationOptions): SequentialPolicy {
  if (o.policy) return o.policy;
  const base = DEFAULT_SEQUENTIAL_POLICY;
  return {
    ...base,
    dwellMs: o.stepMs ?? 60_000,
    maxDurationMs: o.maxDurationMs ?? 30 * 60_000,
    latency: { ...base.latency!, thresholdsMs: primaryThresholdsMs(o.scenario.primary) },
  };
}

/** Per-request probabilities of one version, precomputed for a fixed set of exceedance thresholds. */
interface VersionSampler {
  readonly errorRate: number;
  /** `P(L > τ_k | L > τ_{k−1})` for ascending τ (the first is unconditional). */
  readonly conditional: readonly number[];
}

function createSampler(m: VersionModel, thresholdsMs: readonly number[]): VersionSampler {
  const conditional: number[] = [];
  let prev = 1;
  for (const t of thresholdsMs) {
    const s = latencySurvival(m, t);
    conditional.push(prev > 0 ? Math.min(1, s / prev) : 0);
    prev = s;
  }
  return { errorRate: m.errorRate, conditional };
}

/** Samples `n` requests of one version: errors and exceedance counts above each threshold (ascending). */
function sampleRequests(rng: Rng, s: VersionSampler, n: number, out: number[]): number {
  const errors = sampleBinomial(rng, n, s.errorRate);
  let above = n;
  for (let k = 0; k < s.conditional.length; k++) {
    above = above === 0 ? 0 : sampleBinomial(rng, above, s.conditional[k]!);
    out[k] = above;
  }
  return errors;
}

/**
 * One run of the sequential rule (§3.1, §4.1 b): every simulated second, Poisson(rps·w) canary and Poisson(rps·(1−w))
 * primary requests at the current step's weight are added to the count tables, then {@link decide} is asked.
 */
export function simulateSequentialRun(rng: Rng, o: SimulationOptions, policy = simulationPolicy(o)): RunResult {
  const ladder = o.ladder ?? LADDER;
  const horizonS = Math.round((o.maxDurationMs ?? policy.maxDurationMs) / 1000);
  const latency = policy.latency;
  const thresholds = [
    ...new Set([
      ...(latency?.thresholdsMs ?? []),
      ...(latency?.sloThresholdMs != null ? [latency.sloThresholdMs] : []),
    ]),
  ].sort((a, b) => a - b);
  const counts = createRolloutCounts(thresholds);
  const canary = createSampler(o.scenario.canary, thresholds);
  const primary = createSampler(o.scenario.primary, thresholds);
  const cEx = new Array<number>(thresholds.length).fill(0);
  const pEx = new Array<number>(thresholds.length).fill(0);
  let step = 0;
  let stepStart = 0;
  let inStep = 0;
  let exposure = 0;
  for (let t = 1; t <= horizonS; t++) {
    const w = ladder[step]!;
    const nc = samplePoisson(rng, o.rps * w);
    const np = w < 1 ? samplePoisson(rng, o.rps * (1 - w)) : 0;
    if (nc + np > 0) {
      const ce = sampleRequests(rng, canary, nc, cEx);
      const pe = sampleRequests(rng, primary, np, pEx);
      recordEvents(counts.requests, w, nc, np);
      if (ce + pe > 0) recordEvents(counts.errors, w, ce, pe);
      for (let k = 0; k < thresholds.length; k++) {
        if (cEx[k]! + pEx[k]! > 0) recordEvents(counts.latency[k]!.exceedances, w, cEx[k]!, pEx[k]!);
      }
    }
    inStep += nc;
    exposure += nc;
    const d = decide(
      counts,
      {
        weights: ladder,
        stepIndex: step,
        runElapsedMs: t * 1000,
        stepElapsedMs: (t - stepStart) * 1000,
        canaryRequestsInStep: inStep,
      },
      policy,
    );
    switch (d.action) {
      case 'ROLLBACK':
        return {
          outcome: 'rollback',
          timeMs: t * 1000,
          canaryRequests: exposure,
          finalWeight: w,
          triggeredBy: d.triggeredBy,
        };
      case 'PROMOTE':
        return { outcome: 'promote', timeMs: t * 1000, canaryRequests: exposure, finalWeight: w };
      case 'INCONCLUSIVE':
        return { outcome: 'inconclusive', timeMs: t * 1000, canaryRequests: exposure, finalWeight: w };
      case 'ADVANCE':
        step = d.toStep;
        stepStart = t;
        inStep = 0;
        break;
      case 'HOLD':
        break;
    }
  }
  return { outcome: 'inconclusive', timeMs: horizonS * 1000, canaryRequests: exposure, finalWeight: ladder[step]! };
}

/**
 * Prometheus `histogram_quantile(q, …)` over cumulative bucket counts `cum[k]` for upper edges `edges[k]` (the last
 * edge `+Inf`): linear interpolation inside the bucket holding rank `q·n`; the highest finite edge if the rank falls in
 * the `+Inf` bucket; NaN with no observations.
 */
export function histogramQuantile(q: number, edges: readonly number[], cum: readonly number[]): number {
  const n = cum[cum.length - 1]!;
  if (!(n > 0)) return Number.NaN;
  const rank = q * n;
  let b = 0;
  while (b < cum.length - 1 && !(cum[b]! >= rank)) b++;
  if (b === edges.length - 1) return edges[edges.length - 2]!;
  const start = b === 0 ? 0 : edges[b - 1]!;
  const before = b === 0 ? 0 : cum[b - 1]!;
  const inBucket = cum[b]! - before;
  if (inBucket === 0) return edges[b]!;
  return start + (edges[b]! - start) * ((rank - before) / inBucket);
}

/**
 * One run of Flagger's rule as §4.1 (a) models it: a tick every step length, the first at t = 60 s; the canary-only
 * checks (success % ≥ min over the window's canary requests, p99 by `histogram_quantile` over the Envoy buckets ≤ max);
 * no canary requests in the window is "no values", a failed check; a failed check holds the weight and increments the
 * cumulative failed-check count; the run rolls back at the next tick once that count reaches the threshold; a passing
 * check at 100 % promotes.
 */
export function simulateFlaggerRun(rng: Rng, o: SimulationOptions): RunResult {
  const f = o.flagger ?? DEFAULT_FLAGGER;
  const ladder = o.ladder ?? LADDER;
  const stepMs = o.stepMs ?? 60_000;
  const horizonMs = o.maxDurationMs ?? 30 * 60_000;
  const edges = [100, 250, 500, 1000, Number.POSITIVE_INFINITY];
  const sampler = createSampler(o.scenario.canary, edges.slice(0, -1));
  const above = new Array<number>(edges.length - 1).fill(0);
  let step = 0;
  let failed = 0;
  let exposure = 0;
  for (let t = stepMs; t <= horizonMs; t += stepMs) {
    const w = ladder[step]!;
    const n = samplePoisson(rng, (o.rps * w * stepMs) / 1000);
    const x = sampleRequests(rng, sampler, n, above);
    exposure += n;
    if (failed >= f.threshold) return { outcome: 'rollback', timeMs: t, canaryRequests: exposure, finalWeight: w };
    let pass = n > 0;
    if (pass && ((n - x) / n) * 100 < f.successRateMin) pass = false;
    if (pass && f.p99MaxMs !== null) {
      const cum = [...above.map((a) => n - a), n];
      const p99 = histogramQuantile(0.99, edges, cum);
      if (!(p99 <= f.p99MaxMs)) pass = false;
    }
    if (!pass) failed++;
    else if (w >= 1) return { outcome: 'promote', timeMs: t, canaryRequests: exposure, finalWeight: w };
    else step++;
  }
  return { outcome: 'inconclusive', timeMs: horizonMs, canaryRequests: exposure, finalWeight: ladder[step]! };
}

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}

/** Aggregates runs into a {@link RuleSummary}. */
export function summarizeRuns(results: readonly RunResult[]): RuleSummary {
  const times = results
    .filter((r) => r.outcome !== 'inconclusive')
    .map((r) => r.timeMs)
    .sort((a, b) => a - b);
  const triggers: Partial<Record<TestName, number>> = {};
  for (const r of results) for (const t of r.triggeredBy ?? []) triggers[t] = (triggers[t] ?? 0) + 1;
  return {
    runs: results.length,
    rollbacks: results.filter((r) => r.outcome === 'rollback').length,
    promotions: results.filter((r) => r.outcome === 'promote').length,
    inconclusive: results.filter((r) => r.outcome === 'inconclusive').length,
    medianDecisionMs: median(times),
    medianCanaryRequests: median(results.map((r) => r.canaryRequests).sort((a, b) => a - b)),
    decisionTimesMs: times,
    rollbackTriggers: triggers,
  };
}

/**
 * Simulates one cell: `runs` runs of each rule. Run i of the sequential rule uses stream 2i of `seed`, Flagger's run i
 * stream 2i + 1, so results do not depend on the order or the number of other cells.
 */
export function simulateCell(o: SimulationOptions): CellResult {
  const rules = o.rules ?? ['sequential', 'flagger'];
  const policy = simulationPolicy(o);
  const seq: RunResult[] = [];
  const fl: RunResult[] = [];
  for (let i = 0; i < o.runs; i++) {
    if (rules.includes('sequential')) seq.push(simulateSequentialRun(createRng(o.seed, 2 * i), o, policy));
    if (rules.includes('flagger')) fl.push(simulateFlaggerRun(createRng(o.seed, 2 * i + 1), o));
  }
  return {
    scenario: o.scenario.key,
    rps: o.rps,
    ...(rules.includes('sequential') ? { sequential: summarizeRuns(seq) } : {}),
    ...(rules.includes('flagger') ? { flagger: summarizeRuns(fl) } : {}),
  };
}

/** A deterministic per-cell seed from a base seed, the scenario key and the rate (FNV-1a). */
export function cellSeed(base: number, scenario: string, rps: number): number {
  let h = 0x811c9dc5 ^ (base >>> 0);
  for (const ch of `${scenario}@${rps}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Wilson score interval for a binomial proportion k/n (z = 1.96 for 95 %). */
export function wilsonInterval(k: number, n: number, z = 1.96): { lower: number; upper: number } {
  if (n === 0) return { lower: 0, upper: 1 };
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { lower: Math.max(0, c - h), upper: Math.min(1, c + h) };
}

/** One row of the design's §4.2 table (maxDuration 30 min, 2000 runs per cell, seed 20240601). Percentages, minutes. */
export interface DesignCell {
  readonly scenario: string;
  readonly rps: number;
  readonly flagger: { readonly rollback: number; readonly promote: number; readonly medianMin: number };
  readonly sequential: {
    readonly rollback: number;
    readonly promote: number;
    readonly inconclusive: number;
    readonly medianMin: number;
  };
}

const row = (
  scenario: string,
  rps: number,
  fr: number,
  fp: number,
  fm: number,
  sr: number,
  sp: number,
  si: number,
  sm: number,
): DesignCell => ({
  scenario,
  rps,
  flagger: { rollback: fr, promote: fp, medianMin: fm },
  sequential: { rollback: sr, promote: sp, inconclusive: si, medianMin: sm },
});

/** `sequential-canary.md` §4.2, as published (the design's [sim] figures), for comparison. */
export const DESIGN_TABLE_4_2: readonly DesignCell[] = Object.freeze([
  row('H05', 1, 3.0, 97.0, 6, 0.2, 1.6, 98.2, 24.0),
  row('H05', 5, 8.9, 91.0, 7, 0.2, 76.0, 23.8, 18.7),
  row('H05', 20, 3.0, 97.0, 6, 0.6, 99.4, 0.0, 7.8),
  row('H05', 100, 0.1, 100.0, 5, 0.1, 99.9, 0.0, 5.0),
  row('H08', 1, 8.5, 91.5, 6, 0.2, 1.3, 98.5, 24.1),
  row('H08', 5, 25.4, 74.6, 8, 0.4, 46.7, 52.9, 20.1),
  row('H08', 20, 18.4, 81.7, 7, 0.2, 99.2, 0.5, 9.8),
  row('H08', 100, 3.6, 96.4, 6, 0.2, 99.8, 0.0, 5.0),
  row('G16', 1, 6.7, 93.3, 6, 0.8, 0.5, 98.7, 24.0),
  row('G16', 5, 25.9, 74.1, 8, 3.7, 9.5, 86.8, 18.2),
  row('G16', 20, 16.9, 83.1, 7, 17.0, 46.0, 37.0, 17.3),
  row('G16', 100, 3.2, 96.8, 6, 32.8, 67.2, 0.0, 7.7),
  row('B2', 1, 13.2, 86.9, 7, 1.8, 0.2, 97.9, 22.4),
  row('B2', 5, 42.2, 57.8, 8, 15.8, 1.6, 82.7, 17.0),
  row('B2', 20, 46.8, 53.2, 8, 76.3, 1.7, 21.9, 15.9),
  row('B2', 100, 47.9, 52.1, 8, 99.4, 0.7, 0.0, 5.2),
  row('B4', 1, 43.0, 57.0, 9, 36.5, 0.0, 63.5, 19.3),
  row('B4', 5, 95.7, 4.3, 8, 99.9, 0.0, 0.1, 8.8),
  row('B4', 20, 100.0, 0.0, 8, 100.0, 0.0, 0.0, 3.5),
  row('B4', 100, 100.0, 0.0, 6, 100.0, 0.0, 0.0, 1.4),
  row('BL', 1, 54.7, 45.3, 9, 99.9, 0.0, 0.1, 11.1),
  row('BL', 5, 99.0, 1.0, 8, 100.0, 0.0, 0.0, 3.0),
  row('BL', 20, 100.0, 0.0, 7, 100.0, 0.0, 0.0, 1.4),
  row('BL', 100, 100.0, 0.0, 6, 100.0, 0.0, 0.0, 0.3),
]);

const pct1 = (k: number, n: number): string => `${((100 * k) / n).toFixed(1)} %`;
const minutes = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 60_000).toFixed(1)}` : '–');

/**
 * A markdown table in the layout of §4.2 with the design's figures beside each measured one:
 * "measured (design)" per cell.
 */
export function formatComparisonTable(cells: readonly CellResult[]): string {
  const lines = [
    '| scenario | rps | Flagger: rollback / promote | Flagger median (min) | Sequential: rollback / promote / inconclusive | Sequential median (min, decided) |',
    '|---|---|---|---|---|---|',
  ];
  for (const c of cells) {
    const d = DESIGN_TABLE_4_2.find((x) => x.scenario === c.scenario && x.rps === c.rps);
    const f = c.flagger;
    const s = c.sequential;
    const fl = f
      ? `${pct1(f.rollbacks, f.runs)} / ${pct1(f.promotions, f.runs)}` +
        (d ? ` (${d.flagger.rollback.toFixed(1)} / ${d.flagger.promote.toFixed(1)})` : '')
      : '–';
    const fm = f ? `${minutes(f.medianDecisionMs)}${d ? ` (${d.flagger.medianMin.toFixed(1)})` : ''}` : '–';
    const sq = s
      ? `${pct1(s.rollbacks, s.runs)} / ${pct1(s.promotions, s.runs)} / ${pct1(s.inconclusive, s.runs)}` +
        (d
          ? ` (${d.sequential.rollback.toFixed(1)} / ${d.sequential.promote.toFixed(1)} / ${d.sequential.inconclusive.toFixed(1)})`
          : '')
      : '–';
    const sm = s ? `${minutes(s.medianDecisionMs)}${d ? ` (${d.sequential.medianMin.toFixed(1)})` : ''}` : '–';
    lines.push(`| ${c.scenario} | ${c.rps} | ${fl} | ${fm} | ${sq} | ${sm} |`);
  }
  return lines.join('\n');
}
