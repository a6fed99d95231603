/**
 * The routing engine's vocabulary: what a request looks like to the engine ({@link RequestFacts}), what the
 * compiled table holds, and what a decision says ({@link RouteDecision}). The data plane builds facts from a
 * socket and executes decisions; `weir explain` builds facts from flags and prints decisions. Nothing here does I/O.
 */
import type { HTTPRoute, LocalityLbSetting, TrafficPolicy } from '../config/istio/schemas.ts';
import type { Endpoint, Service } from '../config/registry.ts';
import type { VirtualService } from '../config/resources.ts';

/** Who sent the request: the workload identity used by `sourceLabels` / `sourceNamespace`. Never from a header. */
export interface SourceIdentity {
  labels: Readonly<Record<string, string>>;
  /** Namespace of the source workload, or null when unknown. */
  namespace: string | null;
  /** Workload name (for telemetry), or null. */
  workload: string | null;
  /** The client's IP address as seen by the proxy (used by `useSourceIp` hashing), or null. */
  ip: string | null;
}

/** A request as the routing engine sees it. All header names given to `header()` are lower-case. */
export interface RequestFacts {
  /** `Host` / `:authority` exactly as sent (letter case and port kept). */
  authority: string;
  /** `:method`, e.g. `GET`. */
  method: string;
  /** `:path`, including the query string. */
  path: string;
  /** `:scheme`: `http` or `https`. */
  scheme: string;
  /** The service port the request was sent to (`match.port`, destination port selection); 80 when none. */
  port: number;
  /** Value of a request header by lower-case name; several values joined with `,` as Envoy does. */
  header(name: string): string | undefined;
  source: SourceIdentity;
}

/** How the proxy is deployed, which decides which VirtualServices apply (istio-semantics §1.3, §1.7). */
export interface ProxyMode {
  /** `null` for a sidecar (VirtualServices bound to `mesh`); `ns/name` of the Gateway for an ingress gateway. */
  gateway: string | null;
  /** The proxy's own namespace (short-name aliases, DestinationRule lookup); default `default`. */
  namespace: string;
  /** The proxy's own workload labels (sidecar `--labels`), for workloadSelector DestinationRules; null when none. */
  labels?: Readonly<Record<string, string>> | null;
}

/** A compiled string matcher: returns true when the value matches. */
export type ValueMatcher = (value: string) => boolean;

/** Istio's built-in retry policy (no `retries` in the route): 2 retries on connect failures and refused streams. */
export interface RetryPolicy {
  /** `num_retries`: retries after the first attempt (0 = no retries). */
  attempts: number;
  /** retryOn tokens, trimmed (e.g. `5xx`, `connect-failure`). */
  retryOn: readonly string[];
  /** HTTP status codes from numeric retryOn tokens. */
  retriableStatusCodes: readonly number[];
  /** Per-attempt timeout in ms, or null (bounded only by the route timeout). */
  perTryTimeoutMs: number | null;
  /** Backoff base interval in ms (Envoy default 25 ms; max is 10 × base). */
  backoffBaseMs: number;
  /** Whether the `previous_hosts` predicate applies (re-pick avoids hosts already tried; Istio: 5 re-picks). */
  retryIgnorePreviousHosts: boolean;
  retryRemoteLocalities: boolean;
  /** True when this is Istio's default policy (no `retries` block). */
  isDefault: boolean;
}

/** A fault to inject (istio-semantics §6). Percent is 0–100. */
export interface FaultPolicy {
  delay: { fixedDelayMs: number; percent: number } | null;
  abort: { httpStatus: number | null; grpcStatus: string | null; percent: number } | null;
}

/** A mirror (shadow) target: fire-and-forget copy of the request to `percent` % of requests. */
export interface MirrorPolicy {
  host: string;
  subset: string | null;
  /** Explicit port, or null (resolved like a destination's port at decision time). */
  port: number | null;
  /** 0 < percent ≤ 100, resolution 0.0001 %. */
  percent: number;
}

/** Header operations of one level (route or destination), already split into Envoy's set/add/remove. */
export interface HeaderOps {
  set: readonly (readonly [string, string])[];
  add: readonly (readonly [string, string])[];
  remove: readonly string[];
}

/** Request and response header operations, combined in Istio's precedence (§7.4). */
export interface HeaderPolicy {
  request: HeaderOps;
  response: HeaderOps;
  /** Authority rewrite from `headers.request.set/add[":authority"|"host"]` or `rewrite.authority`, or null. */
  authority: string | null;
}

