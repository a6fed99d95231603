/**
 * Runtime state of clusters (one per Envoy cluster `outbound|port|subset|host`): per endpoint an undici
 * connection pool and counters; the cluster's circuit breakers (`connectionPool`, istio-semantics §8.4), outlier
 * detection (`outlierDetection`, §8.5) and locality-prioritised load balancing (on by default in Istio, effective
 * only with outlier detection). A runtime survives a config reload when its cluster is unchanged (same endpoints
 * and policy), so keep-alive connections, balancer position and ejection state are kept.
 */
import type { LocalityLbSetting } from '../../config/istio/schemas.ts';
import type { Cluster, OutlierDetectionResolved } from '../../routing/types.ts';
import { createLoadBalancer, type LbEndpoint, type LbPolicy, type LoadBalancer } from '../cluster/lb/index.ts';
import { Pool } from './undici.ts';

/** One upstream host of a cluster at runtime. */
export interface EndpointRuntime {
  key: string;
  address: string;
  port: number;
  /** The host's connection pool, created on first use (a cluster of thousands of hosts holds no idle pools). */
  readonly pool: Pool;
  /** Whether the pool has been created. */
  readonly hasPool: boolean;
  /** Requests in flight to this host (Envoy `rq_active`). */
  active: number;
  labels: Readonly<Record<string, string>>;
  /** `region/zone/subzone`. */
  locality: string;
  /** Outlier detection counters (Envoy `DetectorHostMonitor`). */
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  /** Ejected until this time (ms, monotonic clock; back in service at the first interval tick after it), or 0. */
  ejectedUntilMs: number;
  /** Number of ejections, the multiplier of the base ejection time; drops by one per healthy interval. */
  ejections: number;
}

/** How an upstream attempt ended, for outlier detection. */
export type HostOutcome =
  | { kind: 'response'; status: number }
  /** A local-origin failure: connect failure, connect or per-try timeout, reset. */
  | { kind: 'local-failure' };

/** The proxy's own locality (`--locality region/zone/subzone`). */
export interface Locality {
  region: string;
  zone: string;
  subzone: string;
}

/** Parses `region/zone/subzone` (parts may be missing). */
export function parseLocality(text: string): Locality {
  const [region = '', zone = '', subzone = ''] = text.split('/');
  return { region, zone, subzone };
}

/** Clock and callbacks a runtime needs; injectable for tests. */
export interface RuntimeEnv {
  /** Monotonic milliseconds. */
  now(): number;
  locality: Locality | null;
  /** The proxy's own workload labels (sidecar mode), for `failoverPriority`; null or empty when unknown. */
  labels?: Readonly<Record<string, string>> | null;
  onEjection?(cluster: string, host: string): void;
}

/** Envoy's default `max_ejection_time` (300 s), or the base ejection time when that is larger. */
const MAX_EJECTION_TIME_MS = 300_000;
/** Envoy's overprovisioning factor for priority load: a level with ≥ 1/1.4 healthy hosts takes all its load. */
const OVERPROVISIONING = 1.4;

/** A balancer over some hosts, with the map from its indexes back to endpoint indexes. */
interface Balancer {
  lb: LoadBalancer;
  /** Endpoint index of the balancer's host j. */
  members: number[];
  /** Active requests of the balancer's host j (for LEAST_REQUEST). */
  activeOf: (j: number) => number;
}

interface HostSet {
  /** Indexes into `endpoints` (all hosts of the priority level). */
  members: number[];
  /** Hosts in service. */
  healthy: number;
  lb: Balancer | null;
}

