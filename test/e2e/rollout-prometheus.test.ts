/**
 * `PrometheusProvider` against a real Prometheus: two node:http "proxies" on loopback serve hand-built `weir_route_*`
 * exposition text (the `ROUTE_METRICS` format), Prometheus scrapes them every second, and each reading must equal
 * the counts served, exactly: before any series exists (zero counts, no throw), growth on one proxy then two, a
 * counter reset between scrapes (carried), a reset that grew back past its old value before the next read (seen in
 * the raw samples), a second baseline taken mid-way, NaN/±Inf/non-integer samples, and Prometheus failures (an HTTP
 * error, a `status: "error"` answer from the real server, a timeout, nobody listening).
 *
 * Skips only when no `prometheus` binary exists (CI installs Debian's package: `apt-get install -y prometheus`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusProvider } from '../../src/rollout/providers/prometheus.ts';
import type { CountsReading, MirrorCounts, ProviderState } from '../../src/rollout/providers/types.ts';
import type { RouteCounts } from '../../src/rollout/route-counts.ts';
import { createRolloutCounts, ENVOY_DEFAULT_BUCKETS_MS, type RolloutCounts } from '../../src/rollout/stats/index.ts';
import { freePort } from '../helpers/backends.ts';
import {
  PROMETHEUS_BIN,
  type PrometheusServer,
  reportMissingPrometheus,
  startPrometheus,
} from '../helpers/prometheus.ts';
import { dest, expected, exposition, HOST, lat, route, SEL, split } from '../unit/rollout/providers-fixtures.ts';

reportMissingPrometheus('test/e2e/rollout-prometheus.test.ts');

const ENVOY = ENVOY_DEFAULT_BUCKETS_MS;
const THRESHOLDS = [100, 250, 500];

/** What one proxy has counted since it started: latencies (ms) and errors per destination. */
interface Traffic {
  /** Route 0, 95/5: primary and canary. */
  p: number[];
  pe: number;
  c: number[];
  ce: number;
  /** Route 1, a header route to the canary (w = 1). */
  h: number[];
  he: number;
  /** Route 0's mirror to the canary. */
  m: number[];
  me: number;
}

const NONE: Traffic = { p: [], pe: 0, c: [], ce: 0, h: [], he: 0, m: [], me: 0 };

/** `t` plus more traffic (counters only grow). */
function grow(t: Traffic, more: Partial<Traffic>): Traffic {
  return {
    p: [...t.p, ...(more.p ?? [])],
    pe: t.pe + (more.pe ?? 0),
    c: [...t.c, ...(more.c ?? [])],
    ce: t.ce + (more.ce ?? 0),
    h: [...t.h, ...(more.h ?? [])],
    he: t.he + (more.he ?? 0),
    m: [...t.m, ...(more.m ?? [])],
    me: t.me + (more.me ?? 0),
  };
}

/** The proxy's routes: the selector's VirtualService, and another one with traffic that must not be counted. */
function routesOf(t: Traffic): RouteCounts[] {
  const d = (subset: string, p: number, ls: number[], e: number) => dest(subset, p, ls, e, HOST, ENVOY);
  const noise = lat(1000, 10, 100, 800);
  return [
    route(
      0,
      [split(d('v1', 0.95, t.p, t.pe), d('v2', 0.05, t.c, t.ce))],
      t.m.length > 0 ? [d('v2', 0.5, t.m, t.me)] : [],
    ),
    ...(t.h.length > 0 ? [route(1, [split(d('v2', 1, t.h, t.he))])] : []),
    route(0, [split(d('v1', 0.5, noise, 10), d('v2', 0.5, noise, 10))], [], 'other-vs'),
  ];
}

/** The reading expected from these counts since the baseline (one Traffic per proxy incarnation, deltas). */
function expectedOf(deltas: readonly Traffic[]): { counts: RolloutCounts; mirror: MirrorCounts } {
  const rows = deltas.flatMap(
    (t) =>
      [
        [0.05, 'primary', t.p, t.pe],
        [0.05, 'canary', t.c, t.ce],
        [1, 'canary', t.h, t.he],
      ] as const,
  );
  const all = deltas.flatMap((t) => t.m);
  return {
    counts: expected(rows, THRESHOLDS),
    mirror: {
      requests: all.length,
      errors: deltas.reduce((a, t) => a + t.me, 0),
      exceedances: THRESHOLDS.map((thresholdMs) => ({ thresholdMs, count: all.filter((l) => l > thresholdMs).length })),
    },
  };
}

