/**
 * `HTTPMatchRequest` compiled into one predicate (istio-semantics §1.4–§1.5): fields AND-ed; uri on the path
 * without its query; header names case-insensitive, values case-sensitive; `withoutHeaders` inverted with a missing
 * header compared as `""` (Envoy `treat_missing_header_as_empty`); query parameters by their first value;
 * `port`, `sourceLabels`, `sourceNamespace` and `gateways` checked against the proxy and the source identity (Istio
 * applies them when it builds a proxy's config; weir evaluates them per request, which is equivalent).
 */
import type { HTTPMatchRequest } from '../config/istio/schemas.ts';
import { type CompiledStringMatch, compileStringMatch } from './string-match.ts';
import type { CompiledMatch, PathParts, ProxyMode, RequestFacts } from './types.ts';

/** Header keys that Istio ignores inside `headers` (they have dedicated fields). */
const IGNORED_HEADER_KEYS = new Set(['uri', 'scheme', 'method', 'authority']);

/** Context for compiling a match: the proxy, and whether the VirtualService applies to sidecars. */
export interface MatchContext {
  mode: ProxyMode;
  /** The gateways the VirtualService is bound to, resolved to `ns/name` or `mesh`. */
  vsGateways: readonly string[];
  /** Resolves a gateway reference as written in the VS to `ns/name` (or `mesh`). */
  resolveGateway: (ref: string) => string;
}

interface HeaderCheck {
  name: string;
  m: CompiledStringMatch;
}

/**
 * Compiles one match block. `index` is its position in `HTTPRoute.match` (-1 for a route with no match).
 * Returns null when the block can never apply to this proxy (its `gateways` exclude it), as Istio leaves it out.
 */
export function compileMatch(match: HTTPMatchRequest | null, index: number, ctx: MatchContext): CompiledMatch | null {
  const m = match ?? {};
  const currentGateway = ctx.mode.gateway ?? 'mesh';
  // gateways: match-level overrides the VS's gateways.
  const matchGateways = m.gateways && m.gateways.length > 0 ? m.gateways.map(ctx.resolveGateway) : null;
  const gateways = matchGateways ?? ctx.vsGateways;
  if (!gateways.includes(currentGateway)) return null;
  const checkSource = matchGateways === null && currentGateway === 'mesh';

  const ignoreCase = m.ignoreUriCase === true;
  const uri = m.uri ? compileStringMatch(m.uri, { ignoreCase }) : null;
  const scheme = m.scheme ? compileStringMatch(m.scheme) : null;
  const method = m.method ? compileStringMatch(m.method) : null;
  const authority = m.authority ? compileStringMatch(m.authority) : null;
  const headers: HeaderCheck[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const lower = name.toLowerCase();
    if (IGNORED_HEADER_KEYS.has(lower)) continue;
    headers.push({ name: lower, m: compileStringMatch(sm, { allowPresence: true }) });
  }
  const without: HeaderCheck[] = [];
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const lower = name.toLowerCase();
    if (IGNORED_HEADER_KEYS.has(lower)) continue;
    without.push({ name: lower, m: compileStringMatch(sm, { allowPresence: true }) });
  }
  const query: HeaderCheck[] = Object.entries(m.queryParams ?? {}).map(([name, sm]) => ({
    name,
    m: compileStringMatch(sm, { allowPresence: true }),
  }));
  const port = m.port && m.port > 0 ? m.port : null;
  const sourceLabels =
    checkSource && m.sourceLabels && Object.keys(m.sourceLabels).length > 0 ? Object.entries(m.sourceLabels) : null;
  const sourceNamespace = checkSource && m.sourceNamespace ? m.sourceNamespace : null;

  const test = (facts: RequestFacts, parts: PathParts): string | null => {
    if (port !== null && facts.port !== port) return `port ${facts.port} is not ${port}`;
    if (sourceLabels !== null) {
      for (const [k, v] of sourceLabels) {
        if (facts.source.labels[k] !== v) return `source label ${k}=${v} not present on the source workload`;
      }
    }
    if (sourceNamespace !== null && facts.source.namespace !== sourceNamespace)
      return `source namespace ${facts.source.namespace ?? '(unknown)'} is not ${sourceNamespace}`;
    if (uri !== null && !uri.test(parts.path))
      return `uri ${JSON.stringify(parts.path)} does not match ${uri.describe}`;
    if (scheme !== null && !scheme.test(facts.scheme))
      return `scheme ${facts.scheme} does not match ${scheme.describe}`;
    if (method !== null && !method.test(facts.method))
      return `method ${facts.method} does not match ${method.describe}`;
    if (authority !== null && !authority.test(facts.authority))
      return `authority ${JSON.stringify(facts.authority)} does not match ${authority.describe}`;
    for (const h of headers) {
      const v = headerValue(facts, h.name);
      if (v === undefined) return `header ${h.name} is absent (wanted ${h.m.describe})`;
      if (!h.m.test(v)) return `header ${h.name}: ${JSON.stringify(v)} does not match ${h.m.describe}`;
    }
    for (const h of without) {
      const v = headerValue(facts, h.name);
      if (h.m.kind === 'present') {
        if (v !== undefined) return `header ${h.name} is present (withoutHeaders)`;
      } else if (h.m.test(v ?? ''))
        return `header ${h.name}: ${JSON.stringify(v ?? '')} matches ${h.m.describe} (withoutHeaders)`;
    }
    if (query.length > 0) {
      const params = parts.params();
      for (const q of query) {
        const v = params.get(q.name);
        if (v === undefined) return `query parameter ${q.name} is absent`;
        if (!q.m.test(v)) return `query parameter ${q.name}: ${JSON.stringify(v)} does not match ${q.m.describe}`;
      }
    }
    return null;
  };
  const catchAll =
    (uri === null || (uri.kind === 'prefix' && uri.value === '/') || (uri.kind === 'regex' && uri.value === '.*')) &&
    scheme === null &&
    method === null &&
    authority === null &&
    headers.length === 0 &&
    without.length === 0 &&
    query.length === 0 &&
    port === null &&
    sourceLabels === null &&
    sourceNamespace === null;
  return {
    index,
    name: m.name ?? null,
    catchAll,
    test,
    uriPrefix: uri?.kind === 'prefix' ? uri.value : null,
    uriWhole: uri !== null && (uri.kind === 'exact' || uri.kind === 'regex'),
  };
}

