/**
 * Hand-built route counts for the provider tests (`providers-*.test.ts`, `test/e2e/rollout-prometheus.test.ts`):
 * snapshots (`RouteCountsSnapshot`), the expected `RolloutCounts`, and the same counts as Prometheus exposition text
 * in the `weir_route_*` format of `rollout/route-counts.ts`.
 */
import type { RolloutSelector } from '../../../src/rollout/providers/types.ts';
import {
  type DestinationCounts,
  ROUTE_COUNTS_VERSION,
  ROUTE_METRICS,
  type RouteCounts,
  type RouteCountsSnapshot,
  type SplitCounts,
  splitKey,
} from '../../../src/rollout/route-counts.ts';
import {
  createRolloutCounts,
  ENVOY_DEFAULT_BUCKETS_MS,
  type RolloutCounts,
  recordEvents,
  statisticsBucketEdgesMs,
} from '../../../src/rollout/stats/index.ts';

export const NS = 'prod';
export const VS = 'reviews';
export const HOST = `reviews.${NS}.svc.cluster.local`;
export const OTHER_HOST = `ratings.${NS}.svc.cluster.local`;
export const SEL: RolloutSelector = {
  namespace: NS,
  virtualService: VS,
  host: HOST,
  primarySubset: 'v1',
  canarySubset: 'v2',
};
export const EDGES = statisticsBucketEdgesMs();
export const T0 = Date.parse('2026-01-01T00:00:00Z');
export const iso = (ms: number): string => new Date(ms).toISOString();

/** A destination's counts from its list of latencies (ms) and error count; the histogram over `edges`. */
export function dest(
  subset: string | null,
  probability: number,
  latencies: readonly number[],
  errors: number,
  host = HOST,
  edges: readonly number[] = EDGES,
): DestinationCounts {
  const histogram = new Array<number>(edges.length + 1).fill(0);
  for (const l of latencies) {
    const k = edges.findIndex((e) => l <= e);
    histogram[k < 0 ? edges.length : k]!++;
  }
  return { host, subset, probability, requests: latencies.length, errors, histogram };
}

export function split(...destinations: DestinationCounts[]): SplitCounts {
  return { key: splitKey(destinations), destinations };
}

export function route(index: number, splits: SplitCounts[], mirrors: DestinationCounts[] = [], vs = VS): RouteCounts {
  return { namespace: NS, virtualService: vs, route: index, routeName: null, splits, mirrors };
}

export function snapshot(
  instance: string,
  routes: RouteCounts[],
  startedAtMs = T0 - 3_600_000,
  capturedAtMs = T0,
  edges: readonly number[] = EDGES,
): RouteCountsSnapshot {
  return {
    version: ROUTE_COUNTS_VERSION,
    instance,
    startedAt: iso(startedAtMs),
    capturedAt: iso(capturedAtMs),
    edgesMs: edges,
    routes,
  };
}

/** `n` latencies: `slow` of them at `slowMs`, the rest at `fastMs`. */
export function lat(n: number, fastMs: number, slow = 0, slowMs = 0): number[] {
  return [...new Array<number>(n - slow).fill(fastMs), ...new Array<number>(slow).fill(slowMs)];
}

/** The expected RolloutCounts of rows `[w, version, latencies, errors]` at `thresholds`. */
export function expected(
  rows: readonly (readonly [number, 'canary' | 'primary', readonly number[], number])[],
  thresholds: readonly number[],
): RolloutCounts {
  const c = createRolloutCounts(thresholds);
  const rec = (t: RolloutCounts['requests'], w: number, v: 'canary' | 'primary', n: number): void => {
    if (n > 0) recordEvents(t, w, v === 'canary' ? n : 0, v === 'primary' ? n : 0);
  };
  for (const [w, v, ls, errors] of rows) {
    rec(c.requests, w, v, ls.length);
    rec(c.errors, w, v, errors);
    for (const t of c.latency) rec(t.exceedances, w, v, ls.filter((l) => l > t.thresholdMs).length);
  }
  return c;
}

/** A Prometheus label value, escaped as the text format wants (`\\`, `"`, newline). */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The `weir_route_*` exposition text of `routes` (their histograms must be over the Envoy edges, `dest(…, host,
 * ENVOY_DEFAULT_BUCKETS_MS)`), as `weir serve` renders it: requests and errors counters and the duration histogram
 * per route, split and destination (`traffic="routed"`) and per mirror (`split=""`, `traffic="mirrored"`). `sumMs`
 * is made up (the providers do not read it). Extra series text may be appended.
 */
export function exposition(routes: readonly RouteCounts[], extra = ''): string {
  const edges = ENVOY_DEFAULT_BUCKETS_MS;
  const series: { labels: string; d: DestinationCounts }[] = [];
  const labelsOf = (r: RouteCounts, d: DestinationCounts, split: string, traffic: string): string =>
    [
      ['namespace', r.namespace],
      ['virtual_service', r.virtualService],
      ['route', String(r.route)],
      ['destination_service', d.host],
      ['destination_subset', d.subset ?? ''],
      ['split', split],
      ['traffic', traffic],
    ]
      .map(([k, v]) => `${k}="${escapeLabel(v!)}"`)
      .join(',');
  for (const r of routes) {
    for (const s of r.splits)
      for (const d of s.destinations) series.push({ labels: labelsOf(r, d, s.key, 'routed'), d });
    for (const d of r.mirrors) series.push({ labels: labelsOf(r, d, '', 'mirrored'), d });
  }
  const out: string[] = [];
  out.push(`# TYPE ${ROUTE_METRICS.requests} counter`);
  for (const s of series) out.push(`${ROUTE_METRICS.requests}{${s.labels}} ${s.d.requests}`);
  out.push(`# TYPE ${ROUTE_METRICS.errors} counter`);
  for (const s of series) out.push(`${ROUTE_METRICS.errors}{${s.labels}} ${s.d.errors}`);
  const h = ROUTE_METRICS.duration;
  out.push(`# TYPE ${h} histogram`);
  for (const s of series) {
    if (s.d.histogram.length !== edges.length + 1)
      throw new RangeError('exposition: histogram not over the Envoy edges');
    let acc = 0;
    edges.forEach((e, k) => {
      acc += s.d.histogram[k]!;
      out.push(`${h}_bucket{${s.labels},le="${e}"} ${acc}`);
    });
    out.push(`${h}_bucket{${s.labels},le="+Inf"} ${s.d.requests}`);
    out.push(`${h}_sum{${s.labels}} ${s.d.requests * 10}`);
    out.push(`${h}_count{${s.labels}} ${s.d.requests}`);
  }
  return `${out.join('\n')}\n${extra}`;
}
