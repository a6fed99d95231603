/**
 * End to end: rewrites, redirects, direct responses, header operations, CORS, fault abort, local replies, and
 * bad input from clients and upstreams.
 */

import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, startBackend } from '../../src/backend/backend.ts';
import { closeClients, send, serviceEntryYaml, startWeir, subsetsYaml, type Weir } from '../helpers/proxy.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

let v1: Backend;
let v2: Backend;
let weir: Weir;

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: rewrite
    match:
    - uri:
        prefix: /old/
    rewrite:
      uri: /new/
      authority: rewritten.example.com
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: regex-rewrite
    match:
    - uri:
        prefix: /service/
    rewrite:
      uriRegexRewrite:
        match: ^/service/([^/]+)(/.*)$
        rewrite: \\2/instance/\\1
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: redirect
    match:
    - uri:
        exact: /moved
    redirect:
      uri: /here
      authority: elsewhere.example.com
      redirectCode: 308
  - name: https-redirect
    match:
    - uri:
        exact: /secure
    redirect:
      scheme: https
  - name: direct
    match:
    - uri:
        exact: /health
    directResponse:
      status: 418
      body:
        string: short and stout
    headers:
      response:
        set:
          content-type: text/teapot
  - name: headers
    match:
    - uri:
        prefix: /headers
    headers:
      request:
        set:
          x-route: route-level
        add:
          x-added: one
        remove:
        - x-secret
      response:
        set:
          x-resp: route
        remove:
        - x-backend-name
    route:
    - destination:
        host: ${HOST}
        subset: v1
      headers:
        request:
          set:
            x-route: destination-level
        response:
          add:
            x-dest: yes-dest
  - name: cors
    match:
    - uri:
        prefix: /cors
    corsPolicy:
      allowOrigins:
      - exact: https://shop.example.com
      allowMethods:
      - GET
      - POST
      allowHeaders:
      - x-token
      maxAge: 24h
      allowCredentials: true
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: abort
    match:
    - uri:
        prefix: /abort
    fault:
      abort:
        httpStatus: 503
        percentage:
          value: 100
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: missing-subset
    match:
    - uri:
        prefix: /nc
    route:
    - destination:
        host: ${HOST}
        subset: v1
  - name: default
    route:
    - destination:
        host: ${HOST}
        subset: v1