/** Compiled CORS policy. */
export interface CorsPolicyCompiled {
  allowOrigin: readonly ValueMatcher[];
  allowOriginText: readonly string[];
  allowMethods: string | null;
  allowHeaders: string | null;
  exposeHeaders: string | null;
  /** Whole seconds, or null. */
  maxAgeSeconds: number | null;
  allowCredentials: boolean | null;
  /** `FORWARD` (default) or `IGNORE`. */
  unmatchedPreflights: 'FORWARD' | 'IGNORE';
}

/** A URI rewrite. `uri` replaces the matched prefix (or the whole path for exact/regex matches). */
export interface RewritePolicy {
  uri: string | null;
  uriRegex: { match: string; rewrite: string } | null;
  /** The compiled regex rewrite of the path (every match replaced, `\\N` group references), or null. */
  replace: ((path: string) => string) | null;
  authority: string | null;
}

/** A redirect as configured. */
export interface RedirectPolicy {
  uri: string | null;
  /** Replaces the matched uri prefix (exclusive with `uri`; every match is a prefix match, checked by validation). */
  prefixRewrite: string | null;
  authority: string | null;
  port: number | null;
  derivePort: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT' | null;
  scheme: string | null;
  /** 301 when unset. */
  redirectCode: number;
}

/** Resolved load-balancer policy for a cluster (from the effective DestinationRule policy). */
export type LbPolicy =
  | { type: 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'PASSTHROUGH' }
  | { type: 'RING_HASH'; minimumRingSize: number; hash: HashPolicy }
  | { type: 'MAGLEV'; tableSize: number; hash: HashPolicy };

/** The request hash key of a consistentHash policy (Envoy `hash_policy`). */
export type HashPolicy =
  | { type: 'header'; name: string }
  | {
      type: 'cookie';
      name: string;
      path: string | null;
      ttlMs: number | null;
      attributes: readonly { name: string; value: string }[];
    }
  | { type: 'sourceIp' }
  | { type: 'queryParameter'; name: string };

/** Connection-pool limits (Envoy circuit breakers) with Istio's defaults filled in. Counts; times in ms. */
export interface ConnectionPoolResolved {
  maxConnections: number;
  http1MaxPendingRequests: number;
  http2MaxRequests: number;
  maxRetries: number;
  /**
   * DestinationRule `trafficPolicy.retryBudget` (Envoy `retry_budget`, which overrides `max_retries`): concurrent
   * retries may reach `percent` % (0–100, default 20) of the active plus pending requests, never fewer than
   * `minRetryConcurrency` (default 3). Null when not set (then `maxRetries` applies).
   */
  retryBudget: { percent: number; minRetryConcurrency: number } | null;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  connectTimeoutMs: number;
  /** Idle timeout of upstream connections in ms (Envoy default 1 h). */
  idleTimeoutMs: number;
}

/** Outlier detection with Envoy's defaults filled in; null in {@link ClusterPolicy} when not configured. */
export interface OutlierDetectionResolved {
  consecutive5xxErrors: number;
  consecutiveGatewayErrors: number;
  consecutiveLocalOriginFailures: number;
  splitExternalLocalOriginErrors: boolean;
  intervalMs: number;
  baseEjectionTimeMs: number;
  /** Percent 0–100 (default 10; one host can always be ejected). */
  maxEjectionPercent: number;
  /** Percent 0–100 (default 0 = panic mode off). */
  minHealthPercent: number;
}

/** Everything the data plane needs to know about a cluster's policy. */
export interface ClusterPolicy {
  /** The effective DestinationRule policy in Istio's field names (for explain and config_dump), or null. */
  trafficPolicy: Omit<TrafficPolicy, 'portLevelSettings'> | null;
  lb: LbPolicy;
  connectionPool: ConnectionPoolResolved;
  outlierDetection: OutlierDetectionResolved | null;
  /** `localityLbSetting` as written (locality LB is effective only with outlier detection). */
  localityLbSetting: LocalityLbSetting | null;
}

/** An upstream endpoint of a cluster: the registry endpoint at the cluster's port. */
export interface ClusterEndpoint {
  address: string;
  port: number;
  /** `address:port` (IPv6 in brackets), Envoy's host key. */
  key: string;
  weight: number;
  locality: string;
  labels: Readonly<Record<string, string>>;
  endpoint: Endpoint;
}

/** An Envoy cluster: one (service host, subset, port). Its name is Istio's `outbound|<port>|<subset>|<host>`. */
export interface Cluster {
  name: string;
  host: string;
  subset: string | null;
  port: number;
  service: Service;
  endpoints: readonly ClusterEndpoint[];
  policy: ClusterPolicy;
}

