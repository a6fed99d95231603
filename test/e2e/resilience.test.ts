/**
 * End to end, modelled on Istio's own tasks: request timeouts, retries, fault injection, circuit breaking,
 * outlier detection and locality failover, through a real proxy to real backends on loopback.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, startBackend } from '../../src/backend/backend.ts';
import { createProxyMetrics } from '../../src/telemetry/metrics.ts';
import { binomialBounds } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import { closeClients, type Reply, send, sendMany, serviceEntryYaml, startWeir, type Weir } from '../helpers/proxy.ts';
import { parseExposition, type Sample, select } from '../unit/telemetry/fixtures.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;
const started: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.close();
  await closeClients();
});

async function backend(opts: Parameters<typeof startBackend>[0] = {}): Promise<Backend> {
  const b = await startBackend({ seed: 1, ...opts });
  started.push(b);
  return b;
}
async function weir(files: Record<string, string>, opts: Parameters<typeof startWeir>[1] = {}): Promise<Weir> {
  const w = await startWeir(files, { rng: seededRng(5), metrics: createProxyMetrics, ...opts });
  started.push(w);
  return w;
}
const vs = (http: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
${http}`;
const dr = (trafficPolicy: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr
  namespace: ${NS}
spec:
  host: ${HOST}
  trafficPolicy:
${trafficPolicy.replace(/^/gm, '    ')}
`;
/**
 * The access log once it holds `count` lines (a line is written when the response has closed on weir's side, which
 * can come just after the client has read it); fails after 10 s.
 */
async function logOf(w: Weir, count: number): Promise<Record<string, unknown>[]> {
  const deadline = performance.now() + 10_000;
  while (w.log.length < count) {
    if (performance.now() > deadline) throw new Error(`access log has ${w.log.length} of ${count} lines`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return w.log.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The samples on the admin port's `/stats/prometheus`. */
async function scrape(w: Weir): Promise<Sample[]> {
  return parseExposition(await (await fetch(`${w.handle.adminUrl}/stats/prometheus`)).text());
}

/** The value of a `weir_*` per-cluster counter for `cluster` (0 when the series does not exist). */
async function clusterCounter(w: Weir, name: string, cluster: string): Promise<number> {
  return select(await scrape(w), name, { cluster }).reduce((a, x) => a + x.value, 0);
}

/** The Envoy cluster of the service's default route (no subset). */
const CLUSTER = `outbound|80||${HOST}`;

describe('request timeouts', () => {
  it('a 0.5 s route timeout in front of a 2 s backend answers 504 UT after ≈0.5 s', async () => {
    const slow = await backend({ latencyMs: 2000 });
    const w = await weir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: slow.port, labels: { app: 'a' } }]),
      'vs.yaml': vs(`  - timeout: 0.5s\n    route:\n    - destination:\n        host: ${HOST}\n`),
    });
    const t0 = performance.now();
    const r = await send(w.url, { host: HOST });
    const elapsed = performance.now() - t0;
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(elapsed).toBeLessThan(1900);
    expect((await logOf(w, 1)).at(-1)?.response_flags).toBe('UT');
  });
});

