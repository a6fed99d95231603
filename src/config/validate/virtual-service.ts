/**
 * istiod's admission-webhook rules for VirtualService, reported at the offending field, plus the unreachable-rule
 * analysis istiod attaches as warnings (IST0130 / IST0131). Mirrors istio/istio `pkg/config/validation/validation.go`
 * (`ValidateVirtualService` and helpers) and `pkg/config/validation/virtualservice.go` (`validateHTTPRoute`). It does
 * not look at other resources: whether hosts, subsets or gateways exist is the analyzers' job.
 */

import type * as S from '../istio/schemas.ts';
import type { VirtualService } from '../resources.ts';
import {
  checkDuration,
  checkExportTo,
  checkHeaderOperations,
  checkLabels,
  checkStringMatch,
  corsHeaderNameError,
  durationNanos,
  fractionalPercentError,
  hostsOverlap,
  httpStatusError,
  isAuthorityHeader,
  isDNS1123Label,
  isIPAddress,
  isJwtClaimRoute,
  matchHeaderNameError,
  type Path,
  q,
  regexError,
  validateFQDN,
  validateIPSubnet,
  validatePort,
  validateSubsetName,
  validateWildcardDomain,
} from './common.ts';
import type { Report } from './report.ts';

/** Options of {@link validateVirtualService}. */
export interface VirtualServiceValidationOptions {
  /**
   * Gateway-API semantics (istiod: annotation `internal.istio.io/route-semantics: gateway`), which relaxes gateway
   * name and destination checks. Defaults to the resource's annotation.
   */
  gatewaySemantics?: boolean;
}

/** Policies `retryOn` accepts besides HTTP status codes (istio `supportedRetryOnPolicies`). */
export const SUPPORTED_RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** Status codes Go's `net/http.StatusText` knows; a numeric `retryOn` token must be one of them. */
const GO_STATUS_CODES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400,
  401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425,
  426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** gRPC status names a fault `grpcStatus` may use (istio `grpc.SupportedGRPCStatus`). */
export const GRPC_STATUS_NAMES = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*']);

const KB = 1024;
const MB = 1024 * KB;

type RouteType = 'independent' | 'root' | 'delegate';

/**
 * Validates a VirtualService as istiod's webhook does (istio `ValidateVirtualService`): hosts, gateways, every HTTP,
 * TLS and TCP route, exportTo, then the unreachable-rule analysis (`analyzeUnreachableHTTPRules`, reported as
 * IST0130 warnings and IST0131 infos). A VirtualService without hosts is a delegate, as in istiod.
 */
export function validateVirtualService(
  vs: VirtualService,
  report: Report,
  opts: VirtualServiceValidationOptions = {},
): void {
  const spec = vs.spec;
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const http = spec.http ?? [];
  const tls = spec.tls ?? [];
  const tcp = spec.tcp ?? [];
  const gatewaySemantics = opts.gatewaySemantics ?? vs.annotations['internal.istio.io/route-semantics'] === 'gateway';
  const isDelegate = hosts.length === 0;

  if (isDelegate) {
    if (gateways.length > 0) report(['spec', 'gateways'], 'delegate virtual service must have no gateways specified');
    if (tls.length > 0) report(['spec', 'tls'], 'delegate virtual service must have no tls route specified');
    if (tcp.length > 0) report(['spec', 'tcp'], 'delegate virtual service must have no tcp route specified');
  }

  let appliesToGateway = false;
  let appliesToMesh = true;
  if (gateways.length > 0) {
    checkGatewayNames(report, ['spec', 'gateways'], gateways, gatewaySemantics);
    appliesToGateway = !gateways.includes('mesh');
    appliesToMesh = !appliesToGateway;
  }

  if (!appliesToGateway) {
    http.forEach((route, i) => {
      (route?.match ?? []).forEach((m, j) => {
        for (const field of ['headers', 'withoutHeaders'] as const) {
          for (const key of Object.keys(m?.[field] ?? {})) {
            if (isJwtClaimRoute(key)) {
              report(
                ['spec', 'http', i, 'match', j, field, key],
                `JWT claim based routing (key: ${key}) is only supported for gateway, found no gateways: [${gateways.join(' ')}]`,
                { key: true },
              );
            }
          }
        }
      });
    });
  }

  const sni = tls.some((t) => (t.match ?? []).some((m) => (m.sniHosts ?? []).length > 0));
  let allHostsValid = true;
  hosts.forEach((h, i) => {
    const err = appliesToGateway ? validateGatewayBoundDomain(sni, h) : validateWildcardDomain(h);
    if (err) {
      if (!isIPAddress(h)) {
        report(['spec', 'hosts', i], err);
        allHostsValid = false;
      }
    } else if (appliesToMesh && h === '*') {
      report(['spec', 'hosts', i], 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostsOverlap(hosts[i]!, hosts[j]!))
          report(['spec', 'hosts', j], `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`);
      }
    }
  }

  if (http.length === 0 && tcp.length === 0 && tls.length === 0)
    report(['spec'], 'http, tcp or tls must be provided in virtual service');

  http.forEach((route, i) => {
    const at: Path = ['spec', 'http', i];
    if (route === null) {
      report(at, 'http route may not be null');
      return;
    }
    validateHTTPRoute(report, at, route, isDelegate, gatewaySemantics);
  });
  tls.forEach((route, i) => {
    validateTLSRoute(report, ['spec', 'tls', i], route, hosts, appliesToGateway, gatewaySemantics);
  });
  tcp.forEach((route, i) => {
    validateTCPRoute(report, ['spec', 'tcp', i], route, gatewaySemantics);
  });

  checkExportTo(report, ['spec', 'exportTo'], vs.namespace, spec.exportTo);

  analyzeUnreachableHTTPRules(report, http);
  analyzeUnreachableL4Rules(report, 'tcp', tcp);
  analyzeUnreachableL4Rules(report, 'tls', tls);
}

