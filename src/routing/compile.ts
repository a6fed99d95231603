import { byCreation, isExportedTo } from '../config/destination-rules.ts';
import { appliesToMesh, gatewayFullName } from '../config/gateways.ts';
import { hostMatches, hostSpecificity, isWildcard, resolveHost } from '../config/hosts.ts';
import { findService, type Service } from '../config/registry.ts';
import type { DestinationRule, VirtualService } from '../config/resources.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { runToEnd, type Steps } from '../util/slice.ts';
import { compileVirtualServiceRoutes, defaultRoute } from './compile-route.ts';
import { buildVirtualHost, type HostSpec, hasSelectors, SelectiveHostImpl } from './host-view.ts';
import {
  changesBetween,
  type Dependency,
  isEndpointOnlyChange,
  recording,
  sameRules,
  snapshotLookups,
  stillValid,
} from './lookups.ts';
import { RouteTable } from './route-table.ts';
import type { CompiledRoute, HostEntry, ProxyMode, VirtualHost } from './types.ts';

let versionCounter = 0;

/**
 * Builds the route table for a proxy.
 * @param mode sidecar (`gateway: null`) or gateway (`ns/name`), and the proxy's namespace (and labels, for
 *   workloadSelector DestinationRules).
 * @param previous the table this proxy serves now, if any: what was compiled from objects that did not change is
 *   reused (see the module comment). The result is the same as without it.
 */
export function compileRouteTable(
  snapshot: ConfigSnapshot,
  mode: ProxyMode,
  previous: RouteTable | null = null,
): RouteTable {
  return runToEnd(compileRouteTableSteps(snapshot, mode, previous));
}

/** What a table remembers for the next compile of the same proxy. */
export interface CompileMemo {
  /** Compiled routes per VirtualService object, with the reads they depend on. */
  routes: Map<VirtualService, { routes: CompiledRoute[]; deps: Dependency[] }>;
  /** Istio's default virtual host per registry service object, with the DestinationRules its hash policy read. */
  defaults: Map<Service, { vhost: VirtualHost; rules: readonly DestinationRule[] | null }>;
}

/** Same proxy identity (a table compiled for another proxy cannot be reused). */
function sameMode(a: ProxyMode, b: ProxyMode): boolean {
  return (
    a.gateway === b.gateway &&
    a.namespace === b.namespace &&
    JSON.stringify(a.labels ?? null) === JSON.stringify(b.labels ?? null)
  );
}

/** {@link compileRouteTable} as steps (`util/slice.ts`): a pause point after each VirtualService and host. */
export function* compileRouteTableSteps(
  snapshot: ConfigSnapshot,
  mode: ProxyMode,
  previous: RouteTable | null,
): Steps<RouteTable> {
  /** Pause points are offered every few units (a generator step costs more than one unit here). */
  let stepCount = 0;
  const reuse =
    previous && sameMode(previous.mode, mode) && previous.snapshot.clusterDomain === snapshot.clusterDomain
      ? previous
      : null;
  const oldMemo = reuse?.memo ?? null;
  const memo: CompileMemo = { routes: new Map(), defaults: new Map() };
  const lookups = snapshotLookups(snapshot, mode);
  if (reuse && isEndpointOnlyChange(reuse.snapshot, snapshot)) {
    // Envoy's EDS update: the routes stay as they are (the same host entries); clusters of the services whose
    // endpoints changed are rebuilt on use, the others adopted.
    const table = new RouteTable(snapshot, mode, reuse.exact, reuse.wildcards, ++versionCounter, reuse.memo);
    yield* table.adoptClusters(reuse, lookups, () => false);
    return table;
  }
  const changes = reuse ? changesBetween(reuse.snapshot, snapshot) : undefined;
  yield;
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
  yield;
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
    if ((++stepCount & 255) === 0) yield;
  }

  const routesOf = (vs: VirtualService): CompiledRoute[] => {
    const done = memo.routes.get(vs);
    if (done) return done.routes;
    const before = oldMemo?.routes.get(vs);
    if (before && stillValid(before.deps, lookups, changes)) {
      memo.routes.set(vs, before);
      return before.routes;
    }
    const deps: Dependency[] = [];
    const routes = compileVirtualServiceRoutes(vs, recording(lookups, deps), domain, mode, vsGateways(vs));
    memo.routes.set(vs, { routes, deps });
    return routes;
  };
  const visible = (svc: Service | null): Service | null =>
    svc && !isWildcard(svc.hostname) && isExportedTo(svc.exportTo, svc.namespace, mode.namespace) ? svc : null;
  const defaultHost = (svc: Service): VirtualHost => {
    const done = memo.defaults.get(svc);
    if (done) return done.vhost;
    const before = oldMemo?.defaults.get(svc);
    if (before && changes && !changes.destinationRule(svc.hostname)) {
      memo.defaults.set(svc, before);
      return before.vhost;
    }
    const dr = lookups.destinationRule(svc.hostname, svc.namespace);
    const rules = dr?.sources ?? null;
    if (before && sameRules(before.rules, rules)) {
      memo.defaults.set(svc, before);
      return before.vhost;
    }
    const vhost: VirtualHost = {
      host: svc.hostname,
      virtualService: null,
      delegates: [],
      service: svc,
      routes: [defaultRoute(svc, dr)],
      port80Only: false,
    };
    memo.defaults.set(svc, { vhost, rules });
    return vhost;
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
    if ((++stepCount & 15) === 0) yield;
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
      if ((++stepCount & 15) === 0) yield;
    }
  }

  const exact = new Map<string, HostEntry>();
  const wildcards: HostEntry[] = [];
  for (const spec of specs.values()) {
    const entry: HostEntry | null = hasSelectors(spec) ? new SelectiveHostImpl(spec) : buildVirtualHost(spec, null);
    if (!entry) continue;
    if (isWildcard(spec.host)) wildcards.push(entry);
    else exact.set(spec.host, entry);
    if ((++stepCount & 63) === 0) yield;
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
      if ((++stepCount & 255) === 0) yield;
    }
  }
  const table = new RouteTable(snapshot, mode, exact, wildcards, ++versionCounter, memo);
  if (reuse) yield* table.adoptClusters(reuse, lookups, changes ? (h) => changes.destinationRule(h) : undefined);
  return table;
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

export { DEFAULT_RETRY_ON, defaultRetryPolicy, STICKY_SPLIT_ANNOTATION, toRe2jsReplacement } from './compile-route.ts';
export { RouteTable } from './route-table.ts';
