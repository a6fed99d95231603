/**
 * `AdminProvider` against real HTTP servers on 127.0.0.1 serving hand-built `/rollout/counts` snapshots: sums across
 * proxies, baselines, a proxy that restarts (new instance id, lower counts), one that answers 500, one that hangs
 * past the timeout, one that goes away, and answers that are not snapshots.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdminProvider,
  fetchRouteCounts,
  parseRouteCountsSnapshot,
  routeCountsUrl,
} from '../../../src/rollout/providers/admin.ts';
import type { RouteCounts, RouteCountsSnapshot } from '../../../src/rollout/route-counts.ts';
import { ROUTE_COUNTS_PATH } from '../../../src/rollout/route-counts.ts';
import { createRolloutCounts, statisticsBucketEdgesMs } from '../../../src/rollout/stats/index.ts';
import { dest, expected, lat, route, SEL, snapshot, split } from './providers-fixtures.ts';

/** Generous against a loaded 2-core machine, short enough to keep the hanging server's reads quick. */
const TIMEOUT_MS = 400;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  server: Server;
  handler: Handler;
  requests: string[];
}

async function serve(handler: Handler): Promise<TestServer> {
  const t: TestServer = { url: '', server: createServer(), handler, requests: [] };
  t.server.on('request', (req, res) => {
    t.requests.push(req.url ?? '');
    t.handler(req, res);
  });
  await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', () => resolve()));
  t.url = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
  return t;
}

async function close(t: TestServer): Promise<void> {
  if (!t.server.listening) return;
  t.server.closeAllConnections();
  await new Promise<void>((resolve) => t.server.close(() => resolve()));
}

