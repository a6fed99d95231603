/**
 * Log-domain arithmetic for the sequential canary statistics (design `sequential-canary.md` §6, "Numerics").
 * Every e-value is carried as its natural log and never exponentiated for a decision.
 */

/**
 * `ln Σ_i exp(x_i)`, shifted by the maximum so that no term overflows: `m + ln Σ_i exp(x_i − m)`.
 * Returns `-Infinity` for an empty list or when every term is `-Infinity`.
 */
export function logSumExp(xs: readonly number[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const x of xs) if (x > m) m = x;
  if (m === Number.NEGATIVE_INFINITY) return m;
  if (m === Number.POSITIVE_INFINITY) return m;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/**
 * `ln((1/J) Σ_j E_j)` from the logs `ln E_j`: the log of the average of J e-values (Vovk & Wang 2021), as used for
 * the latency thresholds in §2.1: `ln E^{lat} = logsumexp_j(ln E_j) − ln J`.
 */
export function logMeanExp(logs: readonly number[]): number {
  if (logs.length === 0) throw new RangeError('logMeanExp: no values');
  return logSumExp(logs) - Math.log(logs.length);
}