/** A cluster's runtime: endpoints with pools, the balancer(s), circuit breakers and outlier state. */
export class ClusterRuntime {
  readonly name: string;
  /** {@link clusterFingerprint} of the cluster it serves. */
  fingerprint: string;
  cluster: Cluster;
  /** The hosts, in the cluster's order; replaced as a whole by {@link update}. */
  endpoints: EndpointRuntime[] = [];
  private indexOf = new Map<EndpointRuntime, number>();
  /** Requests in flight on the cluster (`max_requests`, and connections in use for HTTP/1.1). */
  active = 0;
  /** Retries in flight (`max_retries`). */
  activeRetries = 0;
  /** Requests waiting for a connection (`max_pending_requests`). */
  private readonly pending: (() => void)[] = [];
  private readonly limited: boolean;
  private readonly outlier: OutlierDetectionResolved | null;
  private readonly policy: LbPolicy;
  private lbEndpoints: LbEndpoint[] = [];
  /** Host sets by priority (index 0 = closest locality); one set without locality LB. */
  private sets: HostSet[] = [];
  /** Locality `distribute` weights: groups of endpoint indexes with a weight each, or null. */
  private distribute: { members: number[]; weight: number; lb: Balancer | null }[] | null = null;
  private priorityOf: number[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    cluster: Cluster,
    fingerprint: string,
    private readonly env: RuntimeEnv,
  ) {
    this.name = cluster.name;
    this.cluster = cluster;
    this.fingerprint = fingerprint;
    const pool = cluster.policy.connectionPool;
    this.limited =
      pool.maxConnections < 4294967295 ||
      pool.http2MaxRequests < 4294967295 ||
      pool.http1MaxPendingRequests < 4294967295;
    this.outlier = cluster.policy.outlierDetection;
    const p = cluster.policy.lb;
    this.policy =
      p.type === 'RING_HASH'
        ? { type: 'RING_HASH', minimumRingSize: p.minimumRingSize }
        : p.type === 'MAGLEV'
          ? { type: 'MAGLEV', tableSize: p.tableSize }
          : p.type === 'PASSTHROUGH'
            ? { type: 'RANDOM' }
            : { type: p.type };
    this.setEndpoints(cluster, new Map());
    if (this.outlier) {
      this.timer = setInterval(() => this.tick(), Math.max(1, this.outlier.intervalMs));
      this.timer.unref();
    }
  }

  /**
   * Applies a new membership of the same cluster (Envoy EDS: an endpoint update, policy unchanged): hosts that stay
   * keep their connection pool, active count and outlier state; new hosts are added; removed hosts' pools are closed
   * once their requests finish. Balancers and priorities are rebuilt over the new set.
   * @throws Error when the cluster's policy differs (that is a new runtime, see {@link ClusterManager.get}).
   */
  update(cluster: Cluster, fingerprint: string): void {
    if (policyFingerprint(cluster) !== policyFingerprint(this.cluster))
      throw new Error(`cluster ${this.name}: policy changed; a new runtime is needed`);
    const byKey = new Map(this.endpoints.map((e) => [e.key, e]));
    this.cluster = cluster;
    this.fingerprint = fingerprint;
    this.setEndpoints(cluster, byKey);
    const kept = new Set(this.endpoints);
    for (const e of byKey.values()) if (!kept.has(e) && e.hasPool) void e.pool.close();
  }

