/**
 * Prometheus metrics of one proxy: Istio's standard HTTP metrics (`istio_requests_total`,
 * `istio_request_duration_milliseconds`, `istio_request_bytes`, `istio_response_bytes`) with the full label set and
 * the client-side (`reporter="source"`) fallbacks of Istio's stats filter, plus weir's own `weir_*` proxy metrics in
 * base units. Each proxy owns its own prom-client `Registry` (never the global one). The hot path resolves label
 * sets once per (cluster × endpoint × source × status × flags) and reuses the cached prom-client children.
 * Mirrored requests are not counted in `istio_*` (Envoy's shadow streams are not seen by the stats filter).
 */
import {
  Counter,
  Gauge,
  Histogram,
  type Metric,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import type { MetricsSource } from '../admin/server.ts';
import type { ClusterEndpoint, RouteDecision, Cluster as RoutingCluster, SourceIdentity } from '../routing/types.ts';
import { eventLoopDelayHistogram, threadEventLoopDelaySampler } from './event-loop-delay.ts';
import { ROUTE_METRIC_CATALOG } from './route-counts.ts';

/**
 * Envoy's default histogram buckets (`HistogramOptionsImpl::defaultBuckets`), used by Istio for duration (ms) and
 * byte histograms alike unless the mesh config overrides `histogram_bucket_settings`.
 */
export const ENVOY_DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/** Istio's standard label names, in the order of the stats filter's `all_tags_`. */
export const ISTIO_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
  'response_code',
  'grpc_response_status',
] as const;

/** One Istio standard label name. */
export type IstioLabelName = (typeof ISTIO_LABEL_NAMES)[number];
/** A full Istio label set. */
export type IstioLabels = Record<IstioLabelName, string>;

const MIRROR_LABEL_NAMES = [
  'destination_service',
  'destination_subset',
  'destination_version',
  'outcome',
  'response_code',
] as const;
const MIRROR_DURATION_LABEL_NAMES = ['destination_service', 'destination_subset', 'destination_version', 'outcome'];

/** What a metric looks like in the exposition: name, type and label names (le/quantile excluded). */
export interface MetricDescriptor {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  help: string;
}

/**
 * Every metric weir emits, with its labels. The dashboard test and `docs/metrics.md` are checked against this list;
 * histograms also expose `<name>_bucket` (with `le`), `<name>_sum` and `<name>_count`.
 */
