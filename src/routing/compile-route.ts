/**
 * Compiles one VirtualService's HTTP routes into {@link CompiledRoute}s (matchers, actions, retries, timeouts,
 * faults, mirrors, rewrites, header operations, CORS; istio-semantics §1–§7), and Istio's default route for a
 * service without one. What a route reads of the rest of the configuration (delegates, services, DestinationRules)
 * goes through {@link CompileLookups}, so an incremental compile knows when a compiled route is still valid.
 * Pure: no I/O.
 */
import { RE2JS } from 're2js';
import { isExportedTo, type MergedDestinationRule } from '../config/destination-rules.ts';
import { gatewayFullName } from '../config/gateways.ts';
import { resolveHost } from '../config/hosts.ts';
import type { CorsPolicy, HeaderOperations, Headers, HTTPRoute, StringMatch } from '../config/istio/schemas.ts';
import type { Service } from '../config/registry.ts';
import type { VirtualService } from '../config/resources.ts';
import { parseDurationMs } from '../util/duration.ts';
import { mergeDelegateRoutes } from './delegate.ts';
import type { CompileLookups } from './lookups.ts';
import { compileMatch, type MatchContext } from './request-match.ts';
import { compileStringMatch } from './string-match.ts';
import { hashPolicyForDestination, hashPolicyForService } from './traffic-policy.ts';
import type {
  CompiledDestination,
  CompiledMatch,
  CompiledRoute,
  CorsPolicyCompiled,
  FaultPolicy,
  HashPolicy,
  HeaderOps,
  MirrorPolicy,
  ProxyMode,
  RedirectPolicy,
  RetryPolicy,
  RewritePolicy,
  RouteAction,
} from './types.ts';
/** Annotation that opts a VirtualService into the sticky weighted split (weir extension). */
export const STICKY_SPLIT_ANNOTATION = 'weir.dev/sticky-split';

/** Istio's built-in retry policy when a route has no `retries` (istio/istio `retry.go` `DefaultPolicy`). */
export const DEFAULT_RETRY_ON = [
  'connect-failure',
  'refused-stream',
  'unavailable',
  'cancelled',
  'retriable-status-codes',
] as const;

/** A compiled route table for one proxy. Immutable once built, except for the cluster and host-view caches. */

/**
 * Istio's default route for a service with no VirtualService (`buildSidecarVirtualHostForService`,
 * `BuildDefaultHTTPOutboundRoute`): one destination, default retries (previous_hosts on, even with a hash), no
 * timeout, and the DestinationRule's `consistentHash` as the route's hash policy per port (`hashForService`).
 */
export function defaultRoute(svc: Service, dr: MergedDestinationRule | null): CompiledRoute {
  let byPort: Map<number, readonly HashPolicy[]> | null = null;
  for (const p of svc.ports) {
    const hp = hashPolicyForService(dr, p.number);
    if (hp) (byPort ??= new Map()).set(p.number, [hp]);
  }
  const source: HTTPRoute = { route: [{ destination: { host: svc.hostname } }] };
  const fakeVs = { kind: 'VirtualService', name: '', namespace: svc.namespace } as unknown as VirtualService;
  return {
    name: 'default',
    index: 0,
    virtualService: fakeVs,
    delegateIndex: null,
    matches: [catchAllMatch()],
    action: {
      type: 'route',
      destinations: [
        {
          host: svc.hostname,
          subset: null,
          port: null,
          weight: 1,
          requestHeaders: [],
          responseHeaders: [],
          authority: null,
        },
      ],
      totalWeight: 1,
    },
    timeoutMs: null,
    retries: defaultRetryPolicy(true),
    fault: null,
    mirrors: [],
    rewrite: null,
    headers: null,
    cors: null,
    source,
    stickySplit: false,
    hashPolicies: [],
    hashPoliciesByPort: byPort,
  };
}

function catchAllMatch(): CompiledMatch {
  return { index: -1, name: null, catchAll: true, test: () => null, selector: null, uriPrefix: null, uriWhole: false };
}

/** Istio's default retry policy (no `retries` block). */
export function defaultRetryPolicy(previousHosts: boolean): RetryPolicy {
  return {
    attempts: 2,
    retryOn: [...DEFAULT_RETRY_ON],
    retriableStatusCodes: [],
    perTryTimeoutMs: null,
    backoffBaseMs: 25,
    retryIgnorePreviousHosts: previousHosts,
    retryRemoteLocalities: false,
    isDefault: true,
  };
}

/**
 * Compiles a VirtualService's `http` routes (delegates spliced in) for a proxy: every block this proxy may use,
 * config-time selectors kept on the blocks; the truncation after the first catch-all is done per client view
 * (`host-view.ts`), since a block's selector decides whether it exists.
 */
