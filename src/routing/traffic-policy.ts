/**
 * The effective DestinationRule policy of one cluster (host, subset, port), by the exact algorithm of
 * istio-semantics §8.2 (istio/istio `MergeSubsetTrafficPolicy`, `GetPortLevelTrafficPolicy`): a matching
 * port-level entry replaces the policy wholesale; each block the subset sets replaces the whole block of the base
 * (no deep merge); with a subset port-level entry all four blocks are replaced. Then Istio's and Envoy's defaults
 * are filled in for the data plane (§8.3–§8.5).
 */
import type { MergedDestinationRule } from '../config/destination-rules.ts';
import type { ConsistentHashLB, TrafficPolicy } from '../config/istio/schemas.ts';
import { parseDurationMs } from '../util/duration.ts';
import type { ClusterPolicy, ConnectionPoolResolved, HashPolicy, LbPolicy, OutlierDetectionResolved } from './types.ts';

type BasePolicy = Omit<TrafficPolicy, 'portLevelSettings'>;

/** Istio writes 2³²−1 for unset circuit-breaker thresholds (effectively unlimited). */
export const UNLIMITED = 4294967295;
/** MeshConfig `connectTimeout` default: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Envoy's default upstream idle timeout: 1 h. */
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

/** Step 1 of §8.2: a port-level entry for `port` replaces the policy (tunnel/proxyProtocol/retryBudget dropped). */
function atPort(
  policy: TrafficPolicy | undefined | null,
  port: number,
): { policy: BasePolicy | null; portLevel: boolean } {
  if (!policy) return { policy: null, portLevel: false };
  const entry = (policy.portLevelSettings ?? []).find((p) => p.port?.number === port);
  if (entry) {
    const { port: _p, ...blocks } = entry;
    return { policy: blocks, portLevel: true };
  }
  const { portLevelSettings: _pl, ...rest } = policy;
  return { policy: rest, portLevel: false };
}

/**
 * The merged policy in Istio's field names, or null when no DestinationRule applies.
 * @param subset the subset name, or null for the service's default cluster (subset policies never apply then).
 */
export function effectiveTrafficPolicy(
  dr: MergedDestinationRule | null,
  subset: string | null,
  port: number,
): BasePolicy | null {
  if (!dr) return null;
  const base = atPort(dr.trafficPolicy, port).policy;
  const sub = subset ? dr.subsets.get(subset) : undefined;
  if (!sub?.trafficPolicy) return base;
  const { policy: subPolicy, portLevel } = atPort(sub.trafficPolicy, port);
  if (!subPolicy) return base;
  const out: BasePolicy = { ...(base ?? {}) };
  for (const block of ['connectionPool', 'outlierDetection', 'loadBalancer', 'tls'] as const) {
    if (portLevel || subPolicy[block] !== undefined) {
      if (subPolicy[block] === undefined) delete out[block];
      else (out as Record<string, unknown>)[block] = subPolicy[block];
    }
  }
  for (const block of ['tunnel', 'proxyProtocol', 'retryBudget'] as const) {
    if (subPolicy[block] !== undefined) (out as Record<string, unknown>)[block] = subPolicy[block];
  }
  return Object.keys(out).length === 0 ? null : out;
}

/** The consistent-hash key of a policy (Envoy `hash_policy`), or null when the policy is not consistentHash. */
export function hashPolicyOf(ch: ConsistentHashLB | undefined): HashPolicy | null {
  if (!ch) return null;
  if (ch.httpHeaderName) return { type: 'header', name: ch.httpHeaderName.toLowerCase() };
  if (ch.httpCookie) {
    const ttl = ch.httpCookie.ttl !== undefined ? parseDurationMs(ch.httpCookie.ttl) : null;
    return {
      type: 'cookie',
      name: ch.httpCookie.name ?? '',
      path: ch.httpCookie.path ?? null,
      ttlMs: ttl,
      attributes: (ch.httpCookie.attributes ?? []).map((a) => ({ name: a.name ?? '', value: a.value ?? '' })),
    };
  }
  if (ch.useSourceIp) return { type: 'sourceIp' };
  if (ch.httpQueryParameterName) return { type: 'queryParameter', name: ch.httpQueryParameterName };
  return null;
}

function resolveLb(policy: BasePolicy | null): LbPolicy {
  const lb = policy?.loadBalancer;
  if (lb?.consistentHash) {
    const ch = lb.consistentHash;
    const hash = hashPolicyOf(ch) ?? { type: 'sourceIp' as const };
    if (ch.maglev)
      return {
        type: 'MAGLEV',
        tableSize: ch.maglev.tableSize && ch.maglev.tableSize > 0 ? ch.maglev.tableSize : 65537,
        hash,
      };
    const min = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 0;
    return { type: 'RING_HASH', minimumRingSize: min > 0 ? min : 1024, hash };
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      return { type: 'ROUND_ROBIN' };
    case 'RANDOM':
      return { type: 'RANDOM' };
    case 'PASSTHROUGH':
      return { type: 'PASSTHROUGH' };
    default:
      return { type: 'LEAST_REQUEST' };
  }
}