// ---------------------------------------------------------------- hosts and gateways

const OUTBOUND_SNI_FORMAT = 'outbound_.<PORT>_._.<HOSTNAME>';

/** istio `agent.ValidateWildcardDomainForVirtualServiceBoundToGateway`: also accepts `outbound_.80_._.host` SNI names. */
function validateGatewayBoundDomain(sni: boolean, domain: string): string | null {
  if (domain.length > 255) return `domain name ${q(domain)} too long (max 255)`;
  if (domain.length === 0) return 'empty domain name not allowed';
  if (sni && domain.startsWith('outbound_')) {
    const parts = domain.split('_');
    if (parts.length < 4) return `domain name ${domain} invalid, should follow '${OUTBOUND_SNI_FORMAT}' format`;
    const port = parts[1]!.replace(/^\.+|\.+$/g, '');
    const hostname = parts[3]!.replace(/^\.+|\.+$/g, '');
    if (parts[0] !== 'outbound') return `domain name ${q(domain)} invalid (label ${q(parts[0]!)} invalid)`;
    if (!/[0-9]/.test(port))
      return `domain name ${q(domain)} invalid (label ${q(port)} invalid). should follow ${OUTBOUND_SNI_FORMAT} format`;
    if (!/[a-zA-Z]/.test(hostname))
      return `domain name ${q(domain)} invalid (label ${q(hostname)} invalid). should follow ${OUTBOUND_SNI_FORMAT} format`;
    return null;
  }
  return validateWildcardDomain(domain);
}

/**
 * istio `validateGatewayNames`: `<namespace>/<name>` with DNS-1123 labels, or a bare name that must be an FQDN; the
 * legacy `name.namespace.svc…` form only warns. Like istiod, checking stops after the first name without a `/`.
 */
function checkGatewayNames(report: Report, path: Path, names: readonly string[], gatewaySemantics: boolean): void {
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const at = [...path, i];
    const slash = name.indexOf('/');
    if (slash < 0) {
      if (name.includes('.')) {
        const parts = name.split('.');
        report(
          at,
          `using legacy gatewayName format ${q(name)}; prefer the <namespace>/<name> format: ${q(`${parts[1]}/${parts[0]}`)}`,
          { level: 'warning' },
        );
      }
      const err = validateFQDN(name);
      if (err) report(at, err);
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns === '' || gw === '') report(at, 'config namespace and gateway name cannot be empty');
    if (!isDNS1123Label(ns)) report(at, `invalid value for namespace: ${q(ns)}`);
    if (!isDNS1123Label(gw) && !gatewaySemantics) report(at, `invalid value for gateway name: ${q(gw)}`);
  }
}

// ---------------------------------------------------------------- HTTP routes

