/**
 * The per-route count tables of `weir rollout` (`telemetry/route-counts.ts`, design `sequential-canary.md` §1.1,
 * §1.3, §2.5): records built from decisions of a real compiled route table, fed to the recorder as the proxy would.
 */
import { describe, expect, it } from 'vitest';
import type { MirrorRecord, RequestRecord } from '../../../src/dataplane/proxy.ts';
import { parseSplitKey, type RouteCounts, type SplitCounts, splitKey } from '../../../src/rollout/route-counts.ts';
import { ENVOY_DEFAULT_BUCKETS_MS, statisticsBucketEdgesMs } from '../../../src/rollout/stats/quantile.ts';
import type { RouteTable } from '../../../src/routing/compile.ts';
import type { CompiledRoute, RouteDecision } from '../../../src/routing/types.ts';
import { RouteCountsRecorder, withRouteCountMetrics } from '../../../src/telemetry/route-counts.ts';
import { decideOne, res, service, snapshot, tableOf, to, vs } from '../routing/fixtures.ts';
import { parseExposition, select } from './fixtures.ts';

const H = 'checkout.default.svc.cluster.local';
const dr = res('DestinationRule', 'checkout-dr', {
  host: H,
  subsets: ['v1', 'v2', 'v3'].map((v) => ({ name: v, labels: { version: v } })),
});

/** The VirtualService under test; `publicWeights` are the 95/5 split's weights (v1, v2). */
function vsYaml(publicWeights: [number, number] = [95, 5]): string {
  return vs('checkout-vs', {
    hosts: [H],
    http: [
      { name: 'old', match: [{ uri: { prefix: '/old' } }], redirect: { uri: '/new' } },
      { name: 'health', match: [{ uri: { prefix: '/health' } }], directResponse: { status: 200 } },
      {
        name: 'three-way',
        match: [{ headers: { 'x-split': { exact: 'three' } } }],
        route: [to(H, 'v1', 50), to(H, 'v2', 30), to(H, 'v3', 20)],
      },
      {
        name: 'mirrored',
        match: [{ headers: { 'x-mirror': { exact: '1' } } }],
        route: [to(H, 'v1')],
        mirror: { host: H, subset: 'v3' },
        mirrorPercentage: { value: 50 },
      },
      { name: 'missing-subset', match: [{ uri: { prefix: '/nc' } }], route: [to(H, 'v9')] },
      { name: 'public', route: [to(H, 'v1', publicWeights[0]), to(H, 'v2', publicWeights[1])] },
    ],
  });
}

function tableFor(publicWeights?: [number, number]): RouteTable {
  return tableOf(snapshot(service(H), dr, vsYaml(publicWeights), service('other.default.svc.cluster.local', [80], 1)));
}

/** A RequestRecord as the proxy reports it (only the routing fields matter to the recorder). */
function record(decision: RouteDecision, status: number, responseFlags = '-', durationMs = 3): RequestRecord {
  return {
    decision,
    destination:
      decision.action === 'route' && decision.route.action.type === 'route'
        ? decision.route.action.destinations[decision.destinationIndex]!
        : null,
    upstreamLabels: null,
    upstreamHost: null,
    source: null,
    method: 'GET',
    authority: H,
    protocol: 'HTTP/1.1',
    status,
    responseFlags,
    durationMs,
    requestBytes: 0,
    responseBytes: 0,
    attempts: 1,
    grpcStatus: null,
  };
}

/** A MirrorRecord as the proxy reports it for a copy that followed `route.mirrors[0]`. */
function mirrorRecord(
  route: CompiledRoute,
  outcome: MirrorRecord['outcome'],
  status: number,
  durationMs = 2,
): MirrorRecord {
  return { cluster: `outbound|80|v3|${H}`, route, mirror: route.mirrors[0]!, outcome, status, durationMs };
}

/** The compiled route of a decision that has one. */
function routeOfDecision(d: RouteDecision): CompiledRoute {
  if (!('route' in d)) throw new Error(`no route in a ${d.action} decision`);
  return d.route;
}

/** Decisions of the table: `rng` picks the destination (r·Σw walks the weights in order). */
const to95 = (t: RouteTable, rng = 0) => decideOne(t, { authority: H, path: '/' }, rng);
const toThree = (t: RouteTable, rng = 0) => decideOne(t, { authority: H, headers: { 'x-split': 'three' } }, rng);