/** Latency fixtures against the Envoy edges: 10 (≤ 10), 120 (≤ 250), 300 (≤ 500), 800 (≤ 1000) ms. */
const mix = (n10: number, n120: number, n300: number, n800: number): number[] => [
  ...lat(n10, 10),
  ...lat(n120, 120),
  ...lat(n300, 300),
  ...lat(n800, 800),
];

/** The difference of two Traffic values where `b` grew from `a`. */
function minus(b: Traffic, a: Traffic): Traffic {
  return {
    p: b.p.slice(a.p.length),
    pe: b.pe - a.pe,
    c: b.c.slice(a.c.length),
    ce: b.ce - a.ce,
    h: b.h.slice(a.h.length),
    he: b.he - a.he,
    m: b.m.slice(a.m.length),
    me: b.me - a.me,
  };
}

/** A fake proxy's metrics endpoint: serves `text` (mutable) at /metrics. */
interface MetricsServer {
  server: Server;
  target: string;
  text: string;
}

async function metricsServer(): Promise<MetricsServer> {
  const m: MetricsServer = { server: createServer(), target: '', text: '' };
  m.server.on('request', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(m.text);
  });
  await new Promise<void>((resolve) => m.server.listen(0, '127.0.0.1', () => resolve()));
  m.target = `127.0.0.1:${(m.server.address() as AddressInfo).port}`;
  return m;
}

async function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

/** A histogram of `latencies` over the Envoy edges plus the overflow bucket (as `primaryHistogram` reports it). */
function envoyHistogram(latencies: readonly number[]): { edges: number[]; counts: number[] } {
  const counts = new Array<number>(ENVOY.length + 1).fill(0);
  for (const l of latencies) {
    const k = ENVOY.findIndex((e) => l <= e);
    counts[k < 0 ? ENVOY.length : k]!++;
  }
  return { edges: [...ENVOY, Number.POSITIVE_INFINITY], counts };
}

const requestsOf = (t: Traffic): number => t.p.length + t.c.length + t.h.length;

