/**
 * "Did you mean …?" for misspelt names: the closest candidate by edit distance, as kubectl and most compilers suggest
 * a known field for an unknown one. Pure, no dependencies.
 */

/**
 * Optimal string alignment distance (Levenshtein plus transposition of two adjacent characters, each edit costing 1):
 * `timeuot` → `timeout` is 1, `matches` → `match` is 2. O(|a|·|b|) time.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

/** Lower case without `_` and `-`: `retry_on`, `RetryOn` and `retry-on` all read `retryon`. */
function fold(s: string): string {
  return s.toLowerCase().replace(/[-_]/g, '');
}

/**
 * The candidate `name` most likely meant, or null when none is close: a candidate equal to it up to case, `_` and
 * `-` (`retry_on` → `retryOn`) first, else the nearest by {@link editDistance} when at most 1 edit away for names of up
 * to 3 characters and max(2, ⌊len/3⌋) for longer ones, and fewer edits than the name has characters (`matches` →
 * `match`, `timeuot` → `timeout`, `retrys` → `retries`; `colour` suggests nothing). Ties go to the earlier candidate.
 */
export function didYouMean(name: string, candidates: Iterable<string>): string | null {
  const list = [...candidates].filter((c) => c !== name);
  const folded = fold(name);
  const same = list.find((c) => fold(c) === folded);
  if (same !== undefined) return same;
  const limit = Math.min(name.length - 1, name.length <= 3 ? 1 : Math.max(2, Math.floor(name.length / 3)));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const c of list) {
    if (Math.abs(c.length - name.length) > limit) continue;
    const dist = editDistance(fold(c), folded);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}