  /** Sets the endpoints (reusing the runtimes in `reuse` by key), their priorities, and the balancers. */
  private setEndpoints(cluster: Cluster, reuse: ReadonlyMap<string, EndpointRuntime>): void {
    const env = this.env;
    const pool = cluster.policy.connectionPool;
    const perHostConnections = pool.maxConnections < 4294967295 ? pool.maxConnections : null;
    const poolOptions = {
      connections: perHostConnections,
      pipelining: 1,
      connect: { timeout: pool.connectTimeoutMs },
      keepAliveTimeout: Math.min(pool.idleTimeoutMs, 3_600_000),
      keepAliveMaxTimeout: Math.max(pool.idleTimeoutMs, 1000),
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(pool.maxRequestsPerConnection > 0 ? { maxRequestsPerClient: pool.maxRequestsPerConnection } : {}),
    };
    this.endpoints = cluster.endpoints.map((e) => {
      const old = reuse.get(e.key);
      if (old) {
        old.labels = e.labels;
        old.locality = e.locality;
        return old;
      }
      return new Endpoint(e.key, e.address, e.port, e.labels, e.locality, poolOptions);
    });
    this.indexOf = new Map(this.endpoints.map((e, i) => [e, i]));
    this.lbEndpoints = cluster.endpoints.map((e, i) => ({
      key: e.key,
      address: e.address,
      port: e.port,
      weight: Math.max(1, Math.floor(e.weight)),
      handle: i,
    }));
    // Locality-prioritised LB takes effect only with outlier detection (Istio: LocalityLbSetting on by default).
    const setting = cluster.policy.localityLbSetting;
    const enabled = setting?.enabled !== false;
    const localityOn = this.outlier !== null && env.locality !== null && enabled;
    this.distribute = null;
    if (localityOn && setting?.distribute && setting.distribute.length > 0) {
      this.priorityOf = this.endpoints.map(() => 0);
      this.distribute = buildDistribute(env.locality!, setting, this.endpoints);
    } else if (this.outlier !== null && enabled && (setting?.failoverPriority?.length ?? 0) > 0) {
      // Istio `applyFailoverPriorities`, then `applyLocalityFailover` only when `failover` is also set.
      const proxyLabels = withTopologyLabels(env.labels ?? {}, env.locality);
      const byLabels = this.endpoints.map((e, i) =>
        failoverPriorityOf(
          proxyLabels,
          withTopologyLabels(cluster.endpoints[i]!.labels, parseLocality(e.locality)),
          setting!.failoverPriority!,
        ),
      );
      const combined =
        env.locality !== null && (setting?.failover?.length ?? 0) > 0
          ? byLabels.map((p, i) => p * 5 + localityPriority(env.locality!, this.endpoints[i]!.locality, setting))
          : byLabels;
      this.priorityOf = compactPriorities(combined);
    } else {
      this.priorityOf = compactPriorities(
        this.endpoints.map((e) => (localityOn ? localityPriority(env.locality!, e.locality, setting) : 0)),
      );
    }
    this.rebuild();
  }

  /** Rebuilds the balancers over the hosts in service (all hosts in panic mode). */
  private rebuild(): void {
    const n = this.endpoints.length;
    let healthy = 0;
    for (const e of this.endpoints) if (e.ejectedUntilMs === 0) healthy++;
    const minHealth = this.outlier?.minHealthPercent ?? 0;
    const panic = n > 0 && minHealth > 0 && (100 * healthy) / n < minHealth;
    const inService = (i: number): boolean => panic || this.endpoints[i]!.ejectedUntilMs === 0;
    const maxPriority = this.priorityOf.reduce((a, b) => Math.max(a, b), 0);
    const sets: HostSet[] = [];
    for (let p = 0; p <= maxPriority; p++) {
      const all = this.priorityOf.map((pr, i) => (pr === p ? i : -1)).filter((i) => i >= 0);
      const members = all.filter(inService);
      sets.push({ members: all, healthy: members.length, lb: members.length > 0 ? this.makeLb(members) : null });
    }
    this.sets = sets;
    if (this.distribute) {
      for (const g of this.distribute) {
        const members = g.members.filter(inService);
        g.lb = members.length > 0 ? this.makeLb(members) : null;
      }
    }
  }

  private makeLb(members: number[]): Balancer {
    const lb = createLoadBalancer(
      this.policy,
      members.map((i) => this.lbEndpoints[i]!),
      { seed: 0 },
    );
    const endpoints = this.endpoints;
    return { lb, members, activeOf: (j) => endpoints[members[j]!]!.active };
  }