describe.skipIf(!PROMETHEUS_BIN)('PrometheusProvider against a real Prometheus', () => {
  let a: MetricsServer;
  let b: MetricsServer;
  let prom: PrometheusServer;
  const extraServers: Server[] = [];
  /** The state and reading after the main scenario, for the failure cases. */
  let last: { state: ProviderState; reading: CountsReading } | null = null;

  beforeAll(async () => {
    a = await metricsServer();
    b = await metricsServer();
    a.text = '# no route counts yet\nweir_build_info 1\n';
    b.text = a.text;
    prom = await startPrometheus([{ job: 'weir-rollout', targets: [a.target, b.target] }]);
  }, 120_000);

  afterAll(async () => {
    await prom?.close();
    for (const s of [a?.server, b?.server, ...extraServers]) if (s?.listening) await closeServer(s);
  });

  /** Polls until `check` holds (every 250 ms, 60 s at most: loaded 2-core machines). */
  async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; prometheus log:\n${prom.log.join('')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Until `query` (one sample) has the value string `value` in Prometheus. */
  async function waitValue(query: string, value: string): Promise<void> {
    await waitFor(async () => {
      const r = await prom.api('/api/v1/query', { query });
      const v = (r.data.result as { value: [number, string] }[]).map((x) => x.value[1]);
      return v.length === 1 && v[0] === value;
    }, `${query} = ${value}`);
  }

  /** Serves `t` on `server` and waits until Prometheus holds it (the routed requests of the selector's VS). */
  async function serve(server: MetricsServer, t: Traffic, edit: (text: string) => string = (x) => x): Promise<void> {
    server.text = edit(exposition(routesOf(t)));
    await waitValue(
      `sum(weir_route_requests_total{virtual_service="reviews",traffic="routed",instance="${server.target}"})`,
      String(requestsOf(t)),
    );
  }

  /** The reading must be exactly the counts of `deltas`, and the primary histogram that of `primaryNow`. */
  function check(r: CountsReading, deltas: readonly Traffic[], primaryNow: readonly number[]): void {
    const e = expectedOf(deltas);
    expect(r.counts).toEqual(e.counts);
    expect(r.mirror).toEqual(e.mirror);
    expect(r.primaryHistogram).toEqual(envoyHistogram(primaryNow));
    expect(r.edgesMs).toEqual(ENVOY);
    expect(r.sources).toMatchObject({ ok: 1, failed: 0, problems: [] });
  }

  it('reads exactly what the proxies served: nothing yet, growth, two proxies, resets, a second baseline, odd values', async () => {
    for (const s of [a, b]) await waitValue(`up{job="weir-rollout",instance="${s.target}"}`, '1');
    const provider = new PrometheusProvider(prom.url, { timeoutMs: 10_000 });
    expect(provider.description).toBe(`prometheus ${prom.url}`);

    // 0. Targets up, no weir_route series yet: start works, the reading is zero counts (HOLD), not a failure.
    const s0 = await provider.start(SEL);
    const r0 = await provider.read(SEL, s0, THRESHOLDS);
    expect(r0.reading.counts).toEqual(createRolloutCounts(THRESHOLDS));
    check(r0.reading, [], []);

    // 1. Proxy A serves traffic: series first seen after the baseline count from zero.
    const a1 = grow(NONE, { p: mix(900, 40, 8, 2), pe: 5, c: mix(40, 6, 3, 1), ce: 2, h: mix(10, 0, 0, 2), he: 1 });
    const a1m = grow(a1, { m: mix(20, 0, 0, 4), me: 3 });
    await serve(a, a1m);
    const r1 = await provider.read(SEL, r0.state, THRESHOLDS);
    check(r1.reading, [a1m], a1m.p);
    // A second rollout's baseline, taken now.
    const sB = await provider.start(SEL);

    // 2. A grows, B appears.
    const a2 = grow(a1m, {
      p: mix(500, 30, 10, 5),
      pe: 4,
      c: mix(30, 5, 4, 3),
      ce: 3,
      h: mix(3, 1, 1, 1),
      m: mix(5, 0, 1, 1),
      me: 1,
    });
    const b1 = grow(NONE, { p: mix(300, 10, 1, 1), pe: 2, c: mix(15, 1, 1, 1), ce: 1 });
    await serve(a, a2);
    await serve(b, b1);
    const r2 = await provider.read(SEL, r1.state, THRESHOLDS);
    check(r2.reading, [a2, b1], [...a2.p, ...b1.p]);
    const rB2 = await provider.read(SEL, sB, THRESHOLDS);
    check(rB2.reading, [minus(a2, a1m), b1], [...a2.p, ...b1.p]);

    // 3. A restarts (lower counts): what it counted is carried, the new process counts from zero.
    const z1 = grow(NONE, {
      p: mix(50, 5, 1, 1),
      pe: 1,
      c: mix(3, 0, 0, 1),
      ce: 1,
      h: mix(1, 0, 0, 0),
      m: mix(2, 0, 0, 0),
    });
    await serve(a, z1);
    const r3 = await provider.read(SEL, r2.state, THRESHOLDS);
    check(r3.reading, [a2, b1, z1], [...z1.p, ...b1.p]);
    expect(r3.reading.sources.notes?.some((n) => n.includes(a.target) && n.includes('restarted'))).toBe(true);
    const rB3 = await provider.read(SEL, rB2.state, THRESHOLDS);
    check(rB3.reading, [minus(a2, a1m), b1, z1], [...z1.p, ...b1.p]);

    // 4. A restarts again and grows past its old counts before the next read (header route and mirror recreated
    //    only later, above their old values): the raw samples between the reads show the reset.
    const w1 = grow(NONE, { p: mix(2, 0, 0, 0), c: mix(1, 0, 0, 0) });
    await serve(a, w1);
    const w2 = grow(w1, {
      p: mix(400, 20, 2, 2),
      pe: 3,
      c: mix(20, 2, 2, 2),
      ce: 2,
      h: mix(5, 0, 0, 1),
      he: 1,
      m: mix(9, 0, 0, 1),
      me: 1,
    });
    expect(requestsOf(w2)).toBeGreaterThan(requestsOf(z1));
    await serve(a, w2);
    const r4 = await provider.read(SEL, r3.state, THRESHOLDS);
    check(r4.reading, [a2, b1, z1, w2], [...w2.p, ...b1.p]);

    // 5. Odd sample values on B: canary requests NaN (its last value is kept), canary errors 3.6 (rounded to 4),
    //    primary errors +Inf and the canary's le="1000" bucket -Inf (ignored; no threshold reads it). Exceedances
    //    still come from the buckets.
    const b2 = grow(b1, { c: mix(5, 0, 0, 2), ce: 3 });
    const line = (name: string, routeIndex: number, subset: string): RegExp =>
      new RegExp(
        `^(${name}\\{namespace="prod",virtual_service="reviews",route="${routeIndex}",[^}]*destination_subset="${subset}"[^}]*\\}) .*$`,
        'm',
      );
    b.text = exposition(routesOf(b2))
      .replace(line('weir_route_requests_total', 0, 'v2'), '$1 NaN')
      .replace(line('weir_route_errors_total', 0, 'v2'), '$1 3.6')
      .replace(line('weir_route_errors_total', 0, 'v1'), '$1 +Inf')
      .replace(
        /^(weir_route_request_duration_milliseconds_bucket\{[^}]*virtual_service="reviews",route="0",[^}]*destination_subset="v2"[^}]*le="1000"\}) .*$/m,
        '$1 -Inf',
      );
    await waitValue(
      `weir_route_errors_total{virtual_service="reviews",route="0",destination_subset="v2",instance="${b.target}"}`,
      '3.6',
    );
    const r5 = await provider.read(SEL, r4.state, THRESHOLDS);
    const e5 = expectedOf([a2, b1, z1, w2, minus(b2, b1)]);
    const canaryRow = e5.counts.requests.rows.find((x) => x.w === 0.05)!;
    canaryRow.canary -= b2.c.length - b1.c.length; // NaN: B's canary requests stay at their last value
    const errRow = e5.counts.errors.rows.find((x) => x.w === 0.05)!;
    errRow.canary += 4 - b2.ce; // 3.6 → 4
    expect(r5.reading.counts).toEqual(e5.counts);
    expect(r5.reading.sources.ok).toBe(1);
    expect(r5.reading.sources.notes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^weir_route_requests_total: NaN value ignored/),
        expect.stringMatching(/^weir_route_errors_total: non-integer \(rounded\) value/),
        expect.stringMatching(/^weir_route_errors_total: \+Inf value ignored/),
        expect.stringMatching(/^weir_route_request_duration_milliseconds_bucket: -Inf value ignored/),
      ]),
    );
    // The state is JSON (the controller persists it) and reading it again changes nothing.
    const persisted = JSON.parse(JSON.stringify(r5.state)) as ProviderState;
    const r6 = await provider.read(SEL, persisted, THRESHOLDS);
    expect(r6.reading.counts).toEqual(r5.reading.counts);
    last = r6;

    // A threshold that is not an Envoy edge (e.g. a statistics-grid edge) is a programmer error.
    await expect(provider.read(SEL, persisted, [102.4])).rejects.toThrow(RangeError);
  }, 240_000);

  it('Prometheus failures are reported in sources and the last counts kept; start throws', async () => {
    expect(last).not.toBeNull();
    const { state, reading } = last!;
    const counts = reading.counts;

    // An HTTP error in front of Prometheus (a proxy or a restarting server).
    const down = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream unavailable');
    });
    // A server that never answers.
    const hang = createServer(() => {});
    for (const s of [down, hang]) {
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
      extraServers.push(s);
    }
    const urlOf = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

    const r1 = await new PrometheusProvider(urlOf(down)).read(SEL, state, THRESHOLDS);
    expect(r1.reading.sources).toEqual({
      ok: 0,
      failed: 1,
      problems: [`prometheus ${urlOf(down)}: HTTP 503: not a Prometheus API answer: upstream unavailable`],
      notes: [],
    });
    expect(r1.reading.counts).toEqual(counts);

    // A real `status: "error"` answer: Prometheus refuses a malformed matcher.
    const bad = new PrometheusProvider(prom.url, { matchers: ['job=~"("'] });
    const r2 = await bad.read(SEL, state, THRESHOLDS);
    expect(r2.reading.sources.failed).toBe(1);
    expect(r2.reading.sources.problems[0]).toMatch(/HTTP 400: status error: bad_data: /);
    expect(r2.reading.counts).toEqual(counts);
    await expect(bad.start(SEL)).rejects.toThrow(/did not answer: HTTP 400: status error: bad_data/);

    // A timeout.
    const r3 = await new PrometheusProvider(urlOf(hang), { timeoutMs: 500 }).read(SEL, r2.state, THRESHOLDS);
    expect(r3.reading.sources.problems).toEqual([`prometheus ${urlOf(hang)}: no answer within 500 ms`]);
    expect(r3.reading.counts).toEqual(counts);

    // Nobody listening: start throws, read reports.
    const nobody = `http://127.0.0.1:${await freePort()}`;
    await expect(new PrometheusProvider(nobody).start(SEL)).rejects.toThrow(/did not answer: ECONNREFUSED/);
    const r4 = await new PrometheusProvider(nobody).read(SEL, r3.state, THRESHOLDS);
    expect(r4.reading.sources.failed).toBe(1);
    expect(r4.reading.counts).toEqual(counts);

    // The failures kept the state usable: the real Prometheus still gives the same counts.
    const r5 = await new PrometheusProvider(prom.url).read(SEL, r4.state, THRESHOLDS);
    expect(r5.reading.sources).toMatchObject({ ok: 1, failed: 0 });
    expect(r5.reading.counts).toEqual(counts);
  }, 120_000);
});