describe('retries', () => {
  const retryVs = (retries: string) =>
    vs(`  - retries:\n${retries.replace(/^/gm, '      ')}\n    route:\n    - destination:\n        host: ${HOST}\n`);

  it('attempts: 3 with retryOn: 5xx against a backend failing twice returns 200, with x-envoy-attempt-count 1, 2, 3', async () => {
    const b = await backend({ failFirstN: 2, errorStatus: 503 });
    const w = await weir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: b.port, labels: { app: 'a' } }]),
      'vs.yaml': retryVs('attempts: 3\nretryOn: 5xx'),
    });
    const r = await send(w.url, { host: HOST });
    expect(r.status).toBe(200);
    expect(b.stats().totalRequests).toBe(3);
    expect(b.stats().recent.map((x) => x.headers['x-envoy-attempt-count'])).toEqual(['1', '2', '3']);
    const e = (await logOf(w, 1)).at(-1);
    expect(e).toMatchObject({ response_code: 200, response_flags: '-', attempts: 3 });
    // The backend saw 3 attempts: 2 retries.
    expect(await clusterCounter(w, 'weir_upstream_retries_total', CLUSTER)).toBe(b.stats().totalRequests - 1);
  });

  it('retries a per-try timeout', async () => {
    const b = await backend({ delayFirstN: 1, delayFirstMs: 1500 });
    const w = await weir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: b.port, labels: { app: 'a' } }]),
      'vs.yaml': retryVs('attempts: 2\nperTryTimeout: 200ms\nretryOn: 5xx'),
    });
    const t0 = performance.now();
    const r = await send(w.url, { host: HOST });
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1400);
    // A per-try timeout that was retried leaves no flag; the response is the second attempt's.
    expect((await logOf(w, 1)).at(-1)).toMatchObject({ attempts: 2, response_flags: '-', response_code: 200 });
    expect(b.stats().totalRequests).toBe(2);
    expect(await clusterCounter(w, 'weir_upstream_retries_total', CLUSTER)).toBe(1);
  });

  it('adds URX when retries run out, returning the last response', async () => {
    const b = await backend({ errorRate: 1, errorStatus: 503 });
    const w = await weir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: b.port, labels: { app: 'a' } }]),
      'vs.yaml': retryVs('attempts: 2\nretryOn: 5xx'),
    });
    const r = await send(w.url, { host: HOST });
    expect(r.status).toBe(503);
    expect(b.stats().totalRequests).toBe(3);
    expect((await logOf(w, 1)).at(-1)).toMatchObject({ response_code: 503, response_flags: 'URX', attempts: 3 });
    expect(await clusterCounter(w, 'weir_upstream_retries_total', CLUSTER)).toBe(b.stats().totalRequests - 1);
  });

  it("Istio's default policy does not retry a 503 response, only connection failures", async () => {
    const b = await backend({ errorRate: 1, errorStatus: 503 });
    const w = await weir({ 'mesh.yaml': serviceEntryYaml(NS, [{ port: b.port, labels: { app: 'a' } }]) });
    expect((await send(w.url, { host: HOST })).status).toBe(503);
    expect(b.stats().totalRequests).toBe(1);
    expect(await clusterCounter(w, 'weir_upstream_retries_total', CLUSTER)).toBe(0);
  });

  it("the article's per-group policy: beta testers 2 s / 1 retry on v2, others 10 s / 3 retries on v1", async () => {
    const v1 = await backend({ version: 'v1', failFirstN: 3, errorStatus: 503 });
    const v2 = await backend({ version: 'v2', latencyMs: 2500 });
    const policy = `  - name: canary-users-strict-policy
    match:
    - headers:
        user-group:
          exact: beta-testers
    route:
    - destination:
        host: ${HOST}
        subset: v2
    timeout: 2s
    retries:
      attempts: 1
      perTryTimeout: 1s
  - name: default-route
    route:
    - destination:
        host: ${HOST}
        subset: v1
    timeout: 10s
    retries:
      attempts: 3
      perTryTimeout: 3s
`;
    const subsets = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr
  namespace: ${NS}
spec:
  host: ${HOST}
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;
    const w = await weir({
      'mesh.yaml': serviceEntryYaml(NS, [
        { port: v1.port, labels: { version: 'v1' } },
        { port: v2.port, labels: { version: 'v2' } },
      ]),
      'dr.yaml': subsets,
      'vs.yaml': vs(policy).replace(
        'retries:\n      attempts: 3\n',
        'retries:\n      attempts: 3\n      retryOn: 5xx\n',
      ),
    });
    // Beta testers: v2 takes 2.5 s. The 1 s per-try timeout fires; with no retryOn the policy is Istio's default
    // (connect-failure, refused-stream, …), which does not retry a timeout (Envoy retries per-try timeouts only
    // under 5xx, gateway-error or reset) → 504 UT after ≈1 s, one attempt.
    const t0 = performance.now();
    const beta = await send(w.url, { host: HOST, headers: { 'user-group': 'beta-testers' } });
    expect(beta.status).toBe(504);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(elapsed).toBeLessThan(1900);
    expect(v2.stats().totalRequests).toBe(1);
    expect((await logOf(w, 1)).at(-1)?.response_flags).toBe('UT');
    // Others: v1 fails three times, the fourth attempt (third retry) succeeds.
    const other = await send(w.url, { host: HOST });
    expect(other.status).toBe(200);
    expect(other.json().version).toBe('v1');
    expect(v1.stats().totalRequests).toBe(4);
    // Retries per cluster: 3 on v1 (4 attempts), none on v2 (one attempt).
    expect(await clusterCounter(w, 'weir_upstream_retries_total', `outbound|80|v1|${HOST}`)).toBe(3);
    expect(await clusterCounter(w, 'weir_upstream_retries_total', `outbound|80|v2|${HOST}`)).toBe(0);
  });
});