  /**
   * Picks an endpoint index, or -1 when no host is in service (→ 503 UH).
   * @param hash request hash for RING_HASH/MAGLEV, or null.
   * @param exclude `previous_hosts` predicate for retries (by endpoint index), or undefined.
   */
  pick(hash: bigint | null, rng: () => number, exclude?: (i: number) => boolean): number {
    const b =
      this.sets.length === 1 && !this.distribute
        ? this.sets[0]!.lb
        : this.distribute
          ? this.pickDistributed(rng)
          : this.pickPriority(rng);
    if (!b) return -1;
    const members = b.members;
    const picked = exclude
      ? b.lb.pick({
          hash,
          rng,
          activeRequests: b.activeOf,
          exclude: (j: number) => exclude(members[j]!),
          hostSelectionRetryCount: 5,
        })
      : b.lb.pick({ hash, rng, activeRequests: b.activeOf });
    return picked < 0 ? -1 : members[picked]!;
  }

  /** Envoy priority load: each level takes min(100, 1.4 × healthy%) of what is left, in order. */
  private pickPriority(rng: () => number): Balancer | null {
    const loads: number[] = [];
    let left = 100;
    for (const s of this.sets) {
      const total = s.members.length;
      const healthy = s.healthy;
      const health = total === 0 ? 0 : Math.min(100, (OVERPROVISIONING * 100 * healthy) / total);
      const load = Math.min(left, health);
      loads.push(load);
      left -= load;
    }
    const sum = loads.reduce((a, b) => a + b, 0);
    if (sum <= 0) return null;
    let r = rng() * sum;
    for (let p = 0; p < loads.length; p++) {
      r -= loads[p]!;
      if (r < 0) return this.sets[p]!.lb;
    }
    return this.sets[loads.length - 1]!.lb;
  }

  private pickDistributed(rng: () => number): Balancer | null {
    const groups = this.distribute!.filter((g) => g.lb !== null);
    const sum = groups.reduce((a, g) => a + g.weight, 0);
    if (sum <= 0) return this.pickPriority(rng);
    let r = rng() * sum;
    for (const g of groups) {
      r -= g.weight;
      if (r < 0) return g.lb;
    }
    return groups[groups.length - 1]!.lb;
  }

  /**
   * Circuit breakers (Envoy, per cluster per proxy): `http2MaxRequests` caps concurrent requests (overflow → UO at
   * once); with HTTP/1.1 each request holds a connection, so beyond `maxConnections` a request waits in the pending
   * queue, which holds at most `http1MaxPendingRequests` (beyond → UO). Resolves true when admitted; false on
   * overflow. Callers must `release()` once for every admitted request.
   */
  acquire(gone: () => boolean): Promise<boolean> | boolean {
    if (!this.limited) {
      this.active++;
      return true;
    }
    const pool = this.cluster.policy.connectionPool;
    if (this.active >= pool.http2MaxRequests) return false;
    if (this.active < pool.maxConnections) {
      this.active++;
      return true;
    }
    if (this.pending.length >= pool.http1MaxPendingRequests) return false;
    return new Promise<boolean>((resolve) => {
      const wake = (): void => resolve(!gone());
      this.pending.push(wake);
    });
  }

  /** Requests waiting for a connection now. */
  pendingCount(): number {
    return this.pending.length;
  }

  /** Open upstream connections (undici pool statistics, summed over the cluster's hosts). */
  connectionCount(): number {
    let n = 0;
    for (const e of this.endpoints) if (e.hasPool) n += e.pool.stats.connected;
    return n;
  }

  /** Releases an admitted request; hands its slot to the oldest pending one. */
  release(): void {
    const next = this.pending.shift();
    if (next) {
      next(); // the slot passes on; `active` stays the same
      return;
    }
    this.active--;
  }

  /**
   * Whether a retry may start (`max_retries`, or the retry budget when the DestinationRule sets one: Envoy's
   * `RetryBudgetImpl::max()` = `max(percent/100 × (active + pending requests), min_retry_concurrency)`, truncated);
   * counts it when so. Pair with {@link retryDone}.
   */
  tryRetry(): boolean {
    const pool = this.cluster.policy.connectionPool;
    const budget = pool.retryBudget;
    const limit = budget
      ? Math.max(Math.floor((budget.percent / 100) * (this.active + this.pending.length)), budget.minRetryConcurrency)
      : pool.maxRetries;
    if (this.activeRetries >= limit) return false;
    this.activeRetries++;
    return true;
  }