/** One weighted destination of a compiled route. */
export interface CompiledDestination {
  host: string;
  subset: string | null;
  /** Explicit port, or null (service's only port, else the request port). */
  port: number | null;
  weight: number;
  /**
   * Header operations in the order Envoy applies them (istio-semantics §7.4): each level removes first, then
   * sets/adds. Single destination: one level (route ops, then destination ops). Weighted: destination level, then route level.
   */
  requestHeaders: readonly HeaderOps[];
  responseHeaders: readonly HeaderOps[];
  /** Authority rewrite: route level wins over destination level; null when none. */
  authority: string | null;
}

/**
 * The config-time conditions of a match block (istio-semantics §1.4; istio `TranslateRoute`, `sourceMatchHTTP`):
 * istiod leaves the block out of a proxy's routes unless `match.port` is the listener port and the proxy's workload
 * has the `sourceLabels` and is in the `sourceNamespace`. They are selectors, not request matchers: a VirtualService
 * none of whose blocks survive is not applied at all (the host's default route serves).
 */
export interface MatchSelector {
  /** `match.port`, or null when unset (0). */
  port: number | null;
  /** `sourceLabels` as entries (a subset of the source workload's labels), or null when not checked. */
  sourceLabels: readonly (readonly [string, string])[] | null;
  /** `sourceNamespace`, or null when not checked. */
  sourceNamespace: string | null;
}

/** One compiled HTTP match block; `reasonIfNot` explains the first failing condition (for explain). */
export interface CompiledMatch {
  /** Index within `HTTPRoute.match`, or -1 for a route without matches. */
  index: number;
  name: string | null;
  /**
   * Returns null when the request matches, else the first reason it does not. Checks the request-time fields only;
   * the {@link selector} is applied when the virtual host is chosen for the request's source and port.
   */
  test(facts: RequestFacts, lowerPath: PathParts): string | null;
  /** The block's config-time conditions (`port`, `sourceLabels`, `sourceNamespace`), or null when it has none. */
  selector: MatchSelector | null;
  /** The uri prefix that matched (for prefix rewrites), or null. */
  uriPrefix: string | null;
  /** True when the uri match is exact or regex (rewrite.uri then replaces the whole path). */
  uriWhole: boolean;
  /**
   * True when the block matches every request that reaches it (Istio `IsCatchAllRoute` on the Envoy route: path
   * prefix `/` or regex `.*` or none, and no header, query, method, scheme or authority condition; the config-time
   * {@link selector} is not part of the Envoy route). Istio stops emitting a VirtualService's routes after a
   * catch-all, and gateways move catch-alls after the other VirtualServices' routes.
   */
  catchAll?: boolean;
}

/** The request path split once per request. */
export interface PathParts {
  /** Path without the query string. */
  path: string;
  /** The query string without `?`, or ''. */
  query: string;
  /** Query parameters (first value wins, as Envoy's matcher uses). Built lazily. */
  params(): ReadonlyMap<string, string>;
}

/** The action of a route. */
export type RouteAction =
  | { type: 'route'; destinations: readonly CompiledDestination[]; totalWeight: number }
  | { type: 'redirect'; redirect: RedirectPolicy }
  | { type: 'directResponse'; status: number; body: string | null };

/** One compiled HTTPRoute (after delegate merging). */
export interface CompiledRoute {
  /** Route name as Envoy's access log shows it (`http.name`, `http.name.match.name`, `root-delegate`). */
  name: string | null;
  /** Index within the VirtualService's `http` (the root's index for delegated routes). */
  index: number;
  /** The VirtualService the route came from (the delegate for delegated routes). */
  virtualService: VirtualService;
  /** Index within the delegate's `http` when delegated, else null. */
  delegateIndex: number | null;
  matches: readonly CompiledMatch[];
  action: RouteAction;
  timeoutMs: number | null;
  retries: RetryPolicy | null;
  fault: FaultPolicy | null;
  mirrors: readonly MirrorPolicy[];
  rewrite: RewritePolicy | null;
  headers: HeaderPolicy | null;
  cors: CorsPolicyCompiled | null;
  /** The rule as written (after delegate merge), for explain. */
  source: HTTPRoute;
  /** True when the weighted pick follows the hash (weir.dev/sticky-split annotation). */
  stickySplit: boolean;
  /**
   * The route's `hash_policy` list: each weighted destination's consistent-hash key, in order (Istio appends one per
   * destination). Envoy combines them as `h = rotl1(h) ^ h_i`. Empty when no DestinationRule sets consistentHash.
   */
  hashPolicies: readonly HashPolicy[];
  /**
   * Istio's default route only (a host without VirtualService): the DestinationRule's hash key per service port
   * (istio `hashForService`: the port-level `consistentHash` of that port, else the top-level one). Istio builds one
   * default route per port; weir has one and picks the entry of the cluster's port. Null on VirtualService routes.
   */
  hashPoliciesByPort: ReadonlyMap<number, readonly HashPolicy[]> | null;
}

