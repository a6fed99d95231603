/**
 * Throughput of `weir serve` with Istio metrics on vs off, in the same run: one loopback backend, two proxies over
 * the same config (the article's 95/5 composite route), interleaved rounds of a fixed number of requests so drift
 * (CPU frequency, GC, JIT) hits both alike. Also the cost of one `onRequest` (cache hit) and of one scrape.
 * Bounded: ROUNDS × REQUESTS per variant, loopback only.
 *
 *   node --import tsx bench/metrics/run.ts [requestsPerRound=4000] [rounds=5] [concurrency=32]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { startBackend } from '../../src/backend/backend.ts';
import { type ServeHandle, startServe } from '../../src/cli/commands/serve.ts';
import { createProxyMetrics, type ProxyMetrics } from '../../src/telemetry/metrics.ts';

const REQUESTS = Number(process.argv[2] ?? 4000);
const ROUNDS = Number(process.argv[3] ?? 5);
const CONCURRENCY = Number(process.argv[4] ?? 32);
const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

function config(p1: number, p2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: checkout-service, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${p1}}, labels: {app: checkout-service, version: v1}}
  - {address: 127.0.0.1, ports: {http: ${p2}}, labels: {app: checkout-service, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: checkout-service-dr, namespace: ${NS}}
spec:
  host: ${HOST}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: checkout-service-vs, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  http:
  - route:
    - {destination: {host: ${HOST}, subset: v1}, weight: 95}
    - {destination: {host: ${HOST}, subset: v2}, weight: 5}
`;
}

async function round(url: string, n: number): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        const r = await pool.request({ path: '/checkout', method: 'GET', headers: { host: HOST } });
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await pool.close();
  return n / s;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const v1 = await startBackend({ version: 'v1', echoHeaders: [], hashBodies: false });
  const v2 = await startBackend({ version: 'v2', echoHeaders: [], hashBodies: false });
  const dir = await mkdtemp(join(tmpdir(), 'weir-bench-metrics-'));
  await writeFile(join(dir, 'config.yaml'), config(v1.port, v2.port));
  let metrics: ProxyMetrics | null = null;
  const base = {
    paths: [dir],
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    namespace: NS,
    workload: 'frontend',
    labels: { app: 'frontend', version: 'v1' },
    gateway: null,
    logFormat: 'off' as const,
    shadowSuffix: true,
    watch: false,
    log: () => {},
  };
  const on: ServeHandle = await startServe({ ...base, metrics: (h) => (metrics = createProxyMetrics(h)) });
  const off: ServeHandle = await startServe(base);
  try {
    // Warm-up (JIT, keep-alive pools, label caches).
    await round(on.url, 2000);
    await round(off.url, 2000);
    const rps: { on: number[]; off: number[] } = { on: [], off: [] };
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate the order each round.
      const order = i % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      for (const v of order) rps[v].push(await round(v === 'on' ? on.url : off.url, REQUESTS));
    }
    // Hot path alone: one onRequest with a cache hit, on a realistic record.
    const m = metrics as unknown as ProxyMetrics;
    let captured: Parameters<ProxyMetrics['onRequest']>[0] | null = null;
    const orig = m.onRequest.bind(m);
    m.onRequest = (r) => {
      captured ??= r;
      orig(r);
    };
    await round(on.url, 10);
    m.onRequest = orig;
    const ITER = 200_000;
    const t0 = performance.now();
    for (let i = 0; i < ITER; i++) m.onRequest(captured!);
    const nsPerRecord = ((performance.now() - t0) * 1e6) / ITER;
    const s0 = performance.now();
    const text = await m.render();
    const scrapeMs = performance.now() - s0;
    const result = {
      node: process.version,
      requestsPerRound: REQUESTS,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      rpsOn: rps.on.map(Math.round),
      rpsOff: rps.off.map(Math.round),
      medianRpsOn: Math.round(median(rps.on)),
      medianRpsOff: Math.round(median(rps.off)),
      overheadPercent: Number((100 * (1 - median(rps.on) / median(rps.off))).toFixed(1)),
      onRequestNsCacheHit: Math.round(nsPerRecord),
      scrapeMs: Number(scrapeMs.toFixed(2)),
      scrapeBytes: Buffer.byteLength(text),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await on.close();
    await off.close();
    await v1.close();
    await v2.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