function routeOf(snap: { routes: readonly RouteCounts[] }, name: string): RouteCounts {
  const r = snap.routes.find((x) => x.routeName === name);
  if (!r) throw new Error(`no counts for route ${name}`);
  return r;
}

function destOf(split: SplitCounts, subset: string) {
  const d = split.destinations.find((x) => x.subset === subset);
  if (!d) throw new Error(`no destination ${subset} in ${split.key}`);
  return d;
}

describe('RouteCountsRecorder: splits', () => {
  it('keys a 95/5 split by destination and probability, and counts each request on its destination', () => {
    const t = tableFor();
    const rc = new RouteCountsRecorder({ instance: 'test' });
    for (let i = 0; i < 19; i++) rc.onRequest(record(to95(t, 0.1), 200));
    rc.onRequest(record(to95(t, 0.97), 200));
    const snap = rc.snapshot();
    expect(snap.version).toBe(1);
    expect(snap.instance).toBe('test');
    const r = routeOf(snap, 'public');
    expect(r).toMatchObject({ namespace: 'default', virtualService: 'checkout-vs', route: 5, mirrors: [] });
    expect(r.splits).toHaveLength(1);
    const split = r.splits[0]!;
    expect(split.key).toBe(`${H}|v1=0.95,${H}|v2=0.05`);
    expect(split.key).toBe(
      splitKey([
        { host: H, subset: 'v2', probability: 0.05 },
        { host: H, subset: 'v1', probability: 0.95 },
      ]),
    );
    expect(parseSplitKey(split.key).map((m) => m.probability)).toEqual([0.95, 0.05]);
    expect(destOf(split, 'v1')).toMatchObject({ host: H, probability: 0.95, requests: 19, errors: 0 });
    expect(destOf(split, 'v2')).toMatchObject({ host: H, probability: 0.05, requests: 1, errors: 0 });
  });

  it('keys a 3-way split (50/30/20) and a single destination (p = 1)', () => {
    const t = tableFor();
    const rc = new RouteCountsRecorder();
    for (const u of [0, 0.49, 0.5, 0.79, 0.8, 0.99]) rc.onRequest(record(toThree(t, u), 200));
    const mirrored = decideOne(t, { authority: H, headers: { 'x-mirror': '1' } });
    rc.onRequest(record(mirrored, 200));
    const snap = rc.snapshot();
    const three = routeOf(snap, 'three-way').splits[0]!;
    expect(three.key).toBe(`${H}|v1=0.5,${H}|v2=0.3,${H}|v3=0.2`);
    expect(three.destinations.map((d) => [d.subset, d.probability, d.requests])).toEqual([
      ['v1', 0.5, 2],
      ['v2', 0.3, 2],
      ['v3', 0.2, 2],
    ]);
    expect(routeOf(snap, 'mirrored').splits[0]!.key).toBe(`${H}|v1=1`);
  });

  it('rounds probabilities to 1e-4 and merges a destination listed twice', () => {
    const t = tableOf(
      snapshot(
        service(H, [80, 8080]),
        dr,
        vs('odd', {
          hosts: [H],
          http: [{ route: [to(H, 'v1', 1), to(H, 'v2', 1), to(H, 'v1', 1, 8080)] }],
        }),
      ),
    );
    const rc = new RouteCountsRecorder();
    rc.onRequest(record(decideOne(t, { authority: H }, 0), 200)); // v1 port 80
    rc.onRequest(record(decideOne(t, { authority: H }, 0.9), 200)); // v1 port 8080
    const [split] = rc.snapshot().routes[0]!.splits;
    expect(split!.key).toBe(`${H}|v1=0.6667,${H}|v2=0.3333`);
    expect(destOf(split!, 'v1').requests).toBe(2);
  });
});

