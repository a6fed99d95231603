/**
 * End to end: mirroring (share, body, -shadow Host, slow mirror does not slow the primary) and session affinity
 * (consistent hash within a subset; the opt-in sticky split across subsets; generated cookies).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, startBackend } from '../../src/backend/backend.ts';
import { binomialBounds } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import { closeClients, send, sendMany, serviceEntryYaml, startWeir, subsetsYaml, type Weir } from '../helpers/proxy.ts';

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

  it('a slow mirror does not slow the primary', async () => {
    v2.configure({ latencyMs: 1500 });
    const t0 = performance.now();
    const replies = await sendMany(20, 4, () => send(weir.url, { host: HOST }));
    const elapsed = performance.now() - t0;
    v2.configure({ latencyMs: 0 });
    expect(replies.every((r) => r.status === 200 && r.json().version === 'v1')).toBe(true);
    // 20 sequential-ish requests waiting on a 1.5 s mirror would take ≥ 7.5 s; unaffected they take milliseconds.
    expect(elapsed).toBeLessThan(1500);
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

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
