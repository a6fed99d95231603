/**
 * `weir explain URL [-f PATH ...] [-X METHOD] [-H 'Name: value' ...] [--source-…] [--port N] [--gateway NS/NAME]`:
 * builds request facts from flags, asks the routing engine for a decision with a trace, and prints what the proxy
 * would do — the VirtualService, every route tried with the first reason it did not match, the route taken, all
 * destinations with their weights, endpoints and effective DestinationRule policy, and the policies in effect.
 * Read-only: no sockets. The JSON shape is documented in docs/explain.md.
 */
import { isRejection, LEVEL_RANK } from '../../config/diagnostics.ts';
import { splitAuthority } from '../../config/hosts.ts';
import { findService, type Registry } from '../../config/registry.ts';
import type { FieldValidation } from '../../config/schema-check.ts';
import { type ConfigSnapshot, loadSnapshot } from '../../config/snapshot.ts';
import { compileRouteTable, type RouteTable } from '../../routing/compile.ts';
import { decide, rewritePath } from '../../routing/decide.ts';
import { createFacts } from '../../routing/facts.ts';
import type {
  CompiledRoute,
  HeaderOps,
  RequestFacts,
  RetryPolicy,
  RouteDecision,
  SourceIdentity,
  TraceStep,
} from '../../routing/types.ts';
import { formatDurationMs } from '../../util/duration.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { printDiagnostics } from '../output.ts';
import { describeHashPolicy, type HashPolicyJson, hashPolicyJson, markUnreachableRoutes } from './explain-notes.ts';

/** Options of `weir explain`, as given on the command line (strings unparsed). */
export interface ExplainOptions {
  url: string;
  files: string[];
  method: string;
  /** `Name: value` strings. */
  headers: string[];
  /** `k=v,k2=v2`. */
  sourceLabels?: string;
  sourceNamespace?: string;
  sourceIp?: string;
  /** Service port the request was sent to (decimal string). */
  port?: string;
  /** `ns/name` of the ingress Gateway; absent for a sidecar. */
  gateway?: string;
  /** Namespace of the proxy; default: the source namespace, else `default`. */
  namespace?: string;
  output: 'text' | 'json';
  /** Random source for the weighted pick (tests inject a seeded one). Default `Math.random`. */
  rng?: () => number;
  /** Unknown fields: kubectl's `--validate` (default `strict`: they make the configuration unusable, exit 79). */
  fieldValidation?: FieldValidation;
}

/** A request as parsed from the flags. */
export interface ExplainRequest {
  scheme: string;
  /** The authority exactly as sent (`-H Host:` wins over the URL). */
  authority: string;
  method: string;
  /** Path with query string. */
  path: string;
  port: number;
  /** Headers with their names as given. */
  headers: [string, string][];
  source: SourceIdentity;
  /** Where the source identity came from: `flags`, `registry:<Kind> ns/name`, or `unknown`. */
  sourceFrom: string;
}

/** One destination of the route taken, with its cluster (JSON shape of docs/explain.md). */
export interface ExplainDestination {
  host: string;
  subset: string | null;
  /** The port the cluster uses: explicit, else the service's only port, else the request port (§2). */
  port: number;
  weight: number;
  /** Share of requests in percent (weight / Σweights × 100), 100 for a single destination. */
  percent: number;
  cluster: string;
  /** False when Envoy would answer 503 NC (unknown host or subset). */
  clusterExists: boolean;
  /** True for the destination this run picked (by a random draw for a weighted split: see `pick`). */
  picked: boolean;
  /** `address:port` of each endpoint of the cluster. */
  endpoints: string[];
  /** The effective DestinationRule traffic policy (istio-semantics §8.2) in Istio's field names, or null. */
  trafficPolicy: Record<string, unknown> | null;
  /** Header operations in the order Envoy applies them (§7.4). */
  requestHeaders: HeaderOpsJson[];
  responseHeaders: HeaderOpsJson[];
  /** Authority rewrite for this destination, or null. */
  authority: string | null;
}