describe('fault injection', () => {
  it('delays one user by 7 s (DI, not bounded by the route timeout) and aborts a share with 500 (FI)', async () => {
    const b = await backend();
    const faults = `  - match:
    - headers:
        end-user:
          exact: jason
    fault:
      delay:
        fixedDelay: 7s
        percentage:
          value: 100
    timeout: 1s
    route:
    - destination:
        host: ${HOST}
  - fault:
      abort:
        httpStatus: 500
        percentage:
          value: 30
    route:
    - destination:
        host: ${HOST}
`;
    const w = await weir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: b.port, labels: { app: 'a' } }]),
      'vs.yaml': vs(faults),
    });
    const t0 = performance.now();
    const delayed = await send(w.url, { host: HOST, headers: { 'end-user': 'jason' } });
    const elapsed = performance.now() - t0;
    expect(delayed.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(6990);
    expect(elapsed).toBeLessThan(9000);
    expect((await logOf(w, 1)).at(-1)?.response_flags).toBe('DI');

    const before = b.stats().totalRequests;
    const n = 1000;
    const replies = await sendMany(n, 16, () => send(w.url, { host: HOST }));
    const aborted = replies.filter((r) => r.status === 500 && r.body === 'fault filter abort').length;
    const { low, high } = binomialBounds(n, 0.3);
    expect(aborted).toBeGreaterThanOrEqual(low);
    expect(aborted).toBeLessThanOrEqual(high);
    // Aborted requests never reach the upstream.
    expect(b.stats().totalRequests - before).toBe(n - aborted);
  }, 30_000);
});

describe('circuit breaking', () => {
  it('maxConnections: 1 and http1MaxPendingRequests: 1: the share of 503 UO grows with concurrency, none without limits', async () => {
    const b = await backend({ latencyMs: 20 });
    const mesh = serviceEntryYaml(NS, [{ port: b.port, labels: { app: 'a' } }]);
    const limited = await weir({
      'mesh.yaml': mesh,
      'dr.yaml': dr(
        'connectionPool:\n  tcp:\n    maxConnections: 1\n  http:\n    http1MaxPendingRequests: 1\n    maxRequestsPerConnection: 1',
      ),
    });
    const unlimited = await weir({ 'mesh.yaml': mesh });
    const seen = new Map<Weir, { requests: number; uo: number }>();
    const overflowShare = async (w: Weir, concurrency: number): Promise<number> => {
      const replies: Reply[] = await sendMany(concurrency * 20, concurrency, () => send(w.url, { host: HOST }));
      const uo = replies.filter((r) => r.status === 503 && r.headers['x-envoy-overloaded'] === 'true').length;
      expect(replies.every((r) => r.status === 200 || r.status === 503)).toBe(true);
      const total = seen.get(w) ?? { requests: 0, uo: 0 };
      seen.set(w, { requests: total.requests + replies.length, uo: total.uo + uo });
      return uo / replies.length;
    };
    const c1 = await overflowShare(limited, 1);
    const c2 = await overflowShare(limited, 2);
    const c8 = await overflowShare(limited, 8);
    const c16 = await overflowShare(limited, 16);
    expect(c1).toBe(0);
    expect(c8).toBeGreaterThan(c2);
    expect(c16).toBeGreaterThan(0.5);
    expect(await overflowShare(unlimited, 16)).toBe(0);
    const flags = (await logOf(limited, seen.get(limited)!.requests))
      .filter((e) => e.response_code === 503)
      .map((e) => e.response_flags);
    expect(new Set(flags)).toEqual(new Set(['UO']));
    // The overflow counter and istio_requests_total{response_flags="UO"} equal the UO replies the clients saw.
    const uoSeen = seen.get(limited)!.uo;
    expect(uoSeen).toBeGreaterThan(0);
    expect(await clusterCounter(limited, 'weir_circuit_breaker_overflows_total', CLUSTER)).toBe(uoSeen);
    const istioUo = select(await scrape(limited), 'istio_requests_total', { response_flags: 'UO' });
    expect(istioUo.reduce((a, x) => a + x.value, 0)).toBe(uoSeen);
    expect(await clusterCounter(unlimited, 'weir_circuit_breaker_overflows_total', CLUSTER)).toBe(0);
  });
});

