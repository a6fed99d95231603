/**
 * End to end: the per-route counts of `weir rollout` (admin `GET /rollout/counts`, `weir_route_*` on
 * `/stats/prometheus`) against what real clients saw through a real `weir serve` with real backends on loopback:
 * a 90/10 split whose canary answers 500 to some requests, retries counted once, mirrored copies apart, and a hot
 * reload that changes the weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationCounts, RouteCounts, RouteCountsSnapshot } from '../../src/rollout/route-counts.ts';
import { ENVOY_DEFAULT_BUCKETS_MS } from '../../src/rollout/stats/quantile.ts';
import { createProxyMetrics } from '../../src/telemetry/metrics.ts';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import { closeClients, type Reply, send, sendMany, serviceEntryYaml, startWeir, type Weir } from '../helpers/proxy.ts';
import { parseExposition, type Sample, select } from '../unit/telemetry/fixtures.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;
const VS = 'checkout-service-vs';

let backends: BackendSet<'v1' | 'v2' | 'v3'>;

beforeAll(async () => {
  backends = await startBackends({
    v1: { seed: 1 },
    v2: { seed: 2, errorRate: 0.3, errorStatus: 500 },
    v3: { seed: 3, errorRate: 0.25, errorStatus: 503 },
  });
});
afterAll(async () => {
  await backends.closeAll();
  await closeClients();
});

function mesh(): string {
  return serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
    { port: backends.v3.port, labels: { app: 'checkout-service', version: 'v3' } },
  ]);
}

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: checkout-service-dr
  namespace: ${NS}
spec:
  host: ${HOST}
  subsets:
${['v1', 'v2', 'v3'].map((v) => `  - name: ${v}\n    labels:\n      version: ${v}`).join('\n')}
`;

/** http[0] mirrors to v3; http[1] retries 5xx on v2; http[2] is the canary split (v1, v2 weights). */
function vsYaml(v1: number, v2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${VS}
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: mirrored
    match:
    - headers:
        x-mirror:
          exact: "1"
    route:
    - destination:
        host: ${HOST}
        subset: v1
    mirror:
      host: ${HOST}
      subset: v3
    mirrorPercentage:
      value: 100
  - name: retried
    match:
    - headers:
        x-retry:
          exact: "1"
    route:
    - destination:
        host: ${HOST}
        subset: v2
    retries:
      attempts: 2
      retryOn: 5xx
  - name: canary-split
    route:
    - destination:
        host: ${HOST}
        subset: v1
      weight: ${v1}
    - destination:
        host: ${HOST}
        subset: v2
      weight: ${v2}
`;
}

async function counts(weir: Weir, query = `?namespace=${NS}&virtualService=${VS}`): Promise<RouteCountsSnapshot> {
  const r = await fetch(`${weir.handle.adminUrl}/rollout/counts${query}`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('application/json');
  return (await r.json()) as RouteCountsSnapshot;
}

function route(snap: RouteCountsSnapshot, name: string): RouteCounts {
  const r = snap.routes.find((x) => x.routeName === name);
  if (!r) throw new Error(`no counts for ${name}`);
  return r;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const total = (r: RouteCounts | undefined): number =>
  r ? sum(r.splits.flatMap((s) => s.destinations.map((d) => d.requests))) : 0;

/**
 * Polls the counts until `ok` (the proxy reports a request when its response has closed, which can be a moment after
 * the client read it; mirrors finish after their primary). Fails after 10 s.
 */
async function countsUntil(weir: Weir, ok: (s: RouteCountsSnapshot) => boolean): Promise<RouteCountsSnapshot> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await counts(weir);
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`counts never settled: ${JSON.stringify(s.routes.map(total))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What the client saw per backend version: requests and 5xx. */
function clientView(replies: readonly Reply[]): Map<string, { requests: number; errors: number }> {
  const out = new Map<string, { requests: number; errors: number }>();
  for (const r of replies) {
    const v = String(r.headers['x-backend-version']);
    const e = out.get(v) ?? { requests: 0, errors: 0 };
    e.requests++;
    if (r.status >= 500) e.errors++;
    out.set(v, e);
  }
  return out;
}

function dest(r: RouteCounts, splitKey: string, subset: string): DestinationCounts {
  const s = r.splits.find((x) => x.key === splitKey);
  const d = s?.destinations.find((x) => x.subset === subset);
  if (!d) throw new Error(`no ${subset} in split ${splitKey}`);
  return d;
}

const SPLIT_90_10 = `${HOST}|v1=0.9,${HOST}|v2=0.1`;
const SPLIT_50_50 = `${HOST}|v1=0.5,${HOST}|v2=0.5`;

describe('route counts through a real proxy', () => {
  let weir: Weir;
  const N = 400;
  let split: Reply[];

  beforeAll(async () => {
    weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': DR, 'vs.yaml': vsYaml(90, 10) },
      { namespace: NS, rng: seededRng(42), metrics: createProxyMetrics, routeCountMetrics: true },
    );
    split = await sendMany(N, 8, () => send(weir.url, { host: HOST }));
  });
  afterAll(() => weir.close());

  it('counts the 90/10 split exactly as the clients saw it, per subset: requests and errors', async () => {
    const view = clientView(split);
    expect([...view.keys()].sort()).toEqual(['v1', 'v2']);
    expect(view.get('v1')!.errors).toBe(0);
    expect(view.get('v2')!.errors).toBeGreaterThan(0); // the canary's 500s
    const snap = await countsUntil(weir, (s) => total(s.routes.find((r) => r.routeName === 'canary-split')) === N);
    expect(snap.version).toBe(1);
    expect(snap.edgesMs.length).toBeGreaterThan(100);
    const r = route(snap, 'canary-split');
    expect(r).toMatchObject({ namespace: NS, virtualService: VS, route: 2, mirrors: [] });
    expect(r.splits.map((s) => s.key)).toEqual([SPLIT_90_10]);
    for (const v of ['v1', 'v2']) {
      const d = dest(r, SPLIT_90_10, v);
      expect(d.host).toBe(HOST);
      expect(d.probability).toBe(v === 'v1' ? 0.9 : 0.1);
      expect({ requests: d.requests, errors: d.errors }, v).toEqual(view.get(v));
      expect(d.histogram).toHaveLength(snap.edgesMs.length + 1);
      expect(sum(d.histogram)).toBe(d.requests);
    }
    // The admin answer without filters has the same route; a filter on another namespace has none.
    expect(route(await counts(weir, ''), 'canary-split').splits[0]!.key).toBe(SPLIT_90_10);
    expect((await counts(weir, '?namespace=other')).routes).toEqual([]);
    expect(route(await counts(weir, '?namespace=&virtualService='), 'canary-split').route).toBe(2);
  });

  it('counts a retried request once, with its final outcome', async () => {
    const before = backends.v2.stats().totalRequests;
    const replies: Reply[] = [];
    for (let i = 0; i < 40; i++) replies.push(await send(weir.url, { host: HOST, headers: { 'x-retry': '1' } }));
    const upstream = backends.v2.stats().totalRequests - before;
    expect(upstream).toBeGreaterThan(40); // some attempts were retried
    const snap = await countsUntil(weir, (s) => total(s.routes.find((r) => r.routeName === 'retried')) === 40);
    const d = dest(route(snap, 'retried'), `${HOST}|v2=1`, 'v2');
    expect({ requests: d.requests, errors: d.errors }).toEqual(clientView(replies).get('v2'));
  });

  it('counts mirrored copies apart, per mirror target, never in a split', async () => {
    const v3Before = backends.v3.stats();
    const replies = await sendMany(30, 4, () => send(weir.url, { host: HOST, headers: { 'x-mirror': '1' } }));
    expect(replies.every((r) => r.status === 200 && r.headers['x-backend-version'] === 'v1')).toBe(true);
    const snap = await countsUntil(weir, (s) => {
      const r = s.routes.find((x) => x.routeName === 'mirrored');
      return total(r) === 30 && r?.mirrors[0]?.requests === 30;
    });
    const r = route(snap, 'mirrored');
    expect(r.splits.map((s) => s.key)).toEqual([`${HOST}|v1=1`]);
    expect(r.mirrors).toHaveLength(1);
    const m = r.mirrors[0]!;
    expect(m).toMatchObject({ host: HOST, subset: 'v3', probability: 1, requests: 30 });
    const v3 = backends.v3.stats();
    const v3Errors = (v3.byStatus['503'] ?? 0) - (v3Before.byStatus['503'] ?? 0);
    expect(v3.totalRequests - v3Before.totalRequests).toBe(30);
    expect(m.errors).toBe(v3Errors);
    expect(sum(m.histogram)).toBe(30);
    // v3 is nowhere in a split: every routed request of every route went to v1 or v2.
    for (const x of snap.routes) for (const s of x.splits) expect(s.key).not.toContain('|v3=');
  });

  it('exports the same counts as weir_route_* on /stats/prometheus', async () => {
    const snap = await counts(weir);
    const r = await fetch(`${weir.handle.adminUrl}/stats/prometheus`);
    expect(r.status).toBe(200);
    const samples: Sample[] = parseExposition(await r.text());
    // The istio_* series are still there.
    expect(select(samples, 'istio_requests_total').length).toBeGreaterThan(0);
    const base = { namespace: NS, virtual_service: VS, route: '2', split: SPLIT_90_10, traffic: 'routed' };
    const one = (name: string, labels: Record<string, string>): number => {
      const s = select(samples, name, labels);
      expect(s, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return s[0]!.value;
    };
    for (const v of ['v1', 'v2']) {
      const d = dest(route(snap, 'canary-split'), SPLIT_90_10, v);
      const labels = { ...base, destination_service: HOST, destination_subset: v };
      expect(one('weir_route_requests_total', labels)).toBe(d.requests);
      expect(one('weir_route_errors_total', labels)).toBe(d.errors);
      const h = 'weir_route_request_duration_milliseconds';
      expect(one(`${h}_count`, labels)).toBe(d.requests);
      expect(one(`${h}_bucket`, { ...labels, le: '+Inf' })).toBe(d.requests);
      // Envoy bucket le=b counts the statistics buckets up to edge b (every Envoy edge is a statistics edge).
      for (const le of ENVOY_DEFAULT_BUCKETS_MS) {
        const k = snap.edgesMs.indexOf(le);
        expect(one(`${h}_bucket`, { ...labels, le: String(le) }), `le=${le}`).toBe(sum(d.histogram.slice(0, k + 1)));
      }
      expect(one(`${h}_sum`, labels)).toBeGreaterThan(0);
    }
    const mirrored = select(samples, 'weir_route_requests_total', { traffic: 'mirrored' });
    expect(mirrored.map((s) => [s.labels.route, s.labels.destination_subset, s.labels.split, s.value])).toEqual([
      ['0', 'v3', '', 30],
    ]);
  });

  it('answers 404 on /rollout/counts when the proxy keeps no counts', async () => {
    const off = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': DR, 'vs.yaml': vsYaml(90, 10) },
      {
        namespace: NS,
        routeCounts: false,
      },
    );
    try {
      expect(off.handle.routeCounts).toBeNull();
      expect((await fetch(`${off.handle.adminUrl}/rollout/counts`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});

describe('route counts across a hot reload', () => {
  let weir: Weir;
  beforeAll(async () => {
    weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': DR, 'vs.yaml': vsYaml(90, 10) },
      { namespace: NS, rng: seededRng(7) },
    );
  });
  afterAll(() => weir.close());

  it('a weight change 90/10 → 50/50 opens a second split and keeps the first one’s counts', async () => {
    const first = clientView(await sendMany(200, 8, () => send(weir.url, { host: HOST })));
    const before = await countsUntil(weir, (s) => total(s.routes.find((r) => r.routeName === 'canary-split')) === 200);
    await weir.write('vs.yaml', vsYaml(50, 50));
    expect(await weir.handle.reload()).toBe(true);
    const second = clientView(await sendMany(200, 8, () => send(weir.url, { host: HOST })));
    const after = await countsUntil(weir, (s) => total(s.routes.find((r) => r.routeName === 'canary-split')) === 400);
    expect(after.instance).toBe(before.instance);
    expect(after.startedAt).toBe(before.startedAt);
    const r = route(after, 'canary-split');
    expect(r.splits.map((s) => s.key)).toEqual([SPLIT_90_10, SPLIT_50_50]);
    expect(r.splits[0]).toEqual(route(before, 'canary-split').splits[0]);
    for (const v of ['v1', 'v2']) {
      const a = dest(r, SPLIT_90_10, v);
      const b = dest(r, SPLIT_50_50, v);
      expect({ requests: a.requests, errors: a.errors }, `90/10 ${v}`).toEqual(first.get(v));
      expect({ requests: b.requests, errors: b.errors }, `50/50 ${v}`).toEqual(second.get(v));
      expect(b.probability).toBe(0.5);
    }
    // Same route object in the snapshot (keyed by namespace, VirtualService and index, not by compiled objects).
    expect(after.routes.filter((x) => x.route === 2)).toHaveLength(1);
  });
});