/** Header operations in JSON. */
export interface HeaderOpsJson {
  set: Record<string, string>;
  add: Record<string, string>;
  remove: string[];
}

/** The stable JSON result of `weir explain -o json` (see docs/explain.md). */
export interface ExplainResult {
  request: {
    scheme: string;
    authority: string;
    method: string;
    path: string;
    port: number;
    headers: [string, string][];
    source: { labels: Record<string, string>; namespace: string | null; ip: string | null; workload: string | null };
    sourceFrom: string;
  };
  proxy: { gateway: string | null; namespace: string };
  /** The host looked up (lower-case, port removed). */
  host: string;
  /** The virtual host that served it (its FQDN), or null. */
  virtualHost: string | null;
  virtualService: { name: string; namespace: string } | null;
  delegate: { name: string; namespace: string } | null;
  action: RouteDecision['action'];
  /** Status of an answer weir gives itself (404, 503, redirect code, direct response, 100 % abort), else null. */
  status: number | null;
  /** Envoy response flags of that answer (`NR`, `NC`, `FI`), else null. */
  responseFlags: string | null;
  route: { name: string | null; index: number; matchIndex: number | null; delegateIndex: number | null } | null;
  destinations: ExplainDestination[];
  /**
   * How the `picked` destination was chosen: `single` (the only one), `random` (weighted split: Envoy draws per
   * request, so another run may pick another), `hash` (the opt-in sticky split, from the request's hash key); null
   * when the request is not routed.
   */
  pick: 'single' | 'random' | 'hash' | null;
  /** The route's hash policy (DestinationRule `consistentHash`) for the cluster's endpoint pick; empty when none. */
  hashPolicy: HashPolicyJson[];
  mirrors: { host: string; subset: string | null; port: number; percent: number; cluster: string }[];
  /** Route timeout (`"2s"`), or null when disabled (Istio's default). */
  timeout: string | null;
  retries: {
    attempts: number;
    retryOn: string;
    retriableStatusCodes: number[];
    perTryTimeout: string | null;
    retryIgnorePreviousHosts: boolean;
    retryRemoteLocalities: boolean;
    backoff: string;
    /** True when this is Istio's default policy (the route has no `retries`). */
    isDefault: boolean;
  } | null;
  fault: {
    delay: { fixedDelay: string; percent: number } | null;
    abort: { httpStatus: number | null; grpcStatus: string | null; percent: number } | null;
  } | null;
  rewrite: {
    uri: string | null;
    uriRegexRewrite: { match: string; rewrite: string } | null;
    authority: string | null;
    /** The path sent upstream after the rewrite. */
    path: string;
  } | null;
  redirect: { status: number; location: string } | null;
  directResponse: { status: number; body: string | null } | null;
  /** Route-level header operations as written (Envoy form), or null. */
  headers: { request: HeaderOpsJson; response: HeaderOpsJson; authority: string | null } | null;
  /** The route's corsPolicy as written, or null. */
  corsPolicy: Record<string, unknown> | null;
  trace: TraceStep[];
}

const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses `k=v,k2=v2`. @throws CliError (64) on a malformed entry. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`bad --source-labels entry ${JSON.stringify(p)}: want key=value`, EXIT.USAGE);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** Parses `Name: value`. @throws CliError (64) when there is no colon or the name is not an HTTP token. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':', text.startsWith(':') ? 1 : 0);
  if (colon <= 0) throw new CliError(`bad header ${JSON.stringify(text)}: want 'Name: value'`, EXIT.USAGE);
  const name = text.slice(0, colon).trim();
  if (!HEADER_NAME.test(name)) throw new CliError(`bad header name ${JSON.stringify(name)}`, EXIT.USAGE);
  return [name, text.slice(colon + 1).trim()];
}