export const METRIC_CATALOG: readonly MetricDescriptor[] = Object.freeze([
  {
    name: 'istio_requests_total',
    type: 'counter',
    labels: ISTIO_LABEL_NAMES,
    help: 'Requests handled by the proxy (Istio standard metric; mirrors excluded).',
  },
  {
    name: 'istio_request_duration_milliseconds',
    type: 'histogram',
    labels: ISTIO_LABEL_NAMES,
    help: 'Request duration from the first downstream byte to the end of the response, whole milliseconds (Istio standard metric).',
  },
  {
    name: 'istio_request_bytes',
    type: 'histogram',
    labels: ISTIO_LABEL_NAMES,
    help: 'Request body size in bytes (Istio standard metric).',
  },
  {
    name: 'istio_response_bytes',
    type: 'histogram',
    labels: ISTIO_LABEL_NAMES,
    help: 'Response body size in bytes (Istio standard metric).',
  },
  {
    name: 'weir_mirror_requests_total',
    type: 'counter',
    labels: MIRROR_LABEL_NAMES,
    help: 'Mirrored (shadow) requests by outcome: sent, failed, dropped-overload, dropped-no-endpoint, dropped-body-too-large.',
  },
  {
    name: 'weir_mirror_request_duration_seconds',
    type: 'histogram',
    labels: MIRROR_DURATION_LABEL_NAMES,
    help: 'Duration of mirrored (shadow) requests that were sent, seconds.',
  },
  {
    name: 'weir_requests_in_flight',
    type: 'gauge',
    labels: [],
    help: 'Downstream requests being served now.',
  },
  {
    name: 'weir_upstream_active_requests',
    type: 'gauge',
    labels: ['cluster'],
    help: 'Requests in flight to each upstream cluster (Envoy upstream_rq_active).',
  },
  {
    name: 'weir_upstream_pending_requests',
    type: 'gauge',
    labels: ['cluster'],
    help: 'Requests waiting for an upstream connection in each cluster (circuit breaker queue; Envoy upstream_rq_pending_active).',
  },
  {
    name: 'weir_upstream_connections',
    type: 'gauge',
    labels: ['cluster'],
    help: 'Open upstream connections of each cluster (Envoy upstream_cx_active).',
  },
  {
    name: 'weir_upstream_retries_total',
    type: 'counter',
    labels: ['cluster'],
    help: 'Retry attempts sent to each upstream cluster (Envoy upstream_rq_retry).',
  },
  {
    name: 'weir_circuit_breaker_overflows_total',
    type: 'counter',
    labels: ['cluster'],
    help: 'Requests rejected locally by a circuit breaker (response flag UO; Envoy upstream_rq_pending_overflow).',
  },
  {
    name: 'weir_outlier_ejections_total',
    type: 'counter',
    labels: ['cluster'],
    help: 'Hosts ejected by outlier detection (Envoy outlier_detection.ejections_enforced_total).',
  },
  {
    name: 'weir_config_reloads_total',
    type: 'counter',
    labels: ['result'],
    help: 'Configuration reloads by result: success, failure (the last good configuration keeps serving).',
  },
  {
    name: 'weir_config_version',
    type: 'gauge',
    labels: [],
    help: 'Version of the configuration being served (1 at start, +1 per applied reload).',
  },
  {
    name: 'weir_event_loop_delay_seconds',
    type: 'histogram',
    labels: [],
    help: 'How late a timer due every 10 ms fired on the serving thread, seconds: the wait a stall (reload, long task) imposed on every request in flight.',
  },
  {
    name: 'weir_event_loop_delay_max_seconds',
    type: 'gauge',
    labels: [],
    help: 'The largest event-loop delay observed since the proxy started, seconds.',
  },
  ...ROUTE_METRIC_CATALOG,
]);

/** The read-only view of a proxy that the gauges sample at scrape time (`ProxyServer` satisfies it). */
export interface ProxyView {
  activeRequests(): number;
  clusterRuntimes(): readonly {
    name: string;
    active: number;
    pendingCount?(): number;
    connectionCount?(): number;
    cluster: { endpoints: readonly { labels: Readonly<Record<string, string>> }[] };
  }[];
  readonly configVersion: number;
}

/** The subset of the proxy's `RequestRecord` the metrics read (see `src/dataplane/proxy.ts`). */
export interface RequestRecordLike {
  decision: RouteDecision | null;
  upstreamLabels: Readonly<Record<string, string>> | null;
  upstreamHost: string | null;
  source: SourceIdentity | null;
  authority: string;
  status: number;
  responseFlags: string;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
  attempts: number;
  grpcStatus: string | null;
}

/** The subset of the proxy's `MirrorRecord` the metrics read. */
export interface MirrorRecordLike {
  cluster: string;
  status: number;
  outcome: string;
  durationMs: number;
}

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /** Istio `CLUSTER_ID` reported as `source_cluster` (Istio's default is `Kubernetes`); default `unknown`. */
  clusterId?: string;
}

const UNKNOWN = 'unknown';
const LATEST = 'latest';
/** Caches are bounded so a stream of distinct Host headers (NR) cannot grow memory without limit. */
const MAX_CACHE_ENTRIES = 10_000;
/** Distinct Host header values kept as `destination_service` of unrouted requests; the rest count as `unknown`. */
export const MAX_UNROUTED_HOSTS = 256;

/** Source half of an Istio label set, resolved once per source identity. */
interface SourcePart {
  id: number;
  source_workload: string;
  source_workload_namespace: string;
  source_principal: string;
  source_app: string;
  source_version: string;
  source_canonical_service: string;
  source_canonical_revision: string;
  source_cluster: string;
}

/** Destination half of an Istio label set, resolved once per (cluster, endpoint) or Host header. */
interface DestinationPart {
  id: number;
  /** The Envoy cluster name for the weir_* per-cluster counters, or null. */
  cluster: string | null;
  destination_workload: string;
  destination_workload_namespace: string;
  destination_principal: string;
  destination_app: string;
  destination_version: string;
  destination_service: string;
  destination_service_name: string;
  destination_service_namespace: string;
  destination_canonical_service: string;
  destination_canonical_revision: string;
  destination_cluster: string;
}

