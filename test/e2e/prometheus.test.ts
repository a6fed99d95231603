/**
 * End to end with a real Prometheus: weir serves the article's 95/5 composite route over a healthy v1 and a v2
 * that fails 10 % (seeded) with 150 ms of extra latency; Prometheus scrapes weir's admin port every second; the
 * article's two PromQL queries and Flagger's request-success-rate / request-duration queries are evaluated through
 * `/api/v1/query` and compared with what this test's own client observed.
 *
 * Two forms of every query are checked:
 * - the counter form (`rate(X[w])` replaced by `X`, the counter since weir started): exact for counts and ratios;
 *   for quantiles, the value must lie in the histogram bucket that contains the client-observed p99 (Prometheus
 *   interpolates within a bucket);
 * - the query as written (with its `[1m]`/`[5m]` windows): on a run this short, `rate()` extrapolates, so the
 *   bound is computed from the raw samples Prometheus holds in the same window: Σ(last − first) ≤ rate·w ≤
 *   Σ(last − first)·(1 + 2.2/(k − 1)) for k samples per series (Prometheus extrapolates at most 1.1 average sample
 *   intervals at each end of the window).
 *
 * Skips only when no `prometheus` binary exists (CI installs Debian's package: `apt-get install -y prometheus`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyMetrics, ENVOY_DEFAULT_BUCKETS } from '../../src/telemetry/metrics.ts';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import {
  PROMETHEUS_BIN,
  type PrometheusServer,
  reportMissingPrometheus,
  startPrometheus,
} from '../helpers/prometheus.ts';
import { closeClients, send, sendMany, startWeir, type Weir } from '../helpers/proxy.ts';
import {
  checkoutServiceYaml,
  checkoutSubsetsYaml,
  compositeRouteYaml,
  workloadEntryYaml,
} from '../unit/telemetry/fixtures.ts';

reportMissingPrometheus('test/e2e/prometheus.test.ts');

// The article's queries, verbatim (shared/seed/istio-canary-traffic-shaping-article.txt, Pattern 2 "Critical
// Observability"). The test config uses namespace `prod` so they select weir's series unchanged.
const ARTICLE_ERROR_RATE =
  'sum(rate(istio_requests_total{destination_service="checkout-service.prod.svc.cluster.local", destination_version="v2", response_code=~"5.."}[1m]))';
const ARTICLE_P99 =
  'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{destination_service="checkout-service.prod.svc.cluster.local", destination_version="v2"}[5m])) by (le))';

// Flagger's built-in Istio checks (fluxcd/flagger pkg/metrics/observers/istio.go), rendered for namespace `prod`,
// target `checkout-service-v2`, interval `1m`. Flagger reads the server-side reporter ("destination"); weir is the
// client-side proxy and reports "source", so that one matcher is changed (docs/metrics.md, "Flagger").
const FLAGGER_SUCCESS_RATE = `
  sum(
    rate(
      istio_requests_total{
        reporter="destination",
        destination_workload_namespace="prod",
        destination_workload=~"checkout-service-v2",
        response_code!~"5.*"
      }[1m]
    )
  )
  /
  sum(
    rate(
      istio_requests_total{
        reporter="destination",
        destination_workload_namespace="prod",
        destination_workload=~"checkout-service-v2"
      }[1m]
    )
  )
  * 100`.replace(/reporter="destination"/g, 'reporter="source"');
const FLAGGER_DURATION = `
  histogram_quantile(
    0.99,
    sum(
      rate(
        istio_request_duration_milliseconds_bucket{
          reporter="destination",
          destination_workload_namespace="prod",
          destination_workload=~"checkout-service-v2"
        }[1m]
      )
    ) by (le)
  )`.replace(/reporter="destination"/g, 'reporter="source"');

/** `rate(SEL[w])` → `SEL`: the same expression over the counters since weir started (exact on a fresh process). */
function counterForm(q: string): string {
  return q.replace(/rate\(\s*([^[]*?)\s*\[[^\]]+\]\s*\)/g, '$1');
}

