/**
 * Durations as Istio writes them: Go `time.ParseDuration` syntax (`"1.5s"`, `"100ms"`, `"1m30s"`, `"2h"`),
 * which the Istio CRDs check with CEL `duration(self)`, and protobuf JSON (`"0.500s"`) as a special case of it.
 * Units: ns, us (µs), ms, s, m, h. Values are converted to milliseconds, the unit the rest of weir uses.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go-style duration into milliseconds (may be fractional, e.g. `"1500us"` → 1.5).
 * Returns null when the text is not a duration. A leading `-` gives a negative value; `"0"` is 0.
 */
export function parseDurationMs(text: string): number | null {
  if (typeof text !== 'string' || text.length === 0) return null;
  let i = 0;
  let sign = 1;
  if (text[0] === '-' || text[0] === '+') {
    if (text[0] === '-') sign = -1;
    i = 1;
  }
  if (text.slice(i) === '0') return 0;
  if (i >= text.length) return null;
  let total = 0;
  while (i < text.length) {
    PART.lastIndex = i;
    const m = PART.exec(text);
    if (!m) return null;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    i = PART.lastIndex;
  }
  return sign * total;
}

/**
 * Formats milliseconds the way Istio users write durations: whole hours/minutes/seconds/milliseconds with the
 * largest exact unit (`2000` → `"2s"`, `1500` → `"1.5s"`, `250` → `"250ms"`, `90000` → `"90s"`).
 */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Number((ms * 1000).toFixed(3))}us`;
}
