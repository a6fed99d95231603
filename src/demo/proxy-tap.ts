/**
 * The proxy-side view of the demo: counts what the proxy itself reports for each request (route taken, subset,
 * status, Envoy response flags, source workload) and for each mirror, through `startServe`'s `metrics` hooks. The
 * same hooks still feed weir's Istio metrics (`createProxyMetrics`), so the admin port's `/stats/prometheus`
 * shows `istio_requests_total` & co. as `weir serve` does.
 */
import type { MetricsSource } from '../admin/server.ts';
import type { MirrorRecord, RequestRecord } from '../dataplane/proxy.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';

/** Counters for one route (`http[index]`) of one host. */
export interface RouteCounts {
  /** `http[i]` index in the VirtualService, or null when no route matched (404 NR). */
  index: number | null;
  name: string | null;
  requests: number;
  /** Per destination subset chosen by the route (`v1`, `v2`). */
  bySubset: Map<string, number>;
  /** Per `status flags`, e.g. `200 -`, `504 UT`. */
  byOutcome: Map<string, number>;
  /** Per source workload as the proxy identified it (`qa/qa-tools`, or `(unknown)`). */
  bySource: Map<string, number>;
}

/** Counters for the mirrors of one cluster. */
export interface MirrorCounts {
  /** Per outcome (`sent`, `failed`, `dropped-overload`, …). */
  byOutcome: Map<string, number>;
}

const MAX_KEYS = 1000;

function bump<K>(m: Map<K, number>, k: K): void {
  if (m.has(k) || m.size < MAX_KEYS) m.set(k, (m.get(k) ?? 0) + 1);
}

/** Aggregates proxy records by authority host and route. Bounded (at most 1000 keys per map). */
export class ProxyTap {
  private readonly byHost = new Map<string, Map<string, RouteCounts>>();
  private readonly mirrors = new Map<string, MirrorCounts>();

  /** The factory to hand to `startServe({ metrics })`: the tap first, then weir's Istio metrics. */
  readonly metrics = (hooks: { onRequest(r: RequestRecord): void; onMirror(r: MirrorRecord): void }): MetricsSource => {
    const inner = { onRequest: (_r: RequestRecord): void => {}, onMirror: (_r: MirrorRecord): void => {} };
    const istio = createProxyMetrics(inner);
    hooks.onRequest = (r) => {
      this.onRequest(r);
      inner.onRequest(r);
    };
    hooks.onMirror = (r) => {
      this.onMirror(r);
      inner.onMirror(r);
    };
    return istio;
  };

  /** Records a finished request. */
  onRequest(r: RequestRecord): void {
    const host = r.authority.replace(/:\d+$/, '').toLowerCase();
    let routes = this.byHost.get(host);
    if (!routes) {
      if (this.byHost.size >= MAX_KEYS) return;
      routes = new Map();
      this.byHost.set(host, routes);
    }
    const d = r.decision;
    const route = d && 'route' in d ? d.route : null;
    const key = route ? String(route.index) : '-';
    let c = routes.get(key);
    if (!c) {
      c = {
        index: route?.index ?? null,
        name: route?.name ?? null,
        requests: 0,
        bySubset: new Map(),
        byOutcome: new Map(),
        bySource: new Map(),
      };
      routes.set(key, c);
    }
    c.requests++;
    if (r.destination) bump(c.bySubset, r.destination.subset ?? '(none)');
    bump(c.byOutcome, `${r.status} ${r.responseFlags || '-'}`);
    const src = r.source?.workload ? `${r.source.namespace}/${r.source.workload}` : '(unknown)';
    bump(c.bySource, src);
  }

  /** Records a mirror outcome. */
  onMirror(r: MirrorRecord): void {
    let m = this.mirrors.get(r.cluster);
    if (!m) {
      if (this.mirrors.size >= MAX_KEYS) return;
      m = { byOutcome: new Map() };
      this.mirrors.set(r.cluster, m);
    }
    bump(m.byOutcome, r.outcome);
  }

  /** Routes seen for `host`, by `http[]` index (no-route last). */
  routes(host: string): RouteCounts[] {
    return [...(this.byHost.get(host)?.values() ?? [])].sort((a, b) => (a.index ?? 1e9) - (b.index ?? 1e9));
  }

  /** Counters of route `http[index]` of `host` (zeros when it was never taken). */
  route(host: string, index: number): RouteCounts {
    return (
      this.byHost.get(host)?.get(String(index)) ?? {
        index,
        name: null,
        requests: 0,
        bySubset: new Map(),
        byOutcome: new Map(),
        bySource: new Map(),
      }
    );
  }

  /** Mirrors sent to clusters whose name contains `host`, per outcome. */
  mirrorsTo(host: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [cluster, m] of this.mirrors) {
      if (!cluster.includes(host)) continue;
      for (const [k, n] of m.byOutcome) out.set(k, (out.get(k) ?? 0) + n);
    }
    return out;
  }

  /** Forgets everything counted for `host` (and mirrors to it). */
  resetHost(host: string): void {
    this.byHost.delete(host);
    for (const k of [...this.mirrors.keys()]) if (k.includes(host)) this.mirrors.delete(k);
  }
}