/** Every `rate(SEL[w])` of a query: its selector and window in seconds. */
function rateTerms(q: string): { selector: string; windowS: number }[] {
  const out: { selector: string; windowS: number }[] = [];
  for (const m of q.matchAll(/rate\(\s*([^[]*?)\s*\[(\d+)([sm])\]\s*\)/g)) {
    out.push({ selector: m[1]!, windowS: Number(m[2]) * (m[3] === 'm' ? 60 : 1) });
  }
  return out;
}

const N_REQUESTS = 3000;
const CONCURRENCY = 16;
const V2_LATENCY_MS = 150;
const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

interface Observed {
  version: string;
  status: number;
  ms: number;
}

/** The `q`-quantile as Prometheus ranks it: the smallest observation with at least q·n observations ≤ it. */
function quantile(sorted: readonly number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** The Envoy bucket `(lo, hi]` containing `v`, in the unit the histogram records (whole ms, as weir does). */
function bucketOf(v: number): { lo: number; hi: number } {
  const b = [0, ...ENVOY_DEFAULT_BUCKETS];
  for (let i = 1; i < b.length; i++) if (v <= b[i]!) return { lo: b[i - 1]!, hi: b[i]! };
  return { lo: b[b.length - 1]!, hi: Number.POSITIVE_INFINITY };
}

describe.skipIf(!PROMETHEUS_BIN)('Istio metrics scraped by a real Prometheus', () => {
  let backends: BackendSet<'v1' | 'v2'>;
  let weir: Weir;
  let prom: PrometheusServer | null = null;

  const api: PrometheusServer['api'] = (path, params) => prom!.api(path, params);
  /** An instant query that must yield exactly one sample; returns its value. */
  const scalarQuery = async (query: string, time: string): Promise<number> => {
    const r = await api('/api/v1/query', { query, time });
    expect(r.status, `${query}: ${r.error ?? ''}`).toBe('success');
    expect(r.data.result, query).toHaveLength(1);
    return Number((r.data.result[0] as { value: [number, string] }).value[1]);
  };
  /** Bounds of Σ increase over a window for `selector`, from the raw samples Prometheus holds at `time`. */
  const increaseBounds = async (
    selector: string,
    windowS: number,
    time: string,
  ): Promise<{ lo: number; hi: number; last: number }> => {
    const r = await api('/api/v1/query', { query: `${selector}[${windowS}s]`, time });
    expect(r.status).toBe('success');
    let lo = 0;
    let hi = 0;
    let last = 0;
    for (const series of r.data.result as { values: [number, string][] }[]) {
      const v = series.values.map(([, x]) => Number(x));
      if (v.length < 2) continue; // rate() ignores series with one sample
      const raw = v[v.length - 1]! - v[0]!;
      lo += raw;
      hi += raw * (1 + 2.2 / (v.length - 1));
      last += v[v.length - 1]!;
    }
    return { lo, hi, last };
  };

  beforeAll(async () => {
    backends = await startBackends({
      v1: {},
      v2: { errorRate: 0.1, errorStatus: 503, seed: 20240611, latencyMs: V2_LATENCY_MS },
    });
    weir = await startWeir(
      {
        'se.yaml': checkoutServiceYaml(NS),
        'we-v1.yaml': workloadEntryYaml(NS, 'checkout-service-v1', backends.v1.port, {
          app: 'checkout-service',
          version: 'v1',
        }),
        'we-v2.yaml': workloadEntryYaml(NS, 'checkout-service-v2', backends.v2.port, {
          app: 'checkout-service',
          version: 'v2',
        }),
        'dr.yaml': checkoutSubsetsYaml(NS),
        'vs.yaml': compositeRouteYaml(NS),
      },
      {
        namespace: NS,
        workload: 'frontend',
        labels: { app: 'frontend', version: 'v1' },
        rng: seededRng(7),
        logFormat: 'off',
        metrics: createProxyMetrics,
      },
    );
    const admin = new URL(weir.handle.adminUrl!);
    prom = await startPrometheus([{ job: 'weir', targets: [admin.host], metricsPath: '/stats/prometheus' }]);
  }, 120_000);

  afterAll(async () => {
    await prom?.close();
    await weir?.close();
    await backends?.closeAll();
    await closeClients();
  });

  it('the article and Flagger queries agree with what the client observed', async () => {
    // Prometheus must see weir up before the load, so the first scrape is not the end state.
    await waitFor(async () => {
      const r = await api('/api/v1/query', { query: 'up{job="weir"}' });
      return r.data.result.length === 1 && (r.data.result[0] as { value: [number, string] }).value[1] === '1';
    }, 'weir target up in Prometheus');

    const observed: Observed[] = [];
    await sendMany(N_REQUESTS, CONCURRENCY, async (i) => {
      const t0 = performance.now();
      const r = await send(weir.url, { host: HOST, path: `/checkout/${i}` });
      observed.push({
        version: String(r.headers['x-backend-version'] ?? ''),
        status: r.status,
        ms: performance.now() - t0,
      });
      return r;
    });
    const v2 = observed.filter((o) => o.version === 'v2');
    const v2Errors = v2.filter((o) => o.status >= 500 && o.status <= 599).length;
    const v2P99 = quantile(
      v2.map((o) => o.ms).sort((a, b) => a - b),
      0.99,
    );
    expect(observed).toHaveLength(N_REQUESTS);
    expect(observed.every((o) => o.version === 'v1' || o.version === 'v2')).toBe(true);
    expect(observed.filter((o) => o.version === 'v1' && o.status !== 200)).toHaveLength(0);
    expect(v2.length).toBeGreaterThan(0);
    expect(v2Errors).toBeGreaterThan(0);

    // Wait until a scrape after the load has landed: Prometheus's total equals the client's count.
    await waitFor(async () => {
      const r = await api('/api/v1/query', { query: 'sum(istio_requests_total)' });
      return (
        r.data.result.length === 1 && Number((r.data.result[0] as { value: [number, string] }).value[1]) === N_REQUESTS
      );
    }, `sum(istio_requests_total) == ${N_REQUESTS} in Prometheus`);
    const time = (Date.now() / 1000).toFixed(3);

    // 1. Article, error rate. Counter form: exactly the client's v2 5xx count.
    const errorsCounter = await scalarQuery(counterForm(ARTICLE_ERROR_RATE), time);
    expect(errorsCounter).toBe(v2Errors);
    // As written (per-second rate over 1m): bounded by the raw samples in the window.
    const errorRate = await scalarQuery(ARTICLE_ERROR_RATE, time);
    const [errTerm] = rateTerms(ARTICLE_ERROR_RATE);
    const eb = await increaseBounds(errTerm!.selector, errTerm!.windowS, time);
    expect(eb.last).toBe(v2Errors);
    expect(errorRate * errTerm!.windowS).toBeGreaterThanOrEqual(eb.lo - 1e-9);
    expect(errorRate * errTerm!.windowS).toBeLessThanOrEqual(eb.hi + 1e-9);

    // 2. Article, p99 latency of v2: in the bucket that holds the client-observed p99 (both forms).
    // weir measures inside the client's measurement (its durations are never longer), so its p99 is at most the
    // client's; the client adds its own socket/scheduling time, so near a bucket edge weir's p99 may sit in the
    // bucket below: allow it when the client p99 is within 10 ms + 5 % of that edge (never below the backend's
    // fixed latency, which every v2 request has).
    const upper = bucketOf(Math.floor(v2P99));
    const lower = bucketOf(Math.max(V2_LATENCY_MS, Math.floor(v2P99 - 10 - 0.05 * v2P99)));
    const bucket = { lo: lower.lo, hi: upper.hi };
    const p99Counter = await scalarQuery(counterForm(ARTICLE_P99), time);
    const p99AsWritten = await scalarQuery(ARTICLE_P99, time);
    for (const v of [p99Counter, p99AsWritten]) {
      expect(v).toBeGreaterThan(bucket.lo);
      expect(v).toBeLessThanOrEqual(bucket.hi);
    }

    // 3. Flagger request-success-rate: exact ratio on the counters; within the raw-sample bounds as written.
    const successExpected = (100 * (v2.length - v2Errors)) / v2.length;
    const successCounter = await scalarQuery(counterForm(FLAGGER_SUCCESS_RATE), time);
    expect(successCounter).toBeCloseTo(successExpected, 9);
    const successAsWritten = await scalarQuery(FLAGGER_SUCCESS_RATE, time);
    const [num, den] = rateTerms(FLAGGER_SUCCESS_RATE);
    const nb = await increaseBounds(num!.selector, num!.windowS, time);
    const db = await increaseBounds(den!.selector, den!.windowS, time);
    expect(nb.last).toBe(v2.length - v2Errors);
    expect(db.last).toBe(v2.length);
    expect(successAsWritten).toBeGreaterThanOrEqual((100 * nb.lo) / db.hi - 1e-9);
    expect(successAsWritten).toBeLessThanOrEqual((100 * nb.hi) / db.lo + 1e-9);

    // 4. Flagger request-duration: the same bucket as the client-observed p99.
    const durCounter = await scalarQuery(counterForm(FLAGGER_DURATION), time);
    const durAsWritten = await scalarQuery(FLAGGER_DURATION, time);
    for (const v of [durCounter, durAsWritten]) {
      expect(v).toBeGreaterThan(bucket.lo);
      expect(v).toBeLessThanOrEqual(bucket.hi);
    }

    // The _count of v2's duration histogram is exact too.
    expect(
      await scalarQuery(
        `sum(istio_request_duration_milliseconds_count{destination_service="${HOST}", destination_version="v2"})`,
        time,
      ),
    ).toBe(v2.length);
  }, 240_000);

  it('every query of deploy/grafana/weir-canary.json is accepted by Prometheus and the canary panels have data', async () => {
    const dash = JSON.parse(
      await readFile(join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'weir-canary.json'), 'utf8'),
    ) as { panels: { title: string; targets?: { expr: string }[] }[] };
    let queries = 0;
    const sideBySide: string[] = [];
    for (const p of dash.panels) {
      for (const t of p.targets ?? []) {
        const query = t.expr.replaceAll('$__rate_interval', '1m').replaceAll('$service', HOST);
        const r = await api('/api/v1/query', { query });
        expect(r.status, `${p.title}: ${query}: ${r.error ?? ''}`).toBe('success');
        queries++;
        if (/^(Request rate|Success rate|Latency)/.test(p.title)) {
          // Both versions appear side by side.
          const versions = (r.data.result as { metric: Record<string, string> }[]).map(
            (x) => x.metric.destination_version,
          );
          expect(new Set(versions), `${p.title}: ${query}`).toEqual(new Set(['v1', 'v2']));
          sideBySide.push(p.title);
        }
      }
    }
    // Queries were run, the canary panels' among them (the latency panel has three).
    expect(queries).toBeGreaterThan(0);
    expect(sideBySide).toEqual([
      'Request rate by version',
      'Success rate (non-5xx) by version',
      'Latency p50 / p90 / p99 by version',
      'Latency p50 / p90 / p99 by version',
      'Latency p50 / p90 / p99 by version',
    ]);
  });

  /** Polls `check` every 250 ms until true; fails after a generous deadline (loaded 2-core CI machines). */
  async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; prometheus log:\n${prom?.log.join('') ?? ''}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
});