/** istio `validateHTTPRoute`, for one entry of `spec.http`. */
function validateHTTPRoute(
  report: Report,
  at: Path,
  route: S.HTTPRoute,
  delegateVS: boolean,
  gatewaySemantics: boolean,
): void {
  const type: RouteType = delegateVS ? 'delegate' : route.delegate !== undefined ? 'root' : 'independent';
  checkRouteConflicts(report, at, route, type);
  checkMatchRequests(report, at, route);
  checkHeaderOperations(report, [...at, 'headers'], route.headers);
  checkCorsPolicy(report, [...at, 'corsPolicy'], route.corsPolicy);
  checkFault(report, [...at, 'fault'], route.fault);

  if (route.mirrorPercent !== undefined) {
    const v = route.mirrorPercent;
    if (v > 100) report([...at, 'mirrorPercent'], `mirror_percent must have a max value of 100 (it has ${v})`);
    if (v < 0) report([...at, 'mirrorPercent'], `mirror_percent must have a min value of 0 (it has ${v})`);
    report([...at, 'mirrorPercent'], 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead', {
      level: 'warning',
      code: 'IST0002',
      key: true,
    });
  }
  if (route.mirrorPercentage !== undefined) {
    const v = route.mirrorPercentage.value ?? 0;
    const p = [...at, 'mirrorPercentage', 'value'];
    if (v > 100) report(p, `mirror_percentage must have a max value of 100 (it has ${v.toFixed(6)})`);
    if (v < 0) report(p, `mirror_percentage must have a min value of 0 (it has ${v.toFixed(6)})`);
  }
  if (route.mirror !== undefined) checkDestination(report, [...at, 'mirror'], route.mirror);
  checkMirrors(report, [...at, 'mirrors'], route.mirrors);
  checkRedirect(report, at, route);
  checkDirectResponse(report, [...at, 'directResponse'], route.directResponse);
  checkRetry(report, [...at, 'retries'], route.retries);
  checkRewrite(report, [...at, 'rewrite'], route.rewrite);
  checkAuthorityRewrite(report, at, route);
  checkHTTPRouteDestinations(report, [...at, 'route'], route.route, gatewaySemantics);
  checkDuration(report, [...at, 'timeout'], route.timeout);
}

/** istio `validateHTTPRouteConflict`: which actions a route may combine (§7.6), and delegate rules. */
function checkRouteConflicts(report: Report, at: Path, r: S.HTTPRoute, type: RouteType): void {
  if (type === 'root') {
    if (r.redirect !== undefined)
      report([...at, 'redirect'], `root HTTP route ${r.name ?? ''} must not specify redirect`);
    if (r.route !== undefined) report([...at, 'route'], `root HTTP route ${r.name ?? ''} must not specify route`);
    return;
  }
  if (type === 'delegate' && r.delegate !== undefined)
    report([...at, 'delegate'], 'delegate HTTP route cannot contain delegate');
  const hasRoute = (r.route ?? []).length > 0;
  if (r.redirect !== undefined) {
    if (hasRoute) report([...at, 'route'], 'HTTP route cannot contain both route and redirect');
    if (r.fault !== undefined) report([...at, 'fault'], 'HTTP route cannot contain both fault and redirect');
    if (r.rewrite !== undefined) report([...at, 'rewrite'], 'HTTP route rule cannot contain both rewrite and redirect');
    if (r.directResponse !== undefined)
      report([...at, 'directResponse'], 'HTTP route rule cannot contain both direct_response and redirect');
  } else if (r.directResponse !== undefined) {
    if (hasRoute) report([...at, 'route'], 'HTTP route cannot contain both route and direct_response');
    if (r.fault !== undefined) report([...at, 'fault'], 'HTTP route cannot contain both fault and direct_response');
    if (r.rewrite !== undefined)
      report([...at, 'rewrite'], 'HTTP route rule cannot contain both rewrite and direct_response');
  } else if (!hasRoute) {
    report(at, 'HTTP route, redirect or direct_response is required');
  }
  if (r.mirror !== undefined && (r.mirrors ?? []).length > 0)
    report([...at, 'mirrors'], 'HTTP route cannot contain both mirror and mirrors');
}

/** istio `validateHTTPRouteMatchRequest`. */
/**
 * istio `validateHTTPRoute`'s match checks for `route.match` at `at` (also used for a Canary's `analysis.match`,
 * which weir writes into a VirtualService route).
 */
