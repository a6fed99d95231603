/**
 * What the controller judges, apart from the decision rule itself (`sequential-canary.md` §1.1, §2.2): the counts the
 * rules see (routed counts, mirrored copies for the canary-only tests, the relative latency tables counted from the
 * moment τ was set) and the relative latency thresholds τ read from the primary's histogram.
 *
 * **When τ is set, and why the test stays valid.** τ is read from the primary's latency histogram (everything its
 * proxies counted so far) once it holds {@link MIN_PRIMARY_REQUESTS_FOR_THRESHOLDS} requests: at the run's start when
 * it already does, otherwise at the first tick where it does (until then the relative latency test is *pending*: no
 * evidence, and the latency metric cannot pass the not-worse gate by any route). Either way τ is a function of data
 * that ends before the first request it judges: at start the provider's baseline is taken after τ is read; during the
 * run the exceedance counts at τ at that moment are kept as a base and subtracted ({@link judgementCounts}), so only
 * later requests are judged at τ. τ is then fixed for the run. Conditionally on the past, each later exceedance event's
 * label is Bernoulli with mean ≤ q(θ₀, w) under the null, so the e-process of §1.3 is a test supermartingale from that
 * point on (a process that stays at 1 until a predictable time is still one), and the rollback family's K and the
 * latency metric's R are fixed from the start (the pending test keeps its place in both). Defaults (100/250/500 ms) are
 * never used for the relative test: on a fast service they sit above both versions and could never see a difference.
 */

import type { RolloutPlan } from './plan.ts';
import type { MirrorCounts } from './providers/types.ts';
import {
  type CountTable,
  ENVOY_DEFAULT_BUCKETS_MS,
  type LatencyHistogram,
  primaryLatencyThresholdsMs,
  type RolloutCounts,
  recordEvents,
  type SequentialPolicy,
  snapUpToEdge,
} from './stats/index.ts';
import type { RolloutStatus } from './status.ts';

/** Primary requests needed in its histogram before it sets τ (§2.2); until then the relative latency test waits. */
export const MIN_PRIMARY_REQUESTS_FOR_THRESHOLDS = 100;

/** Exceedance tables at fixed thresholds (ms), as in {@link RolloutCounts.latency}. */
export type ExceedanceTables = readonly { readonly thresholdMs: number; readonly exceedances: CountTable }[];

/** τ read from a histogram, with what the decision log says about it. */
export interface LatencyThresholds {
  /** τ_j in ms, ascending, at the provider's edges. */
  readonly thresholdsMs: number[];
  /** Why these τ: `the primary's p50/p90/p99 over 412 requests, raised to the latency floor 5 ms`. */
  readonly source: string;
}

/**
 * τ = the primary's p50/p90/p99 snapped up to `edgesMs` (§2.2), raised to the Canary's `latencyFloor` (snapped too;
 * weir's choice: differences below it are connection set-up and warm-up, not regressions). Null — τ pending — while
 * the histogram holds fewer than {@link MIN_PRIMARY_REQUESTS_FOR_THRESHOLDS} requests; `pendingReason` then says so.
 */
export function latencyThresholdsFrom(
  histogram: LatencyHistogram,
  edgesMs: readonly number[],
  latencyFloorMs: number,
): { thresholds: LatencyThresholds | null; primaryRequests: number; pendingReason: string } {
  const n = histogram.counts.reduce((a, b) => a + b, 0);
  const pendingReason = `the primary has served ${n} of the ${MIN_PRIMARY_REQUESTS_FOR_THRESHOLDS} requests its p50/p90/p99 are read from`;
  if (n < MIN_PRIMARY_REQUESTS_FOR_THRESHOLDS) return { thresholds: null, primaryRequests: n, pendingReason };
  let thresholdsMs = primaryLatencyThresholdsMs(histogram, [0.5, 0.9, 0.99], edgesMs);
  let source = `the primary's p50/p90/p99 over ${n} requests`;
  const floor = snapUpToEdge(latencyFloorMs, edgesMs.length > 0 ? edgesMs : ENVOY_DEFAULT_BUCKETS_MS);
  if (Number.isFinite(floor) && thresholdsMs.some((t) => t < floor)) {
    thresholdsMs = [...new Set(thresholdsMs.map((t) => Math.max(t, floor)))].sort((a, b) => a - b);
    source += `, raised to the latency floor ${floor} ms`;
  }
  return { thresholds: { thresholdsMs, source }, primaryRequests: n, pendingReason };
}