describe('RouteCountsRecorder: errors and what is not counted', () => {
  it('counts status >= 500 and proxy-generated failures as errors; a disconnect before the response not at all', () => {
    const t = tableFor();
    const rc = new RouteCountsRecorder();
    const v1 = to95(t, 0);
    const cases: [status: number, flags: string, counted: boolean, error: boolean][] = [
      [200, '-', true, false],
      [404, '-', true, false],
      [500, '-', true, true],
      [503, '-', true, true], // upstream 503
      [503, 'UF', true, true], // connect failure
      [503, 'UF,URX', true, true], // connect failures, retries exhausted
      [504, 'UT', true, true], // route timeout
      [503, 'UO', true, true], // circuit breaker overflow
      [503, 'UH', true, true], // no healthy upstream
      [503, 'FI', true, true], // fault abort
      [200, 'UC', true, true], // upstream reset after the head was relayed
      [200, 'UT', true, true], // timeout after the head was relayed
      [200, 'DC', true, false], // the client left during the body
      [200, 'DI', true, false], // delayed by a fault
      [0, 'DC', false, false], // the client left before any response: not counted
    ];
    let requests = 0;
    let errors = 0;
    for (const [status, flags, counted, error] of cases) {
      rc.onRequest(record(v1, status, flags));
      if (counted) requests++;
      if (error) errors++;
      const d = destOf(routeOf(rc.snapshot(), 'public').splits[0]!, 'v1');
      expect([d.requests, d.errors], `${status} ${flags}`).toEqual([requests, errors]);
    }
  });

  it('counts a route whose destination has no cluster (503 NC) as an error on that destination', () => {
    const t = tableFor();
    const d = decideOne(t, { authority: H, path: '/nc' });
    expect(d.action).toBe('clusterNotFound');
    const rc = new RouteCountsRecorder();
    rc.onRequest(record(d, 503, 'NC'));
    const split = routeOf(rc.snapshot(), 'missing-subset').splits[0]!;
    expect(split.key).toBe(`${H}|v9=1`);
    expect(destOf(split, 'v9')).toMatchObject({ requests: 1, errors: 1 });
  });

  it('does not count redirects, direct responses, NR, or the default route of a service without VirtualService', () => {
    const t = tableFor();
    const rc = new RouteCountsRecorder();
    const redirect = decideOne(t, { authority: H, path: '/old' });
    const direct = decideOne(t, { authority: H, path: '/health' });
    const nr = decideOne(t, { authority: 'nowhere.test' });
    const dflt = decideOne(t, { authority: 'other.default.svc.cluster.local' });
    expect([redirect.action, direct.action, nr.action, dflt.action]).toEqual([
      'redirect',
      'directResponse',
      'notFound',
      'route',
    ]);
    rc.onRequest(record(redirect, 301));
    rc.onRequest(record(direct, 200));
    rc.onRequest(record(nr, 404, 'NR'));
    rc.onRequest(record(dflt, 200));
    rc.onRequest({ ...record(to95(t), 200), decision: null });
    expect(rc.snapshot().routes).toEqual([]);
  });
});

