/**
 * The routing decision for one request (istio-semantics §1–§3, §7): virtual host by authority (port ignored; for a
 * host with config-time selectors, the one built for the request's source workload and port), first matching route
 * in order, then the action — a weighted destination (random per request, as Envoy, unless
 * the sticky split is on), a redirect, or a direct response. Pure: randomness comes from the injected `rng`.
 * Called on every request by the data plane and by `weir explain` with a trace.
 */
import { splitAuthority } from '../config/hosts.ts';
import type { RouteTable } from './compile.ts';
import { splitPath } from './request-match.ts';
import { destinationSeed, pickSticky, readCookie, stickyKey } from './sticky.ts';
import type {
  Cluster,
  CompiledDestination,
  CompiledRoute,
  GeneratedCookie,
  HostEntry,
  PathParts,
  RequestFacts,
  RouteDecision,
  TraceStep,
  VirtualHost,
} from './types.ts';

/** Options of {@link decide}. */
export interface DecideOptions {
  /** Uniform random numbers in [0, 1) (weighted split). */
  rng: () => number;
  /** When given, every step of the decision is appended (for `weir explain`). Costs nothing when absent. */
  trace?: TraceStep[];
}

const seedCache = new WeakMap<CompiledRoute, number[]>();
/** Authority as sent → host entries, per table: the host split and lower-cased once per distinct value. */
const vhostCache = new WeakMap<RouteTable, Map<string, { host: string; entries: readonly HostEntry[] }>>();
const VHOST_CACHE_MAX = 4096;
/** Destination → cluster per request port, so that no cluster name is built per request. */
const clusterCache = new WeakMap<RouteTable, WeakMap<CompiledDestination, Map<number, Cluster | null>>>();

function lookupHost(table: RouteTable, authority: string): { host: string; entries: readonly HostEntry[] } {
  let cache = vhostCache.get(table);
  if (!cache) {
    cache = new Map();
    vhostCache.set(table, cache);
  }
  const hit = cache.get(authority);
  if (hit) return hit;
  const lower = splitAuthority(authority).host.toLowerCase();
  const host = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  const entry = { host, entries: table.hostEntries(host) };
  if (cache.size >= VHOST_CACHE_MAX) cache.clear();
  cache.set(authority, entry);
  return entry;
}

function clusterFor(table: RouteTable, dest: CompiledDestination, port: number): Cluster | null {
  let byDest = clusterCache.get(table);
  if (!byDest) {
    byDest = new WeakMap();
    clusterCache.set(table, byDest);
  }
  let byPort = byDest.get(dest);
  if (!byPort) {
    byPort = new Map();
    byDest.set(dest, byPort);
  }
  let c = byPort.get(port);
  if (c === undefined) {
    c = table.cluster(dest.host, dest.subset, dest.port, port);
    byPort.set(port, c);
  }
  return c;
}

/** Decides what to do with a request. Never throws. */
export function decide(table: RouteTable, facts: RequestFacts, opts: DecideOptions): RouteDecision {
  const trace = opts.trace;
  const { host, entries } = lookupHost(table, facts.authority);
  let vhost: VirtualHost | null = null;
  for (let i = 0; i < entries.length && vhost === null; i++) {
    const e = entries[i]!;
    if (e.selective !== true) vhost = e;
    else {
      // Config-time selectors (sourceLabels, sourceNamespace, match.port): the virtual host for this client.
      if (trace) e.traceSelectors(facts.source, facts.port, trace);
      vhost = e.resolve(facts.source, facts.port);
    }
  }
  if (!vhost || (vhost.port80Only && facts.port !== 80)) {
    trace?.push({
      step: 'host',
      message: vhost
        ? `host ${host} has no registry service; Istio serves its VirtualService on port 80 only`
        : entries.length > 0
          ? `no virtual host for ${host} for this source: not a registry service, and no VirtualService applies`
          : `no virtual host for ${host}: not in the registry and no VirtualService`,
    });
    return { action: 'notFound', vhost: null, status: 404, responseFlags: 'NR' };
  }
  if (trace) {
    for (const skipped of vhost.notApplied ?? [])
      trace.push({
        step: 'virtualService',
        message: `VirtualService ${skipped.namespace}/${skipped.name} not applied: none of its routes exists for this proxy (match.gateways names other gateways, or its delegates are missing)`,
      });
    const vs = vhost.virtualService;
    trace.push({
      step: 'host',
      message: vs?.name
        ? `host ${host} → VirtualService ${vs.namespace}/${vs.name} (${vhost.host})`
        : `host ${host} → ${vhost.host}: no VirtualService, Istio's default route`,
    });
  }
  const parts = splitPath(facts.path);
  for (const route of vhost.routes) {
    for (let mi = 0; mi < route.matches.length; mi++) {
      const m = route.matches[mi]!;
      const reason = m.test(facts, parts);
      if (trace) {
        trace.push({
          step: 'match',
          route: {
            name: route.name,
            index: route.index,
            ...(route.delegateIndex !== null ? { delegateIndex: route.delegateIndex } : {}),
          },
          matchIndex: m.index,
          matched: reason === null,
          message:
            reason === null
              ? m.index === -1
                ? 'no match conditions: matches every request'
                : `match[${m.index}] matches`
              : `match[${m.index}]: ${reason}`,
        });
      }
      if (reason === null) return act(table, vhost, route, mi, facts, parts, opts);
    }
  }
  trace?.push({ step: 'route', message: 'no route matched: 404 NR' });
  return { action: 'notFound', vhost, status: 404, responseFlags: 'NR' };
}