describe('outlier detection', () => {
  it('ejects a pod after consecutive 5xx, moves traffic to the healthy pods, and returns it after the ejection time', async () => {
    const good1 = await backend({ name: 'good-1' });
    const good2 = await backend({ name: 'good-2' });
    const bad = await backend({ name: 'bad', errorRate: 1, errorStatus: 500 });
    const mesh = serviceEntryYaml(
      NS,
      [good1, good2, bad].map((b) => ({ port: b.port, labels: { app: 'a' } })),
    );
    const w = await weir({
      'mesh.yaml': mesh,
      'dr.yaml': dr(
        'loadBalancer:\n  simple: ROUND_ROBIN\noutlierDetection:\n  consecutive5xxErrors: 3\n  interval: 200ms\n  baseEjectionTime: 1s\n  maxEjectionPercent: 100',
      ),
    });
    // Round robin over 3 pods: the bad pod gets every third request; after 3 consecutive 5xx it is ejected.
    await sendMany(30, 1, () => send(w.url, { host: HOST }));
    expect(bad.stats().totalRequests).toBe(3);
    bad.reset();
    const during = await sendMany(30, 2, () => send(w.url, { host: HOST }));
    expect(during.every((r) => r.status === 200)).toBe(true);
    expect(bad.stats().totalRequests).toBe(0);
    const clusters = (await (await fetch(`${w.handle.adminUrl}/clusters`)).json()) as {
      endpoints: { address: string; health: string }[];
    }[];
    expect(clusters[0]?.endpoints.find((e) => e.address === bad.address)?.health).toBe('EJECTED');
    // One ejection observed (the pod got 3 requests, then none): one counted.
    expect(await clusterCounter(w, 'weir_outlier_ejections_total', CLUSTER)).toBe(1);
    // After the 1 s ejection (checked at the 200 ms interval) the pod is back in service.
    bad.configure({ errorRate: 0 });
    const health = async (): Promise<string | undefined> => {
      const cs = (await (await fetch(`${w.handle.adminUrl}/clusters`)).json()) as {
        endpoints: { address: string; health: string }[];
      }[];
      return cs[0]?.endpoints.find((e) => e.address === bad.address)?.health;
    };
    const deadline = performance.now() + 10_000;
    while ((await health()) !== 'HEALTHY') {
      if (performance.now() > deadline) throw new Error('the pod was not returned to service within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await sendMany(30, 1, () => send(w.url, { host: HOST }));
    expect(bad.stats().totalRequests).toBeGreaterThan(0);
    // Healthy now: no further ejection.
    expect(await clusterCounter(w, 'weir_outlier_ejections_total', CLUSTER)).toBe(1);
  });
});

describe('locality load balancing', () => {
  it('stays in the local zone while it is healthy, fails over to zone b when it fails, and honours distribute 80/20', async () => {
    const a1 = await backend({ name: 'zone-a-1' });
    const a2 = await backend({ name: 'zone-a-2' });
    const b1 = await backend({ name: 'zone-b-1' });
    const b2 = await backend({ name: 'zone-b-2' });
    const mesh = serviceEntryYaml(NS, [
      { port: a1.port, labels: { app: 'a' }, locality: 'region1/zone-a' },
      { port: a2.port, labels: { app: 'a' }, locality: 'region1/zone-a' },
      { port: b1.port, labels: { app: 'a' }, locality: 'region1/zone-b' },
      { port: b2.port, labels: { app: 'a' }, locality: 'region1/zone-b' },
    ]);
    const od =
      'outlierDetection:\n  consecutive5xxErrors: 1\n  interval: 10s\n  baseEjectionTime: 30s\n  maxEjectionPercent: 100';
    const w = await weir({ 'mesh.yaml': mesh, 'dr.yaml': dr(od) }, { locality: 'region1/zone-a' });
    const zone = (r: Reply) => String(r.json().service).slice(0, 6);
    const first = await sendMany(40, 4, () => send(w.url, { host: HOST }));
    expect(new Set(first.map(zone))).toEqual(new Set(['zone-a']));
    // Zone a fails: both pods are ejected after one 5xx each; traffic fails over to zone b.
    a1.configure({ errorRate: 1, errorStatus: 500 });
    a2.configure({ errorRate: 1, errorStatus: 500 });
    const failing = await sendMany(10, 1, () => send(w.url, { host: HOST }));
    const after = await sendMany(40, 4, () => send(w.url, { host: HOST }));
    expect(after.every((r) => r.status === 200)).toBe(true);
    expect(new Set(after.map(zone))).toEqual(new Set(['zone-b']));
    // consecutive5xxErrors: 1 — each 500 the clients saw ejected its pod: 2 ejections, counted.
    expect(failing.filter((r) => r.status === 500)).toHaveLength(2);
    expect(await clusterCounter(w, 'weir_outlier_ejections_total', CLUSTER)).toBe(2);

    // distribute: from zone a, 80 % to zone a and 20 % to zone b.
    a1.configure({ errorRate: 0 });
    a2.configure({ errorRate: 0 });
    const distribute = `${od}\nloadBalancer:\n  localityLbSetting:\n    distribute:\n    - from: region1/zone-a/*\n      to:\n        "region1/zone-a/*": 80\n        "region1/zone-b/*": 20`;
    const w2 = await weir({ 'mesh.yaml': mesh, 'dr.yaml': dr(distribute) }, { locality: 'region1/zone-a' });
    const n = 1000;
    const replies = await sendMany(n, 16, () => send(w2.url, { host: HOST }));
    const toB = replies.filter((r) => zone(r) === 'zone-b').length;
    const { low, high } = binomialBounds(n, 0.2);
    expect(toB).toBeGreaterThanOrEqual(low);
    expect(toB).toBeLessThanOrEqual(high);
  });
});