export function compileVirtualServiceRoutes(
  vs: VirtualService,
  lookups: CompileLookups,
  domain: string,
  mode: ProxyMode,
  gateways: string[],
): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  const ctx: MatchContext = { mode, vsGateways: gateways, resolveGateway: (g) => gatewayFullName(g, vs.namespace) };
  (vs.spec.http ?? []).forEach((rule, index) => {
    if (!rule) return;
    if (rule.delegate) {
      const ns = rule.delegate.namespace ?? vs.namespace;
      const delegate = lookups.delegate(ns, rule.delegate.name ?? '');
      // A missing or unexported delegate drops only this root route (istio/istio virtualservice_controller.go).
      if (!delegate || !isExportedTo(delegate.spec.exportTo, delegate.namespace, vs.namespace)) return;
      for (const { route, delegateIndex } of mergeDelegateRoutes(rule, delegate.spec.http ?? [])) {
        const c = compileRoute(route, index, delegateIndex, delegate, ctx, lookups, domain);
        if (c) out.push(c);
      }
      return;
    }
    const c = compileRoute(rule, index, null, vs, ctx, lookups, domain);
    if (c) out.push(c);
  });
  return out;
}

function compileRoute(
  rule: HTTPRoute,
  index: number,
  delegateIndex: number | null,
  vs: VirtualService,
  ctx: MatchContext,
  lookups: CompileLookups,
  domain: string,
): CompiledRoute | null {
  let matches: CompiledMatch[];
  const raw = rule.match ?? [];
  if (raw.length === 0) {
    const m = compileMatch(null, -1, ctx);
    if (!m) return null;
    matches = [m];
  } else {
    matches = [];
    raw.forEach((m, i) => {
      const c = compileMatch(m, i, ctx);
      if (c) matches.push(c);
    });
    if (matches.length === 0) return null;
  }
  const routeHeaders = rule.headers ?? null;
  const routeAuthority = rule.rewrite?.authority ?? authorityFromHeaders(routeHeaders);
  let action: RouteAction;
  let hashPolicies: HashPolicy[] = [];
  if (rule.redirect) {
    const r = rule.redirect;
    action = {
      type: 'redirect',
      redirect: {
        uri: r.uri ?? null,
        prefixRewrite: r.prefixRewrite ?? null,
        authority: r.authority ?? null,
        port: r.port ?? null,
        derivePort: r.derivePort ?? null,
        scheme: r.scheme ?? null,
        redirectCode: r.redirectCode && r.redirectCode > 0 ? r.redirectCode : 301,
      } satisfies RedirectPolicy,
    };
  } else if (rule.directResponse) {
    const body = rule.directResponse.body;
    action = {
      type: 'directResponse',
      status: rule.directResponse.status ?? 200,
      body: body?.string ?? (body?.bytes !== undefined ? Buffer.from(body.bytes, 'base64').toString('latin1') : null),
    };
  } else {
    const all = rule.route ?? [];
    const single = all.length === 1;
    const destinations: CompiledDestination[] = [];
    for (const rd of all) {
      const weight = single ? 1 : (rd.weight ?? 0);
      if (weight <= 0) continue; // zero-weight destinations are left out of weighted_clusters
      const host = resolveHost(rd.destination?.host ?? '', vs.namespace, domain);
      const dh = rd.headers ?? null;
      const routeLevel = { request: headerOps(routeHeaders?.request), response: headerOps(routeHeaders?.response) };
      const destLevel = { request: headerOps(dh?.request), response: headerOps(dh?.response) };
      const order = single
        ? [concatOps(routeLevel.request, destLevel.request)]
        : [destLevel.request, routeLevel.request];
      const orderResp = single
        ? [concatOps(routeLevel.response, destLevel.response)]
        : [destLevel.response, routeLevel.response];
      destinations.push({
        host,
        subset: rd.destination?.subset ?? null,
        port: rd.destination?.port?.number ?? null,
        weight,
        requestHeaders: order.filter(nonEmpty),
        responseHeaders: orderResp.filter(nonEmpty),
        authority: routeAuthority ?? authorityFromHeaders(dh),
      });
      const svc = lookups.service(host);
      const dr = lookups.destinationRule(host, svc?.namespace ?? null);
      const hp = hashPolicyForDestination(dr, rd.destination?.subset ?? null, rd.destination?.port?.number ?? null);
      if (hp) hashPolicies.push(hp);
    }
    const totalWeight = destinations.reduce((a, d) => a + d.weight, 0);
    action = { type: 'route', destinations, totalWeight };
    if (destinations.length === 0) hashPolicies = [];
  }
  const isRoute = action.type === 'route';
  const singleHashed = isRoute && (rule.route ?? []).length === 1 && hashPolicies.length > 0;
  return {
    name: rule.name ?? null,
    index,
    virtualService: vs,
    delegateIndex,
    matches,
    action,
    timeoutMs: isRoute && rule.timeout !== undefined ? parseDurationMs(rule.timeout) : null,
    retries: isRoute ? compileRetries(rule, singleHashed) : null,
    fault: compileFault(rule),
    mirrors: isRoute ? compileMirrors(rule, vs.namespace, domain) : [],
    rewrite: compileRewrite(rule),
    headers: routeHeaders
      ? {
          request: headerOps(routeHeaders.request),
          response: headerOps(routeHeaders.response),
          authority: routeAuthority,
        }
      : routeAuthority
        ? { request: EMPTY_OPS, response: EMPTY_OPS, authority: routeAuthority }
        : null,
    cors: rule.corsPolicy ? compileCors(rule.corsPolicy) : null,
    source: rule,
    stickySplit: vs.annotations[STICKY_SPLIT_ANNOTATION] === 'true',
    hashPolicies,
    hashPoliciesByPort: null,
  };
}