  retryDone(): void {
    this.activeRetries--;
  }

  /**
   * Feeds outlier detection with an attempt's outcome (Envoy semantics: consecutive 5xx count 5xx responses and
   * local-origin failures unless split mode; consecutive gateway errors count 502/503/504 and local-origin
   * failures; any other response resets them).
   */
  report(host: EndpointRuntime, outcome: HostOutcome): void {
    const od = this.outlier;
    if (!od) return;
    const i = this.indexOf.get(host);
    if (i === undefined) return; // removed from the cluster since it was picked
    const e = host;
    if (outcome.kind === 'local-failure') {
      if (od.splitExternalLocalOriginErrors) {
        e.consecutiveLocal++;
        if (od.consecutiveLocalOriginFailures > 0 && e.consecutiveLocal >= od.consecutiveLocalOriginFailures)
          this.eject(i);
        return;
      }
      e.consecutive5xx++;
      e.consecutiveGateway++;
    } else {
      const s = outcome.status;
      if (od.splitExternalLocalOriginErrors) e.consecutiveLocal = 0;
      if (s >= 500 && s <= 599) {
        e.consecutive5xx++;
        if (s === 502 || s === 503 || s === 504) e.consecutiveGateway++;
        else e.consecutiveGateway = 0;
      } else {
        e.consecutive5xx = 0;
        e.consecutiveGateway = 0;
        return;
      }
    }
    if (od.consecutive5xxErrors > 0 && e.consecutive5xx >= od.consecutive5xxErrors) this.eject(i);
    else if (od.consecutiveGatewayErrors > 0 && e.consecutiveGateway >= od.consecutiveGatewayErrors) this.eject(i);
  }

  private eject(i: number): void {
    const od = this.outlier!;
    const e = this.endpoints[i]!;
    const now = this.env.now();
    if (e.ejectedUntilMs > 0) return;
    const ejected = this.endpoints.filter((x) => x.ejectedUntilMs > 0).length;
    // Envoy always allows one ejection; beyond, only within max_ejection_percent.
    if (ejected > 0 && (100 * (ejected + 1)) / this.endpoints.length > od.maxEjectionPercent) return;
    e.ejections++;
    const cap = Math.max(MAX_EJECTION_TIME_MS, od.baseEjectionTimeMs);
    e.ejectedUntilMs = now + Math.min(od.baseEjectionTimeMs * e.ejections, cap);
    e.consecutive5xx = 0;
    e.consecutiveGateway = 0;
    e.consecutiveLocal = 0;
    this.env.onEjection?.(this.name, e.key);
    this.rebuild();
  }

  /** The interval timer: return hosts whose ejection time is up; lower the multiplier of healthy hosts. */
  tick(): void {
    const now = this.env.now();
    let changed = false;
    for (const e of this.endpoints) {
      if (e.ejectedUntilMs > 0 && e.ejectedUntilMs <= now) {
        e.ejectedUntilMs = 0;
        changed = true;
      } else if (e.ejectedUntilMs === 0 && e.ejections > 0) e.ejections--;
    }
    if (changed) this.rebuild();
  }

  /**
   * Whether host `i` is ejected now. A host stays ejected until the interval tick after its ejection time (as in
   * Envoy), so this is what the balancer sees.
   */
  isEjected(i: number): boolean {
    return this.endpoints[i]!.ejectedUntilMs > 0;
  }

  /** Priority (0 = closest locality) of host `i`. */
  priority(i: number): number {
    return this.priorityOf[i] ?? 0;
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.pending.splice(0)) w();
  }

  /** Closes the pools, letting in-flight requests finish. */
  async close(): Promise<void> {
    this.stopTimer();
    await Promise.allSettled(this.endpoints.filter((e) => e.hasPool).map((e) => e.pool.close()));
  }

  /** Destroys the pools at once. */
  async destroy(): Promise<void> {
    this.stopTimer();
    await Promise.allSettled(this.endpoints.filter((e) => e.hasPool).map((e) => e.pool.destroy()));
  }
}

