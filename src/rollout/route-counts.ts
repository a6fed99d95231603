/**
 * The contract between `weir serve` and `weir rollout` (issue 8; design `sequential-canary.md` §1.1, §1.3, §2.5, §6):
 * what each proxy counts per VirtualService route, and how it is served on the admin API (`GET /rollout/counts`,
 * JSON) and as Prometheus metrics. Types and names only; the producer lives in `telemetry/route-counts.ts`, the
 * consumers in `rollout/providers/`.
 *
 * What is counted: every user-visible request that a route sent to a destination (direct responses and redirects
 * are not; a downstream disconnect before any response, flag `DC` with status 0, is not). Retries are counted once,
 * with the request's final outcome (in Envoy a retry stays on the weighted cluster already chosen, §1.1). Mirrored
 * copies are counted apart (`mirrors`), never in `splits`.
 *
 * A **split** is the route's destination list with each destination's routing probability
 * `p = weight / Σ weights` (1 for a single destination), rounded to 1e-4: the probability in force when the request
 * was dispatched. The canary routing probability `w` of §1.2 is the canary destination's `p` in the split (0 when the
 * split lacks the canary), which the controller reads off the split; the proxy need not know which subset is the
 * canary.
 */

/** The admin endpoint that serves a {@link RouteCountsSnapshot} as JSON. */
export const ROUTE_COUNTS_PATH = '/rollout/counts';

/** Format version of {@link RouteCountsSnapshot}. */
export const ROUTE_COUNTS_VERSION = 1;

/** Prometheus metric names (counters and a histogram with Envoy's default buckets, `ENVOY_DEFAULT_BUCKETS_MS`). */
export const ROUTE_METRICS = {
  /** Counter. Labels: {@link ROUTE_METRIC_LABELS}. */
  requests: 'weir_route_requests_total',
  /** Counter: 5xx responses and proxy-generated failures (reset, connect failure, timeout, overflow). */
  errors: 'weir_route_errors_total',
  /** Histogram in ms with Envoy's default buckets; `_bucket{le}`, `_sum`, `_count`. */
  duration: 'weir_route_request_duration_milliseconds',
} as const;

/**
 * Labels of every {@link ROUTE_METRICS} series: `namespace` and `virtual_service` (the VirtualService), `route` (its
 * index in `spec.http`, as a decimal string), `destination_service` (host), `destination_subset` (or `""`), `split`
 * (the {@link splitKey} of the split, `""` for mirrors), `traffic` (`routed` or `mirrored`).
 */
export const ROUTE_METRIC_LABELS = [
  'namespace',
  'virtual_service',
  'route',
  'destination_service',
  'destination_subset',
  'split',
  'traffic',
] as const;

/** One destination of a split, or of a mirror. */
export interface DestinationCounts {
  /** Fully qualified destination host. */
  readonly host: string;
  /** DestinationRule subset, or null. */
  readonly subset: string | null;
  /** Routing probability of this destination within its split, in [0, 1], rounded to 1e-4 (mirrors: the mirror percentage / 100). */
  readonly probability: number;
  /** Requests this destination served (counted once whatever the retries). */
  readonly requests: number;
  /** Of which errors: status ≥ 500, or a proxy-generated failure. */
  readonly errors: number;
  /**
   * Latency histogram of the whole request (downstream start to response end) in ms over the snapshot's `edgesMs`:
   * `histogram[k]` counts requests in `(edgesMs[k−1], edgesMs[k]]`, `histogram[edgesMs.length]` those above the last
   * edge. Length `edgesMs.length + 1`.
   */
  readonly histogram: readonly number[];
}

/** One split of a route: its destinations with their probabilities and counts. */
export interface SplitCounts {
  /** {@link splitKey} of the destinations. */
  readonly key: string;
  readonly destinations: readonly DestinationCounts[];
}

/** Everything counted for one route of one VirtualService since the proxy started. */
export interface RouteCounts {
  readonly namespace: string;
  readonly virtualService: string;
  /** Index in `spec.http` (the root's index for delegated routes). */
  readonly route: number;
  readonly routeName: string | null;
  readonly splits: readonly SplitCounts[];
  /** Mirrored copies per mirror destination (excluded from `splits`, §1.1). */
  readonly mirrors: readonly DestinationCounts[];
}

/** The admin API's answer: cumulative counts since the proxy process started. */
export interface RouteCountsSnapshot {
  readonly version: typeof ROUTE_COUNTS_VERSION;
  /** Random id of this proxy process: a new id means the counters restarted from zero. */
  readonly instance: string;
  /** ISO time the proxy process started counting. */
  readonly startedAt: string;
  /** ISO time of this snapshot. */
  readonly capturedAt: string;
  /** The statistics histogram's finite upper edges in ms (`statisticsBucketEdgesMs()`). */
  readonly edgesMs: readonly number[];
  readonly routes: readonly RouteCounts[];
}

/** One destination in a split key. */
export interface SplitMember {
  readonly host: string;
  readonly subset: string | null;
  readonly probability: number;
}

/**
 * The canonical key of a split: `host|subset=p` per destination (subset empty when none, `p` with at most 4
 * decimals), sorted, joined by `,`. Example: `reviews.ns.svc.cluster.local|v1=0.95,reviews.ns.svc.cluster.local|v2=0.05`.
 * Hosts contain none of `|`, `=` and `,`.
 */
export function splitKey(members: readonly SplitMember[]): string {
  return members
    .map((m) => `${m.host}|${m.subset ?? ''}=${Number(m.probability.toFixed(4))}`)
    .sort()
    .join(',');
}

/** Parses a {@link splitKey}; throws a RangeError on a malformed key. */
export function parseSplitKey(key: string): SplitMember[] {
  if (key === '') return [];
  return key.split(',').map((part) => {
    const bar = part.indexOf('|');
    const eq = part.lastIndexOf('=');
    if (bar <= 0 || eq < bar) throw new RangeError(`malformed split key part "${part}"`);
    const probability = Number(part.slice(eq + 1));
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`malformed probability in "${part}"`);
    const subset = part.slice(bar + 1, eq);
    return { host: part.slice(0, bar), subset: subset === '' ? null : subset, probability };
  });
}