export function checkMatchRequests(report: Report, at: Path, route: Pick<S.HTTPRoute, 'match'>): void {
  (route.match ?? []).forEach((m, j) => {
    const mp: Path = [...at, 'match', j];
    if (m === null) {
      report(mp, 'match may not be null');
      return;
    }
    for (const [name, sm] of Object.entries(m.headers ?? {})) {
      const hp = [...mp, 'headers', name];
      if (sm === null) report(hp, `header match ${name} cannot be null`);
      const nameErr = matchHeaderNameError(name);
      if (nameErr) report(hp, nameErr, { key: true });
      checkStringMatch(report, hp, sm, 'headers');
    }
    for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
      const hp = [...mp, 'withoutHeaders', name];
      const nameErr = matchHeaderNameError(name);
      if (nameErr) report(hp, nameErr, { key: true });
      // A regex of `*` is not RE2: istiod turns it into a presence match.
      if (sm !== null && sm.regex !== '*') checkStringMatch(report, hp, sm, 'withoutHeaders');
    }
    checkStringMatch(report, [...mp, 'uri'], m.uri, 'uri', { allowEmptyPrefix: true });
    checkStringMatch(report, [...mp, 'scheme'], m.scheme, 'scheme');
    checkStringMatch(report, [...mp, 'method'], m.method, 'method');
    checkStringMatch(report, [...mp, 'authority'], m.authority, 'authority');
    for (const [name, sm] of Object.entries(m.queryParams ?? {}))
      checkStringMatch(report, [...mp, 'queryParams', name], sm, 'queryParams');
    if (m.port !== undefined && m.port !== 0) {
      const err = validatePort(m.port);
      if (err) report([...mp, 'port'], err);
    }
    checkLabels(report, [...mp, 'sourceLabels'], m.sourceLabels);
    if (m.gateways) checkGatewayNames(report, [...mp, 'gateways'], m.gateways, false);
    if (m.sourceNamespace && !isDNS1123Label(m.sourceNamespace)) {
      report([...mp, 'sourceNamespace'], `sourceNamespace match ${m.sourceNamespace} is invalid`);
    }
  });
}

/** istio `validateDestination`: host (not `*`), subset name, port. */
function checkDestination(report: Report, at: Path, d: S.Destination): void {
  const host = d.host ?? '';
  if (host === '*') report([...at, 'host'], `invalid destination host ${host}`);
  else {
    const err = validateWildcardDomain(host);
    if (err) report(d.host === undefined ? at : [...at, 'host'], err);
  }
  if (d.subset !== undefined && d.subset !== '') {
    const err = validateSubsetName(d.subset);
    if (err) report([...at, 'subset'], err);
  }
  if (d.port !== undefined) {
    const err = validatePort(d.port.number ?? 0);
    if (err) report([...at, 'port', 'number'], err);
  }
}

/** istio `validateHTTPRouteDestinations`: destinations, their headers, weights ≥ 0, total > 0 when split. */
function checkHTTPRouteDestinations(
  report: Report,
  at: Path,
  dests: S.HTTPRouteDestination[] | undefined,
  gatewaySemantics: boolean,
): void {
  if (!dests) return;
  let total = 0;
  dests.forEach((rd, k) => {
    const p = [...at, k];
    if (rd.destination === undefined) report(p, 'destination is required');
    checkHeaderOperations(report, [...p, 'headers'], rd.headers);
    if (!gatewaySemantics && rd.destination !== undefined)
      checkDestination(report, [...p, 'destination'], rd.destination);
    const w = rd.weight ?? 0;
    if (w < 0) report([...p, 'weight'], `weight ${w} < 0`);
    total += w;
  });
  if (dests.length > 1 && total === 0) report(at, 'total destination weight = 0');
}

/** istio `validateHTTPMirrors`. */
function checkMirrors(report: Report, at: Path, mirrors: S.HTTPMirrorPolicy[] | undefined): void {
  (mirrors ?? []).forEach((m, k) => {
    const p = [...at, k];
    if (m.destination === undefined) {
      report(p, 'destination is required for mirrors');
      return;
    }
    checkDestination(report, [...p, 'destination'], m.destination);
    if (m.percentage !== undefined) {
      const v = m.percentage.value ?? 0;
      if (v > 100)
        report(
          [...p, 'percentage', 'value'],
          `mirror percentage must have a max value of 100 (it has ${v.toFixed(6)})`,
        );
      if (v < 0)
        report([...p, 'percentage', 'value'], `mirror percentage must have a min value of 0 (it has ${v.toFixed(6)})`);
    }
  });
}

/** istio `validateHTTPRetry`. */
function checkRetry(report: Report, at: Path, r: S.HTTPRetry | undefined): void {
  if (!r) return;
  const attempts = r.attempts ?? 0;
  if (attempts < 0) report([...at, 'attempts'], 'attempts cannot be negative');
  if (
    attempts === 0 &&
    (r.perTryTimeout !== undefined || (r.retryOn ?? '') !== '' || r.retryRemoteLocalities !== undefined)
  ) {
    report(
      r.attempts === undefined ? at : [...at, 'attempts'],
      'http retry policy configured when attempts are set to 0 (disabled)',
    );
  }
  checkDuration(report, [...at, 'perTryTimeout'], r.perTryTimeout);
  if (r.retryOn) {
    // Tokens are not trimmed: "5xx, reset" fails on " reset", as in istiod.
    for (const token of r.retryOn.split(',')) {
      const code = /^[+-]?\d+$/.test(token) ? Number(token) : 0;
      if (!GO_STATUS_CODES.has(code) && !SUPPORTED_RETRY_ON.has(token))
        report([...at, 'retryOn'], `${q(token)} is not a valid retryOn policy`);
    }
  }
  checkDuration(report, [...at, 'backoff'], r.backoff);
}