/**
 * Locality priority of an endpoint for a proxy (Istio's failover by locality): 0 when region, zone and subzone
 * match, 1 when region and zone match, 2 when only the region matches, 3 otherwise. `failover` (region → region)
 * puts the configured failover region before other regions. `failoverPriority` (labels) is {@link failoverPriorityOf}.
 */
export function localityPriority(proxy: Locality, endpointLocality: string, setting: LocalityLbSetting | null): number {
  const ep = parseLocality(endpointLocality);
  if (ep.region === proxy.region && ep.zone === proxy.zone && ep.subzone === proxy.subzone) return 0;
  if (ep.region === proxy.region && ep.zone === proxy.zone) return 1;
  if (ep.region === proxy.region) return 2;
  const failover = setting?.failover?.find((f) => f.from === proxy.region);
  if (failover) return failover.to === ep.region ? 3 : 4;
  return 3;
}

/** Istio's topology labels, which it adds to proxy and endpoint labels from their locality (`AugmentLabels`). */
export const TOPOLOGY_LABELS = {
  region: 'topology.kubernetes.io/region',
  zone: 'topology.kubernetes.io/zone',
  subzone: 'topology.istio.io/subzone',
} as const;

/** `labels` plus the topology labels of `locality` where not already set. */
export function withTopologyLabels(
  labels: Readonly<Record<string, string>>,
  locality: Locality | null,
): Readonly<Record<string, string>> {
  if (!locality) return labels;
  const out: Record<string, string> = { ...labels };
  for (const k of ['region', 'zone', 'subzone'] as const) {
    if (locality[k] !== '' && out[TOPOLOGY_LABELS[k]] === undefined) out[TOPOLOGY_LABELS[k]] = locality[k];
  }
  return out;
}

/**
 * Istio `applyFailoverPriorityPerLocality`: 0 when the endpoint has every `failoverPriority` label with the proxy's
 * value (`label=value` entries give the value to compare with instead of the proxy's), else `n − j` for the first
 * label j that differs (n = the number of labels), so endpoints matching a longer prefix come first. With no proxy
 * labels at all Istio leaves priorities alone (0).
 */
export function failoverPriorityOf(
  proxyLabels: Readonly<Record<string, string>>,
  endpointLabels: Readonly<Record<string, string>>,
  failoverPriority: readonly string[],
): number {
  if (Object.keys(proxyLabels).length === 0) return 0;
  for (let j = 0; j < failoverPriority.length; j++) {
    const entry = failoverPriority[j]!;
    const eq = entry.indexOf('=');
    const name = eq >= 0 ? entry.slice(0, eq) : entry;
    const want = eq >= 0 ? entry.slice(eq + 1) : proxyLabels[name];
    if (want !== endpointLabels[name]) return failoverPriority.length - j;
  }
  return 0;
}

/** Renumbers priorities 0..N without gaps, keeping their order (Envoy requires consecutive priorities). */
export function compactPriorities(priorities: readonly number[]): number[] {
  const levels = [...new Set(priorities)].sort((a, b) => a - b);
  return priorities.map((p) => levels.indexOf(p));
}

function localityMatches(pattern: string, locality: string): boolean {
  const p = pattern.split('/');
  const l = locality.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '*') return true;
    if (p[i] !== (l[i] ?? '')) return false;
  }
  return true;
}

function buildDistribute(
  proxy: Locality,
  setting: LocalityLbSetting,
  endpoints: EndpointRuntime[],
): { members: number[]; weight: number; lb: Balancer | null }[] | null {
  const me = [proxy.region, proxy.zone, proxy.subzone].join('/');
  const rule = (setting.distribute ?? []).find((d) => d.from !== undefined && localityMatches(d.from, me));
  if (!rule?.to) return null;
  const groups: { members: number[]; weight: number; lb: Balancer | null }[] = [];
  for (const [pattern, weight] of Object.entries(rule.to)) {
    const members = endpoints.map((e, i) => (localityMatches(pattern, e.locality) ? i : -1)).filter((i) => i >= 0);
    if (members.length > 0 && weight > 0) groups.push({ members, weight, lb: null });
  }
  return groups.length > 0 ? groups : null;
}

