/**
 * The proxy side of `weir rollout` (issue 8; design `sequential-canary.md` §1.1, §1.3, §1.8, §2.5, §6): per
 * VirtualService route, per split (the route's destinations with their routing probabilities) and per destination,
 * the requests, the errors and a latency histogram over the statistics edges, since the process started. Fed by the
 * proxy's `onRequest`/`onMirror` hooks; read as a {@link RouteCountsSnapshot} (admin `GET /rollout/counts`) or as
 * Prometheus text (`weir_route_*`, Envoy's default buckets). The contract (shapes, names, what is counted) is
 * `rollout/route-counts.ts`.
 *
 * Cost per request (§6): one `WeakMap` lookup of the compiled route, two or three increments and a binary search
 * over the ~200 edges; no allocation once a compiled route has been seen. Counters are keyed by (namespace,
 * VirtualService, route index, split key, destination), not by compiled objects, so they survive hot reloads.
 */
import { randomUUID } from 'node:crypto';
import type { MetricsSource } from '../admin/server.ts';
import {
  type DestinationCounts,
  ROUTE_COUNTS_VERSION,
  ROUTE_METRIC_LABELS,
  ROUTE_METRICS,
  type RouteCounts,
  type RouteCountsSnapshot,
  type SplitMember,
  splitKey,
} from '../rollout/route-counts.ts';
import { ENVOY_DEFAULT_BUCKETS_MS, statisticsBucketEdgesMs } from '../rollout/stats/quantile.ts';
import type { CompiledRoute, MirrorPolicy, RouteDecision } from '../routing/types.ts';
import type { MetricDescriptor } from './metrics.ts';

/**
 * The `weir_route_*` families ({@link RouteCountsRecorder.renderPrometheus}) described in the shape of
 * `METRIC_CATALOG` (`telemetry/metrics.ts`), which does not list them yet.
 */
export const ROUTE_METRIC_CATALOG: readonly MetricDescriptor[] = Object.freeze([
  {
    name: ROUTE_METRICS.requests,
    type: 'counter',
    labels: ROUTE_METRIC_LABELS,
    help: 'Requests per VirtualService route, split and destination, final outcome once (weir rollout; mirrors apart).',
  },
  {
    name: ROUTE_METRICS.errors,
    type: 'counter',
    labels: ROUTE_METRIC_LABELS,
    help: 'Of those, errors: status >= 500 or a proxy-generated failure (reset, connect failure, timeout, overflow).',
  },
  {
    name: ROUTE_METRICS.duration,
    type: 'histogram',
    labels: ROUTE_METRIC_LABELS,
    help: 'Request duration per VirtualService route, split and destination, milliseconds (Envoy default buckets).',
  },
]);

/** What {@link RouteCountsRecorder.onRequest} reads of the proxy's `RequestRecord` (`dataplane/proxy.ts`). */
export interface RouteRequestRecordLike {
  readonly decision: RouteDecision | null;
  /** Status sent downstream; 0 when none was (the client went away first). */
  readonly status: number;
  /** Envoy response flags, comma-separated, or `-`. */
  readonly responseFlags: string;
  /** Whole request, first downstream byte to the end of the response, ms. */
  readonly durationMs: number;
}

/** What {@link RouteCountsRecorder.onMirror} reads of the proxy's `MirrorRecord`. */
export interface RouteMirrorRecordLike {
  /** The route that mirrored the request and the mirror policy the copy followed (absent: not counted). */
  readonly route?: CompiledRoute | undefined;
  readonly mirror?: MirrorPolicy | undefined;
  /** Shadow's status; 0 when it failed. */
  readonly status: number;
  readonly outcome: string;
  readonly durationMs: number;
}

/** Which routes a snapshot keeps (exact matches; an absent field keeps all). */
export interface RouteCountsFilter {
  readonly namespace?: string | undefined;
  readonly virtualService?: string | undefined;
}

