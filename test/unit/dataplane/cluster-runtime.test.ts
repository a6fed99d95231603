/**
 * The cluster runtime's state machines with an injected clock: outlier ejection (thresholds, growing ejection
 * time, max ejection percent, return to service, panic), circuit breakers, and locality priorities.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClusterRuntime,
  compactPriorities,
  failoverPriorityOf,
  localityPriority,
  parseLocality,
  withTopologyLabels,
} from '../../../src/dataplane/upstream/cluster-manager.ts';
import type { Cluster, ClusterEndpoint, OutlierDetectionResolved } from '../../../src/routing/types.ts';
import { createSeededRng } from '../../../src/util/random.ts';

const runtimes: ClusterRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.destroy();
});

function cluster(
  n: number,
  opts: {
    outlier?: Partial<OutlierDetectionResolved> | null;
    pool?: Partial<Cluster['policy']['connectionPool']>;
    localities?: string[];
    labels?: Record<string, string>[];
    setting?: Cluster['policy']['localityLbSetting'];
  } = {},
): Cluster {
  const endpoints: ClusterEndpoint[] = Array.from({ length: n }, (_, i) => ({
    address: '127.0.0.1',
    port: 20000 + i,
    key: `127.0.0.1:${20000 + i}`,
    weight: 1,
    locality: opts.localities?.[i] ?? '',
    labels: opts.labels?.[i] ?? {},
    endpoint: {} as ClusterEndpoint['endpoint'],
  }));
  return {
    name: 'outbound|80||svc',
    host: 'svc',
    subset: null,
    port: 80,
    service: {} as Cluster['service'],
    endpoints,
    policy: {
      trafficPolicy: null,
      lb: { type: 'ROUND_ROBIN' },
      connectionPool: {
        maxConnections: 4294967295,
        http1MaxPendingRequests: 4294967295,
        http2MaxRequests: 4294967295,
        maxRetries: 4294967295,
        retryBudget: null,
        maxRequestsPerConnection: 0,
        connectTimeoutMs: 10_000,
        idleTimeoutMs: 3_600_000,
        ...opts.pool,
      },
      outlierDetection:
        opts.outlier === null || opts.outlier === undefined
          ? null
          : {
              consecutive5xxErrors: 5,
              consecutiveGatewayErrors: 0,
              consecutiveLocalOriginFailures: 0,
              splitExternalLocalOriginErrors: false,
              intervalMs: 10_000,
              baseEjectionTimeMs: 30_000,
              maxEjectionPercent: 10,
              minHealthPercent: 0,
              ...opts.outlier,
            },
      localityLbSetting: opts.setting ?? null,
    },
  };
}

function runtime(
  c: Cluster,
  clock: { t: number },
  locality: string | null = null,
  labels: Record<string, string> | null = null,
): ClusterRuntime {
  const r = new ClusterRuntime(c, 'fp', {
    now: () => clock.t,
    locality: locality ? parseLocality(locality) : null,
    labels,
  });
  runtimes.push(r);
  return r;
}

const picks = (r: ClusterRuntime, n: number, seed = 7): Set<number> => {
  const out = new Set<number>();
  const rng = createSeededRng(seed);
  for (let i = 0; i < n; i++) out.add(r.pick(null, rng));
  return out;
};

describe('outlier detection', () => {
  it('ejects after consecutive5xxErrors and a success resets the count', () => {
    const clock = { t: 0 };
    const r = runtime(cluster(3, { outlier: { consecutive5xxErrors: 3, maxEjectionPercent: 100 } }), clock);
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    r.report(r.endpoints[0]!, { kind: 'response', status: 200 });
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    r.report(r.endpoints[0]!, { kind: 'response', status: 502 });
    expect(r.isEjected(0)).toBe(false);
    r.report(r.endpoints[0]!, { kind: 'local-failure' });
    expect(r.isEjected(0)).toBe(true);
    expect(picks(r, 50)).toEqual(new Set([1, 2]));
  });

  it('ejection time grows with each ejection (base × n), hosts return at the interval after it, and the multiplier decays', () => {
    const clock = { t: 0 };
    const r = runtime(
      cluster(2, {
        outlier: { consecutive5xxErrors: 1, baseEjectionTimeMs: 1000, intervalMs: 100, maxEjectionPercent: 100 },
      }),
      clock,
    );
    r.report(r.endpoints[0]!, { kind: 'response', status: 503 });
    expect(r.endpoints[0]?.ejectedUntilMs).toBe(1000);
    clock.t = 999;
    r.tick();
    expect(r.isEjected(0)).toBe(true);
    clock.t = 1000;
    // The ejection time is up, but the host returns only at the next interval tick (Envoy), for /clusters too.
    expect(r.isEjected(0)).toBe(true);
    expect(picks(r, 20)).toEqual(new Set([1]));
    r.tick();
    expect(r.isEjected(0)).toBe(false);
    r.report(r.endpoints[0]!, { kind: 'response', status: 503 });
    expect(r.endpoints[0]?.ejectedUntilMs).toBe(1000 + 2000);
    clock.t = 3000;
    r.tick(); // back in service
    r.tick(); // one healthy interval: multiplier 2 → 1
    expect(r.endpoints[0]?.ejections).toBe(1);
  });

  it('respects maxEjectionPercent, but always allows one ejection', () => {
    const clock = { t: 0 };
    const r = runtime(cluster(4, { outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 10 } }), clock);
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    r.report(r.endpoints[1]!, { kind: 'response', status: 500 });
    expect([r.isEjected(0), r.isEjected(1)]).toEqual([true, false]);
    const r50 = runtime(cluster(4, { outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 50 } }), clock);
    for (const i of [0, 1, 2]) r50.report(r50.endpoints[i]!, { kind: 'response', status: 500 });
    expect([0, 1, 2].map((i) => r50.isEjected(i))).toEqual([true, true, false]);
  });

  it('with every host ejected and panic off there is no host (503 UH); below minHealthPercent all hosts are used', () => {
    const clock = { t: 0 };
    const r = runtime(cluster(2, { outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 100 } }), clock);
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    r.report(r.endpoints[1]!, { kind: 'response', status: 500 });
    expect(r.pick(null, Math.random)).toBe(-1);
    const panic = runtime(
      cluster(2, { outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 60 } }),
      clock,
    );
    panic.report(panic.endpoints[0]!, { kind: 'response', status: 500 });
    expect(picks(panic, 50)).toEqual(new Set([0, 1]));
  });

  it('consecutiveGatewayErrors counts only 502/503/504 and local failures', () => {
    const clock = { t: 0 };
    const r = runtime(
      cluster(2, { outlier: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, maxEjectionPercent: 100 } }),
      clock,
    );
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    expect(r.isEjected(0)).toBe(false);
    r.report(r.endpoints[0]!, { kind: 'response', status: 503 });
    r.report(r.endpoints[0]!, { kind: 'local-failure' });
    expect(r.isEjected(0)).toBe(true);
  });

  it('without outlierDetection nothing is ejected', () => {
    const r = runtime(cluster(2), { t: 0 });
    for (let i = 0; i < 20; i++) r.report(r.endpoints[0]!, { kind: 'response', status: 500 });
    expect(r.isEjected(0)).toBe(false);
  });
});

describe('circuit breakers', () => {
  it('admits up to maxConnections, queues up to http1MaxPendingRequests, overflows beyond', async () => {
    const r = runtime(cluster(1, { pool: { maxConnections: 1, http1MaxPendingRequests: 1 } }), { t: 0 });
    expect(r.acquire(() => false)).toBe(true);
    const queued = r.acquire(() => false);
    expect(queued).toBeInstanceOf(Promise);
    expect(r.acquire(() => false)).toBe(false);
    r.release();
    expect(await queued).toBe(true);
    expect(r.active).toBe(1);
    r.release();
    expect(r.active).toBe(0);
  });
  it('http2MaxRequests caps concurrent requests without queueing; maxRetries caps concurrent retries', () => {
    const r = runtime(cluster(1, { pool: { http2MaxRequests: 2, maxRetries: 1 } }), { t: 0 });
    expect([r.acquire(() => false), r.acquire(() => false), r.acquire(() => false)]).toEqual([true, true, false]);
    expect([r.tryRetry(), r.tryRetry()]).toEqual([true, false]);
    r.retryDone();
    expect(r.tryRetry()).toBe(true);
  });
  it('a retry budget replaces maxRetries: max(percent × (active + pending), minRetryConcurrency)', () => {
    const budget = { percent: 25, minRetryConcurrency: 2 };
    const r = runtime(cluster(1, { pool: { maxRetries: 1, retryBudget: budget } }), { t: 0 });
    // No active requests: the floor of 2 concurrent retries (maxRetries 1 is overridden).
    expect([r.tryRetry(), r.tryRetry(), r.tryRetry()]).toEqual([true, true, false]);
    // 12 active requests: 25 % = 3 concurrent retries.
    for (let i = 0; i < 12; i++) expect(r.acquire(() => false)).toBe(true);
    expect(r.tryRetry()).toBe(true);
    expect(r.tryRetry()).toBe(false);
    // 15 active: 3.75 truncates to 3 (Envoy converts the product to an integer).
    for (let i = 0; i < 3; i++) r.acquire(() => false);
    expect(r.tryRetry()).toBe(false);
    // 16 active: 4.
    r.acquire(() => false);
    expect(r.tryRetry()).toBe(true);
  });
});

describe('locality priority', () => {
  const me = parseLocality('us-east/zone-a/sub-1');
  it.each([
    ['us-east/zone-a/sub-1', 0],
    ['us-east/zone-a/sub-2', 1],
    ['us-east/zone-b', 2],
    ['eu-west/zone-a', 3],
  ])('%s → priority %i', (loc, p) => {
    expect(localityPriority(me, loc, null)).toBe(p);
  });
  it('failover puts the configured region before the others', () => {
    const setting = { failover: [{ from: 'us-east', to: 'eu-west' }] };
    expect(localityPriority(me, 'eu-west/z', setting)).toBeLessThan(localityPriority(me, 'ap-south/z', setting));
  });
  it('only with outlier detection: traffic stays in the closest healthy priority', () => {
    const clock = { t: 0 };
    const locs = ['us-east/zone-a/sub-1', 'us-east/zone-b/x', 'us-east/zone-b/y'];
    const withOd = runtime(
      cluster(3, { outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 100 }, localities: locs }),
      clock,
      'us-east/zone-a/sub-1',
    );
    expect(picks(withOd, 50)).toEqual(new Set([0]));
    withOd.report(withOd.endpoints[0]!, { kind: 'response', status: 500 });
    expect(picks(withOd, 50)).toEqual(new Set([1, 2]));
    const withoutOd = runtime(cluster(3, { localities: locs }), clock, 'us-east/zone-a/sub-1');
    expect(picks(withoutOd, 60)).toEqual(new Set([0, 1, 2]));
  });
});

describe('failoverPriority (Istio applyFailoverPriorities)', () => {
  const proxy = { app: 'web', 'topology.istio.io/network': 'n1', 'topology.kubernetes.io/region': 'r1' };
  const labels = ['topology.istio.io/network', 'topology.kubernetes.io/region'];
  it.each([
    ['every label matches', { 'topology.istio.io/network': 'n1', 'topology.kubernetes.io/region': 'r1' }, 0],
    [
      'the first matches, the second not',
      { 'topology.istio.io/network': 'n1', 'topology.kubernetes.io/region': 'r2' },
      1,
    ],
    ['the first differs', { 'topology.istio.io/network': 'n2', 'topology.kubernetes.io/region': 'r1' }, 2],
    ['labels missing on the endpoint', {}, 2],
  ])('%s → %i', (_n, ep, want) => {
    expect(failoverPriorityOf(proxy, ep, labels)).toBe(want);
  });
  it("label=value compares with the given value instead of the proxy's", () => {
    expect(failoverPriorityOf(proxy, { tier: 'gold' }, ['tier=gold'])).toBe(0);
    expect(failoverPriorityOf(proxy, { tier: 'silver' }, ['tier=gold'])).toBe(1);
  });
  it('without proxy labels nothing is prioritised', () => {
    expect(failoverPriorityOf({}, { a: '1' }, ['a'])).toBe(0);
  });
  it('topology labels come from the locality; priorities are renumbered without gaps', () => {
    expect(withTopologyLabels({ app: 'x' }, parseLocality('r1/z1'))).toEqual({
      app: 'x',
      'topology.kubernetes.io/region': 'r1',
      'topology.kubernetes.io/zone': 'z1',
    });
    expect(compactPriorities([4, 0, 4, 2])).toEqual([2, 0, 2, 1]);
  });
  it("with outlier detection, traffic goes to the endpoints sharing the proxy's labels first", () => {
    const c = cluster(3, {
      outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 100 },
      labels: [{ tier: 'b' }, { tier: 'a' }, { tier: 'a' }],
      setting: { failoverPriority: ['tier'] },
    });
    const r = runtime(c, { t: 0 }, null, { tier: 'a' });
    expect(picks(r, 60)).toEqual(new Set([1, 2]));
    r.report(r.endpoints[1]!, { kind: 'response', status: 500 });
    // Half of priority 0 healthy: it takes 50 % × 1.4 = 70 % of the load, the rest spills to priority 1 (Envoy).
    expect(picks(r, 80)).toEqual(new Set([0, 2]));
    r.report(r.endpoints[2]!, { kind: 'response', status: 500 });
    expect(picks(r, 40)).toEqual(new Set([0]));
    // Without outlier detection Istio applies no failover at all.
    const off = runtime(
      cluster(3, { labels: [{ tier: 'b' }, { tier: 'a' }, { tier: 'a' }], setting: { failoverPriority: ['tier'] } }),
      { t: 0 },
      null,
      { tier: 'a' },
    );
    expect(picks(off, 80)).toEqual(new Set([0, 1, 2]));
  });
  it('failoverPriority replaces locality failover unless failover is also set', () => {
    const locs = ['r1/z1', 'r2/z1', 'r1/z2'];
    const lbls = [{ tier: 'b' }, { tier: 'a' }, { tier: 'a' }];
    const od = { consecutive5xxErrors: 1, maxEjectionPercent: 100 };
    // Labels only: endpoints 1 and 2 (tier a) whatever their region.
    const only = runtime(
      cluster(3, { outlier: od, localities: locs, labels: lbls, setting: { failoverPriority: ['tier'] } }),
      { t: 0 },
      'r1/z1',
      { tier: 'a' },
    );
    expect(picks(only, 60)).toEqual(new Set([1, 2]));
    // With failover too: within tier a, the proxy's region (r1, endpoint 2) first.
    const both = runtime(
      cluster(3, {
        outlier: od,
        localities: locs,
        labels: lbls,
        setting: { failoverPriority: ['tier'], failover: [{ from: 'r1', to: 'r2' }] },
      }),
      { t: 0 },
      'r1/z1',
      { tier: 'a' },
    );
    expect(picks(both, 40)).toEqual(new Set([2]));
  });
});

describe('endpoint updates (Envoy EDS): update() and ClusterManager.get', () => {
  const withEndpoints = (c: Cluster, ports: number[]): Cluster => ({
    ...c,
    endpoints: ports.map((p) => ({ ...c.endpoints[0]!, port: p, key: `127.0.0.1:${p}` })),
  });

  it('hosts that stay keep their state and pool; new hosts join; a removed host leaves the balancer', () => {
    const clock = { t: 0 };
    const base = cluster(3, { outlier: { consecutive5xxErrors: 1, maxEjectionPercent: 100 } });
    const r = runtime(base, clock);
    const [a, b, c] = r.endpoints;
    const poolOfB = b!.pool; // created on first use
    r.report(a!, { kind: 'response', status: 503 }); // a ejected
    expect(a!.ejectedUntilMs).toBeGreaterThan(0);
    b!.active = 2;
    // c (20002) goes away, 20005 joins.
    r.update(withEndpoints(base, [20000, 20001, 20005]), 'fp2');
    expect(r.endpoints[0]).toBe(a);
    expect(r.endpoints[1]).toBe(b);
    expect(r.endpoints[1]!.pool).toBe(poolOfB);
    expect(r.endpoints[1]!.active).toBe(2);
    expect(r.endpoints[0]!.ejectedUntilMs).toBeGreaterThan(0); // still ejected after the update
    expect(r.endpoints[2]).not.toBe(c);
    expect(r.endpoints[2]!.key).toBe('127.0.0.1:20005');
    expect(r.endpoints[2]!.hasPool).toBe(false);
    // a is still ejected: picks go to b and the new host only, never to the removed one.
    expect(picks(r, 60)).toEqual(new Set([1, 2]));
    // An outcome reported for the removed host (a request picked before the update) is ignored.
    r.report(c!, { kind: 'response', status: 503 });
    expect(r.endpoints.every((e) => e.key !== c!.key)).toBe(true);
    expect(r.endpoints[2]!.ejectedUntilMs).toBe(0);
  });

  it('a policy change is not an update: ClusterManager replaces the runtime; an endpoint change updates it', async () => {
    const { ClusterManager } = await import('../../../src/dataplane/upstream/cluster-manager.ts');
    const m = new ClusterManager({ now: () => 0, locality: null });
    try {
      const c1 = cluster(2);
      const r1 = m.get(c1);
      const r2 = m.get(withEndpoints(c1, [20000, 20009]));
      expect(r2).toBe(r1); // updated in place
      expect(r2.endpoints.map((e) => e.port)).toEqual([20000, 20009]);
      const r3 = m.get({ ...c1, policy: { ...c1.policy, lb: { type: 'RANDOM' } } });
      expect(r3).not.toBe(r1);
      expect(() => r1.update({ ...c1, policy: { ...c1.policy, lb: { type: 'RANDOM' } } }, 'x')).toThrow(/policy/);
      // reconcile: a cluster that is gone closes its runtime.
      m.reconcile(() => null);
      expect(m.all()).toEqual([]);
    } finally {
      await m.close();
    }
  });
});