`;

beforeAll(async () => {
  v1 = await startBackend({ version: 'v1' });
  v2 = await startBackend({ version: 'v2' });
  const mesh = serviceEntryYaml(NS, [
    { port: v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ]);
  weir = await startWeir({ 'mesh.yaml': mesh, 'dr.yaml': subsetsYaml(NS), 'vs.yaml': VS });
});
afterAll(async () => {
  await weir.close();
  await v1.close();
  await v2.close();
  await closeClients();
});

describe('route actions', () => {
  it('rewrites the matched prefix and the authority, keeping the query', async () => {
    const r = await send(weir.url, { host: HOST, path: '/old/cart?x=1' });
    expect(r.json()).toMatchObject({ path: '/new/cart?x=1', host: 'rewritten.example.com' });
    const seen = v1.stats().recent.at(-1)!;
    expect(seen.headers['x-envoy-original-path']).toBe('/old/cart?x=1');
  });

  it('applies uriRegexRewrite with group references', async () => {
    const r = await send(weir.url, { host: HOST, path: '/service/foo/bar/baz' });
    // Envoy's documented example: \\2 is "/bar/baz", \\1 is "foo".
    expect(r.json().path).toBe('/bar/baz/instance/foo');
  });

  it('redirects with the configured code, authority and path', async () => {
    const r = await send(weir.url, { host: HOST, path: '/moved?q=1' });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('http://elsewhere.example.com/here?q=1');
    const s = await send(weir.url, { host: `${HOST}:80`, path: '/secure' });
    expect(s.status).toBe(301);
    expect(s.headers.location).toBe(`https://${HOST}/secure`);
  });

  it('answers a direct response with route response headers', async () => {
    const r = await send(weir.url, { host: HOST, path: '/health' });
    expect(r.status).toBe(418);
    expect(r.body).toBe('short and stout');
    expect(r.headers['content-type']).toBe('text/teapot');
  });

  it('applies header operations with destination-level set winning on a single destination', async () => {
    const r = await send(weir.url, {
      host: HOST,
      path: '/headers',
      headers: { 'x-secret': 's3cret', 'x-added': 'zero' },
    });
    const seen = v1.stats().recent.at(-1)!;
    expect(seen.headers['x-route']).toBe('destination-level');
    expect(seen.headers['x-secret']).toBeUndefined();
    expect(seen.headers['x-added']).toBe('zero, one');
    expect(r.headers['x-resp']).toBe('route');
    expect(r.headers['x-dest']).toBe('yes-dest');
    expect(r.headers['x-backend-name']).toBeUndefined();
  });

  it('answers CORS preflights for allowed origins and decorates responses', async () => {
    const pre = await send(weir.url, {
      host: HOST,
      path: '/cors',
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': 'https://shop.example.com',
      'access-control-allow-methods': 'GET,POST',
      'access-control-allow-headers': 'x-token',
      'access-control-max-age': '86400',
      'access-control-allow-credentials': 'true',
    });
    const simple = await send(weir.url, { host: HOST, path: '/cors', headers: { origin: 'https://shop.example.com' } });
    expect(simple.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    const other = await send(weir.url, { host: HOST, path: '/cors', headers: { origin: 'https://evil.example.com' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('aborts with the fault status and FI, never reaching the upstream', async () => {
    const before = v1.stats().totalRequests;
    const r = await send(weir.url, { host: HOST, path: '/abort' });
    expect(r.status).toBe(503);
    expect(r.body).toBe('fault filter abort');
    expect(v1.stats().totalRequests).toBe(before);
    const line = (await logLines(weir)).findLast((e) => e.path === '/abort');
    expect(line?.response_flags).toBe('FI');
  });
});

describe('local replies for broken destinations', () => {
  it('503 NC for a subset no DestinationRule defines', async () => {
    const local = await startWeir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: v1.port, labels: { app: 'checkout-service', version: 'v1' } }]),
      'vs.yaml': VS.replace('subset: v1\n  - name: default', 'subset: v3\n  - name: default'),
      'dr.yaml': subsetsYaml(NS),
    });
    try {
      const r = await send(local.url, { host: HOST, path: '/nc' });
      expect(r.status).toBe(503);
      expect((await logLines(local)).at(-1)?.response_flags).toBe('NC');
    } finally {
      await local.close();
    }
  });

  it('503 UH when the subset has no endpoint', async () => {
    const toV2 = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - route:
    - destination:
        host: ${HOST}
        subset: v2
`;
    const local = await startWeir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port: v1.port, labels: { app: 'checkout-service', version: 'v1' } }]),
      'dr.yaml': subsetsYaml(NS),
      'vs.yaml': toV2,
    });
    try {
      const r = await send(local.url, { host: HOST, path: '/anything' });
      expect(r.status).toBe(503);
      expect(r.body).toBe('no healthy upstream');
      expect((await logLines(local)).at(-1)?.response_flags).toBe('UH');
    } finally {
      await local.close();
    }
  });

  it('503 UF,URX after the default retries when nothing listens on the endpoint', async () => {
    const closed = await startBackend({});
    const port = closed.port;
    await closed.close();
    const local = await startWeir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port, labels: { app: 'checkout-service', version: 'v1' } }]),
    });
    try {
      const r = await send(local.url, { host: HOST });
      expect(r.status).toBe(503);
      expect(r.body).toContain('connection failure');
      const e = (await logLines(local)).at(-1);
      expect(e?.response_flags).toBe('UF,URX');
      expect(e?.attempts).toBe(3);
    } finally {
      await local.close();
    }
  });
});

describe('bad input never takes the proxy down', () => {
  const raw = (payload: string) => rawExchange(payload, { halfClose: true });

  it.each([
    ['a bad request line', 'GARBAGE\r\n\r\n', 400],
    [
      'both Content-Length and Transfer-Encoding (smuggling)',
      `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      400,
    ],
    ['an invalid Content-Length', `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: abc\r\n\r\n`, 400],
    ['oversized headers', `GET / HTTP/1.1\r\nHost: ${HOST}\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 431],
    ['a header with a bare CR', `GET / HTTP/1.1\r\nHost: ${HOST}\r\nx-bad: a\rb\r\n\r\n`, 400],
  ])('answers %s with %i', async (_name, payload, status) => {
    const text = await raw(payload);
    expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect((await send(weir.url, { host: HOST })).status).toBe(200);
  });

  it('survives a client that disconnects mid-body, logging DC', async () => {
    const port = Number(new URL(weir.url).port);
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(`POST /dc-test HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 100);
      });
    });
    await new Promise((r) => setTimeout(r, 200));
    const e = (await logLines(weir)).findLast((x) => x.path === '/dc-test');
    expect(e?.response_flags).toContain('DC');
    expect(e?.response_code).toBe(0);
    expect((await send(weir.url, { host: HOST })).status).toBe(200);
  });

  it('survives an upstream that closes mid-response (UC) and one that never answers (UT with a route timeout)', async () => {
    const broken: Server = createServer((req, res) => {
      if (req.url === '/half') {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('x'.repeat(100));
        setTimeout(() => res.socket?.destroy(), 20);
      }
      // any other path: never answer
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', () => r()));
    const port = (broken.address() as { port: number }).port;
    const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - timeout: 300ms
    route:
    - destination:
        host: ${HOST}
`;
    const local = await startWeir({
      'mesh.yaml': serviceEntryYaml(NS, [{ port, labels: { app: 'x' } }]),
      'vs.yaml': vs,
    });
    try {
      await expect(send(local.url, { host: HOST, path: '/half' })).rejects.toThrow();
      const t0 = performance.now();
      const r = await send(local.url, { host: HOST, path: '/never' });
      expect(r.status).toBe(504);
      expect(r.body).toBe('upstream request timeout');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      const lines = await logLines(local);
      expect(lines.find((e) => e.path === '/half')?.response_flags).toContain('UC');
      expect(lines.find((e) => e.path === '/never')?.response_flags).toBe('UT');
      expect((await send(weir.url, { host: HOST })).status).toBe(200);
    } finally {
      await local.close();
      broken.closeAllConnections();
      broken.close();
    }
  });
});

/** The access log as JSON objects, after the batched writer has flushed. */
async function logLines(w: Weir): Promise<Record<string, unknown>[]> {
  await new Promise((r) => setTimeout(r, 30));
  return w.log.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('repeated request headers', () => {
  it('are matched joined with "," as Envoy sees them, while a single value with ", " stays as sent', async () => {
    const local = await startHeaderRouteWeir('x-canary', 'a,b');
    try {
      const port = Number(new URL(local.url).port);
      const rawGet = (headers: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () =>
            s.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n${headers}Connection: close\r\n\r\n`),
          );
          let data = '';
          s.on('data', (d) => (data += d.toString()));
          s.on('end', () => resolve(data));
          s.on('error', reject);
        });
      expect(await rawGet('X-Canary: a\r\nX-Canary: b\r\n')).toContain('"version":"v2"');
      expect(await rawGet('X-Canary: a, b\r\n')).toContain('"version":"v1"');
    } finally {
      await local.close();
    }
  });
});

