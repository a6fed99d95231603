import type { MergedDestinationRule } from '../config/destination-rules.ts';
import { hostMatches } from '../config/hosts.ts';
import { findService, labelsMatch, type Service } from '../config/registry.ts';
import type { DestinationRule } from '../config/resources.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import type { Steps } from '../util/slice.ts';
import type { CompileMemo } from './compile.ts';
import { type CompileLookups, sameRules } from './lookups.ts';
import { clusterPolicy } from './traffic-policy.ts';
import type { Cluster, ClusterEndpoint, HostEntry, ProxyMode, SourceIdentity, VirtualHost } from './types.ts';
export class RouteTable {
  /** Exact domain → host entry (lower-case, no port). */
  readonly exact: ReadonlyMap<string, HostEntry>;
  /** Wildcard host entries, most specific first. */
  readonly wildcards: readonly HostEntry[];
  readonly mode: ProxyMode;
  readonly snapshot: ConfigSnapshot;
  /** Monotonic version of the config this table was built from. */
  readonly version: number;
  /** What the next compile of the same proxy may reuse (see `compile.ts`). */
  readonly memo: CompileMemo;
  private readonly clusters = new Map<string, Cluster | null>();
  /** The DestinationRules each built cluster's policy and subsets came from (null: none applied). */
  private readonly clusterRules = new Map<string, readonly DestinationRule[] | null>();

  constructor(
    snapshot: ConfigSnapshot,
    mode: ProxyMode,
    exact: ReadonlyMap<string, HostEntry>,
    wildcards: readonly HostEntry[],
    version: number,
    memo: CompileMemo = { routes: new Map(), defaults: new Map() },
  ) {
    this.snapshot = snapshot;
    this.mode = mode;
    this.exact = exact;
    this.wildcards = wildcards;
    this.version = version;
    this.memo = memo;
  }

  /**
   * Takes over the clusters `previous` built whose service and DestinationRules are the same objects in this
   * table's snapshot (so they are the same `Cluster` objects, and the data plane keeps their runtimes as they are).
   * Steps (`util/slice.ts`).
   */
  *adoptClusters(
    previous: RouteTable,
    lookups: CompileLookups,
    rulesChanged: (host: string) => boolean = () => true,
  ): Steps<void> {
    /** Pause points are offered every few units (a generator step costs more than one unit here). */
    let stepCount = 0;
    for (const [name, c] of previous.clusters) {
      if (c === null) continue;
      const rules = previous.clusterRules.get(name) ?? null;
      const svc = lookups.service(c.host);
      if (
        svc === c.service &&
        (!rulesChanged(c.host) || sameRules(lookups.destinationRule(c.host, svc.namespace)?.sources ?? null, rules))
      ) {
        this.clusters.set(name, c);
        this.clusterRules.set(name, rules);
      }
      if ((++stepCount & 63) === 0) yield;
    }
  }

  /** The cluster named `outbound|<port>|<subset>|<host>` in this table, or null when it does not exist. */
  clusterByName(name: string): Cluster | null {
    const m = /^outbound\|(\d+)\|([^|]*)\|(.+)$/.exec(name);
    if (!m) return null;
    const port = Number(m[1]);
    return this.cluster(m[3]!, m[2] === '' ? null : m[2]!, port, port);
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
    this.clusterRules.set(name, dr?.sources ?? null);
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
