/**
 * Request path normalization before routing, as Istio configures Envoy by default (MeshConfig
 * `pathNormalization: BASE` → HCM `normalize_path: true`): dot segments (`.`, `..`, and their `%2e` forms) are
 * resolved per RFC 3986, backslashes become slashes and characters that must be escaped are percent-encoded, as
 * Chromium's URL canonicalizer (which Envoy uses) does; the query string is left as sent. The upstream receives the
 * normalized path, so `/api/../admin` cannot slip past a route for `/admin`. Slashes are not merged (that is
 * Istio's `MERGE_SLASHES`, not the default).
 */

const NEEDS_WORK = /\.|%2e|\\|[^\x21-\x7e]/i;

/**
 * Returns the normalized `path?query`, the input itself when nothing changes, or null when the path cannot be
 * normalized (Envoy answers 400).
 */
export function normalizePath(rawPath: string): string | null {
  const q = rawPath.indexOf('?');
  const path = q >= 0 ? rawPath.slice(0, q) : rawPath;
  if (!NEEDS_WORK.test(path)) return rawPath;
  let normalized: string;
  try {
    normalized = new URL(path, 'http://normalize.invalid').pathname;
  } catch {
    return null;
  }
  if (normalized === path) return rawPath;
  return q >= 0 ? normalized + rawPath.slice(q) : normalized;
}