function act(
  table: RouteTable,
  vhost: VirtualHost,
  route: CompiledRoute,
  matchIndex: number,
  facts: RequestFacts,
  parts: PathParts,
  opts: DecideOptions,
): RouteDecision {
  const action = route.action;
  if (action.type === 'redirect') {
    const { status, location } = redirectTarget(route, matchIndex, facts, parts);
    opts.trace?.push({ step: 'action', message: `redirect ${status} to ${location}` });
    return { action: 'redirect', vhost, route, matchIndex, status, location };
  }
  if (action.type === 'directResponse') {
    opts.trace?.push({ step: 'action', message: `direct response ${action.status}` });
    return { action: 'directResponse', vhost, route, matchIndex, status: action.status, body: action.body };
  }
  const dests = action.destinations;
  let index = 0;
  let setCookie: GeneratedCookie | null = null;
  let pick: 'single' | 'random' | 'hash' = 'single';
  if (dests.length > 1) {
    let picked = false;
    if (route.stickySplit && route.hashPolicies.length > 0) {
      let seeds = seedCache.get(route);
      if (!seeds) {
        seeds = dests.map(destinationSeed);
        seedCache.set(route, seeds);
      }
      const cookiePolicy = route.hashPolicies.find((p) => p.type === 'cookie');
      let cookieValue: string | undefined;
      if (
        cookiePolicy?.type === 'cookie' &&
        cookiePolicy.ttlMs !== null &&
        readCookie(facts.header('cookie'), cookiePolicy.name) === undefined
      ) {
        cookieValue = Math.floor(opts.rng() * 2 ** 52)
          .toString(16)
          .padStart(13, '0');
        setCookie = {
          name: cookiePolicy.name,
          value: cookieValue,
          path: cookiePolicy.path,
          ttlMs: cookiePolicy.ttlMs,
          attributes: cookiePolicy.attributes,
        };
      }
      const key = stickyKey(route.hashPolicies, facts, (n) => parts.params().get(n), cookieValue);
      if (key !== null) {
        index = pickSticky(key, dests, seeds);
        picked = true;
        pick = 'hash';
        opts.trace?.push({ step: 'destination', message: `sticky split: hash key chose destination ${index}` });
      }
    }
    if (!picked) {
      pick = 'random';
      // Envoy: value % Σw over cumulative intervals in declaration order, with a per-request random value.
      let r = opts.rng() * action.totalWeight;
      index = dests.length - 1;
      for (let i = 0; i < dests.length; i++) {
        r -= dests[i]!.weight;
        if (r < 0) {
          index = i;
          break;
        }
      }
      opts.trace?.push({
        step: 'destination',
        message: `weighted split over ${dests.length} destinations (${dests.map((d) => d.weight).join('/')}): Envoy draws one at random per request; this run drew destination ${index}`,
      });
    }
  }
  const dest = dests[index];
  if (!dest) {
    return {
      action: 'clusterNotFound',
      vhost,
      route,
      matchIndex,
      destinationIndex: 0,
      clusterName: '',
      status: 503,
      responseFlags: 'NC',
    };
  }
  const cluster = clusterFor(table, dest, facts.port);
  if (!cluster) {
    const name = `outbound|${dest.port ?? facts.port}|${dest.subset ?? ''}|${dest.host}`;
    opts.trace?.push({
      step: 'destination',
      message: `cluster ${name} does not exist (unknown host or subset): 503 NC`,
    });
    return {
      action: 'clusterNotFound',
      vhost,
      route,
      matchIndex,
      destinationIndex: index,
      clusterName: name,
      status: 503,
      responseFlags: 'NC',
    };
  }
  opts.trace?.push({
    step: 'destination',
    message: `destination ${describeDestination(dest)} → cluster ${cluster.name} with ${cluster.endpoints.length} endpoint(s)`,
  });
  const hashPolicies = route.hashPoliciesByPort?.get(cluster.port) ?? route.hashPolicies;
  return { action: 'route', vhost, route, matchIndex, destinationIndex: index, cluster, setCookie, hashPolicies, pick };
}

