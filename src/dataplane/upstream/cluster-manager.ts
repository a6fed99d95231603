/**
 * Runtime state of clusters: per endpoint an undici connection pool and an active-request counter, and the
 * cluster's load balancer. A runtime survives a config reload when its cluster is unchanged (same endpoints and
 * policy), so keep-alive connections, balancer position and (later) outlier state are kept; changed or unused
 * clusters are closed gracefully.
 */
import { Pool } from 'undici';
import type { Cluster } from '../../routing/types.ts';
import { createLoadBalancer, type LbEndpoint, type LbPolicy, type LoadBalancer } from '../cluster/lb/index.ts';

/** One upstream host of a cluster at runtime. */
export interface EndpointRuntime {
  key: string;
  address: string;
  port: number;
  pool: Pool;
  /** Requests in flight to this host (Envoy `rq_active`). */
  active: number;
  labels: Readonly<Record<string, string>>;
}

/** A cluster's runtime: endpoints with pools, the balancer, counters. */
export class ClusterRuntime {
  readonly name: string;
  readonly fingerprint: string;
  cluster: Cluster;
  readonly endpoints: EndpointRuntime[];
  readonly lb: LoadBalancer | null;
  /** Requests in flight on the cluster (for `http2MaxRequests`). */
  active = 0;
  private readonly activeOf = (i: number): number => this.endpoints[i]!.active;

  constructor(cluster: Cluster, fingerprint: string) {
    this.name = cluster.name;
    this.cluster = cluster;
    this.fingerprint = fingerprint;
    const pool = cluster.policy.connectionPool;
    this.endpoints = cluster.endpoints.map((e) => ({
      key: e.key,
      address: e.address,
      port: e.port,
      labels: e.labels,
      active: 0,
      pool: new Pool(`http://${e.key}`, {
        connections: null,
        pipelining: 1,
        connect: { timeout: pool.connectTimeoutMs },
        keepAliveTimeout: Math.min(pool.idleTimeoutMs, 3_600_000),
        keepAliveMaxTimeout: Math.max(pool.idleTimeoutMs, 1000),
        headersTimeout: 0,
        bodyTimeout: 0,
        ...(pool.maxRequestsPerConnection > 0 ? { maxRequestsPerClient: pool.maxRequestsPerConnection } : {}),
      }),
    }));
    const lbEndpoints: LbEndpoint[] = cluster.endpoints.map((e, i) => ({
      key: e.key,
      address: e.address,
      port: e.port,
      weight: Math.max(1, Math.floor(e.weight)),
      handle: i,
    }));
    const p = cluster.policy.lb;
    const policy: LbPolicy =
      p.type === 'RING_HASH'
        ? { type: 'RING_HASH', minimumRingSize: p.minimumRingSize }
        : p.type === 'MAGLEV'
          ? { type: 'MAGLEV', tableSize: p.tableSize }
          : p.type === 'PASSTHROUGH'
            ? { type: 'RANDOM' }
            : { type: p.type };
    this.lb = lbEndpoints.length > 0 ? createLoadBalancer(policy, lbEndpoints, { seed: 0 }) : null;
  }

  /**
   * Picks an endpoint index, or -1 when the cluster has no endpoint (→ 503 UH).
   * @param hash request hash for RING_HASH/MAGLEV, or null.
   * @param exclude `previous_hosts` predicate for retries, or undefined.
   */
  pick(hash: bigint | null, rng: () => number, exclude?: (i: number) => boolean): number {
    if (!this.lb) return -1;
    return this.lb.pick({
      hash,
      rng,
      activeRequests: this.activeOf,
      ...(exclude ? { exclude, hostSelectionRetryCount: 5 } : {}),
    });
  }

  /** Closes the pools, letting in-flight requests finish. */
  async close(): Promise<void> {
    await Promise.allSettled(this.endpoints.map((e) => e.pool.close()));
  }

  /** Destroys the pools at once. */
  async destroy(): Promise<void> {
    await Promise.allSettled(this.endpoints.map((e) => e.pool.destroy()));
  }
}

/** Identity of a cluster's runtime-relevant definition: endpoints (with weights and labels) and policy. */
export function clusterFingerprint(c: Cluster): string {
  return JSON.stringify([
    c.endpoints.map((e) => [e.key, e.weight, e.locality, e.labels]),
    c.policy.lb,
    c.policy.connectionPool,
    c.policy.outlierDetection,
    c.policy.localityLbSetting,
  ]);
}

/** Owns every cluster runtime of a proxy. */
export class ClusterManager {
  private readonly runtimes = new Map<string, ClusterRuntime>();

  /** The runtime for a cluster of the current table (created on first use; replaced when its definition changed). */
  get(cluster: Cluster): ClusterRuntime {
    const existing = this.runtimes.get(cluster.name);
    if (existing && existing.cluster === cluster) return existing;
    const fp = clusterFingerprint(cluster);
    if (existing && existing.fingerprint === fp) {
      existing.cluster = cluster;
      return existing;
    }
    const rt = new ClusterRuntime(cluster, fp);
    this.runtimes.set(cluster.name, rt);
    if (existing) void existing.close();
    return rt;
  }

  /** All runtimes (for the admin `/clusters` page). */
  all(): ClusterRuntime[] {
    return [...this.runtimes.values()];
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