const EMPTY_OPS: HeaderOps = { set: [], add: [], remove: [] };
const nonEmpty = (o: HeaderOps): boolean => o.set.length + o.add.length + o.remove.length > 0;
const isAuthorityName = (n: string): boolean => {
  const l = n.toLowerCase();
  return l === ':authority' || l === 'host';
};

/** Envoy header ops from an Istio block: maps sorted by key; `:authority`/`host` become an authority rewrite. */
function headerOps(op: HeaderOperations | undefined): HeaderOps {
  if (!op) return EMPTY_OPS;
  const sorted = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {})
      .filter(([k]) => !isAuthorityName(k) && !k.startsWith(':'))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k.toLowerCase(), v] as const);
  return {
    set: sorted(op.set),
    add: sorted(op.add),
    remove: (op.remove ?? []).map((r) => r.toLowerCase()).filter((r) => !r.startsWith(':') && r !== 'host'),
  };
}

function concatOps(a: HeaderOps, b: HeaderOps): HeaderOps {
  return { set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] };
}

/** `headers.request.set/add[":authority"|"host"]` → authority rewrite (`set` wins over `add`). */
function authorityFromHeaders(h: Headers | null | undefined): string | null {
  const find = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {}).find(([k]) => isAuthorityName(k))?.[1];
  return find(h?.request?.set) ?? find(h?.request?.add) ?? null;
}