const json =
  (body: () => unknown): Handler =>
  (_req, res) => {
    const text = JSON.stringify(body());
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

/** One route with a 90/10 split: `p` primary and `c` canary requests, `slow` canary requests at 800 ms. */
const traffic = (p: number, c: number, errors: [number, number], slow = 0): RouteCounts[] => [
  route(0, [split(dest('v1', 0.9, lat(p, 10), errors[0]), dest('v2', 0.1, lat(c, 10, slow, 800), errors[1]))]),
];

describe('AdminProvider over real HTTP servers', () => {
  const now = Date.now();
  let p1Snap: RouteCountsSnapshot = snapshot('p1-a', traffic(900, 100, [9, 1]), now - 600_000, now);
  let p4Snap: RouteCountsSnapshot = snapshot('p4-a', traffic(400, 50, [0, 0]), now - 600_000, now);
  let p1: TestServer;
  let p2: TestServer;
  let p3: TestServer;
  let p4: TestServer;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    p1 = await serve(json(() => p1Snap));
    p2 = await serve((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('boom');
    });
    p3 = await serve(() => {
      /* never answers */
    });
    p4 = await serve(json(() => p4Snap));
    servers.push(p1, p2, p3, p4);
  });
  afterAll(async () => {
    for (const s of servers) await close(s);
  });

  it('baselines, sums, failing sources, a restart and a proxy that goes away', async () => {
    const provider = new AdminProvider([p1.url, p2.url, p3.url, p4.url], { timeoutMs: TIMEOUT_MS });
    expect(provider.kind).toBe('admin');
    expect(provider.description).toContain(p3.url);
    const state0 = await provider.start(SEL);
    expect(state0.kind).toBe('admin');
    // The filter reaches the proxies.
    expect(p1.requests[0]).toBe(`${ROUTE_COUNTS_PATH}?namespace=prod&virtualService=reviews`);

    // Nothing since the baseline: zero counts, the two failing sources named, the primary histogram since start.
    const r0 = await provider.read(SEL, state0, [500]);
    expect(r0.reading.counts).toEqual(createRolloutCounts([500]));
    expect(r0.reading.sources.ok).toBe(2);
    expect(r0.reading.sources.failed).toBe(2);
    expect(r0.reading.sources.problems).toEqual([
      `${p2.url}: HTTP 500: boom`,
      `${p3.url}: no answer within ${TIMEOUT_MS} ms`,
    ]);
    expect(r0.reading.edgesMs).toEqual(statisticsBucketEdgesMs());
    expect(r0.reading.primaryHistogram.counts.reduce((a, b) => a + b, 0)).toBe(1300);

    // Traffic on both proxies: the sum of both deltas.
    p1Snap = snapshot('p1-a', traffic(1800, 200, [10, 6], 5), now - 600_000, now + 1000);
    p4Snap = snapshot('p4-a', traffic(500, 60, [1, 1], 2), now - 600_000, now + 1000);
    const r1 = await provider.read(SEL, r0.state, [500]);
    expect(r1.reading.counts).toEqual(
      expected(
        [
          [0.1, 'primary', lat(900 + 100, 10), 1 + 1],
          [0.1, 'canary', lat(100 + 10, 10, 5 + 2, 800), 5 + 1],
        ],
        [500],
      ),
    );
    // The state is JSON: a controller restart resumes from the parsed copy.
    const persisted = JSON.parse(JSON.stringify(r1.state));

    // p1 restarts: a new instance id, lower counts, started after the baseline.
    p1Snap = snapshot('p1-b', traffic(30, 4, [0, 2]), now + 2000, now + 3000);
    const r2 = await provider.read(SEL, persisted, [500]);
    expect(r2.reading.sources.notes?.some((n) => n.includes('p1-b replaces p1-a'))).toBe(true);
    expect(r2.reading.counts.requests.rows).toEqual([{ w: 0.1, canary: 100 + 10 + 4, primary: 900 + 100 + 30 }]);
    expect(r2.reading.counts.errors.rows).toEqual([{ w: 0.1, canary: 5 + 1 + 2, primary: 1 + 1 }]);

    // p4 goes away: its last counts stay; the failure is named.
    await close(p4);
    const r3 = await provider.read(SEL, r2.state, [500]);
    expect(r3.reading.sources.ok).toBe(1);
    expect(r3.reading.sources.failed).toBe(3);
    expect(r3.reading.sources.problems.find((p) => p.startsWith(p4.url))).toMatch(/ECONNREFUSED/);
    expect(r3.reading.counts).toEqual(r2.reading.counts);

    // A threshold that is not an edge is a programmer error.
    await expect(provider.read(SEL, r3.state, [123])).rejects.toThrow(RangeError);
    // A state from another selector is refused.
    await expect(provider.read({ ...SEL, canarySubset: 'v3' }, r3.state, [])).rejects.toThrow(/another selector/);
  });

  it('start throws a clear error when no source answers', async () => {
    const provider = new AdminProvider([p2.url, p3.url], { timeoutMs: TIMEOUT_MS });
    await expect(provider.start(SEL)).rejects.toThrow(
      `no weir admin endpoint answered: ${p2.url}: HTTP 500: boom; ${p3.url}: no answer within ${TIMEOUT_MS} ms`,
    );
  });

  it('answers that are not snapshots are failing sources', async () => {
    const notJson = await serve((_req, res) => res.end('<html>'));
    const wrongVersion = await serve(json(() => ({ ...p1Snap, version: 2 })));
    const badCount = await serve(json(() => ({ ...snapshot('x', traffic(1, 1, [0, 0])), edgesMs: [1, 1] })));
    servers.push(notJson, wrongVersion, badCount);
    await expect(fetchRouteCounts(notJson.url, TIMEOUT_MS)).rejects.toThrow('answer is not JSON');
    await expect(fetchRouteCounts(wrongVersion.url, TIMEOUT_MS)).rejects.toThrow(
      /^not a route-counts snapshot: version/,
    );
    await expect(fetchRouteCounts(badCount.url, TIMEOUT_MS)).rejects.toThrow(/edgesMs must increase strictly/);
    const provider = new AdminProvider([p1.url, notJson.url, wrongVersion.url], { timeoutMs: TIMEOUT_MS });
    const state = await provider.start(SEL);
    const r = await provider.read(SEL, state, []);
    expect(r.reading.sources).toMatchObject({ ok: 1, failed: 2 });
    expect(() => parseRouteCountsSnapshot({ ...p1Snap, routes: [{}] })).toThrow(/routes\.0\./);
  });

  it('URLs: a path prefix is kept; non-http URLs and an empty list are refused', () => {
    expect(routeCountsUrl('http://h:15000/admin/', SEL)).toBe(
      'http://h:15000/admin/rollout/counts?namespace=prod&virtualService=reviews',
    );
    expect(routeCountsUrl('http://h:15000')).toBe('http://h:15000/rollout/counts');
    expect(() => new AdminProvider([])).toThrow(TypeError);
    expect(() => new AdminProvider('ftp://h')).toThrow(/not an http/);
    expect(() => new AdminProvider('nope')).toThrow(/not a URL/);
    expect(new AdminProvider(['http://a:1', 'http://a:1']).urls).toEqual(['http://a:1']);
  });
});
