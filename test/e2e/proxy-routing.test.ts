/**
 * End to end: the article's patterns through a real proxy to real backends on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendSet, binomialBounds, startBackends } from '../helpers/backends.ts';
import { closeClients, send, sendMany, serviceEntryYaml, startWeir, subsetsYaml, type Weir } from '../helpers/proxy.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

let backends: BackendSet<'v1' | 'v2'>;

beforeAll(async () => {
  backends = await startBackends({ v1: { seed: 1 }, v2: { seed: 2 } });
});
afterAll(async () => {
  await backends.closeAll();
  await closeClients();
});

function mesh(): string {
  return `${serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ])}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: qa-tools
  namespace: ${NS}
spec:
  address: 127.0.0.5
  labels:
    app: qa-tools
`;
}

const COMPOSITE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: internal-canary-route
    match:
    - headers:
        x-canary-user:
          exact: "true"
    route:
    - destination:
        host: ${HOST}
        subset: v2
      weight: 100
  - name: public-traffic-split
    route:
    - destination:
        host: ${HOST}
        subset: v1
      weight: 95
    - destination:
        host: ${HOST}
        subset: v2
      weight: 5
`;

describe('composite route (header first, then 95/5)', () => {
  let weir: Weir;
  beforeAll(async () => {
    weir = await startWeir({ 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': COMPOSITE });
  });
  afterAll(() => weir.close());

  it('routes x-canary-user: true to v2, every time', async () => {
    const replies = await sendMany(50, 8, () => send(weir.url, { host: HOST, headers: { 'x-canary-user': 'true' } }));
    expect(replies.every((r) => r.status === 200 && r.json().version === 'v2')).toBe(true);
  });

  it('splits the rest 95/5 within a 5-sigma binomial bound', async () => {
    const n = 2000;
    const replies = await sendMany(n, 16, () => send(weir.url, { host: HOST }));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const v2 = replies.filter((r) => r.json().version === 'v2').length;
    const { low, high } = binomialBounds(n, 0.05);
    expect(v2).toBeGreaterThanOrEqual(low);
    expect(v2).toBeLessThanOrEqual(high);
  });

  it('routes absolute-form requests (HTTP_PROXY style) by their authority', async () => {
    const { request } = await import('undici');
    const net = await import('node:net');
    const port = Number(new URL(weir.url).port);
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(
          `GET http://${HOST}/cart HTTP/1.1\r\nHost: ${HOST}\r\nx-canary-user: true\r\nConnection: close\r\n\r\n`,
        );
      });
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    void request;
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text).toContain('"version":"v2"');
    expect(text).toContain('"path":"/cart"');
  });

  it('answers 404 NR for an unknown host and keeps serving', async () => {
    const r = await send(weir.url, { host: 'unknown.example.com' });
    expect(r.status).toBe(404);
    const line = weir.log.map((l) => JSON.parse(l)).find((e) => e.authority === 'unknown.example.com');
    expect(line?.response_flags).toBe('NR');
    expect((await send(weir.url, { host: HOST })).status).toBe(200);
  });

  it('writes Istio access-log fields', async () => {
    await send(weir.url, {
      host: HOST,
      path: '/log-me',
      headers: { 'x-canary-user': 'true', 'x-request-id': 'req-123' },
    });
    const e = weir.log.map((l) => JSON.parse(l)).find((x) => x.request_id === 'req-123');
    expect(e).toMatchObject({
      method: 'GET',
      path: '/log-me',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      authority: HOST,
      upstream_host: backends.v2.address,
      upstream_cluster: `outbound|80|v2|${HOST}`,
      route_name: 'internal-canary-route',
    });
  });

  it('forwards x-request-id, x-forwarded-for and x-envoy-attempt-count, and drops hop-by-hop headers', async () => {
    const r = await send(weir.url, {
      host: HOST,
      headers: { 'x-canary-user': 'true', 'x-custom': 'kept', 'proxy-connection': 'keep-alive', te: 'gzip' },
    });
    let seen = backends.v2.stats().recent.at(-1)!;
    expect(seen.headers['proxy-connection']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    // Headers named in Connection, and keep-alive, never cross the proxy (raw socket: clients refuse to send them).
    const net = await import('node:net');
    const port = Number(new URL(weir.url).port);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(
          `GET / HTTP/1.1\r\nHost: ${HOST}\r\nx-canary-user: true\r\nx-drop: 1\r\nKeep-Alive: timeout=5\r\nConnection: close, x-drop\r\n\r\n`,
        );
      });
      s.on('data', () => {});
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    const raw = backends.v2.stats().recent.at(-1)!;
    expect(raw.headers['x-drop']).toBeUndefined();
    expect(raw.headers['keep-alive']).toBeUndefined();
    seen = backends.v2.stats().recent.at(-2)!;
    expect(seen.headers['x-custom']).toBe('kept');
    expect(seen.headers['x-drop']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-envoy-attempt-count']).toBe('1');
    expect(String(seen.headers['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers['x-envoy-upstream-service-time']).toBeDefined();
  });
});

describe('trace context', () => {
  let weir: Weir;
  beforeAll(async () => {
    weir = await startWeir({ 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': COMPOSITE });
  });
  afterAll(() => weir.close());

  it('propagates traceparent, tracestate, x-b3-* and x-request-id untouched', async () => {
    const trace = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'congo=t61rcWkgMzE',
      'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-parentspanid': '05e3ac9a4f6e3b90',
      'x-b3-sampled': '1',
      'x-request-id': 'b3a7e1f0-0000-4000-8000-000000000001',
    };
    await send(weir.url, { host: HOST, headers: { 'x-canary-user': 'true', ...trace } });
    const seen = backends.v2.stats().recent.at(-1)!;
    for (const [k, v] of Object.entries(trace)) expect(seen.headers[k], k).toBe(v);
  });
});

describe('source workload routing (sourceLabels)', () => {
  let weir: Weir;
  beforeAll(async () => {
    const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: internal-service-canary
    match:
    - sourceLabels:
        app: qa-tools
    route:
    - destination:
        host: ${HOST}
        subset: v2
  - name: default
    route:
    - destination:
        host: ${HOST}
        subset: v1
`;
    weir = await startWeir({ 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': vs });
  });
  afterAll(() => weir.close());

  it('sends the qa-tools workload (127.0.0.5) to v2 and everyone else to v1', async () => {
    const qa = await sendMany(30, 4, () => send(weir.url, { host: HOST, localAddress: '127.0.0.5' }));
    const other = await sendMany(30, 4, () => send(weir.url, { host: HOST, localAddress: '127.0.0.9' }));
    expect(qa.map((r) => r.json().version)).toEqual(Array(30).fill('v2'));
    expect(other.map((r) => r.json().version)).toEqual(Array(30).fill('v1'));
  });

  it('never takes the source from a header', async () => {
    const r = await send(weir.url, {
      host: HOST,
      localAddress: '127.0.0.9',
      headers: { 'x-source-app': 'qa-tools', app: 'qa-tools' },
    });
    expect(r.json().version).toBe('v1');
  });

  it('in sidecar mode the proxy is the source (--labels)', async () => {
    const sidecar = await startWeir(
      {
        'mesh.yaml': mesh(),
        'dr.yaml': subsetsYaml(NS),
        'vs.yaml': (await import('node:fs')).readFileSync(`${weir.dir}/vs.yaml`, 'utf8'),
      },
      { labels: { app: 'qa-tools' }, workload: 'qa-tools', namespace: NS },
    );
    try {
      const r = await send(sidecar.url, { host: HOST, localAddress: '127.0.0.9' });
      expect(r.json().version).toBe('v2');
    } finally {
      await sidecar.close();
    }
  });
});