/** A virtual host: the routes for one set of domains. */
export interface VirtualHost {
  /** The FQDN (or VS host) this virtual host serves. */
  host: string;
  virtualService: VirtualService | null;
  /** The root VirtualService when routes come from a delegate. */
  delegates: readonly VirtualService[];
  /** The registry service for the host, if any. */
  service: Service | null;
  routes: readonly CompiledRoute[];
  /** Only for hosts with no registry service: Istio serves them on port 80 only. */
  port80Only: boolean;
  /** Absent: a virtual host whose routes do not depend on the source (see {@link SelectiveHost}). */
  selective?: false;
  /**
   * VirtualServices for this host that are not applied to this proxy because none of their routes exists for it
   * (every block's `gateways` names other gateways, or every route's delegate is missing), so a later VirtualService
   * or the default route serves. For explain; absent when none.
   */
  notApplied?: readonly VirtualService[];
}

/**
 * A host whose virtual host depends on the request's source workload and port, because a match block of one of its
 * VirtualServices has a config-time selector ({@link MatchSelector}). Istio builds the routes per proxy and listener
 * port; weir builds them per distinct selector outcome on first use and caches them (`host-view.ts`).
 */
export interface SelectiveHost {
  readonly selective: true;
  /** The FQDN (or VS host). */
  readonly host: string;
  /** The first VirtualService that may serve the host (for display; the one that serves depends on the source). */
  readonly virtualService: VirtualService | null;
  readonly service: Service | null;
  /** The virtual host a request from `source` on `port` gets, or null (no virtual host: 404 NR). */
  resolve(source: SourceIdentity, port: number): VirtualHost | null;
  /** Appends to `trace` why VirtualServices or match blocks are left out for `source` and `port` (for explain). */
  traceSelectors(source: SourceIdentity, port: number, trace: TraceStep[]): void;
  /** Every virtual host it can resolve to, with no block left out (for listings and cluster pre-building). */
  alternatives(): readonly VirtualHost[];
}

/** What a host name maps to in a route table. */
export type HostEntry = VirtualHost | SelectiveHost;

/** The decision for one request. */
export type RouteDecision =
  | {
      action: 'route';
      vhost: VirtualHost;
      route: CompiledRoute;
      /** Index of the matching block in `route.matches`. */
      matchIndex: number;
      /** Index of the chosen destination in the route's destinations. */
      destinationIndex: number;
      cluster: Cluster;
      /** A cookie to set on the response (sticky split with a ttl'd cookie key that the request lacked). */
      setCookie: GeneratedCookie | null;
      /**
       * The route's `hash_policy` for this request's cluster: `route.hashPolicies`, or for Istio's default route the
       * DestinationRule's key at the cluster's port. Used by RING_HASH and MAGLEV clusters.
       */
      hashPolicies: readonly HashPolicy[];
      /**
       * How the destination was chosen: `single` (one destination), `random` (weighted split: a fresh random draw
       * per request, as Envoy), `hash` (the opt-in sticky split, from the request's hash key).
       */
      pick: 'single' | 'random' | 'hash';
    }
  | {
      action: 'redirect';
      vhost: VirtualHost;
      route: CompiledRoute;
      matchIndex: number;
      status: number;
      location: string;
    }
  | {
      action: 'directResponse';
      vhost: VirtualHost;
      route: CompiledRoute;
      matchIndex: number;
      status: number;
      body: string | null;
    }
  | { action: 'notFound'; vhost: VirtualHost | null; status: 404; responseFlags: 'NR' }
  | {
      action: 'clusterNotFound';
      vhost: VirtualHost;
      route: CompiledRoute;
      matchIndex: number;
      destinationIndex: number;
      clusterName: string;
      status: 503;
      responseFlags: 'NC';
    };

/** A cookie generated for consistent hashing (Envoy generates one when the cookie is absent and a ttl is set). */
export interface GeneratedCookie {
  name: string;
  value: string;
  path: string | null;
  ttlMs: number;
  attributes: readonly { name: string; value: string }[];
}

/** One step of an explain trace. */
export interface TraceStep {
  /** e.g. `host`, `route`, `match`, `destination`, `policy`. */
  step: string;
  message: string;
  /** The route: its index in the root VirtualService, and for a delegated route its index in the delegate. */
  route?: { name: string | null; index: number; delegateIndex?: number };
  matchIndex?: number;
  matched?: boolean;
}
