/**
 * Istio `StringMatch` compiled once into a predicate (istio-semantics §1.5): `exact` byte-exact, `prefix` a raw
 * string prefix, `regex` an RE2 full match (re2js, linear time, never JS RegExp). `ignoreUriCase` lower-cases both
 * sides for exact and prefix only. A header/query entry that is `{}`/null or has regex `"*"` is a presence match.
 */
import { RE2JS } from 're2js';
import type { StringMatch } from '../config/istio/schemas.ts';
import type { ValueMatcher } from './types.ts';

/** Compiles an RE2 pattern for full-string matching. @throws RE2JS syntax errors (validation rejects those first). */
export function compileRegex(pattern: string): ValueMatcher {
  const re = RE2JS.compile(pattern);
  const prefix = literalPrefix(pattern);
  // A full match must start with the pattern's literal prefix: a cheap test that rejects most values before RE2.
  if (prefix.length > 0) return (value) => value.startsWith(prefix) && re.matches(value);
  return (value) => re.matches(value);
}

/**
 * The literal text every full match of `pattern` starts with (conservative: '' when the pattern has flags,
 * alternation, or starts with a group, class or escape). A literal followed by a quantifier is not included.
 */
export function literalPrefix(pattern: string): string {
  if (pattern.includes('|')) return '';
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (!/[A-Za-z0-9/_-]/.test(c) || c === '\\') break;
    const next = pattern[i + 1];
    if (next === '*' || next === '?' || next === '+' || next === '{') break;
    out += c;
  }
  return out;
}

/** A compiled StringMatch plus a human description for explain. */
export interface CompiledStringMatch {
  test: ValueMatcher;
  kind: 'exact' | 'prefix' | 'regex' | 'present';
  value: string;
  describe: string;
}

/** True when the StringMatch means "present" for a header or query parameter (`{}`, null, or regex `*`). */
export function isPresenceMatch(m: StringMatch | null | undefined): boolean {
  if (m === null || m === undefined) return true;
  if (m.regex === '*') return true;
  return m.exact === undefined && m.prefix === undefined && m.regex === undefined;
}

/**
 * Compiles a StringMatch. `ignoreCase` applies to exact and prefix only (Envoy `case_sensitive: false`).
 * Returns a presence matcher for presence forms when `allowPresence` is set (headers, query parameters).
 */
export function compileStringMatch(
  m: StringMatch | null | undefined,
  opts: { ignoreCase?: boolean; allowPresence?: boolean } = {},
): CompiledStringMatch {
  if (opts.allowPresence && isPresenceMatch(m))
    return { test: () => true, kind: 'present', value: '', describe: 'present' };
  if (m?.exact !== undefined) {
    const want = m.exact;
    if (opts.ignoreCase) {
      const lower = want.toLowerCase();
      return {
        test: (v) => v.length === lower.length && v.toLowerCase() === lower,
        kind: 'exact',
        value: want,
        describe: `exact ${JSON.stringify(want)} (ignoring case)`,
      };
    }
    return { test: (v) => v === want, kind: 'exact', value: want, describe: `exact ${JSON.stringify(want)}` };
  }
  if (m?.prefix !== undefined) {
    const want = m.prefix;
    if (opts.ignoreCase) {
      const lower = want.toLowerCase();
      return {
        test: (v) => v.length >= lower.length && v.slice(0, lower.length).toLowerCase() === lower,
        kind: 'prefix',
        value: want,
        describe: `prefix ${JSON.stringify(want)} (ignoring case)`,
      };
    }
    return { test: (v) => v.startsWith(want), kind: 'prefix', value: want, describe: `prefix ${JSON.stringify(want)}` };
  }
  if (m?.regex !== undefined) {
    const test = compileRegex(m.regex);
    return { test, kind: 'regex', value: m.regex, describe: `regex ${JSON.stringify(m.regex)}` };
  }
  // An empty StringMatch on uri/scheme/method/authority matches anything (Envoy gets no matcher for it).
  return { test: () => true, kind: 'present', value: '', describe: 'any' };
}