const positive = (n: number | undefined): number | null => (n !== undefined && n > 0 ? n : null);
const ms = (d: string | undefined): number | null => (d === undefined ? null : parseDurationMs(d));

function resolvePool(policy: BasePolicy | null): ConnectionPoolResolved {
  const tcp = policy?.connectionPool?.tcp;
  const http = policy?.connectionPool?.http;
  const idle = ms(http?.idleTimeout) ?? ms(tcp?.idleTimeout);
  return {
    maxConnections: positive(tcp?.maxConnections) ?? UNLIMITED,
    http1MaxPendingRequests: positive(http?.http1MaxPendingRequests) ?? UNLIMITED,
    http2MaxRequests: positive(http?.http2MaxRequests) ?? UNLIMITED,
    maxRetries: positive(http?.maxRetries) ?? UNLIMITED,
    // Istio `applyRetryBudget`: Envoy's defaults (20 %, 3) for the fields left unset.
    retryBudget: policy?.retryBudget
      ? {
          percent: policy.retryBudget.percent ?? 20,
          minRetryConcurrency: policy.retryBudget.minRetryConcurrency ?? 3,
        }
      : null,
    maxRequestsPerConnection: positive(http?.maxRequestsPerConnection) ?? 0,
    connectTimeoutMs: ms(tcp?.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: idle === null ? DEFAULT_IDLE_TIMEOUT_MS : idle,
  };
}

function resolveOutlier(policy: BasePolicy | null): OutlierDetectionResolved | null {
  const od = policy?.outlierDetection;
  if (!od) return null;
  return {
    // UInt32Value: an explicit 0 disables the check; unset means Envoy's default 5.
    consecutive5xxErrors: od.consecutive5xxErrors ?? 5,
    consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? 0,
    consecutiveLocalOriginFailures: od.splitExternalLocalOriginErrors ? (od.consecutiveLocalOriginFailures ?? 5) : 0,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors === true,
    intervalMs: ms(od.interval) ?? 10_000,
    baseEjectionTimeMs: ms(od.baseEjectionTime) ?? 30_000,
    maxEjectionPercent: od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0 ? od.maxEjectionPercent : 10,
    minHealthPercent: od.minHealthPercent ?? 0,
  };
}

/** Resolves the data-plane policy of a cluster. */
export function clusterPolicy(dr: MergedDestinationRule | null, subset: string | null, port: number): ClusterPolicy {
  const trafficPolicy = effectiveTrafficPolicy(dr, subset, port);
  return {
    trafficPolicy,
    lb: resolveLb(trafficPolicy),
    connectionPool: resolvePool(trafficPolicy),
    outlierDetection: resolveOutlier(trafficPolicy),
    localityLbSetting: trafficPolicy?.loadBalancer?.localityLbSetting ?? null,
  };
}

/**
 * The hash policy for a destination, by Istio's precedence (`HashForHTTPDestination`): subset port-level >
 * subset > DR port-level (only when the destination names a port) > DR top level.
 */
export function hashPolicyForDestination(
  dr: MergedDestinationRule | null,
  subset: string | null,
  explicitPort: number | null,
): HashPolicy | null {
  if (!dr) return null;
  const sub = subset ? dr.subsets.get(subset) : undefined;
  const portEntry = (tp: TrafficPolicy | undefined) =>
    explicitPort !== null ? (tp?.portLevelSettings ?? []).find((p) => p.port?.number === explicitPort) : undefined;
  const candidates = [
    portEntry(sub?.trafficPolicy)?.loadBalancer?.consistentHash,
    sub?.trafficPolicy?.loadBalancer?.consistentHash,
    portEntry(dr.trafficPolicy ?? undefined)?.loadBalancer?.consistentHash,
    dr.trafficPolicy?.loadBalancer?.consistentHash,
  ];
  for (const c of candidates) {
    const h = hashPolicyOf(c);
    if (h) return h;
  }
  return null;
}

/**
 * The hash policy of Istio's default route for one service port (`hashForService`): the DestinationRule's
 * top-level `consistentHash`, replaced by the `consistentHash` of the port-level entry for that port when it has
 * one. Subset policies never apply (the default route has no subset).
 */
export function hashPolicyForService(dr: MergedDestinationRule | null, port: number): HashPolicy | null {
  if (!dr) return null;
  const entry = (dr.trafficPolicy?.portLevelSettings ?? []).find((p) => p.port?.number === port);
  const portHash = entry?.loadBalancer?.consistentHash;
  return hashPolicyOf(portHash ?? dr.trafficPolicy?.loadBalancer?.consistentHash);
}
