import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Backend, type BackendOptions, startBackend } from '../../../src/backend/backend.ts';
import { binomialBounds, freePort, startBackends } from '../../helpers/backends.ts';

const agent = new Agent({ keepAliveTimeout: 1000 });
afterAll(() => agent.close());

const open: Backend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

async function start(opts: BackendOptions = {}): Promise<Backend> {
  const b = await startBackend(opts);
  open.push(b);
  return b;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies under test
  json: any;
  text: string;
}

async function call(
  url: string,
  opts: { method?: 'GET' | 'POST' | 'PUT' | 'HEAD'; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  const res = await request(url, {
    dispatcher: agent,
    method: opts.method ?? 'GET',
    headers: opts.headers,
    body: opts.body,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

describe('startBackend: identity and body', () => {
  it('reports name, version, host, path, method and selected headers', async () => {
    const b = await start({ name: 'checkout-service', version: 'v2' });
    expect(b.url).toBe(`http://127.0.0.1:${b.port}`);
    expect(b.address).toBe(`127.0.0.1:${b.port}`);
    const r = await call(`${b.url}/cart/checkout?id=7`, {
      headers: { 'X-Canary-User': 'true', accept: 'application/json', traceparent: '00-abc-def-01' },
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-backend-version']).toBe('v2');
    expect(r.headers['x-backend-name']).toBe('checkout-service');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json).toMatchObject({
      service: 'checkout-service',
      version: 'v2',
      host: `127.0.0.1:${b.port}`,
      path: '/cart/checkout?id=7',
      method: 'GET',
      status: 200,
      bodyBytes: 0,
    });
    expect(r.json.headers).toEqual({ 'x-canary-user': 'true', traceparent: '00-abc-def-01' });
    expect(r.json.bodySha256).toBe(createHash('sha256').digest('hex'));
  });

  it('pads the body to responseBytes with trailing spaces, still valid JSON', async () => {
    const b = await start({ responseBytes: 10_000 });
    const r = await call(b.url);
    expect(Buffer.byteLength(r.text)).toBe(10_000);
    expect(r.headers['content-length']).toBe('10000');
    expect(r.json.version).toBe('v1');
    const small = await start({ responseBytes: 10 });
    const s = await call(small.url);
    expect(s.json.service).toBe('backend');
    expect(Buffer.byteLength(s.text)).toBe(Number(s.headers['content-length']));
  });

  it('answers HEAD without a body', async () => {
    const b = await start();
    const r = await call(b.url, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(r.headers['x-backend-version']).toBe('v1');
  });

  it('streams and hashes a 1 MiB upload (bodyBytes, bodySha256 in stats and body)', async () => {
    const b = await start();
    const payload = randomBytes(1024 * 1024);
    const sha = createHash('sha256').update(payload).digest('hex');
    const r = await call(`${b.url}/upload`, { method: 'POST', body: payload });
    expect(r.json.bodyBytes).toBe(1024 * 1024);
    expect(r.json.bodySha256).toBe(sha);
    const [entry] = b.stats().recent;
    expect(entry).toMatchObject({ method: 'POST', path: '/upload', bodyBytes: 1024 * 1024, bodySha256: sha });
    expect(entry?.outcome).toBe('responded');
    expect(entry?.status).toBe(200);
  });

  it('omits bodySha256 when hashBodies is false', async () => {
    const b = await start({ hashBodies: false });
    const r = await call(b.url, { method: 'POST', body: 'hello' });
    expect(r.json.bodyBytes).toBe(5);
    expect(r.json.bodySha256).toBeUndefined();
    expect(b.stats().recent[0]?.bodySha256).toBeUndefined();
  });
});

describe('startBackend: latency and errors', () => {
  it('adds latencyMs before answering (lower bound exact, upper bound wide for loaded CI)', async () => {
    const b = await start({ latencyMs: 150 });
    const t0 = performance.now();
    const r = await call(b.url);
    const elapsed = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(149);
    expect(elapsed).toBeLessThan(150 + 5000);
  });

  it('answers errorRate of requests with errorStatus, within a 5-sigma binomial bound (seeded)', async () => {
    const n = 1000;
    const p = 0.2;
    const b = await start({ errorRate: p, errorStatus: 503, seed: 42 });
    const statuses: number[] = [];
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => call(b.url)));
      statuses.push(...batch.map((r) => r.status));
    }
    const errors = statuses.filter((s) => s === 503).length;
    const { low, high } = binomialBounds(n, p, 5);
    expect(errors).toBeGreaterThanOrEqual(low);
    expect(errors).toBeLessThanOrEqual(high);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(b.stats().byStatus).toEqual({ '200': n - errors, '503': errors });
  });

  it('is reproducible: the same seed gives the same sequence of statuses', async () => {
    const run = async (): Promise<number[]> => {
      const b = await start({ errorRate: 0.5, seed: 7 });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await call(b.url)).status);
      return out;
    };
    const a = await run();
    expect(await run()).toEqual(a);
    expect(new Set(a)).toEqual(new Set([200, 500]));
  });

  it('fail-first-N answers errorStatus N times, then succeeds', async () => {
    const b = await start({ failFirstN: 3, errorStatus: 503 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(b.url)).status);
    expect(statuses).toEqual([503, 503, 503, 200, 200]);
    expect(b.config().failFirstN).toBe(0);
    b.configure({ failFirstN: 1 });
    expect((await call(b.url)).status).toBe(503);
    expect((await call(b.url)).status).toBe(200);
  });

  it('delay-first-N delays only the next N requests', async () => {
    const b = await start({ delayFirstN: 1, delayFirstMs: 200 });
    const t0 = performance.now();
    await call(b.url);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(199);
    expect(b.config().delayFirstN).toBe(0);
    expect((await call(b.url)).status).toBe(200);
  });

  it('ignores control headers unless allowControlHeaders', async () => {
    const off = await start();
    expect((await call(off.url, { headers: { 'x-backend-status': '418' } })).status).toBe(200);
    const on = await start({ allowControlHeaders: true });
    expect((await call(on.url, { headers: { 'x-backend-status': '418' } })).status).toBe(418);
    const t0 = performance.now();
    await call(on.url, { headers: { 'x-backend-delay-ms': '120' } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(119);
  });
});

describe('startBackend: transport faults', () => {
  it('stall: the client times out; close() still ends promptly and destroys the stalled connection', async () => {
    const b = await start({ fault: 'stall' });
    await expect(request(b.url, { dispatcher: agent, headersTimeout: 300 })).rejects.toMatchObject({
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    expect(b.stats().faults.stalled).toBe(1);
    const pending = request(b.url, { dispatcher: agent, headersTimeout: 60_000 });
    const rejected = expect(pending).rejects.toThrow();
    await expect.poll(() => b.stats().inFlight, { timeout: 5000 }).toBe(1);
    const t0 = performance.now();
    await b.close();
    expect(performance.now() - t0).toBeLessThan(5000);
    await rejected;
    expect(b.stats().recent.map((e) => e.outcome)).toEqual(['stalled', 'stalled']);
  });

  it('close-mid-response: headers and part of the body, then the client sees an error', async () => {
    const b = await start({ fault: 'close-mid-response', responseBytes: 4096 });
    const res = await request(b.url, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('4096');
    await expect(res.body.text()).rejects.toThrow();
    expect(b.stats().faults.closedMidResponse).toBe(1);
    expect(b.stats().recent[0]?.outcome).toBe('closed-mid-response');
  });

  it('reset-before-response with faultFirstN: the first request is reset, the next succeeds', async () => {
    const b = await start({ fault: 'reset-before-response', faultFirstN: 1 });
    await expect(request(b.url, { dispatcher: agent })).rejects.toThrow();
    expect((await call(b.url)).status).toBe(200);
    const s = b.stats();
    expect(s.faults.resetBeforeResponse).toBe(1);
    expect(s.recent.map((e) => e.outcome)).toEqual(['reset-before-response', 'responded']);
    expect(b.config().faultFirstN).toBe(0);
  });

  it('faultRate applies the fault to a fraction of requests', async () => {
    const b = await start({ fault: 'reset-before-response', faultRate: 0.5, seed: 3 });
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => call(b.url)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    const { low, high } = binomialBounds(200, 0.5, 5);
    expect(failed).toBeGreaterThanOrEqual(low);
    expect(failed).toBeLessThanOrEqual(high);
    expect(b.stats().faults.resetBeforeResponse).toBe(failed);
  });
});

describe('startBackend: stats', () => {
  it('counts per Host, per path (without query), x-envoy-attempt-count values, and keeps a bounded ring', async () => {
    const b = await start({ recentLimit: 5 });
    await call(`${b.url}/a?x=1`, { headers: { host: 'checkout-service.prod.svc.cluster.local' } });
    await call(`${b.url}/a?x=2`, { headers: { host: 'checkout-service', 'x-envoy-attempt-count': '1' } });
    await call(`${b.url}/b`, { headers: { host: 'checkout-service', 'x-envoy-attempt-count': '2' } });
    for (let i = 0; i < 5; i++) await call(`${b.url}/c`);
    const s = b.stats();
    expect(s.totalRequests).toBe(8);
    expect(s.inFlight).toBe(0);
    expect(s.byHost).toEqual({
      'checkout-service.prod.svc.cluster.local': 1,
      'checkout-service': 2,
      [`127.0.0.1:${b.port}`]: 5,
    });
    expect(s.byPath).toEqual({ '/a': 2, '/b': 1, '/c': 5 });
    expect(s.attemptCounts).toEqual({ '1': 1, '2': 1 });
    expect(s.recent.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(s.recent[0]?.headers.host).toBe(`127.0.0.1:${b.port}`);
    expect(typeof s.recent[0]?.receivedAtMs).toBe('number');
    b.reset();
    expect(b.stats()).toMatchObject({ totalRequests: 0, byHost: {}, byPath: {}, recent: [] });
  });

  it('returns snapshots that later requests do not change', async () => {
    const b = await start();
    await call(b.url);
    const before = b.stats();
    await call(b.url);
    expect(before.totalRequests).toBe(1);
    expect(before.recent).toHaveLength(1);
  });
});

describe('control API under /__weir_backend/', () => {
  it('GET stats, POST configure, GET config, POST reset; control requests are not counted', async () => {
    const b = await start({ name: 'checkout-service', version: 'v1', seed: 1 });
    await call(`${b.url}/x`);
    const stats = await call(`${b.url}/__weir_backend/stats`);
    expect(stats.status).toBe(200);
    expect(stats.json).toMatchObject({
      name: 'checkout-service',
      version: 'v1',
      totalRequests: 1,
      byPath: { '/x': 1 },
    });
    expect((await call(`${b.url}/__weir_backend/stats?recent=0`)).json.recent).toEqual([]);

    const conf = await call(`${b.url}/__weir_backend/configure`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v3', failFirstN: 1, errorStatus: 502 }),
    });
    expect(conf.status).toBe(200);
    expect(conf.json).toMatchObject({ version: 'v3', failFirstN: 1, errorStatus: 502, seed: 1 });
    const failed = await call(b.url);
    expect(failed.status).toBe(502);
    expect(failed.json.version).toBe('v3');
    expect((await call(`${b.url}/__weir_backend/config`)).json.failFirstN).toBe(0);

    expect((await call(`${b.url}/__weir_backend/reset`, { method: 'POST' })).status).toBe(200);
    expect(b.stats().totalRequests).toBe(0);
    expect((await call(`${b.url}/__weir_backend/healthz`)).json).toEqual({
      status: 'ok',
      name: 'checkout-service',
      version: 'v3',
    });
  });

  it('rejects bad configurations with 400 and changes nothing', async () => {
    const b = await start();
    const post = (body: string) => call(`${b.url}/__weir_backend/configure`, { method: 'POST', body });
    const cases = [
      ['{"errorRate": 1.5}', /errorRate/],
      ['{"port": 8080}', /cannot be changed/],
      ['{"nope": 1}', /unknown backend option/],
      ['{"fault": "explode"}', /fault must be one of/],
      ['[1]', /JSON object/],
      ['{not json', /invalid JSON/],
    ] as const;
    for (const [body, message] of cases) {
      const r = await post(body);
      expect(r.status, body).toBe(400);
      expect(r.json.error).toMatch(message);
    }
    expect(b.config().errorRate).toBe(0);
    expect((await call(b.url)).status).toBe(200);
  });

  it('answers 405 for a wrong method, 404 for an unknown endpoint, 413 for a huge configuration', async () => {
    const b = await start();
    const r405 = await call(`${b.url}/__weir_backend/reset`);
    expect(r405.status).toBe(405);
    expect(r405.headers.allow).toBe('POST');
    expect((await call(`${b.url}/__weir_backend/configure`, { method: 'PUT', body: '{}' })).status).toBe(405);
    const r404 = await call(`${b.url}/__weir_backend/nope`);
    expect(r404.status).toBe(404);
    expect(r404.json.endpoints).toContain('POST /__weir_backend/configure');
    const huge = JSON.stringify({ name: 'x'.repeat(100_000) });
    expect((await call(`${b.url}/__weir_backend/configure`, { method: 'POST', body: huge })).status).toBe(413);
    expect(b.stats().totalRequests).toBe(0);
  });

  it('can be disabled: the prefix is then an ordinary path', async () => {
    const b = await start({ controlApi: false });
    const r = await call(`${b.url}/__weir_backend/stats`);
    expect(r.json.path).toBe('/__weir_backend/stats');
    expect(b.stats().totalRequests).toBe(1);
  });
});

describe('startBackend: options and lifecycle', () => {
  it('rejects invalid options with RangeError and leaves nothing listening', async () => {
    await expect(startBackend({ errorRate: 2 })).rejects.toThrow(RangeError);
    await expect(startBackend({ port: 70_000 })).rejects.toThrow(RangeError);
    await expect(startBackend({ errorStatus: 100 })).rejects.toThrow(/errorStatus/);
  });

  it('configure() validates, applies atomically and reseeds', async () => {
    const b = await start({ seed: 5 });
    expect(() => b.configure({ latencyMs: -1 })).toThrow(RangeError);
    expect(() => b.configure({ host: '0.0.0.0' } as never)).toThrow(/cannot be changed/);
    expect(b.config().latencyMs).toBe(0);
    expect(b.configure({ fault: 'stall', faultFirstN: 2 })).toMatchObject({ fault: 'stall', faultFirstN: 2 });
    expect(b.configure({ fault: 'none' })).toMatchObject({ fault: 'none', faultFirstN: null });
    expect(b.configure({ seed: 9 }).seed).toBe(9);
  });

  it('reports EADDRINUSE when the port is taken', async () => {
    const a = await start();
    await expect(startBackend({ port: a.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('close() destroys keep-alive connections, is idempotent, and the port stops answering', async () => {
    const b = await startBackend();
    await call(b.url);
    await Promise.all([b.close(), b.close()]);
    await b.close();
    await expect(request(b.url, { dispatcher: agent })).rejects.toThrow();
  });

  it('close() cancels a pending latency timer', async () => {
    const b = await startBackend({ latencyMs: 60_000 });
    const pending = request(b.url, { dispatcher: agent });
    const rejected = expect(pending).rejects.toThrow();
    await expect.poll(() => b.stats().inFlight, { timeout: 5000 }).toBe(1);
    const t0 = performance.now();
    await b.close();
    expect(performance.now() - t0).toBeLessThan(5000);
    await rejected;
  });
});

describe('test helpers', () => {
  it('startBackends starts named versions and closes them all', async () => {
    const set = await startBackends({ v1: {}, v2: { latencyMs: 1 } });
    try {
      expect((await call(set.v1.url)).json).toMatchObject({ service: 'checkout-service', version: 'v1' });
      expect((await call(set.v2.url)).json).toMatchObject({ service: 'checkout-service', version: 'v2' });
    } finally {
      await set.closeAll();
      await set.closeAll();
    }
    await expect(request(set.v1.url, { dispatcher: agent })).rejects.toThrow();
  });

  it('startBackends closes the started ones when one fails', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    await expect(startBackends({ ok: {}, bad: { errorRate: 7 } })).rejects.toThrow(RangeError);
  });
});