/** Resolves a source IP to a registry workload (WorkloadEntry, ServiceEntry endpoint, Pod), as the proxy does. */
export function workloadByIp(
  registry: Registry,
  ip: string,
): { labels: Record<string, string>; namespace: string; name: string; kind: string } | null {
  for (const kind of ['WorkloadEntry', 'Pod', 'ServiceEntryEndpoint'] as const) {
    const w = registry.workloads.find((x) => x.kind === kind && x.addresses.includes(ip));
    if (w) return { labels: { ...w.labels }, namespace: w.namespace, name: w.name, kind: w.kind };
  }
  return null;
}

/**
 * Parses the URL and flags into a request. The authority is kept as written (letter case and port); `-H Host:`
 * overrides it. @throws CliError (64) for a bad URL, header, label list or port.
 */
export function parseRequest(opts: ExplainOptions, registry: Registry): ExplainRequest {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(opts.url);
  let valid = m !== null;
  if (m) {
    try {
      new URL(opts.url);
    } catch {
      valid = false;
    }
  }
  if (!m || !valid || m[2] === '') throw new CliError(`bad URL ${JSON.stringify(opts.url)}`, EXIT.USAGE);
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https')
    throw new CliError(`bad URL ${JSON.stringify(opts.url)}: scheme must be http or https`, EXIT.USAGE);
  let authority = m[2]!.includes('@') ? m[2]!.slice(m[2]!.lastIndexOf('@') + 1) : m[2]!;
  let path = m[3]! === '' ? '/' : m[3]!;
  if (!path.startsWith('/')) path = `/${path}`;
  const urlPort = splitAuthority(authority).port;
  const headers: [string, string][] = [];
  for (const h of opts.headers) {
    const [name, value] = parseHeader(h);
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === ':authority') authority = value;
    else headers.push([name, value]);
  }
  let port = urlPort ?? 80;
  if (opts.port !== undefined) {
    if (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) < 1 || Number(opts.port) > 65535)
      throw new CliError(`bad --port ${JSON.stringify(opts.port)}`, EXIT.USAGE);
    port = Number(opts.port);
  }
  const method = opts.method.trim() === '' ? 'GET' : opts.method;
  let labels = opts.sourceLabels !== undefined ? parseLabels(opts.sourceLabels) : null;
  let namespace = opts.sourceNamespace ?? null;
  let workload: string | null = null;
  let sourceFrom = labels || namespace ? 'flags' : 'unknown';
  const ip = opts.sourceIp ?? null;
  if (ip !== null && labels === null && namespace === null) {
    const w = workloadByIp(registry, ip);
    if (w) {
      labels = w.labels;
      namespace = w.namespace;
      workload = w.name;
      sourceFrom = `registry:${w.kind} ${w.namespace}/${w.name}`;
    } else sourceFrom = 'unknown (no workload has this address)';
  }
  return {
    scheme,
    authority,
    method,
    path,
    port,
    headers,
    source: { labels: labels ?? {}, namespace, workload, ip },
    sourceFrom,
  };
}

const opsJson = (o: HeaderOps): HeaderOpsJson => ({
  set: Object.fromEntries(o.set),
  add: Object.fromEntries(o.add),
  remove: [...o.remove],
});

function retriesJson(r: RetryPolicy | null): ExplainResult['retries'] {
  if (!r) return null;
  return {
    attempts: r.attempts,
    retryOn: r.retryOn.join(','),
    retriableStatusCodes: [...r.retriableStatusCodes],
    perTryTimeout: r.perTryTimeoutMs === null ? null : formatDurationMs(r.perTryTimeoutMs),
    retryIgnorePreviousHosts: r.retryIgnorePreviousHosts,
    retryRemoteLocalities: r.retryRemoteLocalities,
    backoff: formatDurationMs(r.backoffBaseMs),
    isDefault: r.isDefault,
  };
}

/** The port a destination's cluster uses (§2): explicit, else the service's only port, else the request port. */
function destinationPort(table: RouteTable, host: string, explicit: number | null, requestPort: number): number {
  if (explicit !== null) return explicit;
  const svc = findService(table.snapshot.registry, host);
  return svc && svc.ports.length === 1 ? svc.ports[0]!.number : requestPort;
}