function describeDestination(d: CompiledDestination): string {
  return `${d.host}${d.subset ? ` subset ${d.subset}` : ''}${d.port ? ` port ${d.port}` : ''}`;
}

/**
 * The redirect status and Location (istio-semantics §7.2, Envoy RedirectAction): `uri` replaces the whole path
 * (the query is kept unless the new URI has one), `authority` the host, `port`/`derivePort` the port, `scheme`
 * the scheme; a port that is the default of the final scheme is dropped.
 */
export function redirectTarget(
  route: CompiledRoute,
  matchIndex: number,
  facts: RequestFacts,
  parts: PathParts = splitPath(facts.path),
): { status: number; location: string } {
  if (route.action.type !== 'redirect') throw new Error('not a redirect route');
  const r = route.action.redirect;
  const scheme = r.scheme ?? facts.scheme;
  const original = splitAuthority(facts.authority);
  let host = original.host;
  let port: number | null = original.port;
  // Istio sets Envoy's port_redirect for `port` and for FROM_REQUEST_PORT (the listener port), leaving it out when
  // it is the default port of the final scheme; FROM_PROTOCOL_DEFAULT sets nothing.
  let portRedirect = r.port ?? (r.derivePort === 'FROM_REQUEST_PORT' ? facts.port : null);
  if ((scheme === 'http' && portRedirect === 80) || (scheme === 'https' && portRedirect === 443)) portRedirect = null;
  if (r.authority !== null) {
    // host_redirect replaces the whole authority.
    const a = splitAuthority(r.authority);
    host = a.host;
    port = a.port;
  } else if (port !== null) {
    // Envoy processRequestHost: the request's port is removed when a port redirect is set, or when the scheme
    // changes away from a request on its default port (http :80, https :443); otherwise it is kept.
    const defaultOfRequest = (facts.scheme === 'http' && port === 80) || (facts.scheme === 'https' && port === 443);
    if (portRedirect !== null || r.port !== null || (scheme !== facts.scheme && defaultOfRequest)) port = null;
  }
  if (portRedirect !== null) port = portRedirect;
  let path = parts.path;
  let query = parts.query;
  if (r.prefixRewrite !== null) {
    // Envoy RedirectAction.prefix_rewrite: the matched prefix is replaced (a route without a uri match matched '/').
    const prefix = route.matches[matchIndex]?.uriPrefix ?? '/';
    path = r.prefixRewrite + path.slice(Math.min(prefix.length, path.length));
  } else if (r.uri !== null) {
    const q = r.uri.indexOf('?');
    if (q >= 0) {
      path = r.uri.slice(0, q);
      query = r.uri.slice(q + 1);
    } else path = r.uri;
  }
  const authority = port === null ? host : `${host}:${port}`;
  return { status: r.redirectCode, location: `${scheme}://${authority}${path}${query ? `?${query}` : ''}` };
}

/**
 * The upstream path after `rewrite` (istio-semantics §7.1): `uri` replaces the matched prefix (the whole path for
 * exact or regex matches; for a route without uri match, the prefix `/`), keeping the query;
 * `uriRegexRewrite` replaces every RE2 match in the path (query kept) with `\N` group references.
 */
export function rewritePath(route: CompiledRoute, matchIndex: number, rawPath: string): string {
  const rw = route.rewrite;
  if (!rw) return rawPath;
  const q = rawPath.indexOf('?');
  const path = q >= 0 ? rawPath.slice(0, q) : rawPath;
  const query = q >= 0 ? rawPath.slice(q) : '';
  if (rw.uri !== null) {
    const m = route.matches[matchIndex];
    if (m?.uriWhole) return rw.uri + query;
    const prefix = m?.uriPrefix ?? '/';
    const matchedLen = Math.min(prefix.length, path.length);
    return rw.uri + path.slice(matchedLen) + query;
  }
  if (rw.replace) return rw.replace(path) + query;
  return rawPath;
}