/** istio-semantics §4.1: `retries` → Envoy retry policy; absent → Istio's default; `attempts <= 0` → none. */
function compileRetries(rule: HTTPRoute, singleHashed: boolean): RetryPolicy | null {
  const r = rule.retries;
  if (!r) return defaultRetryPolicy(!singleHashed);
  const attempts = r.attempts ?? 0;
  if (attempts <= 0) return null;
  const tokens = (r.retryOn ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const retryOn: string[] = [];
  const codes: number[] = [];
  for (const t of tokens) {
    if (/^\d+$/.test(t)) codes.push(Number(t));
    else if (!retryOn.includes(t)) retryOn.push(t);
  }
  if (tokens.length === 0) retryOn.push(...DEFAULT_RETRY_ON);
  if (codes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
  const backoff = r.backoff !== undefined ? parseDurationMs(r.backoff) : null;
  // previous_hosts: on unless it is a hashed single-destination route; retryIgnorePreviousHosts overrides.
  const previousHosts = r.retryIgnorePreviousHosts ?? !singleHashed;
  return {
    attempts,
    retryOn,
    retriableStatusCodes: codes,
    perTryTimeoutMs: r.perTryTimeout !== undefined ? parseDurationMs(r.perTryTimeout) : null,
    backoffBaseMs: backoff ?? 25,
    retryIgnorePreviousHosts: previousHosts,
    retryRemoteLocalities: r.retryRemoteLocalities === true,
    isDefault: false,
  };
}

/** istio-semantics §6: no percentage → nothing is injected (deprecated integer `percent` as fallback). */
function compileFault(rule: HTTPRoute): FaultPolicy | null {
  const f = rule.fault;
  if (!f) return null;
  let delay: FaultPolicy['delay'] = null;
  if (f.delay?.fixedDelay !== undefined) {
    const percent = f.delay.percentage?.value ?? f.delay.percent ?? 0;
    const ms = parseDurationMs(f.delay.fixedDelay);
    if (percent > 0 && ms !== null) delay = { fixedDelayMs: ms, percent };
  }
  let abort: FaultPolicy['abort'] = null;
  if (f.abort && (f.abort.httpStatus !== undefined || f.abort.grpcStatus !== undefined)) {
    const percent = f.abort.percentage?.value ?? 0;
    if (percent > 0)
      abort = { httpStatus: f.abort.httpStatus ?? null, grpcStatus: f.abort.grpcStatus ?? null, percent };
  }
  return delay || abort ? { delay, abort } : null;
}

/** istio-semantics §3: `mirror` (+`mirrorPercentage`/`mirrorPercent`, default 100 %) or `mirrors[]`; 0 % → none. */
function compileMirrors(rule: HTTPRoute, namespace: string, domain: string): MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  if (rule.mirror) {
    // Istio `MirrorPercent`: a mirrorPercentage block (even `{}`, value 0) decides; else mirrorPercent; else 100 %.
    const percent = rule.mirrorPercentage
      ? (rule.mirrorPercentage.value ?? 0)
      : rule.mirrorPercent !== undefined
        ? rule.mirrorPercent
        : 100;
    if (percent > 0)
      out.push({
        host: resolveHost(rule.mirror.host ?? '', namespace, domain),
        subset: rule.mirror.subset ?? null,
        port: rule.mirror.port?.number ?? null,
        percent: Math.min(percent, 100),
      });
  }
  for (const m of rule.mirrors ?? []) {
    // Istio `MirrorPercentByPolicy`: no percentage → 100 %; a percentage with value 0 (or `{}`) → no mirror.
    const percent = m.percentage ? (m.percentage.value ?? 0) : 100;
    if (percent > 0 && m.destination)
      out.push({
        host: resolveHost(m.destination.host ?? '', namespace, domain),
        subset: m.destination.subset ?? null,
        port: m.destination.port?.number ?? null,
        percent: Math.min(percent, 100),
      });
  }
  return out;
}

function compileRewrite(rule: HTTPRoute): RewritePolicy | null {
  const r = rule.rewrite;
  if (!r || (r.uri === undefined && !r.uriRegexRewrite && r.authority === undefined)) return null;
  const rx =
    r.uriRegexRewrite?.match !== undefined
      ? { match: r.uriRegexRewrite.match, rewrite: r.uriRegexRewrite.rewrite ?? '' }
      : null;
  let replace: ((path: string) => string) | null = null;
  if (rx) {
    const re = RE2JS.compile(rx.match);
    const replacement = toRe2jsReplacement(rx.rewrite);
    replace = (path) => re.matcher(path).replaceAll(replacement);
  }
  return { uri: r.uri ?? null, uriRegex: rx, replace, authority: r.authority ?? null };
}

/**
 * Converts an Envoy/RE2 rewrite string (`\1`…`\9` group references, `\\` a literal backslash) to re2js's
 * replacement syntax (`$1`, `$$` a literal dollar).
 */
export function toRe2jsReplacement(envoy: string): string {
  let out = '';
  for (let i = 0; i < envoy.length; i++) {
    const c = envoy[i]!;
    if (c === '\\' && i + 1 < envoy.length) {
      const n = envoy[i + 1]!;
      if (n >= '0' && n <= '9') {
        out += `$${n}`;
        i++;
        continue;
      }
      if (n === '\\') {
        out += '\\';
        i++;
        continue;
      }
    }
    out += c === '$' ? '$$' : c;
  }
  return out;
}

function compileCors(c: CorsPolicy): CorsPolicyCompiled {
  const origins: StringMatch[] = [...(c.allowOrigins ?? []), ...(c.allowOrigin ?? []).map((o) => ({ exact: o }))];
  const maxAge = c.maxAge !== undefined ? parseDurationMs(c.maxAge) : null;
  return {
    allowOrigin: origins.map((o) => (o.exact === '*' ? () => true : compileStringMatch(o).test)),
    allowOriginText: origins.map((o) => o.exact ?? o.prefix ?? o.regex ?? ''),
    allowMethods: c.allowMethods && c.allowMethods.length > 0 ? c.allowMethods.join(',') : null,
    allowHeaders: c.allowHeaders && c.allowHeaders.length > 0 ? c.allowHeaders.join(',') : null,
    exposeHeaders: c.exposeHeaders && c.exposeHeaders.length > 0 ? c.exposeHeaders.join(',') : null,
    maxAgeSeconds: maxAge !== null ? Math.floor(maxAge / 1000) : null,
    allowCredentials: c.allowCredentials ?? null,
    unmatchedPreflights: c.unmatchedPreflights === 'IGNORE' ? 'IGNORE' : 'FORWARD',
  };
}
