/**
 * Latency histograms for the sequential canary statistics (`sequential-canary.md` §2.2, §2.4, §2.5): the bucket edges,
 * the choice of exceedance thresholds from the primary's histogram, and anytime-valid quantile confidence sequences.
 * Exceedance counts at an edge are exact, so every guarantee here is exact up to bucket resolution. Pure functions.
 */

import { type Interval, logOneSampleE } from './e-process.ts';

/**
 * §2.5: Envoy's default histogram bucket upper edges in ms (`HistogramSettingsImpl::defaultBuckets`), which weir
 * exports so that Flagger's PromQL keeps working.
 */
export const ENVOY_DEFAULT_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/**
 * §2.5: the statistics histogram's finite edges in ms: the log grid `0.1·γ^k` with γ = 2^(1/8) up to 10 min, merged
 * with {@link ENVOY_DEFAULT_BUCKETS_MS} (so that SLO thresholds are edges), sorted and de-duplicated.
 */
export function statisticsBucketEdgesMs(): number[] {
  const edges = new Set<number>(ENVOY_DEFAULT_BUCKETS_MS);
  for (let k = 0; ; k++) {
    const e = 0.1 * 2 ** (k / 8);
    if (e > 600_000) break;
    edges.add(Number(e.toPrecision(12)));
  }
  return [...edges].sort((a, b) => a - b);
}

/**
 * A latency histogram: `counts[k]` requests in `(edges[k−1], edges[k]]` (the first bucket is `[0, edges[0]]`); the last
 * edge may be `Infinity` for the overflow bucket. Same length for both arrays.
 */
export interface LatencyHistogram {
  readonly edges: readonly number[];
  readonly counts: readonly number[];
}

function checkHistogram(h: LatencyHistogram): void {
  if (h.edges.length !== h.counts.length) throw new RangeError('histogram: edges and counts differ in length');
  for (let k = 1; k < h.edges.length; k++) {
    if (!(h.edges[k]! > h.edges[k - 1]!)) throw new RangeError('histogram: edges must increase strictly');
  }
}

/** Requests strictly above each edge: `x_k = Σ_{i>k} counts[i]` (exact for an edge, §2.5). */
export function exceedanceCounts(h: LatencyHistogram): number[] {
  checkHistogram(h);
  const out = new Array<number>(h.counts.length);
  let above = 0;
  for (let k = h.counts.length - 1; k >= 0; k--) {
    out[k] = above;
    above += h.counts[k]!;
  }
  return out;
}

/** The smallest edge ≥ `valueMs` (§2.2 "snap each up to the next bucket edge"); `Infinity` when none is. */
export function snapUpToEdge(valueMs: number, edgesMs: readonly number[]): number {
  for (const e of edgesMs) if (e >= valueMs) return e;
  return Number.POSITIVE_INFINITY;
}

/**
 * §2.2: the exceedance thresholds τ_j, read before the canary starts from the primary's histogram over a pre-declared
 * window: for each quantile (default p50/p90/p99) the upper edge of the bucket holding it (the smallest edge `b` with
 * `F(b) ≥ q`), snapped up to `snapEdgesMs` (default the Envoy edges, which gives {100, 250, 500} ms for the
 * simulation's lognormal). Infinite and duplicate thresholds are dropped; the result is sorted. Empty when the
 * histogram is empty.
 */
export function primaryLatencyThresholdsMs(
  primary: LatencyHistogram,
  quantiles: readonly number[] = [0.5, 0.9, 0.99],
  snapEdgesMs: readonly number[] = ENVOY_DEFAULT_BUCKETS_MS,
): number[] {
  checkHistogram(primary);
  const n = primary.counts.reduce((a, b) => a + b, 0);
  if (n === 0) return [];
  const out = new Set<number>();
  for (const q of quantiles) {
    let cum = 0;
    for (let k = 0; k < primary.counts.length; k++) {
      cum += primary.counts[k]!;
      if (cum >= q * n) {
        const tau = snapUpToEdge(primary.edges[k]!, snapEdgesMs);
        if (Number.isFinite(tau)) out.add(tau);
        break;
      }
    }
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * §2.4: an anytime-valid confidence sequence for the q-quantile of one version's latency, read from its histogram:
 *
 *   `lower = max{ b_k : E^{up}_{1−q}(n, x_k) ≥ 2/α }`,  `upper = min{ b_k : E^{down}_{1−q}(n, x_k) ≥ 2/α }`,
 *
 * with `E^{up/down}_{1−q}` the one-sample e-process of §1.7 at `s = 1 − q` and `x_k` the requests above edge `b_k`.
 * `P(∃t: Q(q) ∉ [lower, upper]) ≤ α`. `lower` is 0 and `upper` is `Infinity` when no edge is rejected.
 * For a two-version difference, call it with α/2 for each version (§2.4).
 */
export function quantileConfidenceSequence(h: LatencyHistogram, q: number, alpha: number): Interval {
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile must be in (0, 1), got ${q}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`α must be in (0, 1), got ${alpha}`);
  const above = exceedanceCounts(h);
  const n = h.counts.reduce((a, b) => a + b, 0);
  const limit = Math.log(2 / alpha);
  let lower = 0;
  let upper = Number.POSITIVE_INFINITY;
  for (let k = 0; k < h.edges.length; k++) {
    const b = h.edges[k]!;
    const x = above[k]!;
    if (Number.isFinite(b) && logOneSampleE(n, x, 1 - q, 'up') >= limit && b > lower) lower = b;
    if (logOneSampleE(n, x, 1 - q, 'down') >= limit && b < upper) upper = b;
  }
  return { lower, upper };
}