/** istio `validateHTTPRedirect`, plus `prefixRewrite` (exclusive with `uri`, needs prefix URI matches). */
function checkRedirect(report: Report, routeAt: Path, route: S.HTTPRoute): void {
  const r = route.redirect;
  if (!r) return;
  const at = [...routeAt, 'redirect'];
  const hasPort = r.port !== undefined || r.derivePort !== undefined;
  if (!r.uri && !r.prefixRewrite && !r.authority && !hasPort && !r.scheme) {
    report(at, 'redirect must specify URI, authority, scheme, or port');
  }
  if (r.redirectCode !== undefined && r.redirectCode !== 0 && (r.redirectCode < 300 || r.redirectCode > 399)) {
    report([...at, 'redirectCode'], `${r.redirectCode} is not a valid redirect code, must be 3xx`);
  }
  if (r.scheme && r.scheme !== 'http' && r.scheme !== 'https')
    report([...at, 'scheme'], 'invalid redirect scheme, must be "http" or "https"');
  if (r.port !== undefined && r.derivePort !== undefined)
    report([...at, 'derivePort'], 'redirect may only contain one of port or derivePort');
  if (r.port !== undefined && r.port !== 0) {
    const err = validatePort(r.port);
    if (err) report([...at, 'port'], err);
  }
  if (r.prefixRewrite !== undefined) {
    if (r.uri) report([...at, 'prefixRewrite'], 'redirect may only contain one of uri or prefixRewrite');
    (route.match ?? []).forEach((m, j) => {
      if (m?.uri && m.uri.prefix === undefined) {
        report(
          [...routeAt, 'match', j, 'uri'],
          'redirect prefixRewrite requires every match to use a uri prefix match',
        );
      }
    });
  }
}

/** istio `validateHTTPDirectResponse`: status 200..600, body ≤ 1 MB (warning above 100 KB). */
function checkDirectResponse(report: Report, at: Path, d: S.HTTPDirectResponse | undefined): void {
  if (!d) return;
  if (d.body) {
    let size = 0;
    if (d.body.string !== undefined) size = Buffer.byteLength(d.body.string, 'utf8');
    else if (d.body.bytes !== undefined) size = Buffer.from(d.body.bytes, 'base64').length;
    if (size > MB)
      report([...at, 'body'], 'large direct_responses may impact control plane performance, must be less than 1MB');
    else if (size > 100 * KB)
      report([...at, 'body'], 'large direct_responses may impact control plane performance', { level: 'warning' });
  }
  const err = httpStatusError(d.status ?? 0);
  if (err) report(d.status === undefined ? at : [...at, 'status'], err);
}

/** istio `validateHTTPRewrite` and `validateURIRegexRewrite`. */
function checkRewrite(report: Report, at: Path, r: S.HTTPRewrite | undefined): void {
  if (!r) return;
  if (r.uri && r.uriRegexRewrite !== undefined) {
    report([...at, 'uriRegexRewrite'], 'rewrite may only contain one of URI or UriRegexRewrite');
    return;
  }
  if (!r.uri && r.uriRegexRewrite === undefined && !r.authority) {
    report(
      at,
      'rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified',
    );
    return;
  }
  const rr = r.uriRegexRewrite;
  if (rr) {
    if (!rr.match || !rr.rewrite) {
      report(
        [...at, 'uriRegexRewrite'],
        'UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified',
      );
      return;
    }
    const err = regexError(rr.match, 'HTTPRewrite.UriRegexRewrite.Match');
    if (err) report([...at, 'uriRegexRewrite', 'match'], `UriRegexRewrite has errors: ${err}`);
  }
}

/** istio `validateAuthorityRewrite`: the authority may be rewritten in one place only. */
function checkAuthorityRewrite(report: Report, at: Path, route: S.HTTPRoute): void {
  let current = route.rewrite?.authority ?? '';
  for (const op of ['set', 'add'] as const) {
    for (const [k, v] of Object.entries(route.headers?.request?.[op] ?? {})) {
      if (!isAuthorityHeader(k)) continue;
      if (current !== '') {
        report(
          [...at, 'headers', 'request', op, k],
          `authority header cannot be set multiple times: have ${q(current)}, attempting to set ${q(v)}`,
          { key: true },
        );
        return;
      }
      current = v;
    }
  }
}

