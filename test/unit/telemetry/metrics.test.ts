/**
 * Istio standard metrics through a real `startServe` and real backends: label values and Istio's client-side
 * fallbacks for a routed request, NR, UH, NC, a fault abort (FI), and a mirror (not in istio_*, in weir_mirror_*);
 * weir_* proxy metrics (reloads, config version, retries, UO, ejections).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backend/backend.ts';
import {
  createProxyMetrics,
  ENVOY_DEFAULT_BUCKETS,
  ISTIO_LABEL_NAMES,
  MAX_UNROUTED_HOSTS,
  METRIC_CATALOG,
  ProxyMetrics,
  parseClusterName,
  recordOutlierEjection,
} from '../../../src/telemetry/metrics.ts';
import { startBackends } from '../../helpers/backends.ts';
import { closeClients, send, startWeir, type Weir } from '../../helpers/proxy.ts';
import {
  checkoutServiceYaml,
  checkoutSubsetsYaml,
  parseExposition,
  type Sample,
  select,
  workloadEntryYaml,
} from './fixtures.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: to-v1
    match:
    - uri:
        prefix: /v1
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: to-v2
    match:
    - uri:
        prefix: /v2
    route:
    - destination:
        host: ${HOST}
        subset: v2
  - name: abort
    match:
    - uri:
        prefix: /fault
    fault:
      abort:
        httpStatus: 503
        percentage:
          value: 100
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: no-endpoints
    match:
    - uri:
        prefix: /uh
    route:
    - destination:
        host: ${HOST}
        subset: empty
  - name: no-cluster
    match:
    - uri:
        prefix: /nc
    route:
    - destination:
        host: ${HOST}
        subset: nonexistent
  - name: mirrored
    match:
    - uri:
        prefix: /mirror
    route:
    - destination:
        host: ${HOST}
        subset: v1
    mirror:
      host: ${HOST}
      subset: v2
    mirrorPercentage:
      value: 100
`;

type Backends = { v1: Backend; v2: Backend; closeAll(): Promise<void> };

function files(b: Backends): Record<string, string> {
  return {
    'se.yaml': checkoutServiceYaml(NS),
    'we-v1.yaml': workloadEntryYaml(NS, 'checkout-service-v1', b.v1.port, { app: 'checkout-service', version: 'v1' }),
    // v2 carries explicit canonical labels: they win over app/version for the canonical_* labels.
    'we-v2.yaml': workloadEntryYaml(NS, 'checkout-service-v2', b.v2.port, {
      app: 'checkout-service',
      version: 'v2',
      'service.istio.io/canonical-name': 'checkout',
      'service.istio.io/canonical-revision': 'rev-2',
    }),
    'dr.yaml': checkoutSubsetsYaml(NS),
    'vs.yaml': VS,
  };
}

async function scrape(w: Weir): Promise<{ samples: Sample[]; contentType: string }> {
  const r = await fetch(`${w.handle.adminUrl}/stats/prometheus`);
  return { samples: parseExposition(await r.text()), contentType: r.headers.get('content-type') ?? '' };
}

/** Polls the scrape until `ok` holds (mirrors finish after their primary). */
async function scrapeUntil(w: Weir, ok: (s: Sample[]) => boolean): Promise<Sample[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { samples } = await scrape(w);
    if (ok(samples) || Date.now() > deadline) return samples;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const SIDECAR_SOURCE = {
  reporter: 'source',
  source_workload: 'frontend',
  source_workload_namespace: NS,
  source_principal: 'unknown',
  source_app: 'frontend',
  source_version: 'v3',
  source_canonical_service: 'frontend',
  source_canonical_revision: 'v3',
  source_cluster: 'unknown',
};

/** Labels of a local reply: no upstream peer, so every destination_* peer label falls back. */
const NO_PEER = {
  destination_workload: 'unknown',
  destination_workload_namespace: 'unknown',
  destination_principal: 'unknown',
  destination_app: 'unknown',
  destination_version: 'unknown',
  destination_service_namespace: 'unknown',
  destination_canonical_service: 'unknown',
  destination_canonical_revision: 'latest',
  destination_cluster: 'unknown',
  connection_security_policy: 'unknown',
  request_protocol: 'http',
  grpc_response_status: '',
};

describe('istio_* metrics from a sidecar weir (source = the sidecar)', () => {
  let b: Backends;
  let weir: Weir;
  let metrics: ProxyMetrics | null = null;

  beforeAll(async () => {
    b = await startBackends({ v1: {}, v2: {} });
    weir = await startWeir(files(b), {
      namespace: NS,
      workload: 'frontend',
      labels: { app: 'frontend', version: 'v3' },
      metrics: (hooks) => (metrics = createProxyMetrics(hooks)),
    });
  });
  afterAll(async () => {
    await weir?.close();
    await b?.closeAll();
    await closeClients();
  });

  it('serves the text exposition on /stats/prometheus and /metrics', async () => {
    const { contentType } = await scrape(weir);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const r = await fetch(`${weir.handle.adminUrl}/metrics`);
    expect(await r.text()).toContain('# TYPE istio_requests_total counter');
    expect(metrics).toBeInstanceOf(ProxyMetrics);
  });

  it('a routed request: destination labels from the chosen endpoint and its workload', async () => {
    for (let i = 0; i < 3; i++) expect((await send(weir.url, { host: HOST, path: '/v1' })).status).toBe(200);
    const r2 = await send(weir.url, { host: HOST, path: '/v2', body: 'hello' });
    expect(r2.status).toBe(200);
    const { samples } = await scrape(weir);
    const v1 = select(samples, 'istio_requests_total', { destination_version: 'v1', response_code: '200' });
    expect(v1).toHaveLength(1);
    expect(v1[0]!.value).toBe(3);
    expect(v1[0]!.labels).toEqual({
      ...SIDECAR_SOURCE,
      destination_workload: 'checkout-service-v1',
      destination_workload_namespace: NS,
      destination_principal: 'unknown',
      destination_app: 'checkout-service',
      destination_version: 'v1',
      destination_service: HOST,
      destination_service_name: 'checkout-service',
      destination_service_namespace: NS,
      destination_canonical_service: 'checkout-service',
      destination_canonical_revision: 'v1',
      destination_cluster: 'unknown',
      request_protocol: 'http',
      response_flags: '-',
      connection_security_policy: 'unknown',
      response_code: '200',
      grpc_response_status: '',
    });
    // Exactly Istio's label set, in Istio's order of definition.
    expect(Object.keys(v1[0]!.labels).sort()).toEqual([...ISTIO_LABEL_NAMES].sort());
    const v2 = select(samples, 'istio_requests_total', { destination_version: 'v2' });
    expect(v2).toHaveLength(1);
    expect(v2[0]!.labels).toMatchObject({
      destination_workload: 'checkout-service-v2',
      destination_canonical_service: 'checkout',
      destination_canonical_revision: 'rev-2',
    });
    // Histograms: Envoy's default buckets, one observation per request; request bytes = the 5-byte body.
    const buckets = select(samples, 'istio_request_duration_milliseconds_bucket', { destination_version: 'v1' });
    expect(buckets.map((s) => s.labels.le)).toEqual([...ENVOY_DEFAULT_BUCKETS.map(String), '+Inf']);
    expect(select(samples, 'istio_request_duration_milliseconds_count', { destination_version: 'v1' })[0]!.value).toBe(
      3,
    );
    const reqBytes = select(samples, 'istio_request_bytes_sum', { destination_version: 'v2' });
    expect(reqBytes[0]!.value).toBe(5);
    const respBytes = select(samples, 'istio_response_bytes_sum', { destination_version: 'v2' });
    expect(respBytes[0]!.value).toBe(Buffer.byteLength(r2.body));
  });

  it('404 NR: destination_service and _name fall back to the Host header, the rest to unknown/latest', async () => {
    expect((await send(weir.url, { host: 'nowhere.example.com:8080', path: '/x' })).status).toBe(404);
    const { samples } = await scrape(weir);
    const nr = select(samples, 'istio_requests_total', { response_flags: 'NR' });
    expect(nr).toHaveLength(1);
    expect(nr[0]!.labels).toEqual({
      ...SIDECAR_SOURCE,
      ...NO_PEER,
      destination_service: 'nowhere.example.com:8080',
      destination_service_name: 'nowhere.example.com:8080',
      response_flags: 'NR',
      response_code: '404',
    });
  });

  it('503 UH (subset without endpoints): service from the cluster, unknown destination workload', async () => {
    const r = await send(weir.url, { host: HOST, path: '/uh' });
    expect(r.status).toBe(503);
    const { samples } = await scrape(weir);
    const uh = select(samples, 'istio_requests_total', { response_flags: 'UH' });
    expect(uh).toHaveLength(1);
    expect(uh[0]!.labels).toEqual({
      ...SIDECAR_SOURCE,
      ...NO_PEER,
      destination_service: HOST,
      destination_service_name: 'checkout-service',
      response_flags: 'UH',
      response_code: '503',
    });
  });

  it('503 NC (missing cluster): no cluster metadata, so the Host header again', async () => {
    const r = await send(weir.url, { host: HOST, path: '/nc' });
    expect(r.status).toBe(503);
    const { samples } = await scrape(weir);
    const nc = select(samples, 'istio_requests_total', { response_flags: 'NC' });
    expect(nc).toHaveLength(1);
    expect(nc[0]!.labels).toEqual({
      ...SIDECAR_SOURCE,
      ...NO_PEER,
      destination_service: HOST,
      destination_service_name: HOST,
      response_flags: 'NC',
      response_code: '503',
    });
  });

  it('fault abort FI: the route cluster is known, the peer is not', async () => {
    for (let i = 0; i < 2; i++) expect((await send(weir.url, { host: HOST, path: '/fault' })).status).toBe(503);
    const { samples } = await scrape(weir);
    const fi = select(samples, 'istio_requests_total', { response_flags: 'FI' });
    expect(fi).toHaveLength(1);
    expect(fi[0]!.value).toBe(2);
    expect(fi[0]!.labels).toEqual({
      ...SIDECAR_SOURCE,
      ...NO_PEER,
      destination_service: HOST,
      destination_service_name: 'checkout-service',
      response_flags: 'FI',
      response_code: '503',
    });
  });

  it('a mirror is not counted in istio_* but in weir_mirror_*', async () => {
    const before = (await scrape(weir)).samples;
    const v2Before = select(before, 'istio_requests_total', { destination_version: 'v2' }).reduce(
      (a, s) => a + s.value,
      0,
    );
    const v2BackendBefore = b.v2.stats().totalRequests;
    expect((await send(weir.url, { host: HOST, path: '/mirror' })).status).toBe(200);
    const samples = await scrapeUntil(
      weir,
      (s) => select(s, 'weir_mirror_requests_total', { outcome: 'sent' }).length > 0,
    );
    const mirror = select(samples, 'weir_mirror_requests_total', { outcome: 'sent' });
    expect(mirror).toHaveLength(1);
    expect(mirror[0]!.value).toBe(1);
    expect(mirror[0]!.labels).toEqual({
      destination_service: HOST,
      destination_subset: 'v2',
      destination_version: 'v2',
      outcome: 'sent',
      response_code: '200',
    });
    expect(select(samples, 'weir_mirror_request_duration_seconds_count', { outcome: 'sent' })[0]!.value).toBe(1);
    // v2 did receive the shadow, yet istio_* for v2 is unchanged and no -shadow host appears anywhere.
    expect(b.v2.stats().totalRequests).toBe(v2BackendBefore + 1);
    const v2After = select(samples, 'istio_requests_total', { destination_version: 'v2' }).reduce(
      (a, s) => a + s.value,
      0,
    );
    expect(v2After).toBe(v2Before);
    expect(
      samples.some((s) => s.name.startsWith('istio_') && (s.labels.destination_service ?? '').includes('shadow')),
    ).toBe(false);
    const v1Mirrored = select(samples, 'istio_requests_total', { destination_version: 'v1', response_code: '200' });
    expect(v1Mirrored[0]!.value).toBe(4); // 3 earlier + the primary of the mirrored request
  });

  it('weir_* proxy metrics: reloads, config version, gauges, ejection seam', async () => {
    expect(await weir.handle.reload()).toBe(true);
    await weir.write('broken.yaml', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nspec: [\n');
    expect(await weir.handle.reload()).toBe(false);
    recordOutlierEjection(metrics, 'outbound|80|v1|checkout-service.prod.svc.cluster.local');
    const { samples } = await scrape(weir);
    expect(select(samples, 'weir_config_reloads_total', { result: 'success' })[0]!.value).toBe(1);
    expect(select(samples, 'weir_config_reloads_total', { result: 'failure' })[0]!.value).toBe(1);
    expect(select(samples, 'weir_config_version')[0]!.value).toBe(2);
    expect(select(samples, 'weir_requests_in_flight')[0]!.value).toBe(0);
    const active = select(samples, 'weir_upstream_active_requests', { cluster: `outbound|80|v1|${HOST}` });
    expect(active).toHaveLength(1);
    expect(active[0]!.value).toBe(0);
    // Earlier tests sent requests to v1 over keep-alive connections; none waits for one now.
    expect(
      select(samples, 'weir_upstream_connections', { cluster: `outbound|80|v1|${HOST}` })[0]!.value,
    ).toBeGreaterThan(0);
    expect(select(samples, 'weir_upstream_pending_requests', { cluster: `outbound|80|v1|${HOST}` })[0]!.value).toBe(0);
    expect(select(samples, 'weir_outlier_ejections_total')[0]!.labels.cluster).toBe(`outbound|80|v1|${HOST}`);
    // Every exposed family is in the catalog (the dashboard test relies on it).
    const families = new Set(METRIC_CATALOG.map((m) => m.name));
    for (const s of samples) expect(families.has(s.name.replace(/_(bucket|sum|count)$/, ''))).toBe(true);
  });
});

describe('istio_* metrics without a sidecar identity (clients identified by IP)', () => {
  let b: Backends;
  let weir: Weir;

  beforeAll(async () => {
    b = await startBackends({ v1: {}, v2: {} });
    weir = await startWeir(files(b), { namespace: NS, metrics: createProxyMetrics });
  });
  afterAll(async () => {
    await weir?.close();
    await b?.closeAll();
    await closeClients();
  });

  it('an unknown client: source_* unknown, source_canonical_revision latest', async () => {
    expect((await send(weir.url, { host: HOST, path: '/v1' })).status).toBe(200);
    const { samples } = await scrape(weir);
    const s = select(samples, 'istio_requests_total', { response_code: '200' });
    expect(s).toHaveLength(1);
    expect(s[0]!.labels).toMatchObject({
      reporter: 'source',
      source_workload: 'unknown',
      source_workload_namespace: 'unknown',
      source_principal: 'unknown',
      source_app: 'unknown',
      source_version: 'unknown',
      source_canonical_service: 'unknown',
      source_canonical_revision: 'latest',
      source_cluster: 'unknown',
      destination_workload: 'checkout-service-v1',
    });
  });
});

describe('ProxyMetrics fed directly', () => {
  const cluster = `outbound|80|v1|${HOST}`;
  const record = (over: Record<string, unknown>) => ({
    decision: null,
    upstreamLabels: null,
    upstreamHost: null,
    source: null,
    authority: HOST,
    status: 200,
    responseFlags: '-',
    durationMs: 1.9,
    requestBytes: 0,
    responseBytes: 10,
    attempts: 1,
    grpcStatus: null,
    ...over,
  });

  it('retries, UO overflows and gRPC status per cluster; durations in whole milliseconds', async () => {
    const m = new ProxyMetrics({ clusterId: 'Kubernetes' });
    const decision = {
      action: 'route',
      cluster: {
        name: cluster,
        host: HOST,
        subset: 'v1',
        port: 80,
        service: { hostname: HOST, name: 'checkout-service', namespace: NS },
        endpoints: [],
      },
    } as never;
    m.onRequest(record({ decision, attempts: 3, status: 503, responseFlags: 'URX' }));
    m.onRequest(record({ decision, status: 503, responseFlags: 'UO' }));
    m.onRequest(record({ decision, grpcStatus: '14' }));
    const samples = parseExposition(await m.render());
    expect(select(samples, 'weir_upstream_retries_total', { cluster })[0]!.value).toBe(2);
    expect(select(samples, 'weir_circuit_breaker_overflows_total', { cluster })[0]!.value).toBe(1);
    const grpc = select(samples, 'istio_requests_total', { request_protocol: 'grpc' });
    expect(grpc[0]!.labels).toMatchObject({ grpc_response_status: '14', source_cluster: 'Kubernetes' });
    // 1.9 ms is recorded as 1 (Envoy truncates the duration to whole milliseconds).
    expect(select(samples, 'istio_request_duration_milliseconds_sum', { request_protocol: 'grpc' })[0]!.value).toBe(1);
  });

  it('caps the Host values of unrouted requests (distinct Hosts cannot grow the series without limit)', async () => {
    const m = new ProxyMetrics({ clusterId: 'Kubernetes' });
    for (let i = 0; i < MAX_UNROUTED_HOSTS + 500; i++)
      m.onRequest(record({ authority: `h${i}.example`, status: 404, responseFlags: 'NR' }) as never);
    const text = await m.render();
    const services = new Set(
      parseExposition(text)
        .filter((x) => x.name === 'istio_requests_total')
        .map((x) => x.labels.destination_service),
    );
    expect(services.size).toBe(MAX_UNROUTED_HOSTS + 1);
    expect(services.has('unknown')).toBe(true);
    const unknown = select(parseExposition(text), 'istio_requests_total', { destination_service: 'unknown' });
    expect(unknown[0]?.value).toBe(500);
  });

  it('response_code 0 when no response was sent (DC before headers)', async () => {
    const m = new ProxyMetrics();
    m.onRequest(record({ status: 0, responseFlags: 'DC' }));
    const samples = parseExposition(await m.render());
    expect(select(samples, 'istio_requests_total', { response_flags: 'DC' })[0]!.labels.response_code).toBe('0');
  });

  it('parses Istio cluster names', () => {
    expect(parseClusterName(cluster)).toEqual({ port: 80, subset: 'v1', host: HOST });
    expect(parseClusterName('outbound|80||a.b')).toEqual({ port: 80, subset: null, host: 'a.b' });
    expect(parseClusterName('BlackHoleCluster')).toBeNull();
  });
});
