/**
 * `AdminProvider` against two real `weir serve` processes (in-process, loopback) in front of real v1/v2 backends, on
 * the article's composite route (a header route to v2, else 95/5): the reading, summed over both proxies' admin
 * `/rollout/counts`, must equal what the client observed — requests and errors per routing probability (w = 0.05 for
 * the split, w = 1 for the header route), and exceedances at 100 ms for v2, which answers after 150 ms. A second
 * baseline taken between two batches counts only the second batch.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminProvider } from '../../src/rollout/providers/admin.ts';
import type { ProviderState, RolloutSelector } from '../../src/rollout/providers/types.ts';
import { createRolloutCounts, type RolloutCounts, recordEvents } from '../../src/rollout/stats/index.ts';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import { seededRng } from '../helpers/config.ts';
import { closeClients, send, sendMany, startWeir, type Weir } from '../helpers/proxy.ts';
import {
  checkoutServiceYaml,
  checkoutSubsetsYaml,
  compositeRouteYaml,
  workloadEntryYaml,
} from '../unit/telemetry/fixtures.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;
const SEL: RolloutSelector = {
  namespace: NS,
  virtualService: 'checkout-service-vs',
  host: HOST,
  primarySubset: 'v1',
  canarySubset: 'v2',
};
const V2_LATENCY_MS = 150;

interface Observed {
  header: boolean;
  version: string;
  status: number;
  ms: number;
}

/** The counts the client observed (w from the route taken), with exceedances at 100 ms for the canary only. */
function countsOf(obs: readonly Observed[]): RolloutCounts {
  const c = createRolloutCounts([100]);
  for (const o of obs) {
    const w = o.header ? 1 : 0.05;
    const canary = o.version === 'v2' ? 1 : 0;
    recordEvents(c.requests, w, canary, 1 - canary);
    if (o.status >= 500) recordEvents(c.errors, w, canary, 1 - canary);
    if (canary) recordEvents(c.latency[0]!.exceedances, w, 1, 0);
  }
  return c;
}

describe('AdminProvider against real weir serve proxies', () => {
  let backends: BackendSet<'v1' | 'v2'>;
  const proxies: Weir[] = [];

  beforeAll(async () => {
    backends = await startBackends({
      v1: {},
      v2: { errorRate: 0.2, seed: 20260102, latencyMs: V2_LATENCY_MS },
    });
    const files = {
      'se.yaml': checkoutServiceYaml(NS),
      'we-v1.yaml': workloadEntryYaml(NS, 'checkout-service-v1', backends.v1.port, {
        app: 'checkout-service',
        version: 'v1',
      }),
      'we-v2.yaml': workloadEntryYaml(NS, 'checkout-service-v2', backends.v2.port, {
        app: 'checkout-service',
        version: 'v2',
      }),
      'dr.yaml': checkoutSubsetsYaml(NS),
      'vs.yaml': compositeRouteYaml(NS),
    };
    for (const seed of [1, 2]) {
      proxies.push(await startWeir(files, { namespace: NS, rng: seededRng(seed), logFormat: 'off' }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const p of proxies) await p.close();
    await backends?.closeAll();
    await closeClients();
  });

  /** `n` requests through proxy `p`, every 8th with the canary header. */
  async function load(p: Weir, n: number, offset: number): Promise<Observed[]> {
    const out: Observed[] = [];
    await sendMany(n, 8, async (i) => {
      const header = (i + offset) % 8 === 0;
      const t0 = performance.now();
      const r = await send(p.url, {
        host: HOST,
        path: `/cart/${i + offset}`,
        headers: header ? { 'x-canary-user': 'true' } : {},
      });
      out.push({
        header,
        version: String(r.headers['x-backend-version'] ?? ''),
        status: r.status,
        ms: performance.now() - t0,
      });
      return r;
    });
    return out;
  }

  /**
   * Reads until the total requests reach `n` (a proxy records a request when its response closes, which may trail
   * the client's last byte by a tick), 10 s at most; returns that reading.
   */
  async function readSettled(
    provider: AdminProvider,
    state: ProviderState,
    n: number,
  ): Promise<Awaited<ReturnType<AdminProvider['read']>>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await provider.read(SEL, state, [100]);
      const total = r.reading.counts.requests.rows.reduce((a, x) => a + x.canary + x.primary, 0);
      if (total >= n || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  it('sums both proxies exactly, by routing probability, since each baseline', async () => {
    const provider = new AdminProvider(
      proxies.map((p) => p.handle.adminUrl!),
      { timeoutMs: 5000 },
    );
    const s0 = await provider.start(SEL);

    const batch1 = [...(await load(proxies[0]!, 300, 0)), ...(await load(proxies[1]!, 200, 1000))];
    expect(batch1.every((o) => o.version === 'v1' || o.version === 'v2')).toBe(true);
    expect(batch1.filter((o) => o.header).every((o) => o.version === 'v2')).toBe(true);
    expect(batch1.some((o) => o.version === 'v2' && !o.header)).toBe(true);
    expect(batch1.some((o) => o.status >= 500)).toBe(true);

    const r1 = await readSettled(provider, s0, batch1.length);
    expect(r1.reading.sources).toMatchObject({ ok: 2, failed: 0, problems: [] });
    const want1 = countsOf(batch1);
    expect(r1.reading.counts.requests).toEqual(want1.requests);
    expect(r1.reading.counts.errors).toEqual(want1.errors);
    // Canary exceedances at 100 ms are exact (v2 always takes ≥ 150 ms); the primary's are at most what the client
    // saw above 100 ms (the proxy's clock runs inside the client's).
    const ex1 = r1.reading.counts.latency[0]!.exceedances.rows;
    expect(ex1.map((r) => ({ w: r.w, canary: r.canary }))).toEqual(
      want1.latency[0]!.exceedances.rows.map((r) => ({ w: r.w, canary: r.canary })),
    );
    const slowV1 = batch1.filter((o) => o.version === 'v1' && o.ms > 100).length;
    expect(ex1.reduce((a, r) => a + r.primary, 0)).toBeLessThanOrEqual(slowV1);
    // The primary histogram holds every v1 request.
    expect(r1.reading.primaryHistogram.counts.reduce((a, b) => a + b, 0)).toBe(
      batch1.filter((o) => o.version === 'v1').length,
    );

    // A second baseline now: it sees only the next batch; the first state sees both.
    const sB = await provider.start(SEL);
    const batch2 = [...(await load(proxies[0]!, 100, 2000)), ...(await load(proxies[1]!, 150, 3000))];
    const r2 = await readSettled(provider, r1.state, batch1.length + batch2.length);
    const rB = await readSettled(provider, sB, batch2.length);
    expect(r2.reading.counts.requests).toEqual(countsOf([...batch1, ...batch2]).requests);
    expect(r2.reading.counts.errors).toEqual(countsOf([...batch1, ...batch2]).errors);
    expect(rB.reading.counts.requests).toEqual(countsOf(batch2).requests);
    expect(rB.reading.counts.errors).toEqual(countsOf(batch2).errors);
    expect(rB.reading.mirror).toEqual({ requests: 0, errors: 0, exceedances: [{ thresholdMs: 100, count: 0 }] });
  }, 120_000);
});