/** istio `validateCORSPolicy`. */
function checkCorsPolicy(report: Report, at: Path, c: S.CorsPolicy | undefined): void {
  if (!c) return;
  (c.allowOrigins ?? []).forEach((o, k) => {
    const p = [...at, 'allowOrigins', k];
    const value = o.exact ?? o.prefix ?? o.regex ?? '';
    if (value === '') report(p, `'${value}' is not a valid match type for CORS allow origins`);
    else if (o.regex !== undefined) {
      const err = regexError(o.regex, 'corsPolicy.allowOrigins');
      if (err) report([...p, 'regex'], err);
    }
  });
  (c.allowMethods ?? []).forEach((m, k) => {
    if (!CORS_METHODS.has(m)) report([...at, 'allowMethods', k], `${q(m)} is not a supported HTTP method`);
  });
  for (const field of ['allowHeaders', 'exposeHeaders'] as const) {
    (c[field] ?? []).forEach((h, k) => {
      const err = corsHeaderNameError(h);
      if (err) report([...at, field, k], err);
    });
  }
  if (c.maxAge !== undefined) {
    checkDuration(report, [...at, 'maxAge'], c.maxAge);
    const ns = durationNanos(c.maxAge);
    if (ns !== null && ns % 1e9 > 0)
      report([...at, 'maxAge'], 'max_age duration is accurate only to seconds precision');
  }
}

/** istio `validateHTTPFaultInjection` with `...Abort` and `...Delay`. */
function checkFault(report: Report, at: Path, f: S.HTTPFaultInjection | undefined): void {
  if (!f) return;
  if (!f.abort && !f.delay) report(at, 'HTTP fault injection must have an abort and/or a delay');
  const a = f.abort;
  if (a) {
    const p = [...at, 'abort'];
    if (a.percentage !== undefined) {
      const err = fractionalPercentError(a.percentage.value ?? 0);
      if (err) report([...p, 'percentage', 'value'], err);
    }
    const kinds = (['httpStatus', 'grpcStatus', 'http2Error'] as const).filter((k) => a[k] !== undefined);
    if (kinds.length > 1)
      report(p, `abort may only contain one of httpStatus, grpcStatus or http2Error (got ${kinds.join(', ')})`);
    if (a.grpcStatus !== undefined && !GRPC_STATUS_NAMES.has(a.grpcStatus)) {
      report(
        [...p, 'grpcStatus'],
        `gRPC status ${q(a.grpcStatus)} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`,
      );
    }
    if (a.http2Error !== undefined) report([...p, 'http2Error'], 'HTTP/2 abort fault injection not supported yet');
    if (a.httpStatus !== undefined) {
      const err = httpStatusError(a.httpStatus);
      if (err) report([...p, 'httpStatus'], err);
    }
    if (kinds.length === 0) report(p, 'abort configured, but error type not set', { level: 'warning' });
  }
  const d = f.delay;
  if (d) {
    const p = [...at, 'delay'];
    if (d.percentage !== undefined) {
      const err = fractionalPercentError(d.percentage.value ?? 0);
      if (err) report([...p, 'percentage', 'value'], err);
    }
    checkDuration(report, [...p, 'fixedDelay'], d.fixedDelay);
    if (d.exponentialDelay !== undefined) {
      checkDuration(report, [...p, 'exponentialDelay'], d.exponentialDelay);
      report([...p, 'exponentialDelay'], 'exponentialDelay not supported yet');
    }
  }
}

// ---------------------------------------------------------------- TLS and TCP routes

type TLSRoute = NonNullable<S.VirtualServiceSpec['tls']>[number];
type TCPRoute = NonNullable<S.VirtualServiceSpec['tcp']>[number];
type L4Destination = NonNullable<TLSRoute['route']>[number];

/** istio `validateTLSRoute` / `validateTLSMatch` / `validateSniHost`. */
function validateTLSRoute(
  report: Report,
  at: Path,
  r: TLSRoute,
  hosts: readonly string[],
  gateway: boolean,
  gatewaySemantics: boolean,
): void {
  const matches = r.match ?? [];
  if (matches.length === 0) report(at, 'TLS route must have at least one match condition');
  matches.forEach((m, j) => {
    const mp = [...at, 'match', j];
    const sniHosts = m.sniHosts ?? [];
    if (sniHosts.length === 0) report(mp, 'TLS match must have at least one SNI host');
    sniHosts.forEach((sni, k) => {
      const p = [...mp, 'sniHosts', k];
      const err = gateway ? validateGatewayBoundDomain(true, sni) : validateWildcardDomain(sni);
      if (err) {
        if (isIPAddress(sni))
          report(p, `using an IP address (${q(sni)}) goes against SNI spec and most clients do not support this`, {
            level: 'warning',
          });
        else report(p, err);
        return;
      }
      if (!hosts.some((h) => isSubsetHost(sni, h))) {
        report(
          p,
          `SNI host ${q(sni)} is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`,
        );
      }
    });
    checkL4Match(report, mp, m);
  });
  if ((r.route ?? []).length === 0) report(at, 'TLS route is required');
  checkL4Destinations(report, [...at, 'route'], r.route, gatewaySemantics);
}