/** Runs the engine on a parsed request and builds the result. Pure apart from `rng`. */
export function explainRequest(
  snapshot: ConfigSnapshot,
  req: ExplainRequest,
  proxy: { gateway: string | null; namespace: string },
  rng: () => number = Math.random,
): ExplainResult {
  const table = compileRouteTable(snapshot, {
    gateway: proxy.gateway,
    namespace: proxy.namespace,
    labels: proxy.gateway === null && Object.keys(req.source.labels).length > 0 ? req.source.labels : null,
  });
  const facts: RequestFacts = createFacts({
    authority: req.authority,
    method: req.method,
    path: req.path,
    scheme: req.scheme,
    port: req.port,
    headers: req.headers,
    source: req.source,
  });
  const trace: TraceStep[] = [];
  const d = decide(table, facts, { rng, trace });
  const host = splitAuthority(req.authority).host.toLowerCase().replace(/\.$/, '');
  const result: ExplainResult = {
    request: {
      scheme: req.scheme,
      authority: req.authority,
      method: req.method,
      path: req.path,
      port: req.port,
      headers: req.headers,
      source: {
        labels: { ...req.source.labels },
        namespace: req.source.namespace,
        ip: req.source.ip,
        workload: req.source.workload,
      },
      sourceFrom: req.sourceFrom,
    },
    proxy,
    host,
    virtualHost: null,
    virtualService: null,
    delegate: null,
    action: d.action,
    status: null,
    responseFlags: null,
    route: null,
    destinations: [],
    pick: null,
    hashPolicy: [],
    mirrors: [],
    timeout: null,
    retries: null,
    fault: null,
    rewrite: null,
    redirect: null,
    directResponse: null,
    headers: null,
    corsPolicy: null,
    trace,
  };
  if (d.action === 'notFound') {
    result.status = 404;
    result.responseFlags = 'NR';
    const vh = d.vhost ?? table.virtualHost(host, { source: facts.source, port: facts.port });
    result.virtualHost = vh?.host ?? null;
    const vs = vh?.virtualService;
    if (vs?.name) {
      result.virtualService = { name: vs.name, namespace: vs.namespace };
      if (d.vhost) markUnreachable(trace, snapshot, vs);
    }
    return result;
  }
  const vs = d.vhost.virtualService;
  result.virtualHost = d.vhost.host;
  if (vs?.name) {
    result.virtualService = { name: vs.name, namespace: vs.namespace };
    markUnreachable(trace, snapshot, vs);
  }
  const route: CompiledRoute = d.route;
  if (route.delegateIndex !== null)
    result.delegate = { name: route.virtualService.name, namespace: route.virtualService.namespace };
  const m = route.matches[d.matchIndex];
  result.route = {
    name: route.name,
    index: route.index,
    matchIndex: m && m.index >= 0 ? m.index : null,
    delegateIndex: route.delegateIndex,
  };
  if (route.headers)
    result.headers = {
      request: opsJson(route.headers.request),
      response: opsJson(route.headers.response),
      authority: route.headers.authority,
    };
  result.corsPolicy = (route.source.corsPolicy as Record<string, unknown> | undefined) ?? null;
  if (d.action === 'redirect') {
    result.status = d.status;
    result.redirect = { status: d.status, location: d.location };
    return result;
  }
  if (d.action === 'directResponse') {
    result.status = d.status;
    result.directResponse = { status: d.status, body: d.body };
    return result;
  }
  // route or clusterNotFound: list every destination with its share and cluster.
  if (route.action.type === 'route') {
    const total = route.action.totalWeight;
    const pickedIndex = d.destinationIndex;
    result.destinations = route.action.destinations.map((dest, i) => {
      const port = destinationPort(table, dest.host, dest.port, req.port);
      const cluster = table.cluster(dest.host, dest.subset, dest.port, req.port);
      return {
        host: dest.host,
        subset: dest.subset,
        port,
        weight: dest.weight,
        percent: total > 0 ? Math.round((dest.weight / total) * 1e6) / 1e4 : 0,
        cluster: cluster?.name ?? `outbound|${port}|${dest.subset ?? ''}|${dest.host}`,
        clusterExists: cluster !== null,
        picked: i === pickedIndex,
        endpoints: cluster ? cluster.endpoints.map((e) => e.key) : [],
        trafficPolicy: (cluster?.policy.trafficPolicy as Record<string, unknown> | null) ?? null,
        requestHeaders: dest.requestHeaders.map(opsJson),
        responseHeaders: dest.responseHeaders.map(opsJson),
        authority: dest.authority,
      };
    });
    result.pick = d.action === 'route' ? d.pick : route.action.destinations.length > 1 ? 'random' : 'single';
  }
  result.hashPolicy = hashPolicyJson(d.action === 'route' ? d.hashPolicies : route.hashPolicies);
  result.mirrors = route.mirrors.map((mp) => {
    const port = destinationPort(table, mp.host, mp.port, req.port);
    return {
      host: mp.host,
      subset: mp.subset,
      port,
      percent: mp.percent,
      cluster: `outbound|${port}|${mp.subset ?? ''}|${mp.host}`,
    };
  });
  result.timeout = route.timeoutMs === null ? null : formatDurationMs(route.timeoutMs);
  result.retries = retriesJson(route.retries);
  if (route.fault)
    result.fault = {
      delay: route.fault.delay
        ? { fixedDelay: formatDurationMs(route.fault.delay.fixedDelayMs), percent: route.fault.delay.percent }
        : null,
      abort: route.fault.abort ? { ...route.fault.abort } : null,
    };
  if (route.rewrite)
    result.rewrite = {
      uri: route.rewrite.uri,
      uriRegexRewrite: route.rewrite.uriRegex,
      authority: route.rewrite.authority,
      path: rewritePath(route, d.matchIndex, req.path),
    };
  if (d.action === 'clusterNotFound') {
    result.status = 503;
    result.responseFlags = 'NC';
  }
  // The fault filter runs before the router: a 100 % abort answers every request (gRPC aborts answer HTTP 200).
  const abort = route.fault?.abort;
  if (abort && abort.percent >= 100) {
    result.status = abort.httpStatus ?? 200;
    result.responseFlags = 'FI';
    trace.push({
      step: 'fault',
      message: `fault abort at 100 %: weir answers ${abort.httpStatus ?? `grpc-status ${abort.grpcStatus}`} (FI) before routing`,
    });
  }
  return result;
}