/** Options of {@link RouteCountsRecorder}. */
export interface RouteCountsOptions {
  /** The process id of the snapshots; default a random UUID. */
  instance?: string;
  /** Clock for `startedAt`/`capturedAt`; default `new Date()`. */
  now?: () => Date;
  /**
   * Finite histogram edges in ms, strictly increasing, containing every `ENVOY_DEFAULT_BUCKETS_MS` edge (the
   * Prometheus buckets are derived from them); default `statisticsBucketEdgesMs()` (§2.5).
   */
  edgesMs?: readonly number[];
}

/**
 * Response flags of a proxy-generated failure (§1.1: reset, connect failure, timeout, overflow, no healthy host,
 * no cluster). Usually on a 5xx local reply; `UT`/`UC` also mark a response cut off after its head was relayed.
 * `DC` (the client left), `DI`, `FI` and `URX` alone are not failures: the status decides.
 */
const FAILURE_FLAGS: ReadonlySet<string> = new Set(['UH', 'UF', 'UC', 'UO', 'UT', 'UR', 'LR', 'UPE', 'NC', 'SI']);

/** Counts of one destination of one split (or one mirror target). */
class DestinationCell {
  requests = 0;
  errors = 0;
  /** Sum of the observed durations in ms (Prometheus `_sum`). */
  sumMs = 0;
  /** Non-cumulative counts per statistics bucket; the last one is above the last edge. */
  readonly histogram: Float64Array;
  /** Prometheus label text, built at the first scrape. */
  labelText: string | null = null;
  constructor(
    readonly host: string,
    readonly subset: string | null,
    readonly probability: number,
    buckets: number,
  ) {
    this.histogram = new Float64Array(buckets);
  }
}

interface SplitCell {
  readonly key: string;
  /** In split-key order. */
  readonly destinations: readonly DestinationCell[];
}

interface RouteCell {
  readonly namespace: string;
  readonly virtualService: string;
  readonly route: number;
  routeName: string | null;
  /** By split key, in order of first use. */
  readonly splits: Map<string, SplitCell>;
  /** By `host|subset|p`, in order of first use. */
  readonly mirrors: Map<string, DestinationCell>;
}

/** What a compiled route resolves to, cached per compiled route object. */
interface RouteSlot {
  /** The cell of each of the route's destinations, by destination index. */
  readonly destinations: readonly DestinationCell[];
  /** The cell of each of the route's mirrors, by index in `route.mirrors`. */
  readonly mirrors: readonly DestinationCell[];
}

/** The slot of a route that is not counted (Istio's default route of a service without VirtualService). */
const NOT_COUNTED: RouteSlot = Object.freeze({ destinations: [], mirrors: [] });