/** istio `validateTCPRoute` / `validateTCPMatch`. */
function validateTCPRoute(report: Report, at: Path, r: TCPRoute, gatewaySemantics: boolean): void {
  (r.match ?? []).forEach((m, j) => {
    checkL4Match(report, [...at, 'match', j], m);
  });
  if ((r.route ?? []).length === 0) report(at, 'TCP route is required');
  checkL4Destinations(report, [...at, 'route'], r.route, gatewaySemantics);
}

function checkL4Match(
  report: Report,
  at: Path,
  m: {
    destinationSubnets?: string[] | undefined;
    port?: number | undefined;
    sourceLabels?: Record<string, string> | undefined;
    gateways?: string[] | undefined;
  },
): void {
  (m.destinationSubnets ?? []).forEach((s, k) => {
    const err = validateIPSubnet(s);
    if (err) report([...at, 'destinationSubnets', k], err);
  });
  if (m.port !== undefined && m.port !== 0) {
    const err = validatePort(m.port);
    if (err) report([...at, 'port'], err);
  }
  checkLabels(report, [...at, 'sourceLabels'], m.sourceLabels);
  if (m.gateways) checkGatewayNames(report, [...at, 'gateways'], m.gateways, false);
}

/** istio `validateRouteDestinations`. */
function checkL4Destinations(
  report: Report,
  at: Path,
  dests: L4Destination[] | undefined,
  gatewaySemantics: boolean,
): void {
  if (!dests) return;
  let total = 0;
  dests.forEach((rd, k) => {
    const p = [...at, k];
    if (rd.destination === undefined) report(p, 'destination is required');
    else if (!gatewaySemantics) checkDestination(report, [...p, 'destination'], rd.destination);
    const w = rd.weight ?? 0;
    if (w < 0) report([...p, 'weight'], `weight ${w} < 0`);
    total += w;
  });
  if (dests.length > 1 && total === 0) report(at, 'total destination weight = 0');
}

/** istio `host.Name.SubsetOf`: `a` is covered by `b`. */
function isSubsetHost(a: string, b: string): boolean {
  if (b.startsWith('*')) {
    if (a.startsWith('*')) return a.slice(1).endsWith(b.slice(1));
    return a.endsWith(b.slice(1));
  }
  return a === b;
}

// ---------------------------------------------------------------- unreachable rules (IST0130 / IST0131)

interface PrefixMatchInfo {
  route: string;
  match: string;
  at: Path;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

function routeName(name: string | undefined, i: number): string {
  return name ? q(name) : `#${i}`;
}

/** A comparable form of a match, like istiod's `asJSON`: the name is dropped and zero values are omitted. */
function matchKey(m: S.HTTPMatchRequest | null | Record<string, unknown>): string {
  if (m === null) return 'null';
  const { name: _name, ...rest } = m as Record<string, unknown>;
  return JSON.stringify(canonical(rest, true));
}

function canonical(v: unknown, dropZero: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => canonical(x, true));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (dropZero && (x === undefined || x === false || x === 0 || x === '' || (Array.isArray(x) && x.length === 0)))
        continue;
      if (dropZero && x !== null && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 0) continue;
      // Map-typed fields (headers, queryParams, …) keep their entries even when empty.
      const isMap = k === 'headers' || k === 'withoutHeaders' || k === 'queryParams' || k === 'sourceLabels';
      out[k] = isMap ? canonicalMap(x) : canonical(x, true);
    }
    return out;
  }
  return v;
}

function canonicalMap(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k], true);
  return out;
}

function exactOrPrefix(sm: S.StringMatch | null | undefined): string {
  if (sm?.exact) return `exact:${sm.exact}`;
  if (sm?.prefix) return `prefix:${sm.prefix}`;
  return '';
}

function toMatchMap(map: Record<string, S.StringMatch | null> | undefined): Map<string, string> {
  return new Map(Object.entries(map ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));
}