/** `table − base` row by row (rows keyed by w), never below 0 (counts since the baseline only grow). A new table. */
export function subtractCountTable(table: CountTable, base: CountTable): CountTable {
  const out: CountTable = { rows: [] };
  for (const r of table.rows) {
    const b = base.rows.find((x) => x.w === r.w);
    recordEvents(out, r.w, Math.max(0, r.canary - (b?.canary ?? 0)), Math.max(0, r.primary - (b?.primary ?? 0)));
  }
  return out;
}

/**
 * The counts the rules judge (new tables; the inputs are not modified):
 * - the routed counts plus the mirrored copies served by the canary, added at `w = 1` (they carry no relative
 *   information — rows at w ∈ {0, 1} are skipped by the relative tests, §1.3 — but they are canary requests for the
 *   canary-only SLO tests, §1.7, §2.3);
 * - with `relativeBase` (τ set during the run), `latencyRelative`: the exceedances at each τ minus those counted
 *   before τ was set, so the relative latency test judges only requests after that point.
 */
export function judgementCounts(
  counts: RolloutCounts,
  mirror: MirrorCounts | null,
  relativeBase: ExceedanceTables | null = null,
): RolloutCounts {
  const clone = (t: CountTable): CountTable => ({ rows: t.rows.map((r) => ({ ...r })) });
  const latency = counts.latency.map((l) => ({ thresholdMs: l.thresholdMs, exceedances: clone(l.exceedances) }));
  const out: RolloutCounts = {
    requests: clone(counts.requests),
    errors: clone(counts.errors),
    latency,
    ...(relativeBase && relativeBase.length > 0
      ? {
          latencyRelative: relativeBase.map((b) => {
            const now = counts.latency.find((l) => l.thresholdMs === b.thresholdMs)?.exceedances ?? { rows: [] };
            return { thresholdMs: b.thresholdMs, exceedances: subtractCountTable(now, b.exceedances) };
          }),
        }
      : {}),
  };
  if (mirror && mirror.requests > 0) {
    recordEvents(out.requests, 1, mirror.requests, 0);
    recordEvents(out.errors, 1, mirror.errors, 0);
    for (const l of latency) {
      const x = mirror.exceedances.find((e) => e.thresholdMs === l.thresholdMs)?.count ?? 0;
      recordEvents(l.exceedances, 1, x, 0);
    }
  }
  return out;
}

/** {@link judgementCounts} of a persisted status (null before its first reading). */
export function statusJudgementCounts(s: RolloutStatus): RolloutCounts | null {
  return s.counts ? judgementCounts(s.counts, s.mirror, s.latencyBase ?? null) : null;
}

/** The plan's policy with the run's τ, its latency SLO threshold and, while τ is pending, the reason (§2.2). */
export function statusPolicy(
  plan: RolloutPlan,
  s: Pick<RolloutStatus, 'thresholdsMs' | 'latencySloMs' | 'tauPending'>,
): SequentialPolicy {
  const p = plan.policy;
  if (!p.latency) return p;
  return {
    ...p,
    latency: {
      ...p.latency,
      thresholdsMs: s.thresholdsMs,
      sloThresholdMs: s.latencySloMs,
      relativePending: s.thresholdsMs.length === 0 ? (s.tauPending ?? null) : null,
    },
  };
}
