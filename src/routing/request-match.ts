/**
 * `HTTPMatchRequest` compiled into one predicate (istio-semantics §1.4–§1.5): fields AND-ed; uri on the path
 * without its query; header names case-insensitive, values case-sensitive; `withoutHeaders` inverted with a missing
 * header compared as `""` (Envoy `treat_missing_header_as_empty`); query parameters by their first value.
 * `gateways` is applied here (a block for other gateways is left out); `port`, `sourceLabels` and `sourceNamespace`
 * are config-time selectors (istio `TranslateRoute`, `sourceMatchHTTP`), returned as the block's `selector` and
 * applied when the virtual host is chosen for a source and port (`host-view.ts`), not per request in `test`.
 */
import type { HTTPMatchRequest } from '../config/istio/schemas.ts';
import { type CompiledStringMatch, compileStringMatch } from './string-match.ts';
import type { CompiledMatch, MatchSelector, PathParts, ProxyMode, RequestFacts, SourceIdentity } from './types.ts';

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

  const selector: MatchSelector | null =
    port !== null || sourceLabels !== null || sourceNamespace !== null ? { port, sourceLabels, sourceNamespace } : null;

  const test = (facts: RequestFacts, parts: PathParts): string | null => {
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
    query.length === 0;
  return {
    index,
    name: m.name ?? null,
    catchAll,
    test,
    selector,
    uriPrefix: uri?.kind === 'prefix' ? uri.value : null,
    uriWhole: uri !== null && (uri.kind === 'exact' || uri.kind === 'regex'),
  };
}

/**
 * Why a block's config-time selector leaves it out for a source workload and port, or null when it is kept (istio
 * `TranslateRoute`: `match.port` must be the listener port; `sourceMatchHTTP`: `sourceLabels` a subset of the
 * workload's labels, `sourceNamespace` its namespace). An unknown source has no labels and no namespace.
 */
export function selectorReason(sel: MatchSelector, source: SourceIdentity, port: number): string | null {
  if (sel.port !== null && sel.port !== port) return `match.port ${sel.port} is not the request's port ${port}`;
  return sourceReason(sel, source);
}

/** True when the source workload has the selector's `sourceLabels` and is in its `sourceNamespace` (port ignored). */
export function sourceAccepts(sel: MatchSelector, source: SourceIdentity): boolean {
  if (sel.sourceLabels !== null) for (const [k, v] of sel.sourceLabels) if (source.labels[k] !== v) return false;
  return sel.sourceNamespace === null || source.namespace === sel.sourceNamespace;
}

/** The source part of {@link selectorReason}: null when the workload has the labels and is in the namespace. */
export function sourceReason(sel: MatchSelector, source: SourceIdentity): string | null {
  if (sel.sourceLabels !== null) {
    for (const [k, v] of sel.sourceLabels) {
      if (source.labels[k] !== v) return `sourceLabels ${k}=${v}: not a label of the source workload`;
    }
  }
  if (sel.sourceNamespace !== null && source.namespace !== sel.sourceNamespace)
    return `sourceNamespace ${sel.sourceNamespace}: the source workload is in ${source.namespace ?? 'an unknown namespace'}`;
  return null;
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