/** istio `coveredValidation`: does the earlier prefix match `a` cover the later `b`? */
function covers(a: PrefixMatchInfo, b: PrefixMatchInfo): boolean {
  if (!b.prefix.startsWith(a.prefix)) return false;
  if (a.port !== b.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  for (const [am, bm] of [
    [a.headers, b.headers],
    [a.queryParams, b.queryParams],
    [a.withoutHeaders, b.withoutHeaders],
  ] as const) {
    if (am.size !== bm.size) return false;
    for (const [k, av] of am) {
      const bv = bm.get(k);
      if (bv === undefined) return false;
      if (av !== bv && !av.startsWith(bv)) return false;
    }
  }
  return true;
}

/**
 * istio `analyzeUnreachableHTTPRules`: a route after a match-less route can never be reached ("only the last rule
 * can have no matches", "route without matches defined before"), nor one whose every match repeats an earlier one
 * ("all matches used by prior rules") — IST0130 warnings at `spec.http[i]`. A match identical to an earlier one, or
 * covered by an earlier `uri.prefix` match, is an IST0131 info at `spec.http[i].match[j]`.
 */
function analyzeUnreachableHTTPRules(report: Report, routes: readonly (S.HTTPRoute | null)[]): void {
  const unreachable = (i: number, name: string, reason: string): void =>
    report(['spec', 'http', i], `virtualService rule ${name} not used (${reason})`, {
      level: 'warning',
      code: 'IST0130',
    });
  const ineffective = (at: Path, rule: string, match: string, dup: string): void =>
    report(at, `virtualService rule ${rule} match ${match} is not used (duplicate/overlapping match in rule ${dup})`, {
      level: 'info',
      code: 'IST0131',
    });

  const seen = new Map<string, number>();
  let emptyMatchAt = -1;
  const prefixMatches: PrefixMatchInfo[] = [];
  routes.forEach((route, i) => {
    if (route === null) return;
    const name = routeName(route.name, i);
    const matches = route.match ?? [];
    if (matches.length === 0) {
      if (emptyMatchAt >= 0) unreachable(i, name, 'only the last rule can have no matches');
      emptyMatchAt = i;
      return;
    }
    if (emptyMatchAt >= 0) {
      unreachable(i, name, 'route without matches defined before');
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const key = matchKey(m);
      const matchName = m?.name ? q(m.name) : `#${j}`;
      const prior = seen.get(key);
      if (prior !== undefined) {
        ineffective(['spec', 'http', i, 'match', j], name, matchName, routeName(routes[prior]?.name, prior));
        duplicates++;
        return;
      }
      seen.set(key, i);
      const prefix = m?.uri?.prefix;
      if (m && prefix) {
        prefixMatches.push({
          route: name,
          match: matchName,
          at: ['spec', 'http', i, 'match', j],
          prefix,
          port: m.port ?? 0,
          method: exactOrPrefix(m.method) || 'exact:GET',
          authority: exactOrPrefix(m.authority),
          headers: toMatchMap(m.headers),
          queryParams: toMatchMap(m.queryParams),
          withoutHeaders: toMatchMap(m.withoutHeaders),
        });
      }
    });
    if (duplicates === matches.length) unreachable(i, name, 'all matches used by prior rules');
  });

  for (let a = 0; a < prefixMatches.length; a++) {
    for (let b = a + 1; b < prefixMatches.length; b++) {
      const pa = prefixMatches[a]!;
      const pb = prefixMatches[b]!;
      if (pa.prefix === pb.prefix) continue;
      if (covers(pa, pb)) {
        ineffective(
          pb.at,
          pb.route,
          `${pb.match} of prefix ${pb.prefix}`,
          `${pa.match} of prefix ${pa.prefix} on ${pa.route}`,
        );
      }
    }
  }
}

/** istio `analyzeUnreachableTCPRules` / `analyzeUnreachableTLSRules` (routes and matches have no names). */
function analyzeUnreachableL4Rules(
  report: Report,
  field: 'tcp' | 'tls',
  routes: readonly (TLSRoute | TCPRoute)[],
): void {
  const seen = new Map<string, number>();
  let emptyMatchAt = -1;
  routes.forEach((route, i) => {
    const matches = (route.match ?? []) as Record<string, unknown>[];
    const unreachable = (reason: string): void =>
      report(['spec', field, i], `virtualService rule #${i} not used (${reason})`, {
        level: 'warning',
        code: 'IST0130',
      });
    if (matches.length === 0) {
      if (emptyMatchAt >= 0) unreachable('only the last rule can have no matches');
      emptyMatchAt = i;
      return;
    }
    if (emptyMatchAt >= 0) {
      unreachable('route without matches defined before');
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const key = matchKey(m);
      const prior = seen.get(key);
      if (prior !== undefined) {
        report(
          ['spec', field, i, 'match', j],
          `virtualService rule #${i} match #${j} is not used (duplicate/overlapping match in rule #${prior})`,
          {
            level: 'info',
            code: 'IST0131',
          },
        );
        duplicates++;
      } else seen.set(key, i);
    });
    if (duplicates === matches.length) unreachable('all matches used by prior rules');
  });
}