describe('RouteCountsRecorder: latency histogram', () => {
  it('puts a latency on an edge in that edge’s bucket, (edge, next] in the next, and sums to the requests', () => {
    const edges = statisticsBucketEdgesMs();
    const t = tableFor();
    const v1 = to95(t, 0);
    const rc = new RouteCountsRecorder();
    expect(rc.edgesMs).toEqual(edges);
    const at = (ms: number) => rc.onRequest(record(v1, 200, '-', ms));
    const k100 = edges.indexOf(100);
    at(0); // bucket 0: [0, edges[0]]
    at(edges[0]!); // bucket 0
    at(100); // exactly an Envoy edge
    at(100.0000001); // just above → next bucket
    at(edges[k100 + 1]!); // the next edge itself → still the next bucket
    at(edges.at(-1)!); // the last edge
    at(edges.at(-1)! + 1); // above every edge → overflow bucket
    const d = destOf(routeOf(rc.snapshot(), 'public').splits[0]!, 'v1');
    expect(d.histogram).toHaveLength(edges.length + 1);
    const nonZero = Object.fromEntries(d.histogram.flatMap((c, k) => (c > 0 ? [[k, c]] : [])));
    expect(nonZero).toEqual({
      0: 2,
      [k100]: 1,
      [k100 + 1]: 2,
      [edges.length - 1]: 1,
      [edges.length]: 1,
    });
    expect(d.histogram.reduce((a, b) => a + b, 0)).toBe(d.requests);
  });

  it('rejects edges that are not increasing or lack an Envoy edge (RangeError)', () => {
    expect(() => new RouteCountsRecorder({ edgesMs: [] })).toThrow(RangeError);
    expect(() => new RouteCountsRecorder({ edgesMs: [...ENVOY_DEFAULT_BUCKETS_MS].reverse() })).toThrow(RangeError);
    expect(() => new RouteCountsRecorder({ edgesMs: ENVOY_DEFAULT_BUCKETS_MS.slice(1) })).toThrow(/Envoy's edge 0.5/);
    expect(new RouteCountsRecorder({ edgesMs: ENVOY_DEFAULT_BUCKETS_MS }).edgesMs).toEqual(ENVOY_DEFAULT_BUCKETS_MS);
  });
});

describe('RouteCountsRecorder: reloads', () => {
  it('keeps counting on the same split after a reload (new compiled objects), and opens a new split when weights change', () => {
    const rc = new RouteCountsRecorder();
    const t1 = tableFor();
    for (let i = 0; i < 5; i++) rc.onRequest(record(to95(t1, 0), 200));
    rc.onRequest(record(to95(t1, 0.99), 500));
    // The same configuration compiled again: new route objects, same (namespace, VS, index, split, destination).
    const t2 = tableFor();
    expect(routeOfDecision(to95(t2))).not.toBe(routeOfDecision(to95(t1)));
    for (let i = 0; i < 3; i++) rc.onRequest(record(to95(t2, 0), 200));
    let r = routeOf(rc.snapshot(), 'public');
    expect(r.splits).toHaveLength(1);
    expect(destOf(r.splits[0]!, 'v1').requests).toBe(8);
    expect(destOf(r.splits[0]!, 'v2')).toMatchObject({ requests: 1, errors: 1 });
    // 95/5 → 50/50: a second split; the first keeps its counts. In-flight requests of the old table still count
    // under the split they were dispatched with.
    const t3 = tableFor([50, 50]);
    rc.onRequest(record(to95(t3, 0.6), 200));
    rc.onRequest(record(to95(t1, 0), 200)); // dispatched before the reload, finished after it
    r = routeOf(rc.snapshot(), 'public');
    expect(r.splits.map((s) => s.key)).toEqual([`${H}|v1=0.95,${H}|v2=0.05`, `${H}|v1=0.5,${H}|v2=0.5`]);
    expect(r.splits[0]!.destinations.map((d) => d.requests)).toEqual([9, 1]);
    expect(r.splits[1]!.destinations.map((d) => d.requests)).toEqual([0, 1]);
    expect(rc.snapshot().routes.filter((x) => x.routeName === 'public')).toHaveLength(1);
  });
});

describe('RouteCountsRecorder: mirrors', () => {
  it('counts sent and failed copies per mirror target (p = percentage / 100), never in splits; dropped copies not', () => {
    const t = tableFor();
    const primary = decideOne(t, { authority: H, headers: { 'x-mirror': '1' } });
    if (primary.action !== 'route') throw new Error('expected a route');
    const route: CompiledRoute = primary.route;
    const mirror = route.mirrors[0]!;
    expect(mirror).toMatchObject({ host: H, subset: 'v3', percent: 50 });
    const rc = new RouteCountsRecorder();
    rc.onRequest(record(primary, 200));
    const m = (outcome: MirrorRecord['outcome'], status: number, durationMs = 2) =>
      rc.onMirror(mirrorRecord(route, outcome, status, durationMs));
    m('sent', 200);
    m('sent', 503);
    m('failed', 0);
    m('dropped-overload', -1, 0);
    m('dropped-no-endpoint', -1, 0);
    m('dropped-body-too-large', -1, 0);
    rc.onMirror({ status: 200, outcome: 'sent', durationMs: 1 }); // no route: not counted
    const r = routeOf(rc.snapshot(), 'mirrored');
    expect(r.splits).toHaveLength(1);
    expect(r.splits[0]!.destinations).toHaveLength(1);
    expect(r.splits[0]!.destinations[0]).toMatchObject({ subset: 'v1', requests: 1, errors: 0 });
    expect(r.mirrors).toHaveLength(1);
    expect(r.mirrors[0]).toMatchObject({ host: H, subset: 'v3', probability: 0.5, requests: 3, errors: 2 });
    expect(r.mirrors[0]!.histogram.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe('RouteCountsRecorder: snapshot and Prometheus', () => {
  it('filters by namespace and VirtualService; the snapshot is a copy', () => {
    const rc = new RouteCountsRecorder({ now: () => new Date('2025-01-02T03:04:05Z') });
    const t = tableFor();
    rc.onRequest(record(to95(t), 200));
    const snap = rc.snapshot();
    expect(snap.startedAt).toBe('2025-01-02T03:04:05.000Z');
    expect(snap.capturedAt).toBe('2025-01-02T03:04:05.000Z');
    expect(rc.snapshot({ namespace: 'default', virtualService: 'checkout-vs' }).routes).toHaveLength(1);
    expect(rc.snapshot({ namespace: 'prod' }).routes).toHaveLength(0);
    expect(rc.snapshot({ virtualService: 'other' }).routes).toHaveLength(0);
    rc.onRequest(record(to95(t), 200));
    expect(destOf(snap.routes[0]!.splits[0]!, 'v1').requests).toBe(1);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });

  it('renders weir_route_* with the contract labels, Envoy buckets derived from the statistics histogram', async () => {
    const t = tableFor();
    const rc = new RouteCountsRecorder();
    const latencies = [0.3, 0.5, 1, 7, 100, 100.5, 4000, 4_000_000];
    for (const ms of latencies) rc.onRequest(record(to95(t, 0), ms === 7 ? 503 : 200, '-', ms));
    rc.onRequest(record(to95(t, 0.99), 200, '-', 12));
    const primary = decideOne(t, { authority: H, headers: { 'x-mirror': '1' } });
    if (primary.action !== 'route') throw new Error('expected a route');
    rc.onRequest(record(primary, 200));
    rc.onMirror(mirrorRecord(primary.route, 'sent', 200));
    const text = rc.renderPrometheus();
    expect(text).toContain('# TYPE weir_route_requests_total counter');
    expect(text).toContain('# TYPE weir_route_request_duration_milliseconds histogram');
    const samples = parseExposition(text);
    const v1 = {
      namespace: 'default',
      virtual_service: 'checkout-vs',
      route: '5',
      destination_service: H,
      destination_subset: 'v1',
      split: `${H}|v1=0.95,${H}|v2=0.05`,
      traffic: 'routed',
    };
    const one = (name: string, labels: Record<string, string>) => {
      const s = select(samples, name, labels);
      expect(s, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return s[0]!;
    };
    expect(Object.keys(one('weir_route_requests_total', v1).labels).sort()).toEqual(Object.keys(v1).sort());
    expect(one('weir_route_requests_total', v1).value).toBe(latencies.length);
    expect(one('weir_route_errors_total', v1).value).toBe(1);
    expect(one('weir_route_requests_total', { ...v1, destination_subset: 'v2' }).value).toBe(1);
    const h = 'weir_route_request_duration_milliseconds';
    for (const le of ENVOY_DEFAULT_BUCKETS_MS) {
      expect(one(`${h}_bucket`, { ...v1, le: String(le) }).value, `le=${le}`).toBe(
        latencies.filter((x) => x <= le).length,
      );
    }
    expect(one(`${h}_bucket`, { ...v1, le: '+Inf' }).value).toBe(latencies.length);
    expect(one(`${h}_count`, v1).value).toBe(latencies.length);
    expect(one(`${h}_sum`, v1).value).toBeCloseTo(
      latencies.reduce((a, b) => a + b, 0),
      6,
    );
    const mirrored = one('weir_route_requests_total', { route: '3', traffic: 'mirrored' });
    expect(mirrored.labels).toMatchObject({ split: '', destination_subset: 'v3' });
    expect(mirrored.value).toBe(1);
    // The mirrored route's primary is counted as routed, apart.
    expect(one('weir_route_requests_total', { route: '3', traffic: 'routed' }).value).toBe(1);

    const composed = withRouteCountMetrics({ contentType: 'text/plain; version=0.0.4', render: async () => 'a 1' }, rc);
    expect(await composed.render()).toBe(`a 1\n${text}`);
    expect(() =>
      withRouteCountMetrics({ contentType: 'application/openmetrics-text', render: async () => '' }, rc),
    ).toThrow(RangeError);
  });
});