/** Identity of a cluster's runtime-relevant definition: endpoints (with weights and labels) and policy. */
export function clusterFingerprint(c: Cluster): string {
  return JSON.stringify([c.endpoints.map((e) => [e.key, e.weight, e.locality, e.labels]), policyFingerprint(c)]);
}

/** Identity of a cluster's policy alone (balancer, connection pool, outlier detection, locality settings). */
export function policyFingerprint(c: Cluster): string {
  return JSON.stringify([c.policy.lb, c.policy.connectionPool, c.policy.outlierDetection, c.policy.localityLbSetting]);
}

type PoolOptions = ConstructorParameters<typeof Pool>[1];

/** A host at runtime; its pool is created on first use. */
class Endpoint implements EndpointRuntime {
  active = 0;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  ejectedUntilMs = 0;
  ejections = 0;
  private created: Pool | null = null;

  constructor(
    readonly key: string,
    readonly address: string,
    readonly port: number,
    public labels: Readonly<Record<string, string>>,
    public locality: string,
    private readonly poolOptions: PoolOptions,
  ) {}

  get pool(): Pool {
    this.created ??= new Pool(`http://${this.key}`, this.poolOptions);
    return this.created;
  }

  get hasPool(): boolean {
    return this.created !== null;
  }
}

/** Owns every cluster runtime of a proxy. */
export class ClusterManager {
  private readonly runtimes = new Map<string, ClusterRuntime>();

  constructor(private readonly env: RuntimeEnv = { now: () => performance.now(), locality: null }) {}

  /**
   * The runtime for a cluster of the current table: created on first use; kept when the cluster is unchanged;
   * updated in place when only its endpoints changed (pools and outlier state of the hosts that stay survive);
   * replaced when its policy changed.
   */
  get(cluster: Cluster): ClusterRuntime {
    const existing = this.runtimes.get(cluster.name);
    if (existing && existing.cluster === cluster) return existing;
    const fp = clusterFingerprint(cluster);
    if (existing && existing.fingerprint === fp) {
      existing.cluster = cluster;
      return existing;
    }
    if (existing && policyFingerprint(existing.cluster) === policyFingerprint(cluster)) {
      existing.update(cluster, fp);
      return existing;
    }
    const rt = new ClusterRuntime(cluster, fp, this.env);
    this.runtimes.set(cluster.name, rt);
    if (existing) void existing.close();
    return rt;
  }

  /** All runtimes (for the admin `/clusters` page). */
  all(): ClusterRuntime[] {
    return [...this.runtimes.values()];
  }

  /**
   * After a reload: each runtime follows its cluster in the new table (`lookup` by name; null when the cluster is
   * gone), as {@link get} would — kept, updated in place or replaced — and runtimes of clusters that are gone are
   * closed, their requests finishing first. Clusters nobody used get no runtime.
   */
  reconcile(lookup: (name: string) => Cluster | null): void {
    for (const [name, rt] of [...this.runtimes]) {
      const next = lookup(name);
      if (next) this.get(next);
      else {
        this.runtimes.delete(name);
        void rt.close();
      }
    }
  }

  /** Closes runtimes whose cluster is not in `keep` (after a reload). */
  retain(keep: ReadonlySet<string>): void {
    for (const [name, rt] of this.runtimes) {
      if (!keep.has(name)) {
        this.runtimes.delete(name);
        void rt.close();
      }
    }
  }

  /** Closes everything. */
  async close(): Promise<void> {
    const all = [...this.runtimes.values()];
    this.runtimes.clear();
    await Promise.allSettled(all.map((r) => r.close()));
  }
}