/** Rounds a probability to 1e-4 (the contract's resolution). */
function round4(p: number): number {
  return Math.round(p * 1e4) / 1e4;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The per-route count tables of one proxy (`sequential-canary.md` §1.1, §1.3, §2.5, §6). Feed it the proxy's
 * records with {@link onRequest} and {@link onMirror}; read it with {@link snapshot} (JSON for `weir rollout`) or
 * {@link renderPrometheus}. Counts are cumulative since construction and never reset; a new process has a new
 * {@link instance}.
 *
 * Counted: a request a VirtualService route sent to a destination (`decision.action` `route`, and `clusterNotFound`
 * — the route picked a destination whose cluster does not exist, a 503 `NC` error), once with its final outcome
 * whatever the retries. Not counted: requests with no response (status 0: the client left first, flag `DC`),
 * redirects, direct responses, `NR`, and Istio's default route of a service without VirtualService. Mirrored copies
 * are counted apart, per mirror target, when sent (an answer, or a failure); dropped copies are not.
 */
export class RouteCountsRecorder {
  /** Random id of this recorder (of the proxy process): a new id means the counts restarted from zero. */
  readonly instance: string;
  /** ISO time counting started. */
  readonly startedAt: string;
  /** The histogram's finite edges in ms. */
  readonly edgesMs: readonly number[];
  private readonly edges: Float64Array;
  /** Index in {@link edgesMs} of each Envoy default edge (for the Prometheus buckets). */
  private readonly envoyIndex: readonly number[];
  private readonly now: () => Date;
  private readonly slots = new WeakMap<CompiledRoute, RouteSlot>();
  /** Routes by `namespace\0name\0index`, in order of first use. */
  private readonly routes = new Map<string, RouteCell>();
  /** Whether a flags string contains a failure flag (a handful of distinct strings). */
  private readonly failureFlags = new Map<string, boolean>();

  /** @throws RangeError when `edgesMs` is empty, not strictly increasing, or lacks an Envoy default edge. */
  constructor(options: RouteCountsOptions = {}) {
    const edges = options.edgesMs ?? statisticsBucketEdgesMs();
    if (edges.length === 0) throw new RangeError('route counts: no histogram edges');
    for (let k = 0; k < edges.length; k++) {
      if (!Number.isFinite(edges[k]!) || (k > 0 && !(edges[k]! > edges[k - 1]!))) {
        throw new RangeError('route counts: histogram edges must be finite and strictly increasing');
      }
    }
    this.envoyIndex = ENVOY_DEFAULT_BUCKETS_MS.map((e) => {
      const i = edges.indexOf(e);
      if (i < 0) throw new RangeError(`route counts: histogram edges lack Envoy's edge ${e} ms`);
      return i;
    });
    this.edgesMs = Object.freeze([...edges]);
    this.edges = Float64Array.from(edges);
    this.now = options.now ?? (() => new Date());
    this.instance = options.instance ?? randomUUID();
    this.startedAt = this.now().toISOString();
  }

  /** Counts one finished downstream request (the proxy's `onRequest` hook). Never throws for any record. */
  onRequest(r: RouteRequestRecordLike): void {
    const d = r.decision;
    if (d === null || (d.action !== 'route' && d.action !== 'clusterNotFound')) return;
    const status = r.status;
    if (status === 0) return;
    let slot = this.slots.get(d.route);
    if (slot === undefined) slot = this.resolve(d.route);
    const cell = slot.destinations[d.destinationIndex];
    if (cell === undefined) return;
    cell.requests++;
    if (status >= 500 || (r.responseFlags !== '-' && this.isFailure(r.responseFlags))) cell.errors++;
    this.observe(cell, r.durationMs);
  }

  /** Counts one mirrored copy (the proxy's `onMirror` hook): sent or failed; dropped copies are not counted. */
  onMirror(r: RouteMirrorRecordLike): void {
    const route = r.route;
    const mirror = r.mirror;
    if (route === undefined || mirror === undefined) return;
    if (r.outcome !== 'sent' && r.outcome !== 'failed') return;
    let slot = this.slots.get(route);
    if (slot === undefined) slot = this.resolve(route);
    const cell = slot.mirrors[route.mirrors.indexOf(mirror)];
    if (cell === undefined) return;
    cell.requests++;
    if (r.outcome === 'failed' || r.status === 0 || r.status >= 500) cell.errors++;
    this.observe(cell, r.durationMs);
  }

  /**
   * Everything counted so far, as the admin API serves it (`RouteCountsSnapshot`, version 1): routes in order of
   * first request, splits in order of first use, destinations in split-key order. A copy: later requests do not
   * change it.
   */
  snapshot(filter: RouteCountsFilter = {}): RouteCountsSnapshot {
    const routes: RouteCounts[] = [];
    for (const rc of this.routes.values()) {
      if (filter.namespace !== undefined && rc.namespace !== filter.namespace) continue;
      if (filter.virtualService !== undefined && rc.virtualService !== filter.virtualService) continue;
      routes.push({
        namespace: rc.namespace,
        virtualService: rc.virtualService,
        route: rc.route,
        routeName: rc.routeName,
        splits: [...rc.splits.values()].map((s) => ({ key: s.key, destinations: s.destinations.map(destCounts) })),
        mirrors: [...rc.mirrors.values()].map(destCounts),
      });
    }
    return {
      version: ROUTE_COUNTS_VERSION,
      instance: this.instance,
      startedAt: this.startedAt,
      capturedAt: this.now().toISOString(),
      edgesMs: this.edgesMs,
      routes,
    };
  }

  /**
   * The counts as Prometheus text exposition (format 0.0.4): `weir_route_requests_total`, `weir_route_errors_total`
   * and the histogram `weir_route_request_duration_milliseconds` with Envoy's default buckets, labelled by
   * `ROUTE_METRIC_LABELS` (mirrors: `split=""`, `traffic="mirrored"`, one series per mirror target). Families
   * with no series yet are still announced (`# HELP`, `# TYPE`).
   */
  renderPrometheus(): string {
    const series: { labels: string; cell: DestinationCell }[] = [];
    for (const rc of this.routes.values()) {
      for (const s of rc.splits.values()) {
        for (const c of s.destinations) {
          c.labelText ??= this.labelText(rc, c.host, c.subset, s.key, 'routed');
          series.push({ labels: c.labelText, cell: c });
        }
      }
      // Mirror cells are per (host, subset, percentage); the series is per (host, subset).
      const merged = new Map<string, DestinationCell>();
      for (const m of rc.mirrors.values()) {
        const k = `${m.host}|${m.subset ?? ''}`;
        let sum = merged.get(k);
        if (sum === undefined) {
          sum = new DestinationCell(m.host, m.subset, m.probability, m.histogram.length);
          sum.labelText = this.labelText(rc, m.host, m.subset, '', 'mirrored');
          merged.set(k, sum);
        }
        sum.requests += m.requests;
        sum.errors += m.errors;
        sum.sumMs += m.sumMs;
        for (let i = 0; i < m.histogram.length; i++) sum.histogram[i]! += m.histogram[i]!;
      }
      for (const m of merged.values()) series.push({ labels: m.labelText!, cell: m });
    }
    const out: string[] = [];
    const head = (d: MetricDescriptor): void => {
      out.push(`# HELP ${d.name} ${d.help}`, `# TYPE ${d.name} ${d.type}`);
    };
    const [requests, errors, duration] = ROUTE_METRIC_CATALOG as [MetricDescriptor, MetricDescriptor, MetricDescriptor];
    head(requests);
    for (const s of series) out.push(`${requests.name}{${s.labels}} ${s.cell.requests}`);
    head(errors);
    for (const s of series) out.push(`${errors.name}{${s.labels}} ${s.cell.errors}`);
    const h = duration.name;
    head(duration);
    for (const s of series) {
      const c = s.cell;
      let acc = 0;
      let k = 0;
      for (let j = 0; j < this.envoyIndex.length; j++) {
        const upto = this.envoyIndex[j]!;
        for (; k <= upto; k++) acc += c.histogram[k]!;
        out.push(`${h}_bucket{${s.labels},le="${ENVOY_DEFAULT_BUCKETS_MS[j]}"} ${acc}`);
      }
      out.push(`${h}_bucket{${s.labels},le="+Inf"} ${c.requests}`);
      out.push(`${h}_sum{${s.labels}} ${c.sumMs}`);
      out.push(`${h}_count{${s.labels}} ${c.requests}`);
    }
    return `${out.join('\n')}\n`;
  }

  // ------------------------------------------------------------------------------------------ internals

  private observe(cell: DestinationCell, ms: number): void {
    // Bucket k holds (edges[k−1], edges[k]]: the first edge ≥ ms; past the last edge, the overflow bucket.
    const edges = this.edges;
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ms <= edges[mid]!) hi = mid;
      else lo = mid + 1;
    }
    cell.histogram[lo]!++;
    cell.sumMs += ms;
  }

  private isFailure(flags: string): boolean {
    let v = this.failureFlags.get(flags);
    if (v === undefined) {
      v = flags.split(',').some((f) => FAILURE_FLAGS.has(f));
      if (this.failureFlags.size < 1024) this.failureFlags.set(flags, v);
    }
    return v;
  }

  /** First sight of a compiled route: its cells (created or found by key), cached for the route object. */
  private resolve(route: CompiledRoute): RouteSlot {
    const vs = route.virtualService;
    if (!vs.name) {
      this.slots.set(route, NOT_COUNTED);
      return NOT_COUNTED;
    }
    const rk = `${vs.namespace}\0${vs.name}\0${route.index}`;
    let rc = this.routes.get(rk);
    if (rc === undefined) {
      rc = {
        namespace: vs.namespace,
        virtualService: vs.name,
        route: route.index,
        routeName: route.name,
        splits: new Map(),
        mirrors: new Map(),
      };
      this.routes.set(rk, rc);
    } else if (route.name !== null) {
      rc.routeName = route.name; // the newest configuration's name
    }
    const buckets = this.edges.length + 1;
    let destinations: DestinationCell[] = [];
    if (route.action.type === 'route' && route.action.destinations.length > 0) {
      const dests = route.action.destinations;
      const total = dests.reduce((a, d) => a + d.weight, 0);
      // A destination listed twice (say, on two ports) is one member whose probability is the sum.
      const members = new Map<string, { host: string; subset: string | null; weight: number }>();
      for (const d of dests) {
        const k = `${d.host}|${d.subset ?? ''}`;
        const m = members.get(k);
        if (m) m.weight += d.weight;
        else members.set(k, { host: d.host, subset: d.subset, weight: d.weight });
      }
      const list: (SplitMember & { id: string; sortKey: string })[] = [...members].map(([id, m]) => {
        const p = members.size === 1 ? 1 : round4(total > 0 ? m.weight / total : 1 / members.size); // all-zero: uniform
        return { id, host: m.host, subset: m.subset, probability: p, sortKey: splitKey([{ ...m, probability: p }]) };
      });
      list.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
      const key = splitKey(list);
      let split = rc.splits.get(key);
      if (split === undefined) {
        split = {
          key,
          destinations: list.map((m) => new DestinationCell(m.host, m.subset, m.probability, buckets)),
        };
        rc.splits.set(key, split);
      }
      const byId = new Map(list.map((m, i) => [m.id, split!.destinations[i]!]));
      destinations = dests.map((d) => byId.get(`${d.host}|${d.subset ?? ''}`)!);
    }
    const mirrors = route.mirrors.map((m) => {
      const p = round4(m.percent / 100);
      const k = `${m.host}|${m.subset ?? ''}|${p}`;
      let cell = rc.mirrors.get(k);
      if (cell === undefined) {
        cell = new DestinationCell(m.host, m.subset, p, buckets);
        rc.mirrors.set(k, cell);
      }
      return cell;
    });
    const slot: RouteSlot = { destinations, mirrors };
    this.slots.set(route, slot);
    return slot;
  }

  private labelText(rc: RouteCell, host: string, subset: string | null, split: string, traffic: string): string {
    const values: Record<(typeof ROUTE_METRIC_LABELS)[number], string> = {
      namespace: rc.namespace,
      virtual_service: rc.virtualService,
      route: String(rc.route),
      destination_service: host,
      destination_subset: subset ?? '',
      split,
      traffic,
    };
    return ROUTE_METRIC_LABELS.map((l) => `${l}="${escapeLabel(values[l])}"`).join(',');
  }
}

function destCounts(c: DestinationCell): DestinationCounts {
  return {
    host: c.host,
    subset: c.subset,
    probability: c.probability,
    requests: c.requests,
    errors: c.errors,
    histogram: Array.from(c.histogram),
  };
}

/**
 * A metrics source that serves `source`'s exposition followed by the route counts' `weir_route_*` families (for the
 * admin `/stats/prometheus` and `/metrics`). @throws RangeError when `source` is not Prometheus text format 0.0.4
 * (OpenMetrics ends with `# EOF`, after which nothing may be appended).
 */
export function withRouteCountMetrics(source: MetricsSource, recorder: RouteCountsRecorder): MetricsSource {
  if (/openmetrics/i.test(source.contentType)) {
    throw new RangeError(`route counts: cannot append to ${source.contentType} exposition`);
  }
  return {
    contentType: source.contentType,
    async render(): Promise<string> {
      const base = await source.render();
      const text = recorder.renderPrometheus();
      return base === '' || base.endsWith('\n') ? base + text : `${base}\n${text}`;
    },
  };
}
