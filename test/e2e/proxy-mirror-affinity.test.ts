/**
 * End to end: mirroring (share, body, -shadow Host, slow mirror does not slow the primary, every mirror outcome of
 * `weir_mirror_requests_total` reached through the proxy) and session affinity (consistent hash within a subset; the
 * opt-in sticky split across subsets; generated cookies).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, startBackend } from '../../src/backend/backend.ts';
import { createProxyMetrics } from '../../src/telemetry/metrics.ts';
import { binomialBounds, freePort } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import { closeClients, send, sendMany, serviceEntryYaml, startWeir, subsetsYaml, type Weir } from '../helpers/proxy.ts';
import { parseExposition, select } from '../unit/telemetry/fixtures.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

afterAll(() => closeClients());

describe('mirroring', () => {
  let v1: Backend;
  let v2: Backend;
  let weir: Weir;
  const vs = (percent: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - route:
    - destination:
        host: ${HOST}
        subset: v1
      weight: 100
    mirror:
      host: ${HOST}
      subset: v2
${percent}`;
  beforeAll(async () => {
    v1 = await startBackend({ version: 'v1', seed: 1 });
    v2 = await startBackend({ version: 'v2', seed: 2 });
    const mesh = serviceEntryYaml(NS, [
      { port: v1.port, labels: { app: 'checkout-service', version: 'v1' } },
      { port: v2.port, labels: { app: 'checkout-service', version: 'v2' } },
    ]);
    weir = await startWeir(
      { 'mesh.yaml': mesh, 'dr.yaml': subsetsYaml(NS), 'vs.yaml': vs('    mirrorPercentage:\n      value: 10.0\n') },
      { rng: seededRng(7) },
    );
  });
  afterAll(async () => {
    await weir.close();
    await v1.close();
    await v2.close();
  });

  it('mirrors 10 % to v2 with the -shadow Host; clients only ever see v1', async () => {
    v1.reset();
    v2.reset();
    const n = 2000;
    const replies = await sendMany(n, 16, () => send(weir.url, { host: HOST }));
    expect(replies.every((r) => r.status === 200 && r.json().version === 'v1')).toBe(true);
    // Mirrors are fire-and-forget: wait until v2 has seen them all (bounded).
    await waitForQuiet(v2);
    const mirrored = v2.stats().totalRequests;
    const { low, high } = binomialBounds(n, 0.1);
    expect(mirrored).toBeGreaterThanOrEqual(low);
    expect(mirrored).toBeLessThanOrEqual(high);
    expect(Object.keys(v2.stats().byHost)).toEqual([`${HOST}-shadow`]);
  });

  it('mirrors the request body', async () => {
    await weir.write('vs.yaml', vs(''));
    expect(await weir.handle.reload()).toBe(true);
    v2.reset();
    const body = Buffer.alloc(64 * 1024, 'x');
    const r = await send(weir.url, {
      host: HOST,
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r.status).toBe(200);
    await waitFor(() => v2.stats().totalRequests === 1, 3000);
    expect(v2.stats().recent[0]?.bodyBytes).toBe(body.length);
    expect(v2.stats().recent[0]?.headers.host).toBe(`${HOST}-shadow`);
  });

  it('a slow mirror does not slow the primary: every primary answered while its copy is still in flight', async () => {
    // Self-contained: every request mirrored (no mirrorPercentage: Istio's default 100 %), v2 answers after 1.5 s.
    const w = await startWeir(
      {
        'mesh.yaml': serviceEntryYaml(NS, [
          { port: v1.port, labels: { app: 'checkout-service', version: 'v1' } },
          { port: v2.port, labels: { app: 'checkout-service', version: 'v2' } },
        ]),
        'dr.yaml': subsetsYaml(NS),
        'vs.yaml': vs(''),
      },
      { metrics: createProxyMetrics },
    );
    v2.reset();
    v2.configure({ latencyMs: 1500 });
    try {
      const t0 = performance.now();
      const replies = await sendMany(20, 4, () => send(w.url, { host: HOST }));
      const elapsed = performance.now() - t0;
      // No copy can have been answered yet when the primaries are all done in less than the mirror's 1.5 s.
      const doneAtPrimaries = await mirrorCount(w, 'sent');
      expect(replies.every((r) => r.status === 200 && r.json().version === 'v1')).toBe(true);
      // 20 requests, 4 at a time, each waiting on a 1.5 s mirror would take ≥ 7.5 s; unaffected they take milliseconds.
      expect(elapsed).toBeLessThan(1500);
      expect(doneAtPrimaries).toBe(0);
      // Then every copy arrives at v2 and is answered.
      await waitFor(async () => (await mirrorCount(w, 'sent')) === 20, 10_000);
      expect(await mirrorCount(w, 'sent')).toBe(20);
      expect(v2.stats().totalRequests).toBe(20);
      expect(Object.keys(v2.stats().byHost)).toEqual([`${HOST}-shadow`]);
    } finally {
      v2.configure({ latencyMs: 0 });
      await w.close();
    }
  });

  it('a failing mirror does not fail the primary', async () => {
    v2.configure({ errorRate: 1, errorStatus: 503 });
    const replies = await sendMany(20, 4, () => send(weir.url, { host: HOST }));
    v2.configure({ errorRate: 0 });
    expect(replies.every((r) => r.status === 200)).toBe(true);
  });

  it('--no-shadow-suffix keeps the Host', async () => {
    const plain = await startWeir(
      {
        'mesh.yaml': serviceEntryYaml(NS, [
          { port: v1.port, labels: { app: 'checkout-service', version: 'v1' } },
          { port: v2.port, labels: { app: 'checkout-service', version: 'v2' } },
        ]),
        'dr.yaml': subsetsYaml(NS),
        'vs.yaml': vs(''),
      },
      { shadowSuffix: false },
    );
    try {
      v2.reset();
      await send(plain.url, { host: `${HOST}:80` });
      await waitFor(() => v2.stats().totalRequests === 1, 3000);
      expect(v2.stats().recent[0]?.headers.host).toBe(`${HOST}:80`);
    } finally {
      await plain.close();
    }
  });
});

describe('mirror outcomes through the proxy', () => {
  let v1: Backend;
  let v2: Backend;
  let weir: Weir;
  const GONE = `gone.${NS}.svc.cluster.local`;
  const route = (name: string, mirror: string) => `  - name: ${name}
    match:
    - headers:
        x-case:
          exact: ${name}
    route:
    - destination: {host: ${HOST}, subset: v1}
    mirror: ${mirror}
`;
  beforeAll(async () => {
    // v1 (the primary) ignores control headers; v2 (the mirror) honours x-backend-delay-ms.
    v1 = await startBackend({ version: 'v1' });
    v2 = await startBackend({ version: 'v2', allowControlHeaders: true });
    const closedPort = await freePort();
    const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr, namespace: ${NS}}
spec:
  host: ${HOST}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: empty, labels: {version: none}}
`;
    const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  http:
${route('failed', `{host: ${GONE}}`)}${route('no-endpoint', `{host: ${HOST}, subset: empty}`)}${route('slow', `{host: ${HOST}, subset: v2}`)}`;
    weir = await startWeir(
      {
        'mesh.yaml': serviceEntryYaml(NS, [
          { port: v1.port, labels: { app: 'checkout-service', version: 'v1' } },
          { port: v2.port, labels: { app: 'checkout-service', version: 'v2' } },
        ]),
        // A service whose only endpoint refuses connections.
        'gone.yaml': serviceEntryYaml(NS, [{ port: closedPort, labels: { app: 'gone' } }], GONE).replace(
          'name: checkout-service',
          'name: gone',
        ),
        'dr.yaml': dr,
        'vs.yaml': vs,
      },
      { metrics: createProxyMetrics },
    );
  });
  afterAll(async () => {
    await weir.close();
    await v1.close();
    await v2.close();
  });

  it('failed: the mirror cluster refuses the connection (response_code 0); the primary is answered', async () => {
    const replies = await sendMany(5, 5, () => send(weir.url, { host: HOST, headers: { 'x-case': 'failed' } }));
    expect(replies.map((r) => r.status)).toEqual(Array(5).fill(200));
    await waitFor(async () => (await mirrorCount(weir, 'failed')) === 5, 10_000);
    expect(await mirrorSeries(weir, 'failed')).toEqual([{ service: GONE, code: '0', value: 5 }]);
  });

  it('dropped-no-endpoint: the mirror subset has no endpoint', async () => {
    const replies = await sendMany(3, 3, () => send(weir.url, { host: HOST, headers: { 'x-case': 'no-endpoint' } }));
    expect(replies.map((r) => r.status)).toEqual(Array(3).fill(200));
    expect(await mirrorSeries(weir, 'dropped-no-endpoint')).toEqual([{ service: HOST, code: '0', value: 3 }]);
  });

  it('dropped-body-too-large: a body over the 1 MiB replay buffer is streamed to the primary and not mirrored', async () => {
    v2.reset();
    const body = Buffer.alloc(1024 * 1024 + 1, 'x');
    const r = await send(weir.url, { host: HOST, method: 'POST', body, headers: { 'x-case': 'slow' } });
    expect(r.status).toBe(200);
    expect(await mirrorSeries(weir, 'dropped-body-too-large')).toEqual([{ service: HOST, code: '0', value: 1 }]);
    expect(v2.stats().totalRequests).toBe(0);
  });

  it('dropped-overload: at most 256 mirrors in flight, the rest dropped', async () => {
    v2.reset();
    const n = 300;
    // Each copy takes 5 s at v2; the primaries take milliseconds, so all 300 are sent while the first 256 copies
    // are still in flight.
    const replies = await sendMany(n, 8, () =>
      send(weir.url, { host: HOST, headers: { 'x-case': 'slow', 'x-backend-delay-ms': '5000' } }),
    );
    expect(replies.every((r) => r.status === 200 && r.json().version === 'v1')).toBe(true);
    expect(await mirrorCount(weir, 'sent')).toBe(0); // none answered yet: the accounting below is exact
    expect(await mirrorSeries(weir, 'dropped-overload')).toEqual([{ service: HOST, code: '0', value: n - 256 }]);
    await waitFor(async () => (await mirrorCount(weir, 'sent')) === 256, 20_000);
    expect(v2.stats().totalRequests).toBe(256);
  }, 40_000);
});

describe('session affinity', () => {
  const backends: Backend[] = [];
  let weir: Weir;
  const vs = (annotation: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
${annotation}spec:
  hosts:
  - ${HOST}
  http:
  - route:
    - destination:
        host: ${HOST}
        subset: v1
      weight: 50
    - destination:
        host: ${HOST}
        subset: v2
      weight: 50
`;
  beforeAll(async () => {
    // Three pods per version, so that "consistent within a subset" is observable.
    for (const version of ['v1', 'v2'])
      for (let i = 0; i < 3; i++) backends.push(await startBackend({ version, name: `pod-${version}-${i}` }));
    const mesh = serviceEntryYaml(
      NS,
      backends.map((b) => ({ port: b.port, labels: { app: 'checkout-service', version: b.config().version } })),
    );
    const dr = subsetsYaml(NS, 'loadBalancer:\n  consistentHash:\n    httpHeaderName: session-id');
    weir = await startWeir({ 'mesh.yaml': mesh, 'dr.yaml': dr, 'vs.yaml': vs('') }, { rng: seededRng(11) });
  });
  afterAll(async () => {
    await weir.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  it("Istio's default: a session alternates between subsets but always hits one pod per subset", async () => {
    const replies = await sendMany(200, 8, () => send(weir.url, { host: HOST, headers: { 'session-id': 'user-42' } }));
    const pods = new Map<string, Set<string>>();
    for (const r of replies) {
      const b = r.json<{ version: string; service: string }>();
      const set = pods.get(b.version) ?? new Set<string>();
      set.add(b.service);
      pods.set(b.version, set);
    }
    expect([...pods.keys()].sort()).toEqual(['v1', 'v2']);
    expect(pods.get('v1')?.size).toBe(1);
    expect(pods.get('v2')?.size).toBe(1);
  });

  it('with weir.dev/sticky-split each session stays on one pod of one version, and the split stays 50/50', async () => {
    await weir.write('vs.yaml', vs('  annotations:\n    weir.dev/sticky-split: "true"\n'));
    expect(await weir.handle.reload()).toBe(true);
    const sessions = 400;
    let v2 = 0;
    for (let s = 0; s < sessions; s++) {
      const replies = await sendMany(3, 3, () =>
        send(weir.url, { host: HOST, headers: { 'session-id': `session-${s}` } }),
      );
      const seen = new Set(replies.map((r) => `${r.json().version}/${r.json().service}`));
      expect(seen.size).toBe(1);
      if (replies[0]!.json().version === 'v2') v2++;
    }
    const { low, high } = binomialBounds(sessions, 0.5);
    expect(v2).toBeGreaterThanOrEqual(low);
    expect(v2).toBeLessThanOrEqual(high);
    await weir.write('vs.yaml', vs(''));
    await weir.handle.reload();
  });

  it('generates the hash cookie when it is absent and a ttl is set', async () => {
    await weir.write(
      'dr.yaml',
      subsetsYaml(
        NS,
        'loadBalancer:\n  consistentHash:\n    httpCookie:\n      name: user\n      path: /\n      ttl: 3600s',
      ),
    );
    await weir.write('vs.yaml', vs('  annotations:\n    weir.dev/sticky-split: "true"\n'));
    expect(await weir.handle.reload()).toBe(true);
    const first = await send(weir.url, { host: HOST });
    const setCookie = String(first.headers['set-cookie']);
    expect(setCookie).toMatch(/^user="?[0-9a-f]+"?; Max-Age=3600; Path=\/; HttpOnly$/);
    const cookie = setCookie.split(';')[0]!;
    const target = `${first.json().version}/${first.json().service}`;
    const again = await sendMany(10, 2, () => send(weir.url, { host: HOST, headers: { cookie } }));
    for (const r of again) {
      expect(`${r.json().version}/${r.json().service}`).toBe(target);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
  });
});

/** Waits (bounded) until a backend has nothing in flight and its count has not moved for 300 ms. */
async function waitForQuiet(b: Backend): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    const s = b.stats();
    if (s.totalRequests !== last || s.inFlight > 0) {
      last = s.totalRequests;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 300) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `cond` every 50 ms until it holds; throws after `timeoutMs`. */
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** The `weir_mirror_requests_total` series with this outcome: destination service, response code, value. */
async function mirrorSeries(w: Weir, outcome: string): Promise<{ service: string; code: string; value: number }[]> {
  const text = await (await fetch(`${w.handle.adminUrl}/stats/prometheus`)).text();
  return select(parseExposition(text), 'weir_mirror_requests_total', { outcome }).map((x) => ({
    service: x.labels.destination_service!,
    code: x.labels.response_code!,
    value: x.value,
  }));
}

/** `weir_mirror_requests_total` summed over the series with this outcome, scraped from the admin port. */
async function mirrorCount(w: Weir, outcome: string): Promise<number> {
  const text = await (await fetch(`${w.handle.adminUrl}/stats/prometheus`)).text();
  return select(parseExposition(text), 'weir_mirror_requests_total', { outcome }).reduce((a, x) => a + x.value, 0);
}
