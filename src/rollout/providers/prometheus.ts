/**
 * The Prometheus metric provider of `weir rollout` (issue 8; `sequential-canary.md` §1.3, §1.8, §2.5): reads the
 * `weir_route_*` series ({@link ROUTE_METRICS}) that Prometheus scraped from the proxies, through the HTTP API's
 * instant queries (`/api/v1/query`).
 *
 * One query per read, a range selector over the time since the previous read (plus an overlap):
 *
 *   `{__name__=~"weir_route_requests_total|weir_route_errors_total|weir_route_request_duration_milliseconds_bucket",
 *     namespace="NS", virtual_service="VS", destination_service="HOST"}[Ws]`
 *
 * It returns the raw samples of every series (one per scrape target, route, split, destination, traffic and `le`),
 * so each series group keeps its own baseline, and a counter reset between two scrapes is seen even when the counter
 * has grown past its old value by the next read. No `rate()`/`increase()`: no extrapolation, the counts are exact.
 * Exceedances come from `_bucket` at the Envoy edges only (`edgesMs` = `ENVOY_DEFAULT_BUCKETS_MS`; snap thresholds
 * up to them). No series at all is zero counts (HOLD), never a failure; an HTTP error, a timeout or a
 * `status: "error"` answer is reported in `sources` and every last count is kept.
 */

import { ROUTE_METRICS } from '../route-counts.ts';
import { ENVOY_DEFAULT_BUCKETS_MS } from '../stats/index.ts';
import {
  asPrometheusCountsState,
  checkSelector,
  countsReading,
  type PrometheusResult,
  type PrometheusSeries,
  startPrometheusCounts,
  updatePrometheusCounts,
} from './counts.ts';
import { getText } from './http.ts';
import type { CountsReading, MetricsProvider, ProviderState, RolloutSelector } from './types.ts';

