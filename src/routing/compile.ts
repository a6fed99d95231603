/**
 * Compiles a {@link ConfigSnapshot} into an immutable {@link RouteTable} for one proxy (sidecar or gateway):
 * virtual hosts by domain (exact names, Istio's short-name aliases, wildcards by specificity), each with its
 * ordered, precompiled routes (istio-semantics §1–§7), and clusters built on first use and cached
 * (`outbound|<port>|<subset>|<host>`, with the effective DestinationRule policy of §8.2). Pure: no I/O.
 */

import { RE2JS } from 're2js';
import { byCreation, isExportedTo, type MergedDestinationRule } from '../config/destination-rules.ts';
import { appliesToMesh, gatewayFullName } from '../config/gateways.ts';
import { hostMatches, hostSpecificity, isWildcard, resolveHost } from '../config/hosts.ts';
import type { CorsPolicy, HeaderOperations, Headers, HTTPRoute, StringMatch } from '../config/istio/schemas.ts';
import { findService, labelsMatch, type Service } from '../config/registry.ts';
import type { VirtualService } from '../config/resources.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { parseDurationMs } from '../util/duration.ts';
import { mergeDelegateRoutes } from './delegate.ts';
import { buildVirtualHost, type HostSpec, hasSelectors, SelectiveHostImpl } from './host-view.ts';
import { compileMatch, type MatchContext } from './request-match.ts';
import { compileStringMatch } from './string-match.ts';
import { clusterPolicy, hashPolicyForDestination, hashPolicyForService } from './traffic-policy.ts';
import type {
  Cluster,
  ClusterEndpoint,
  CompiledDestination,
  CompiledMatch,
  CompiledRoute,
  CorsPolicyCompiled,
  FaultPolicy,
  HashPolicy,
  HeaderOps,
  HostEntry,
  MirrorPolicy,
  ProxyMode,
  RedirectPolicy,
  RetryPolicy,
  RewritePolicy,
  RouteAction,
  SourceIdentity,
  VirtualHost,
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
export class RouteTable {
  /** Exact domain → host entry (lower-case, no port). */
  readonly exact: ReadonlyMap<string, HostEntry>;
  /** Wildcard host entries, most specific first. */
  readonly wildcards: readonly HostEntry[];
  readonly mode: ProxyMode;
  readonly snapshot: ConfigSnapshot;
  /** Monotonic version of the config this table was built from. */
  readonly version: number;
  private readonly clusters = new Map<string, Cluster | null>();

  constructor(
    snapshot: ConfigSnapshot,
    mode: ProxyMode,
    exact: Map<string, HostEntry>,
    wildcards: HostEntry[],
    version: number,
  ) {
    this.snapshot = snapshot;
    this.mode = mode;
    this.exact = exact;
    this.wildcards = wildcards;
    this.version = version;
  }

  /**
   * The entries that may serve a host name (lower-case, port removed), in the order Envoy's domain matching tries
   * them: the exact entry, else every matching wildcard, most specific first. Empty → 404 NR.
   */
  hostEntries(host: string): HostEntry[] {
    const v = this.exact.get(host);
    if (v) return [v];
    return this.wildcards.filter((w) => hostMatches(w.host, host));
  }

  /**
   * The virtual host for a host name (lower-case, port removed), or null (→ 404 NR). With `source` and `port`, as a
   * request from that workload on that port gets it (config-time selectors applied, `host-view.ts`). Without them, a
   * host whose routes depend on the source gives its first VirtualService's virtual host with every block.
   */
  virtualHost(host: string, client?: { source: SourceIdentity; port: number }): VirtualHost | null {
    for (const e of this.hostEntries(host)) {
      const v =
        e.selective !== true ? e : client ? e.resolve(client.source, client.port) : (e.alternatives()[0] ?? null);
      if (v) return v;
    }
    return null;
  }

  /** Every virtual host (exact first, then wildcards, each selective host's alternatives), without duplicates. */
  virtualHosts(): VirtualHost[] {
    const out = new Set<VirtualHost>();
    for (const e of [...this.exact.values(), ...this.wildcards]) {
      if (e.selective !== true) out.add(e);
      else for (const v of e.alternatives()) out.add(v);
    }
    return [...out];
  }

  /** Every cluster built so far. */
  builtClusters(): Cluster[] {
    return [...this.clusters.values()].filter((c): c is Cluster => c !== null);
  }

  /**
   * The cluster for a destination, or null when it does not exist (unknown host, a port the service does not have,
   * or a subset no DestinationRule defines: Envoy answers 503 NC). Port: explicit, else the service's only port,
   * else the request port (§2). Istio builds one cluster per service port, so other ports have none.
   */
  cluster(host: string, subset: string | null, explicitPort: number | null, requestPort: number): Cluster | null {
    const svc = findService(this.snapshot.registry, host);
    if (!svc) return null;
    const port = explicitPort ?? (svc.ports.length === 1 ? svc.ports[0]!.number : requestPort);
    if (!svc.ports.some((p) => p.number === port)) return null;
    const name = `outbound|${port}|${subset ?? ''}|${host}`;
    const hit = this.clusters.get(name);
    if (hit !== undefined) return hit;
    const built = this.buildCluster(name, host, svc, subset, port);
    this.clusters.set(name, built);
    return built;
  }

  /** The merged DestinationRule for a host as seen by this proxy. */
  destinationRule(host: string, svc: Service | null): MergedDestinationRule | null {
    return this.snapshot.destinationRuleIndex.lookup(
      host,
      { namespace: this.mode.namespace, labels: this.mode.labels ?? null },
      svc?.namespace ?? null,
    );
  }

  private buildCluster(name: string, host: string, svc: Service, subset: string | null, port: number): Cluster | null {
    const dr = this.destinationRule(host, svc);
    let selector: Readonly<Record<string, string>> | null = null;
    if (subset !== null) {
      const s = dr?.subsets.get(subset);
      if (!s) return null;
      selector = s.labels ?? {};
    }
    const endpoints: ClusterEndpoint[] = [];
    for (const ep of svc.endpoints) {
      if (selector && !labelsMatch(selector, ep.labels)) continue;
      const target = ep.ports.get(port);
      if (target === undefined) continue;
      const key = ep.address.includes(':') ? `[${ep.address}]:${target}` : `${ep.address}:${target}`;
      endpoints.push({
        address: ep.address,
        port: target,
        key,
        weight: ep.weight,
        locality: ep.locality,
        labels: ep.labels,
        endpoint: ep,
      });
    }
    return { name, host, subset, port, service: svc, endpoints, policy: clusterPolicy(dr, subset, port) };
  }
}

let versionCounter = 0;

/**
 * Builds the route table for a proxy.
 * @param mode sidecar (`gateway: null`) or gateway (`ns/name`), and the proxy's namespace (and labels, for
 *   workloadSelector DestinationRules).
 */
export function compileRouteTable(snapshot: ConfigSnapshot, mode: ProxyMode): RouteTable {
  const domain = snapshot.clusterDomain;
  const gatewayMode = mode.gateway !== null;
  const vsGateways = (vs: VirtualService): string[] => {
    const g = vs.spec.gateways ?? [];
    return g.length === 0 ? ['mesh'] : g.map((x) => gatewayFullName(x, vs.namespace));
  };
  const applies = (vs: VirtualService): boolean => {
    if ((vs.spec.hosts ?? []).length === 0) return false; // delegates are reached only through a root
    if (gatewayMode) return vsGateways(vs).includes(mode.gateway!);
    return appliesToMesh(vs) && isExportedTo(vs.spec.exportTo, vs.namespace, mode.namespace);
  };
  const selected = snapshot.virtualServices.filter(applies).sort(byCreation);
  const gatewayHosts = gatewayMode ? gatewayHostFilter(snapshot, mode.gateway!) : null;

  // host → VirtualServices in order.
  const byHost = new Map<string, VirtualService[]>();
  for (const vs of selected) {
    for (const h of vs.spec.hosts ?? []) {
      const host = resolveHost(h, vs.namespace, domain);
      if (gatewayHosts && !gatewayHosts(host, vs.namespace)) continue;
      const list = byHost.get(host) ?? [];
      if (!list.includes(vs)) list.push(vs);
      byHost.set(host, list);
    }
  }

  const compiledFor = new Map<VirtualService, CompiledRoute[]>();
  const routesOf = (vs: VirtualService): CompiledRoute[] => {
    let r = compiledFor.get(vs);
    if (!r) {
      r = compileVirtualServiceRoutes(vs, snapshot, mode, vsGateways(vs));
      compiledFor.set(vs, r);
    }
    return r;
  };
  const visible = (svc: Service | null): Service | null =>
    svc && !isWildcard(svc.hostname) && isExportedTo(svc.exportTo, svc.namespace, mode.namespace) ? svc : null;
  const defaultHosts = new Map<Service, VirtualHost>();
  const defaultHost = (svc: Service): VirtualHost => {
    let v = defaultHosts.get(svc);
    if (!v) {
      const dr = snapshot.destinationRuleIndex.lookup(
        svc.hostname,
        { namespace: mode.namespace, labels: mode.labels ?? null },
        svc.namespace,
      );
      v = {
        host: svc.hostname,
        virtualService: null,
        delegates: [],
        service: svc,
        routes: [defaultRoute(svc, dr)],
        port80Only: false,
      };
      defaultHosts.set(svc, v);
    }
    return v;
  };

  // Sidecars: the oldest VirtualService with a route left for the client wins the host, else the next one, else
  // Istio's default route for a registry service. Gateways: the routes of every VirtualService, catch-alls last.
  const specs = new Map<string, HostSpec>();
  for (const [host, list] of byHost) {
    const svc = isWildcard(host) ? null : findService(snapshot.registry, host);
    const defaultFor = gatewayMode ? null : visible(svc);
    specs.set(host, {
      host,
      candidates: list.map((vs) => ({ vs, routes: routesOf(vs) })),
      concatenate: gatewayMode,
      service: svc,
      port80Only: !gatewayMode && svc === null && !isWildcard(host),
      fallback: defaultFor ? defaultHost(defaultFor) : null,
    });
  }
  const wildcardSpecs = [...specs.values()]
    .filter((sp) => isWildcard(sp.host))
    .sort((a, b) => hostSpecificity(b.host) - hostSpecificity(a.host));

  // Sidecars also route to every registry service: attached to the first VirtualService of the most specific
  // wildcard host that matches it (istio `MostSpecificWildcardVirtualServiceIndex`), or Istio's default route.
  if (!gatewayMode) {
    for (const svc of snapshot.registry.services) {
      if (specs.has(svc.hostname) || !visible(svc)) continue;
      const wild = wildcardSpecs.find((w) => hostMatches(w.host, svc.hostname));
      specs.set(svc.hostname, {
        host: svc.hostname,
        candidates: wild ? wild.candidates.slice(0, 1) : [],
        concatenate: false,
        service: svc,
        port80Only: false,
        fallback: defaultHost(svc),
      });
    }
  }

  const exact = new Map<string, HostEntry>();
  const wildcards: HostEntry[] = [];
  for (const spec of specs.values()) {
    const entry: HostEntry | null = hasSelectors(spec) ? new SelectiveHostImpl(spec) : buildVirtualHost(spec, null);
    if (!entry) continue;
    if (isWildcard(spec.host)) wildcards.push(entry);
    else exact.set(spec.host, entry);
  }
  wildcards.sort((a, b) => hostSpecificity(b.host) - hostSpecificity(a.host));

  if (!gatewayMode) {
    // Istio's alias domains for Kubernetes-style names: name.ns, name.ns.svc, and the bare name in the proxy's namespace.
    const suffix = `.svc.${domain}`;
    for (const [host, entry] of [...exact]) {
      if (!host.endsWith(suffix)) continue;
      const nameNs = host.slice(0, -suffix.length);
      const parts = nameNs.split('.');
      if (parts.length !== 2) continue;
      for (const alias of [nameNs, `${nameNs}.svc`, ...(parts[1] === mode.namespace ? [parts[0]!] : [])]) {
        if (!exact.has(alias)) exact.set(alias, entry);
      }
    }
  }
  return new RouteTable(snapshot, mode, exact, wildcards, ++versionCounter);
}

/**
 * On a gateway, a VirtualService host is served only when it matches a host of one of the Gateway's servers
 * (Istio intersects them when it builds the gateway's virtual hosts). Server hosts are `[namespace/]host`, where the
 * namespace part (`*` or absent: any; `.`: the Gateway's own; else that namespace) limits which VirtualServices
 * may bind. Returns null (no filter) when the Gateway resource is not in the configuration, so that a gateway can
 * be run from VirtualServices alone.
 */
function gatewayHostFilter(
  snapshot: ConfigSnapshot,
  gateway: string,
): ((host: string, vsNamespace: string) => boolean) | null {
  const slash = gateway.indexOf('/');
  const gw = snapshot.gateways.find(
    (g) => g.namespace === gateway.slice(0, slash) && g.name === gateway.slice(slash + 1),
  );
  if (!gw) return null;
  const patterns: { ns: string | null; host: string }[] = [];
  for (const server of gw.spec.servers ?? []) {
    for (const h of server.hosts ?? []) {
      const i = h.indexOf('/');
      const ns = i >= 0 ? h.slice(0, i) : '*';
      patterns.push({
        ns: ns === '*' ? null : ns === '.' ? gw.namespace : ns,
        host: (i >= 0 ? h.slice(i + 1) : h).toLowerCase(),
      });
    }
  }
  return (host, vsNamespace) =>
    patterns.some(
      (p) => (p.ns === null || p.ns === vsNamespace) && (hostMatches(p.host, host) || hostMatches(host, p.host)),
    );
}

/**
 * Istio's default route for a service with no VirtualService (`buildSidecarVirtualHostForService`,
 * `BuildDefaultHTTPOutboundRoute`): one destination, default retries (previous_hosts on, even with a hash), no
 * timeout, and the DestinationRule's `consistentHash` as the route's hash policy per port (`hashForService`).
 */
function defaultRoute(svc: Service, dr: MergedDestinationRule | null): CompiledRoute {
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
function compileVirtualServiceRoutes(
  vs: VirtualService,
  snapshot: ConfigSnapshot,
  mode: ProxyMode,
  gateways: string[],
): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  const ctx: MatchContext = { mode, vsGateways: gateways, resolveGateway: (g) => gatewayFullName(g, vs.namespace) };
  (vs.spec.http ?? []).forEach((rule, index) => {
    if (!rule) return;
    if (rule.delegate) {
      const ns = rule.delegate.namespace ?? vs.namespace;
      const delegate = snapshot.virtualServices.find(
        (d) => d.name === rule.delegate?.name && d.namespace === ns && (d.spec.hosts ?? []).length === 0,
      );
      // A missing or unexported delegate drops only this root route (istio/istio virtualservice_controller.go).
      if (!delegate || !isExportedTo(delegate.spec.exportTo, delegate.namespace, vs.namespace)) return;
      for (const { route, delegateIndex } of mergeDelegateRoutes(rule, delegate.spec.http ?? [])) {
        const c = compileRoute(route, index, delegateIndex, delegate, ctx, snapshot, mode);
        if (c) out.push(c);
      }
      return;
    }
    const c = compileRoute(rule, index, null, vs, ctx, snapshot, mode);
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
  snapshot: ConfigSnapshot,
  mode: ProxyMode,
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
  const domain = snapshot.clusterDomain;
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
      const svc = findService(snapshot.registry, host);
      const dr = snapshot.destinationRuleIndex.lookup(
        host,
        { namespace: mode.namespace, labels: mode.labels ?? null },
        svc?.namespace ?? null,
      );
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