describe('requests normalized before routing', () => {
  // Without half-closing: a client FIN before the response counts as a disconnect.
  const raw = (payload: string) => rawExchange(payload, { halfClose: false });

  it('resolves dot segments before matching, so ../ cannot bypass a route, and forwards the normalized path', async () => {
    const moved = await raw(`GET /old/../moved HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
    expect(moved).toMatch(/^HTTP\/1\.1 308 /);
    const rewritten = await raw(`GET /x/%2e%2e/old/cart HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
    expect(rewritten).toContain('"path":"/new/cart"');
  });

  it('answers HTTP/1.0 with 426 Upgrade Required, as Envoy does by default', async () => {
    expect(await raw(`GET / HTTP/1.0\r\nHost: ${HOST}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 426 /);
  });

  it('matches UTF-8 header values as bytes, as Envoy does', async () => {
    const local = await startHeaderRouteWeir('x-uni', 'héllo wörld ☃');
    try {
      const port = Number(new URL(local.url).port);
      const text = await new Promise<string>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(
            Buffer.concat([
              Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nx-uni: `),
              Buffer.from('héllo wörld ☃', 'utf8'),
              Buffer.from('\r\nConnection: close\r\n\r\n'),
            ]),
          );
        });
        let data = '';
        s.on('data', (d) => (data += d.toString()));
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      expect(text).toContain('"version":"v2"');
    } finally {
      await local.close();
    }
  });
});

/** A weir whose VirtualService sends requests whose header `name` is exactly `value` to v2, the rest to v1. */
function startHeaderRouteWeir(name: string, value: string): Promise<Weir> {
  const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - match:
    - headers:
        ${name}:
          exact: ${JSON.stringify(value)}
    route:
    - destination:
        host: ${HOST}
        subset: v2
  - route:
    - destination:
        host: ${HOST}
        subset: v1
`;
  return startWeir({
    'mesh.yaml': serviceEntryYaml(NS, [
      { port: v1.port, labels: { version: 'v1' } },
      { port: v2.port, labels: { version: 'v2' } },
    ]),
    'dr.yaml': subsetsYaml(NS),
    'vs.yaml': vs,
  });
}

/**
 * Sends raw bytes to the proxy on a new connection and returns everything it answers until the connection closes.
 * `halfClose` ends the client side right after writing (for requests the proxy rejects before any upstream work).
 */
function rawExchange(payload: string, opts: { halfClose: boolean }): Promise<string> {
  return new Promise((resolve, reject) => {
    const port = Number(new URL(weir.url).port);
    const s = connect(port, '127.0.0.1', () => (opts.halfClose ? s.end(payload) : s.write(payload)));
    let data = '';
    s.on('data', (d) => (data += d.toString('utf8')));
    s.on('close', () => resolve(data));
    s.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(data) : reject(e)));
  });
}