/** Marks the routes of `vs` that IST0130 reports as never reachable (see {@link markUnreachableRoutes}). */
function markUnreachable(
  trace: TraceStep[],
  snapshot: ConfigSnapshot,
  vs: { name: string; namespace: string; spec: { http?: readonly ({ name?: string } | null)[] } },
): void {
  const routeNames = (vs.spec.http ?? []).map((h) => h?.name ?? null);
  markUnreachableRoutes(trace, snapshot.diagnostics, { name: vs.name, namespace: vs.namespace, routeNames });
}

/** Renders the result as a readable trace. */
export function formatExplainText(r: ExplainResult): string {
  const out: string[] = [];
  const src = r.request.source;
  const labels = Object.entries(src.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  out.push(`Request:  ${r.request.method} ${r.request.scheme}://${r.request.authority}${r.request.path}`);
  out.push(`          port ${r.request.port}${r.request.headers.map(([k, v]) => `\n          ${k}: ${v}`).join('')}`);
  out.push(
    `Source:   ${labels || '(no labels)'}${src.namespace ? ` ns=${src.namespace}` : ''}${src.ip ? ` ip=${src.ip}` : ''} [${r.request.sourceFrom}]`,
  );
  out.push(`Proxy:    ${r.proxy.gateway ? `gateway ${r.proxy.gateway}` : 'sidecar'} in namespace ${r.proxy.namespace}`);
  out.push(
    `Host:     ${r.host}${r.virtualHost && r.virtualHost !== r.host ? ` → ${r.virtualHost}` : ''} — VirtualService ${
      r.virtualService
        ? `${r.virtualService.namespace}/${r.virtualService.name}`
        : r.trace.some((t) => t.step === 'virtualService')
          ? '(none applied for this request: see the trace)'
          : '(none)'
    }${r.delegate ? ` delegate ${r.delegate.namespace}/${r.delegate.name}` : ''}`,
  );
  out.push('');
  out.push('Trace:');
  for (const t of r.trace) {
    const mark = t.step === 'unreachable' ? '⊘' : t.matched === undefined ? '·' : t.matched ? '✔' : '✘';
    const where = t.route
      ? `route[${t.route.index}]${t.route.delegateIndex !== undefined ? `→delegate[${t.route.delegateIndex}]` : ''}${t.route.name ? ` ${t.route.name}` : ''} `
      : '';
    out.push(`  ${mark} ${where}${t.message}`);
  }
  out.push('');
  const flags = r.responseFlags ? ` (${r.responseFlags})` : '';
  switch (r.action) {
    case 'notFound':
      out.push(`Result:   404 Not Found${flags}: no route for this request`);
      break;
    case 'redirect':
      out.push(`Result:   redirect ${r.redirect?.status} → ${r.redirect?.location}`);
      break;
    case 'directResponse':
      out.push(
        `Result:   direct response ${r.directResponse?.status}${r.directResponse?.body ? ` body ${JSON.stringify(r.directResponse.body)}` : ''}`,
      );
      break;
    default:
      out.push(
        `Result:   ${r.action === 'clusterNotFound' ? `503${flags} cluster not found` : r.status !== null ? `${r.status}${flags} answered by weir` : 'forward upstream'} via route[${r.route?.index}]${r.route?.name ? ` "${r.route.name}"` : ''}${r.route?.matchIndex !== null && r.route?.matchIndex !== undefined ? ` match[${r.route.matchIndex}]` : ''}`,
      );
  }
  if (r.destinations.length > 0) {
    out.push(
      r.pick === 'random'
        ? 'Destinations (weighted split: Envoy draws one at random per request, by weight; → marks the draw of this run only):'
        : r.pick === 'hash'
          ? "Destinations (sticky split: → is the one this request's hash key chooses):"
          : 'Destinations:',
    );
    for (const d of r.destinations) {
      const mark = d.picked ? (r.pick === 'random' ? '  ← random pick of this run' : '') : '';
      out.push(
        `  ${d.picked ? '→' : ' '} ${d.percent}% ${d.host}${d.subset ? ` subset ${d.subset}` : ''} port ${d.port}  [${d.cluster}${d.clusterExists ? '' : ' — does not exist: 503 NC'}]${mark}`,
      );
      if (d.clusterExists)
        out.push(`      endpoints: ${d.endpoints.length > 0 ? d.endpoints.join(', ') : '(none: 503 UH)'}`);
      out.push(`      trafficPolicy: ${d.trafficPolicy ? JSON.stringify(d.trafficPolicy) : '(none: Istio defaults)'}`);
      for (const [i, ops] of d.requestHeaders.entries())
        out.push(`      request headers (${i + 1}): ${JSON.stringify(ops)}`);
      for (const [i, ops] of d.responseHeaders.entries())
        out.push(`      response headers (${i + 1}): ${JSON.stringify(ops)}`);
      if (d.authority) out.push(`      authority rewrite: ${d.authority}`);
    }
  }
  if (r.action === 'route' || r.action === 'clusterNotFound') {
    out.push('Policies:');
    out.push(`  timeout: ${r.timeout ?? 'disabled (Istio default)'}`);
    const rt = r.retries;
    out.push(
      `  retries: ${
        rt
          ? `${rt.attempts} attempt(s) on ${rt.retryOn}${rt.retriableStatusCodes.length ? ` codes ${rt.retriableStatusCodes.join(',')}` : ''}${rt.perTryTimeout ? `, perTryTimeout ${rt.perTryTimeout}` : ''}, backoff ${rt.backoff}, previous_hosts ${rt.retryIgnorePreviousHosts ? 'on' : 'off'}${rt.isDefault ? " (Istio's default policy)" : ''}`
          : 'none (attempts: 0)'
      }`,
    );
    if (r.hashPolicy.length > 0)
      out.push(`  hash policy (consistentHash, endpoint pick): ${r.hashPolicy.map(describeHashPolicy).join(' + ')}`);
    out.push(
      `  mirrors: ${r.mirrors.length ? r.mirrors.map((m) => `${m.percent}% → ${m.cluster}`).join('; ') : 'none'}`,
    );
    const f = r.fault;
    out.push(
      `  fault: ${
        f
          ? [
              f.delay ? `delay ${f.delay.fixedDelay} on ${f.delay.percent}%` : '',
              f.abort ? `abort ${f.abort.httpStatus ?? f.abort.grpcStatus} on ${f.abort.percent}%` : '',
            ]
              .filter(Boolean)
              .join(', ')
          : 'none'
      }`,
    );
    if (r.rewrite)
      out.push(
        `  rewrite: ${r.rewrite.uri !== null ? `uri ${r.rewrite.uri}` : ''}${r.rewrite.uriRegexRewrite ? `regex ${r.rewrite.uriRegexRewrite.match} → ${r.rewrite.uriRegexRewrite.rewrite}` : ''}${r.rewrite.authority ? ` authority ${r.rewrite.authority}` : ''} (upstream path ${r.rewrite.path})`,
      );
  }
  if (r.headers) out.push(`  headers: ${JSON.stringify(r.headers)}`);
  if (r.corsPolicy) out.push(`  corsPolicy: ${JSON.stringify(r.corsPolicy)}`);
  return `${out.join('\n')}\n`;
}

/** Runs the command; returns the exit code (0 decision made, 64 bad usage, 79 config errors). */
export async function runExplain(opts: ExplainOptions): Promise<number> {
  if (opts.files.length === 0) throw new CliError('no configuration: give -f FILE or directory', EXIT.USAGE);
  if (opts.gateway !== undefined && !/^[^/\s]+\/[^/\s]+$/.test(opts.gateway))
    throw new CliError(`bad --gateway ${JSON.stringify(opts.gateway)}: want NAMESPACE/NAME`, EXIT.USAGE);
  // Usage errors (URL, headers, labels, port) come before reading the configuration.
  parseRequest(opts, { services: [], byHost: new Map(), wildcardServices: [], workloads: [], clusterDomain: '' });
  const snapshot = await loadSnapshot(opts.files, { fieldValidation: opts.fieldValidation ?? 'strict' });
  // Syntax, schema and webhook errors make the configuration unusable (istiod would refuse it): exit 79. Analyzer
  // findings (a missing subset, two VirtualServices for a host, …) are what Istio would still serve, so they are
  // printed and the request is explained as Istio would handle it (e.g. 503 NC for a missing subset).
  const rejections = snapshot.diagnostics.filter(isRejection);
  if (rejections.length > 0) {
    printDiagnostics(rejections, process.stderr);
    process.stderr.write(
      `weir: the configuration has ${rejections.length} error(s) istiod would reject; fix them first (weir validate)\n`,
    );
    return EXIT.ANALYSIS;
  }
  const findings = snapshot.diagnostics.filter((d) => LEVEL_RANK[d.level] >= LEVEL_RANK.warning);
  if (findings.length > 0) printDiagnostics(findings, process.stderr);
  const req = parseRequest(opts, snapshot.registry);
  const proxy = { gateway: opts.gateway ?? null, namespace: opts.namespace ?? req.source.namespace ?? 'default' };
  const result = explainRequest(snapshot, req, proxy, opts.rng);
  process.stdout.write(opts.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatExplainText(result));
  return EXIT.OK;
}