/**
 * The cached "child" of one Istio label set: the counter and the three histograms share their labels, so one cell
 * holds all four. prom-client's own `labels()` children re-hash and re-validate all 25 labels on every `inc` /
 * `observe` (measured: ~14 µs per request for the four metrics); a cell costs a few array increments.
 */
class IstioCell {
  requests = 0;
  readonly duration = new HistogramCell();
  readonly requestBytes = new HistogramCell();
  readonly responseBytes = new HistogramCell();
  constructor(readonly labels: Readonly<IstioLabels>) {}
}

/** Non-cumulative bucket counts over {@link ENVOY_DEFAULT_BUCKETS} (+Inf last), sum and count. */
class HistogramCell {
  readonly counts = new Float64Array(ENVOY_DEFAULT_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  observe(v: number): void {
    // Prometheus buckets are `le` (value <= bound); binary search over the 19 bounds.
    let lo = 0;
    let hi = ENVOY_DEFAULT_BUCKETS.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v <= ENVOY_DEFAULT_BUCKETS[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo]!++;
    this.sum += v;
    this.count++;
  }
}

type IstioHistogramField = 'duration' | 'requestBytes' | 'responseBytes';

/** An `istio_*` family in prom-client's registry, rendered from the cells at scrape time. */
function istioFamily(
  name: string,
  help: string,
  cells: () => Iterable<IstioCell>,
  field: IstioHistogramField | null,
): Metric {
  const family = {
    name,
    help,
    type: field === null ? 'counter' : 'histogram',
    aggregator: 'sum',
    async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
      const values: MetricValue<string>[] = [];
      for (const cell of cells()) {
        if (field === null) {
          values.push({ labels: cell.labels, value: cell.requests });
          continue;
        }
        const h = cell[field];
        let acc = 0;
        ENVOY_DEFAULT_BUCKETS.forEach((le, i) => {
          acc += h.counts[i]!;
          values.push({ labels: { ...cell.labels, le }, value: acc, metricName: `${name}_bucket` } as never);
        });
        values.push({ labels: { ...cell.labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` } as never);
        values.push({ labels: cell.labels, value: h.sum, metricName: `${name}_sum` } as never);
        values.push({ labels: cell.labels, value: h.count, metricName: `${name}_count` } as never);
      }
      return { name, help, type: family.type, aggregator: 'sum', values } as never;
    },
    reset(): void {},
  };
  return family as unknown as Metric;
}

const nonEmpty = (v: string | undefined | null): string | null =>
  v !== undefined && v !== null && v !== '' ? v : null;

/** `app` label, else `app.kubernetes.io/name` (Istio's peer metadata `app_name`). */
function appOf(labels: Readonly<Record<string, string>>): string | null {
  return nonEmpty(labels.app) ?? nonEmpty(labels['app.kubernetes.io/name']);
}

/** `version` label, else `app.kubernetes.io/version` (Istio's peer metadata `app_version`). */
function versionOf(labels: Readonly<Record<string, string>>): string | null {
  return nonEmpty(labels.version) ?? nonEmpty(labels['app.kubernetes.io/version']);
}

/**
 * Istio's canonical service: `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`, else the
 * workload name (istio/istio `pkg/model` `CanonicalService`), else null.
 */
export function canonicalServiceOf(labels: Readonly<Record<string, string>>, workload: string | null): string | null {
  return (
    nonEmpty(labels['service.istio.io/canonical-name']) ??
    nonEmpty(labels['app.kubernetes.io/name']) ??
    nonEmpty(labels.app) ??
    nonEmpty(workload)
  );
}

/**
 * Istio's canonical revision: `service.istio.io/canonical-revision`, else `app.kubernetes.io/version`, else
 * `version`, else null (the metric label then falls back to `latest`).
 */
export function canonicalRevisionOf(labels: Readonly<Record<string, string>>): string | null {
  return (
    nonEmpty(labels['service.istio.io/canonical-revision']) ??
    nonEmpty(labels['app.kubernetes.io/version']) ??
    nonEmpty(labels.version)
  );
}

/**
 * The workload name Istio reports for an endpoint: `service.istio.io/workload-name` when set; a WorkloadEntry's
 * name; a Deployment's name for a Pod named `<deployment>-<pod-template-hash>-<suffix>`; the Pod name otherwise.
 * Inline ServiceEntry endpoints and bare EndpointSlice addresses have no workload (null → `unknown`).
 */
export function endpointWorkloadName(ep: ClusterEndpoint): string | null {
  const fromLabel = nonEmpty(ep.labels['service.istio.io/workload-name']);
  if (fromLabel) return fromLabel;
  const w = ep.endpoint.workload;
  switch (w.kind) {
    case 'WorkloadEntry':
      return w.name;
    case 'Pod': {
      const hash = nonEmpty(ep.labels['pod-template-hash']);
      if (hash) {
        const marker = `-${hash}-`;
        const at = w.name.lastIndexOf(marker);
        if (at > 0) return w.name.slice(0, at);
      }
      return w.name;
    }
    default:
      return null;
  }
}

/** Parses Istio's cluster name `outbound|<port>|<subset>|<host>`; null when it is not one. */
export function parseClusterName(name: string): { port: number; subset: string | null; host: string } | null {
  const parts = name.split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return null;
  return { port: Number(parts[1]), subset: parts[2] === '' ? null : parts[2]!, host: parts[3]! };
}

/** Envoy's default buckets in seconds, for weir's own duration histograms. */
const ENVOY_DEFAULT_BUCKETS_SECONDS = ENVOY_DEFAULT_BUCKETS.map((b) => b / 1000);

/**
 * The metrics of one proxy. Feed it with {@link ProxyMetrics.onRequest} / {@link ProxyMetrics.onMirror} (the
 * proxy's hooks), sample gauges from a bound proxy ({@link ProxyMetrics.attachProxy}), and serve
 * {@link ProxyMetrics.render} on the admin port.
 */
export class ProxyMetrics implements MetricsSource {
  /** This proxy's registry (never prom-client's global one). */
  readonly registry = new Registry();
  readonly contentType: string;
  private readonly clusterId: string;
  private proxy: ProxyView | null = null;

  private readonly mirrorRequests: Counter<(typeof MIRROR_LABEL_NAMES)[number]>;
  private readonly mirrorDuration: Histogram<string>;
  private readonly retries: Counter<'cluster'>;
  private readonly overflows: Counter<'cluster'>;
  private readonly ejections: Counter<'cluster'>;
  private readonly reloads: Counter<'result'>;
  private configVersion = 1;

  private nextId = 1;
  /** Source identities by their labels object (stable per snapshot / sidecar), then by namespace+workload. */
  private readonly sources = new WeakMap<object, Map<string, SourcePart>>();
  private readonly unknownSource: SourcePart;
  /** Routed destinations by cluster object, then by upstream host key ('' when none was picked). */
  private readonly destinations = new WeakMap<RoutingCluster, Map<string, DestinationPart>>();
  /** Unrouted destinations (NR, NC, redirects, direct responses) by Host header (at most MAX_UNROUTED_HOSTS). */
  private readonly hostDestinations = new Map<string, DestinationPart>();
  /** The destination of unrouted requests once the Host cap is reached. */
  private overflowDestination: DestinationPart | null = null;
  /** Fast lookup of cells by `srcId.dstId.status.flags.grpc` (a bounded cache over {@link cellsByLabels}). */
  private readonly cells = new Map<string, IstioCell>();
  /** Every Istio label set seen, one cell each (series are never dropped, as in Envoy). */
  private readonly cellsByLabels = new Map<string, IstioCell>();
  private readonly clusterCounters = new Map<
    string,
    { retries: { inc(v?: number): void }; overflow: { inc(): void } }
  >();
  private readonly mirrorLabels = new Map<string, { service: string; subset: string; version: string }>();

  constructor(options: ProxyMetricsOptions = {}) {
    this.clusterId = nonEmpty(options.clusterId) ?? UNKNOWN;
    this.contentType = this.registry.contentType;
    const registers = [this.registry];
    const help = (name: string): string => METRIC_CATALOG.find((m) => m.name === name)!.help;
    const cells = () => this.cellsByLabels.values();
    for (const [name, field] of [
      ['istio_requests_total', null],
      ['istio_request_duration_milliseconds', 'duration'],
      ['istio_request_bytes', 'requestBytes'],
      ['istio_response_bytes', 'responseBytes'],
    ] as const) {
      this.registry.registerMetric(istioFamily(name, help(name), cells, field));
    }
    this.mirrorRequests = new Counter({
      name: 'weir_mirror_requests_total',
      help: help('weir_mirror_requests_total'),
      labelNames: [...MIRROR_LABEL_NAMES],
      registers,
    });
    this.mirrorDuration = new Histogram({
      name: 'weir_mirror_request_duration_seconds',
      help: help('weir_mirror_request_duration_seconds'),
      labelNames: [...MIRROR_DURATION_LABEL_NAMES],
      buckets: ENVOY_DEFAULT_BUCKETS_SECONDS,
      registers,
    });
    const self = this;
    new Gauge({
      name: 'weir_requests_in_flight',
      help: help('weir_requests_in_flight'),
      registers,
      collect() {
        this.set(self.proxy?.activeRequests() ?? 0);
      },
    });
    new Gauge({
      name: 'weir_upstream_active_requests',
      help: help('weir_upstream_active_requests'),
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const c of self.proxy?.clusterRuntimes() ?? []) this.set({ cluster: c.name }, c.active);
      },
    });
    new Gauge({
      name: 'weir_upstream_pending_requests',
      help: help('weir_upstream_pending_requests'),
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const c of self.proxy?.clusterRuntimes() ?? []) this.set({ cluster: c.name }, c.pendingCount?.() ?? 0);
      },
    });
    new Gauge({
      name: 'weir_upstream_connections',
      help: help('weir_upstream_connections'),
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const c of self.proxy?.clusterRuntimes() ?? []) this.set({ cluster: c.name }, c.connectionCount?.() ?? 0);
      },
    });
    const clusterCounter = (name: string): Counter<'cluster'> =>
      new Counter({ name, help: help(name), labelNames: ['cluster'], registers });
    this.retries = clusterCounter('weir_upstream_retries_total');
    this.overflows = clusterCounter('weir_circuit_breaker_overflows_total');
    this.ejections = clusterCounter('weir_outlier_ejections_total');
    this.reloads = new Counter({
      name: 'weir_config_reloads_total',
      help: help('weir_config_reloads_total'),
      labelNames: ['result'],
      registers,
    });
    this.reloads.inc({ result: 'success' }, 0);
    this.reloads.inc({ result: 'failure' }, 0);
    new Gauge({
      name: 'weir_config_version',
      help: help('weir_config_version'),
      registers,
      collect() {
        this.set(self.proxy?.configVersion ?? self.configVersion);
      },
    });
    // Event-loop delay: one sampler per thread, shared by every proxy in it.
    const eld = threadEventLoopDelaySampler();
    this.registry.registerMetric(
      eventLoopDelayHistogram('weir_event_loop_delay_seconds', help('weir_event_loop_delay_seconds'), eld),
    );
    new Gauge({
      name: 'weir_event_loop_delay_max_seconds',
      help: help('weir_event_loop_delay_max_seconds'),
      registers,
      collect() {
        this.set(eld.maxSeconds);
      },
    });
    this.unknownSource = this.makeSource({}, null, null);
  }

  /** Binds the proxy whose in-flight and per-cluster active requests the gauges report at scrape time. */
  attachProxy(proxy: ProxyView): void {
    this.proxy = proxy;
  }

  /** Records one finished (non-mirrored) request. Never throws. */
  onRequest(r: RequestRecordLike): void {
    const src = r.source ? this.sourcePart(r.source) : this.unknownSource;
    const dst = this.destinationPart(r);
    const flags = r.responseFlags === '' ? '-' : r.responseFlags;
    const grpc = r.grpcStatus ?? '';
    const key = `${src.id}.${dst.id}.${r.status}.${flags}.${grpc}`;
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = this.findOrMakeCell(src, dst, r.status, flags, r.grpcStatus);
      // The fast keys are only a cache (reloads mint new part ids): start over rather than grow without bound.
      if (this.cells.size >= MAX_CACHE_ENTRIES) this.cells.clear();
      this.cells.set(key, cell);
    }
    cell.requests++;
    // Envoy records whole milliseconds (absl duration division truncates).
    cell.duration.observe(Math.floor(r.durationMs));
    cell.requestBytes.observe(r.requestBytes);
    cell.responseBytes.observe(r.responseBytes);
    if (dst.cluster !== null && (r.attempts > 1 || flags !== '-')) {
      const cc = this.clusterCountersOf(dst.cluster);
      if (r.attempts > 1) cc.retries.inc(r.attempts - 1);
      if (flags !== '-' && flags.split(',').includes('UO')) cc.overflow.inc();
    }
  }

  /** Records one mirror outcome in `weir_mirror_*` (never in `istio_*`). Never throws. */
  onMirror(r: MirrorRecordLike): void {
    const m = this.mirrorLabelsOf(r.cluster);
    this.mirrorRequests.inc({
      destination_service: m.service,
      destination_subset: m.subset,
      destination_version: m.version,
      outcome: r.outcome,
      response_code: String(Math.max(0, r.status)),
    });
    if (r.outcome === 'sent' || r.outcome === 'failed') {
      this.mirrorDuration.observe(
        {
          destination_service: m.service,
          destination_subset: m.subset,
          destination_version: m.version,
          outcome: r.outcome,
        },
        r.durationMs / 1000,
      );
    }
  }

  /** Counts one outlier ejection of a host of `cluster` (the seam for outlier detection). */
  outlierEjection(cluster: string): void {
    this.ejections.inc({ cluster });
  }

  /** Counts a configuration reload and, when it was applied, records the version now served. */
  configReload(ok: boolean, version?: number): void {
    this.reloads.inc({ result: ok ? 'success' : 'failure' });
    if (version !== undefined) this.configVersion = version;
    // Subsets and endpoint labels may have changed.
    if (ok) this.mirrorLabels.clear();
  }

  /** Prometheus text exposition of this proxy's registry. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  // ------------------------------------------------------------------------------------------ label resolution

  private makeSource(labels: Readonly<Record<string, string>>, namespace: string | null, workload: string | null) {
    const part: SourcePart = {
      id: this.nextId++,
      source_workload: nonEmpty(workload) ?? UNKNOWN,
      source_workload_namespace: nonEmpty(namespace) ?? UNKNOWN,
      // No mTLS: Istio reports the principal from the local certificate's URI SAN, absent here.
      source_principal: UNKNOWN,
      source_app: appOf(labels) ?? UNKNOWN,
      source_version: versionOf(labels) ?? UNKNOWN,
      source_canonical_service: canonicalServiceOf(labels, workload) ?? UNKNOWN,
      source_canonical_revision: canonicalRevisionOf(labels) ?? LATEST,
      source_cluster: this.clusterId,
    };
    return part;
  }

  private sourcePart(s: SourceIdentity): SourcePart {
    let byName = this.sources.get(s.labels);
    if (byName === undefined) {
      byName = new Map();
      this.sources.set(s.labels, byName);
    }
    const k = s.workload === null && s.namespace === null ? '' : `${s.namespace ?? ''}/${s.workload ?? ''}`;
    let part = byName.get(k);
    if (part === undefined) {
      part = this.makeSource(s.labels, s.namespace, s.workload);
      if (byName.size < MAX_CACHE_ENTRIES) byName.set(k, part);
    }
    return part;
  }

  private destinationPart(r: RequestRecordLike): DestinationPart {
    const d = r.decision;
    if (d !== null && d.action === 'route') {
      let byHost = this.destinations.get(d.cluster);
      if (byHost === undefined) {
        byHost = new Map();
        this.destinations.set(d.cluster, byHost);
      }
      const hostKey = r.upstreamHost ?? '';
      let part = byHost.get(hostKey);
      if (part === undefined) {
        part = this.routedDestination(d.cluster, r.upstreamHost, r.upstreamLabels);
        if (byHost.size < MAX_CACHE_ENTRIES) byHost.set(hostKey, part);
      }
      return part;
    }
    // No cluster (NR, NC, redirect, direct response): Istio falls back to the Host header for the service labels.
    // Series are never dropped, so the Host values that become label values are capped: past
    // MAX_UNROUTED_HOSTS distinct hosts, further unrouted requests are counted under `unknown`. Otherwise any client
    // could grow memory (and scrape size) without limit by sending distinct Host headers.
    const host = r.authority;
    let part = this.hostDestinations.get(host);
    if (part === undefined) {
      if (this.hostDestinations.size >= MAX_UNROUTED_HOSTS) {
        this.overflowDestination ??= this.unroutedDestination(UNKNOWN);
        return this.overflowDestination;
      }
      part = this.unroutedDestination(host);
      this.hostDestinations.set(host, part);
    }
    return part;
  }

  private routedDestination(
    cluster: RoutingCluster,
    upstreamHost: string | null,
    upstreamLabels: Readonly<Record<string, string>> | null,
  ): DestinationPart {
    const ep =
      upstreamHost === null
        ? undefined
        : (cluster.endpoints.find((e) => e.key === upstreamHost) ??
          (upstreamLabels ? cluster.endpoints.find((e) => e.labels === upstreamLabels) : undefined));
    // The peer: the endpoint that answered (or was last tried). No endpoint (UH, FI, …): no peer, all unknown.
    const labels = ep?.labels ?? (upstreamHost !== null ? upstreamLabels : null);
    const workload = ep ? endpointWorkloadName(ep) : null;
    const peerNamespace = ep ? nonEmpty(ep.endpoint.workload.namespace) : null;
    return {
      id: this.nextId++,
      cluster: cluster.name,
      destination_workload: workload ?? UNKNOWN,
      destination_workload_namespace: peerNamespace ?? UNKNOWN,
      // No mTLS: Istio reports the upstream certificate's URI SAN, absent here.
      destination_principal: UNKNOWN,
      destination_app: labels ? (appOf(labels) ?? UNKNOWN) : UNKNOWN,
      destination_version: labels ? (versionOf(labels) ?? UNKNOWN) : UNKNOWN,
      // Cluster metadata `services[0]`: the service host and short name.
      destination_service: cluster.service.hostname,
      destination_service_name: nonEmpty(cluster.service.name) ?? cluster.service.hostname.split('.')[0]!,
      // Client side: from the peer (its namespace), not from the cluster.
      destination_service_namespace: peerNamespace ?? UNKNOWN,
      destination_canonical_service: labels ? (canonicalServiceOf(labels, workload) ?? UNKNOWN) : UNKNOWN,
      destination_canonical_revision: labels ? (canonicalRevisionOf(labels) ?? LATEST) : LATEST,
      destination_cluster: labels ? (nonEmpty(labels['topology.istio.io/cluster']) ?? UNKNOWN) : UNKNOWN,
    };
  }

  private unroutedDestination(host: string): DestinationPart {
    const h = nonEmpty(host);
    return {
      id: this.nextId++,
      cluster: null,
      destination_workload: UNKNOWN,
      destination_workload_namespace: UNKNOWN,
      destination_principal: UNKNOWN,
      destination_app: UNKNOWN,
      destination_version: UNKNOWN,
      destination_service: h ?? UNKNOWN,
      destination_service_name: h ?? UNKNOWN,
      destination_service_namespace: UNKNOWN,
      destination_canonical_service: UNKNOWN,
      destination_canonical_revision: LATEST,
      destination_cluster: UNKNOWN,
    };
  }

  /**
   * The cell of a label set. Source/destination parts that resolve to equal labels (e.g. after a config reload
   * made new cluster objects) share one cell, found by the full label string; the fast key then points at it.
   */
  private findOrMakeCell(
    src: SourcePart,
    dst: DestinationPart,
    status: number,
    flags: string,
    grpcStatus: string | null,
  ): IstioCell {
    const labels: IstioLabels = {
      reporter: 'source',
      source_workload: src.source_workload,
      source_workload_namespace: src.source_workload_namespace,
      source_principal: src.source_principal,
      source_app: src.source_app,
      source_version: src.source_version,
      source_canonical_service: src.source_canonical_service,
      source_canonical_revision: src.source_canonical_revision,
      source_cluster: src.source_cluster,
      destination_workload: dst.destination_workload,
      destination_workload_namespace: dst.destination_workload_namespace,
      destination_principal: dst.destination_principal,
      destination_app: dst.destination_app,
      destination_version: dst.destination_version,
      destination_service: dst.destination_service,
      destination_service_name: dst.destination_service_name,
      destination_service_namespace: dst.destination_service_namespace,
      destination_canonical_service: dst.destination_canonical_service,
      destination_canonical_revision: dst.destination_canonical_revision,
      destination_cluster: dst.destination_cluster,
      // The proxy reports a gRPC status only for gRPC exchanges (grpc-status seen or a gRPC fault abort).
      request_protocol: grpcStatus !== null ? 'grpc' : 'http',
      response_flags: flags,
      // The client side always reports `unknown` (istio_stats: mutual_tls_ is only set on the server side).
      connection_security_policy: UNKNOWN,
      response_code: String(Math.max(status, 0)),
      grpc_response_status: grpcStatus ?? '',
    };
    Object.freeze(labels);
    const full = ISTIO_LABEL_NAMES.map((n) => labels[n]).join('\u0000');
    let cell = this.cellsByLabels.get(full);
    if (cell === undefined) {
      cell = new IstioCell(labels);
      this.cellsByLabels.set(full, cell);
    }
    return cell;
  }

  private clusterCountersOf(cluster: string) {
    let cc = this.clusterCounters.get(cluster);
    if (cc === undefined) {
      cc = { retries: this.retries.labels({ cluster }), overflow: this.overflows.labels({ cluster }) };
      if (this.clusterCounters.size < MAX_CACHE_ENTRIES) this.clusterCounters.set(cluster, cc);
    }
    return cc;
  }

  private mirrorLabelsOf(cluster: string): { service: string; subset: string; version: string } {
    let m = this.mirrorLabels.get(cluster);
    if (m === undefined) {
      const parsed = parseClusterName(cluster);
      let version: string | null = null;
      const rt = this.proxy?.clusterRuntimes().find((c) => c.name === cluster);
      if (rt && rt.cluster.endpoints.length > 0) {
        // The subset's version: the one `version` label all its endpoints share.
        const versions = new Set(rt.cluster.endpoints.map((e) => versionOf(e.labels)));
        if (versions.size === 1) version = [...versions][0] ?? null;
      }
      m = {
        service: parsed?.host ?? cluster,
        subset: parsed?.subset ?? '',
        version: version ?? UNKNOWN,
      };
      if (this.mirrorLabels.size < MAX_CACHE_ENTRIES) this.mirrorLabels.set(cluster, m);
    }
    return m;
  }
}

/**
 * The metrics factory for `startServe({ metrics })`: creates a {@link ProxyMetrics}, wires the proxy's
 * `onRequest`/`onMirror` hooks to it, and returns it as the admin server's metrics source.
 */
export function createProxyMetrics(
  hooks: { onRequest(r: RequestRecordLike): void; onMirror(r: MirrorRecordLike): void },
  options: ProxyMetricsOptions = {},
): ProxyMetrics {
  const m = new ProxyMetrics(options);
  hooks.onRequest = (r) => m.onRequest(r);
  hooks.onMirror = (r) => m.onMirror(r);
  return m;
}

/** Binds `proxy` to `source` when it is weir's {@link ProxyMetrics} (gauges of requests in flight); else no-op. */
export function attachProxyMetrics(source: MetricsSource | null | undefined, proxy: ProxyView): void {
  if (source instanceof ProxyMetrics) source.attachProxy(proxy);
}

/**
 * Counts a configuration reload (`weir_config_reloads_total{result}`) and the version now served
 * (`weir_config_version`) when `source` is weir's {@link ProxyMetrics}; else no-op.
 */
export function recordConfigReload(source: MetricsSource | null | undefined, ok: boolean, version?: number): void {
  if (source instanceof ProxyMetrics) source.configReload(ok, version);
}

/** Counts an outlier ejection of a host of `cluster` (`weir_outlier_ejections_total`) when `source` is weir's. */
export function recordOutlierEjection(source: MetricsSource | null | undefined, cluster: string): void {
  if (source instanceof ProxyMetrics) source.outlierEjection(cluster);
}