/**
 * A request header by lower-case name; Envoy's pseudo-headers (`:authority`, `:method`, `:path`, `:scheme`), which
 * Istio lets `headers` match, and `host` (Envoy's `:authority`) come from the request itself.
 */
function headerValue(facts: RequestFacts, name: string): string | undefined {
  // Envoy keeps the HTTP/1 Host header as :authority, so a matcher on `host` sees the authority.
  if (name === 'host') return facts.authority;
  if (name.charCodeAt(0) !== 58 /* ':' */) return facts.header(name);
  switch (name) {
    case ':authority':
      return facts.authority;
    case ':method':
      return facts.method;
    case ':path':
      return facts.path;
    case ':scheme':
      return facts.scheme;
    default:
      return facts.header(name);
  }
}

/**
 * Splits a request path once: the path without query, the query string, and lazily the parameters
 * (first value of each name, names case-sensitive, `?key` without `=` gives `""`). Like Envoy's route matcher
 * (`QueryParamsMulti::parseQueryString`), names and values are compared as sent, without percent-decoding.
 */
export function splitPath(rawPath: string): PathParts {
  const q = rawPath.indexOf('?');
  const path = q >= 0 ? rawPath.slice(0, q) : rawPath;
  const query = q >= 0 ? rawPath.slice(q + 1) : '';
  let params: Map<string, string> | null = null;
  return {
    path,
    query,
    params() {
      if (params) return params;
      params = new Map();
      if (query === '') return params;
      for (const pair of query.split('&')) {
        if (pair === '') continue;
        const eq = pair.indexOf('=');
        const name = eq >= 0 ? pair.slice(0, eq) : pair;
        const value = eq >= 0 ? pair.slice(eq + 1) : '';
        if (!params.has(name)) params.set(name, value);
      }
      return params;
    },
  };
}