/** Options of {@link PrometheusProvider}. Durations in seconds unless named `…Ms`. */
export interface PrometheusProviderOptions {
  /** Per-query timeout, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Extra label matchers ANDed into the selector, e.g. `['job="weir"']` (PromQL syntax, not escaped). */
  readonly matchers?: readonly string[];
  /** How far back `start` looks for each series' latest sample (default 600 s, so a briefly stale series counts). */
  readonly baselineLookbackS?: number;
  /** How far before the previous read each read reaches (late scrapes; default 30 s). */
  readonly overlapS?: number;
  /** The longest window a read asks for (default 600 s; after a longer gap only the latest samples are seen). */
  readonly maxWindowS?: number;
  /** Clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
}

/** A PromQL string literal: double-quoted, with `\`, `"` and newlines escaped. */
export function promqlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * The range selector of the selector's series over `windowS` seconds (whole seconds, at least 1): requests, errors
 * and duration buckets of the selector's VirtualService and host, plus the extra `matchers`.
 */
export function routeSeriesQuery(selector: RolloutSelector, windowS: number, matchers: readonly string[] = []): string {
  const names = [ROUTE_METRICS.requests, ROUTE_METRICS.errors, `${ROUTE_METRICS.duration}_bucket`].join('|');
  const parts = [
    `__name__=~"${names}"`,
    `namespace=${promqlString(selector.namespace)}`,
    `virtual_service=${promqlString(selector.virtualService)}`,
    `destination_service=${promqlString(selector.host)}`,
    ...matchers,
  ];
  return `{${parts.join(',')}}[${Math.max(1, Math.ceil(windowS))}s]`;
}

interface ApiAnswer {
  status?: unknown;
  data?: { resultType?: unknown; result?: unknown };
  errorType?: unknown;
  error?: unknown;
  warnings?: unknown;
}

/**
 * Runs one instant query (`GET {base}/api/v1/query?query=…`) and returns its series, or `{error}` for a timeout, a
 * connection failure, a non-2xx status, a non-JSON answer, `status: "error"` (with Prometheus's `errorType` and
 * `error`) or a result that is not a vector or matrix. Never rejects.
 */
export async function queryPrometheus(base: string, query: string, timeoutMs: number): Promise<PrometheusResult> {
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v1/query`;
  u.searchParams.set('query', query);
  let status: number;
  let body: string;
  try {
    ({ status, body } = await getText(u, timeoutMs));
  } catch (e) {
    return { error: (e as Error).message };
  }
  let json: ApiAnswer;
  try {
    json = JSON.parse(body) as ApiAnswer;
  } catch {
    return { error: `HTTP ${status}: not a Prometheus API answer${body ? `: ${body.slice(0, 200).trim()}` : ''}` };
  }
  if (json.status !== 'success') {
    const what = [json.errorType, json.error].filter((x) => typeof x === 'string' && x !== '').join(': ');
    return { error: `HTTP ${status}: status ${String(json.status)}${what ? `: ${what}` : ''}` };
  }
  if (status < 200 || status > 299) return { error: `HTTP ${status}` };
  const { resultType, result } = json.data ?? {};
  if ((resultType !== 'matrix' && resultType !== 'vector') || !Array.isArray(result)) {
    return { error: `unexpected result type ${String(resultType)}` };
  }
  const series = (result as PrometheusSeries[]).filter(
    (s) => s && typeof s.metric === 'object' && (Array.isArray(s.values) || Array.isArray(s.value)),
  );
  const warnings = Array.isArray(json.warnings) ? json.warnings.map(String) : [];
  return { series, warnings };
}

/**
 * Route counts from a Prometheus server that scrapes the proxies' `weir_route_*` series. State `kind: 'prometheus'`.
 */
export class PrometheusProvider implements MetricsProvider {
  readonly kind = 'prometheus';
  readonly description: string;
  /** The Prometheus base URL (a path prefix is kept). */
  readonly url: string;
  private readonly timeoutMs: number;
  private readonly matchers: readonly string[];
  private readonly baselineLookbackS: number;
  private readonly overlapS: number;
  private readonly maxWindowS: number;
  private readonly now: () => number;

  /** @param url the Prometheus base URL (`http://prometheus:9090`); throws a TypeError when it is not http(s). */
  constructor(url: string, options: PrometheusProviderOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`PrometheusProvider: not a URL: ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`PrometheusProvider: not an http(s) URL: ${url}`);
    }
    this.url = url;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.matchers = options.matchers ?? [];
    this.baselineLookbackS = options.baselineLookbackS ?? 600;
    this.overlapS = options.overlapS ?? 30;
    this.maxWindowS = options.maxWindowS ?? 600;
    this.now = options.now ?? Date.now;
    this.description = `prometheus ${url}`;
  }

  /**
   * Captures each series' latest sample within `baselineLookbackS` as its baseline (none: an empty baseline). Throws
   * an Error when Prometheus does not answer or answers with an error, a RangeError for a malformed selector.
   */
  async start(selector: RolloutSelector): Promise<ProviderState> {
    checkSelector(selector);
    const nowMs = this.now();
    const r = await queryPrometheus(
      this.url,
      routeSeriesQuery(selector, this.baselineLookbackS, this.matchers),
      this.timeoutMs,
    );
    if ('error' in r) throw new Error(`prometheus ${this.url} did not answer: ${r.error}`);
    return startPrometheusCounts(selector, r.series, nowMs).state;
  }

  /**
   * Counts since the baseline. The window reaches back to the previous answered read plus `overlapS` (samples
   * already applied are skipped), at most `maxWindowS`. Throws a RangeError for a threshold that is not an Envoy
   * edge, an Error for a state of another provider or selector; never for Prometheus failures (`sources`).
   */
  async read(
    selector: RolloutSelector,
    state: ProviderState,
    thresholdsMs: readonly number[],
  ): Promise<{ reading: CountsReading; state: ProviderState }> {
    const current = asPrometheusCountsState(state, selector);
    const nowMs = this.now();
    const sinceS = Math.max(0, (nowMs - current.lastQueryMs) / 1000);
    const windowS = Math.min(this.maxWindowS, sinceS + this.overlapS);
    const r = await queryPrometheus(this.url, routeSeriesQuery(selector, windowS, this.matchers), this.timeoutMs);
    const next = updatePrometheusCounts(current, selector, r, nowMs, `prometheus ${this.url}`);
    const reading = countsReading(next.state, thresholdsMs, ENVOY_DEFAULT_BUCKETS_MS, next.sources);
    return { reading, state: next.state };
  }
}
