/**
 * The statistics behind the demo's ✓/✗: binomial bands for observed shares and latency percentiles. Pure.
 */

/** A closed interval of shares in [0, 1]. */
export interface ShareBand {
  low: number;
  high: number;
}

/**
 * The `k`-sigma band for the share of successes in `n` Bernoulli(`p`) trials: `p ± k·√(p(1−p)/n)`, clamped to
 * [0, 1]. With `p` 0 or 1 the band is the point itself. `k` defaults to 5 (a false ✗ about once in 1.7 million).
 */
export function binomialBand(n: number, p: number, k = 5): ShareBand {
  if (n <= 0) return { low: 0, high: 1 };
  const sigma = Math.sqrt((p * (1 - p)) / n);
  return { low: Math.max(0, p - k * sigma), high: Math.min(1, p + k * sigma) };
}

/** True when `successes / n` lies in the `k`-sigma band of `p` (false for `n` 0: nothing was observed). */
export function isWithinBand(successes: number, n: number, p: number, k = 5): boolean {
  if (n <= 0) return false;
  const band = binomialBand(n, p, k);
  const share = successes / n;
  const eps = 1e-12;
  return share >= band.low - eps && share <= band.high + eps;
}

/** `12.3 %` (one decimal); `–` when the denominator is 0. */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '–';
  return `${((100 * part) / whole).toFixed(1)} %`;
}

/** `0.4–9.6 %` for a band. */
export function formatBand(band: ShareBand): string {
  const f = (x: number): string => (x * 100).toFixed(1).replace(/\.0$/, '');
  return band.low === band.high ? `${f(band.low)} %` : `${f(band.low)}–${f(band.high)} %`;
}

/** The `q`-quantile (0..1) of `values` by nearest rank; null when empty. Does not modify `values`. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** `850 ms` or `1.50 s`; `–` for null. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
