/**
 * `rollout/providers/counts.ts`: route counts → RolloutCounts for a selector, baselines, resets, failing sources,
 * additivity across proxies, and the Prometheus series conversion. Hand-built snapshots; expected tables built with
 * the statistics' own `recordEvents`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AdminCountsState,
  canaryProbability,
  type PrometheusSeries,
  parseCounterValue,
  parseLe,
  prometheusGroups,
  readStreams,
  type SnapshotResult,
  snapshotGroups,
  startAdminCounts,
  startPrometheusCounts,
  updateAdminCounts,
  updatePrometheusCounts,
} from '../../../src/rollout/providers/counts.ts';
import type { CountsReading } from '../../../src/rollout/providers/types.ts';
import {
  type DestinationCounts,
  ROUTE_METRICS,
  type RouteCounts,
  type RouteCountsSnapshot,
  type SplitCounts,
  splitKey,
} from '../../../src/rollout/route-counts.ts';
import { createRolloutCounts, ENVOY_DEFAULT_BUCKETS_MS } from '../../../src/rollout/stats/index.ts';
import {
  dest,
  EDGES,
  expected,
  HOST,
  lat,
  NS,
  OTHER_HOST,
  route,
  SEL,
  snapshot,
  split,
  T0,
  VS,
} from './providers-fixtures.ts';

/** Start on an empty baseline (same instances, no traffic yet), then read `snaps`: the counts are the snapshots'. */
function readFresh(snaps: readonly RouteCountsSnapshot[], thresholds: readonly number[] = []): CountsReading {
  const start = startAdminCounts(
    SEL,
    snaps.map((s, i) => ({ source: `http://p${i}`, snapshot: { ...s, routes: [] } })),
    T0,
  );
  const upd = updateAdminCounts(
    start.state,
    SEL,
    snaps.map((s, i) => ({ source: `http://p${i}`, snapshot: s })),
    T0 + 1000,
  );
  return readAdmin(upd.state, thresholds, upd.sources);
}

function readAdmin(
  state: AdminCountsState,
  thresholds: readonly number[],
  sources = { ok: 1, failed: 0, problems: [], notes: [] } as CountsReading['sources'],
): CountsReading {
  return { ...readStreams(state.streams, thresholds, EDGES), sources };
}

describe('snapshot → RolloutCounts for a selector', () => {
  it('95/5 split: w = 0.05 rows, canary and primary events, exceedances at edges', () => {
    const v1 = lat(950, 40, 30, 300);
    const v2 = lat(50, 60, 10, 700);
    const snap = snapshot('a', [route(0, [split(dest('v1', 0.95, v1, 5), dest('v2', 0.05, v2, 2))])]);
    const r = readFresh([snap], [100, 250, 500]);
    expect(r.counts).toEqual(
      expected(
        [
          [0.05, 'primary', v1, 5],
          [0.05, 'canary', v2, 2],
        ],
        [100, 250, 500],
      ),
    );
    // Spelled out: requests 50 canary / 950 primary; > 500 ms only the canary's 10 at 700 ms.
    expect(r.counts.requests.rows).toEqual([{ w: 0.05, canary: 50, primary: 950 }]);
    expect(r.counts.latency.find((t) => t.thresholdMs === 500)!.exceedances.rows).toEqual([
      { w: 0.05, canary: 10, primary: 0 },
    ]);
    expect(r.counts.latency.find((t) => t.thresholdMs === 250)!.exceedances.rows).toEqual([
      { w: 0.05, canary: 10, primary: 30 },
    ]);
    expect(r.edgesMs).toEqual(EDGES);
    expect(r.mirror).toEqual({
      requests: 0,
      errors: 0,
      exceedances: [100, 250, 500].map((thresholdMs) => ({ thresholdMs, count: 0 })),
    });
  });

  it('3-way split: w is the canary probability, the third destination is ignored', () => {
    const v1 = lat(600, 20);
    const v2 = lat(300, 20, 3, 2000);
    const v3 = lat(100, 5000, 100, 5000);
    const sp = split(dest('v1', 0.6, v1, 1), dest('v2', 0.3, v2, 4), dest('v3', 0.1, v3, 100));
    expect(canaryProbability(sp.destinations, SEL)).toBe(0.3);
    const r = readFresh([snapshot('a', [route(0, [sp])])], [1000]);
    expect(r.counts).toEqual(
      expected(
        [
          [0.3, 'primary', v1, 1],
          [0.3, 'canary', v2, 4],
        ],
        [1000],
      ),
    );
  });

  it('the w = 0 split (primary only) and w = 1 (a header route to the canary) keep their rows', () => {
    const primaryOnly = lat(400, 30);
    const headerCanary = lat(25, 30, 5, 600);
    const snap = snapshot('a', [
      route(0, [split(dest('v2', 1, headerCanary, 1))]),
      route(1, [split(dest('v1', 1, primaryOnly, 2))]),
    ]);
    const r = readFresh([snap], [500]);
    expect(r.counts.requests.rows).toEqual([
      { w: 0, canary: 0, primary: 400 },
      { w: 1, canary: 25, primary: 0 },
    ]);
    expect(r.counts).toEqual(
      expected(
        [
          [0, 'primary', primaryOnly, 2],
          [1, 'canary', headerCanary, 1],
        ],
        [500],
      ),
    );
  });

  it('other VirtualServices, other hosts and mirrors to the primary are not counted; canary mirrors are', () => {
    const mirrored = lat(40, 50, 4, 900);
    const snap = snapshot('a', [
      route(
        0,
        [split(dest('v1', 0.9, lat(90, 10), 0), dest('v2', 0.1, lat(10, 10), 0))],
        [dest('v2', 0.5, mirrored, 3), dest('v1', 0.5, lat(7, 10), 7), dest('v2', 0.5, lat(5, 10), 0, OTHER_HOST)],
      ),
      route(0, [split(dest('v1', 0.5, lat(1000, 10), 10), dest('v2', 0.5, lat(1000, 10), 10))], [], 'other-vs'),
      route(1, [split(dest('v1', 0.5, lat(1000, 10), 10, OTHER_HOST), dest('v2', 0.5, lat(1000, 10), 10, OTHER_HOST))]),
    ]);
    const r = readFresh([snap], [500]);
    expect(r.counts.requests.rows).toEqual([{ w: 0.1, canary: 10, primary: 90 }]);
    expect(r.counts.errors.rows).toEqual([]);
    expect(r.mirror).toEqual({ requests: 40, errors: 3, exceedances: [{ thresholdMs: 500, count: 4 }] });
  });

  it('exceedances at an edge are exact (a request at the edge is not above it); a non-edge throws a RangeError', () => {
    expect(EDGES).toContain(100);
    const v2 = [99, 100, 100, 100.5, 101, 250];
    const r = readFresh([snapshot('a', [route(0, [split(dest('v1', 0.5, [1], 0), dest('v2', 0.5, v2, 0))])])], [100]);
    expect(r.counts.latency[0]!.exceedances.rows).toEqual([{ w: 0.5, canary: 3, primary: 0 }]);
    expect(EDGES).not.toContain(123);
    expect(() => readFresh([snapshot('a', [])], [123])).toThrow(RangeError);
    expect(() => readFresh([snapshot('a', [])], [100, 123])).toThrow(/123 ms is not a histogram edge/);
  });

  it('the primary histogram sums the primary subset over every split, since the proxy started', () => {
    const s1 = [3, 40, 40, 400];
    const s2 = [7, 7, 2000];
    const baseline = snapshot('a', [route(0, [split(dest('v1', 1, s1, 0))])]);
    const later = snapshot('a', [
      route(0, [split(dest('v1', 1, s1, 0)), split(dest('v1', 0.9, s2, 0), dest('v2', 0.1, [5000], 1))]),
    ]);
    const start = startAdminCounts(SEL, [{ source: 'http://p', snapshot: baseline }], T0);
    const upd = updateAdminCounts(start.state, SEL, [{ source: 'http://p', snapshot: later }], T0 + 1000);
    const r = readAdmin(upd.state, []);
    // Since the baseline only split 2 counts; the histogram holds split 1's baseline requests too.
    expect(r.counts.requests.rows).toEqual([{ w: 0.1, canary: 1, primary: 3 }]);
    const h = r.primaryHistogram;
    expect(h.edges).toEqual([...EDGES, Number.POSITIVE_INFINITY]);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(7);
    const all = [...s1, ...s2];
    EDGES.forEach((e, k) => {
      const expectedInBucket = all.filter((l) => l <= e && (k === 0 || l > EDGES[k - 1]!)).length;
      expect(h.counts[k], `bucket ≤ ${e}`).toBe(expectedInBucket);
    });
  });
});

describe('baselines, resets and failing sources', () => {
  const at = (v1: number, v2: number, e1: number, e2: number, slow2 = 0): RouteCounts[] => [
    route(0, [split(dest('v1', 0.9, lat(v1, 10), e1), dest('v2', 0.1, lat(v2, 10, slow2, 800), e2))]),
  ];

  it('subtracts the baseline: counts since start are B − A', () => {
    const start = startAdminCounts(SEL, [{ source: 'http://p', snapshot: snapshot('a', at(900, 100, 9, 1)) }], T0);
    expect(readAdmin(start.state, [500]).counts).toEqual(createRolloutCounts([500]));
    const upd = updateAdminCounts(
      start.state,
      SEL,
      [{ source: 'http://p', snapshot: snapshot('a', at(1800, 250, 10, 5, 7), T0 - 3_600_000, T0 + 60_000) }],
      T0 + 60_000,
    );
    const r = readAdmin(upd.state, [500]);
    expect(r.counts.requests.rows).toEqual([{ w: 0.1, canary: 150, primary: 900 }]);
    expect(r.counts.errors.rows).toEqual([{ w: 0.1, canary: 4, primary: 1 }]);
    expect(r.counts.latency[0]!.exceedances.rows).toEqual([{ w: 0.1, canary: 7, primary: 0 }]);
    // The input state is not modified, and the state survives JSON.
    expect(readAdmin(start.state, [500]).counts.requests.rows).toEqual([]);
    const roundTrip = JSON.parse(JSON.stringify(upd.state)) as AdminCountsState;
    expect(roundTrip).toEqual(upd.state);
    expect(readAdmin(roundTrip, [500])).toEqual(r);
  });

  it('a new instance id at the same URL: the old counts since the baseline are kept, the new process counts from zero', () => {
    const start = startAdminCounts(SEL, [{ source: 'http://p', snapshot: snapshot('a', at(900, 100, 9, 1)) }], T0);
    const s1 = updateAdminCounts(
      start.state,
      SEL,
      [{ source: 'http://p', snapshot: snapshot('a', at(1000, 120, 9, 2)) }],
      T0 + 10_000,
    );
    // Restarted at T0 + 20 s with fewer counts (and then more than the old process had, which the id still reveals).
    const restarted = snapshot('b', at(1500, 300, 1, 1), T0 + 20_000, T0 + 30_000);
    const s2 = updateAdminCounts(s1.state, SEL, [{ source: 'http://p', snapshot: restarted }], T0 + 30_000);
    expect(s2.sources.notes.join('\n')).toMatch(/instance b replaces a .*counted from zero/);
    const r = readAdmin(s2.state, []);
    // (1000 − 900) + 1500 primary, (120 − 100) + 300 canary; errors (0 + 1), (1 + 1).
    expect(r.counts.requests.rows).toEqual([{ w: 0.1, canary: 320, primary: 1600 }]);
    expect(r.counts.errors.rows).toEqual([{ w: 0.1, canary: 2, primary: 1 }]);
    // The restarted one continues normally.
    const s3 = updateAdminCounts(
      s2.state,
      SEL,
      [{ source: 'http://p', snapshot: snapshot('b', at(1600, 310, 1, 1), T0 + 20_000) }],
      T0 + 40_000,
    );
    expect(readAdmin(s3.state, []).counts.requests.rows).toEqual([{ w: 0.1, canary: 330, primary: 1700 }]);
  });

  it('a counter lower than last seen with the same instance id is a reset: carried, then counted from zero', () => {
    const start = startAdminCounts(SEL, [{ source: 'http://p', snapshot: snapshot('a', at(900, 100, 9, 1)) }], T0);
    const s1 = updateAdminCounts(
      start.state,
      SEL,
      [{ source: 'http://p', snapshot: snapshot('a', at(950, 110, 9, 1)) }],
      T0 + 1000,
    );
    const s2 = updateAdminCounts(
      s1.state,
      SEL,
      [{ source: 'http://p', snapshot: snapshot('a', at(20, 4, 0, 1)) }],
      T0 + 2000,
    );
    expect(s2.sources.notes.some((n) => /went down/.test(n))).toBe(true);
    expect(readAdmin(s2.state, []).counts.requests.rows).toEqual([{ w: 0.1, canary: 14, primary: 70 }]);
    expect(readAdmin(s2.state, []).counts.errors.rows).toEqual([{ w: 0.1, canary: 1, primary: 0 }]);
  });

  it('an instance that was already running at the baseline (first seen later) counts from its first answer', () => {
    const start = startAdminCounts(SEL, [{ source: 'http://lb', snapshot: snapshot('a', at(900, 100, 9, 1)) }], T0);
    // Behind the same URL, another process that started before the baseline.
    const s1 = updateAdminCounts(
      start.state,
      SEL,
      [{ source: 'http://lb', snapshot: snapshot('c', at(5000, 500, 50, 5), T0 - 60_000, T0 + 1000) }],
      T0 + 1000,
    );
    expect(readAdmin(s1.state, []).counts.requests.rows).toEqual([]);
    const s2 = updateAdminCounts(
      s1.state,
      SEL,
      [{ source: 'http://lb', snapshot: snapshot('c', at(5010, 501, 50, 5), T0 - 60_000, T0 + 2000) }],
      T0 + 2000,
    );
    // Back to a, which has moved on: both count.
    const s3 = updateAdminCounts(
      s2.state,
      SEL,
      [{ source: 'http://lb', snapshot: snapshot('a', at(920, 103, 9, 1)) }],
      T0 + 3000,
    );
    expect(readAdmin(s3.state, []).counts.requests.rows).toEqual([{ w: 0.1, canary: 4, primary: 30 }]);
  });

  it('a source that fails keeps its last counts and is reported; start throws when none answers', () => {
    const start = startAdminCounts(
      SEL,
      [
        { source: 'http://p1', snapshot: snapshot('a', at(100, 10, 0, 0)) },
        { source: 'http://p2', snapshot: snapshot('b', at(200, 20, 0, 0)) },
      ],
      T0,
    );
    const s1 = updateAdminCounts(
      start.state,
      SEL,
      [
        { source: 'http://p1', snapshot: snapshot('a', at(110, 11, 0, 0)) },
        { source: 'http://p2', snapshot: snapshot('b', at(230, 23, 1, 0)) },
      ],
      T0 + 1000,
    );
    const failing: SnapshotResult[] = [
      { source: 'http://p1', snapshot: snapshot('a', at(150, 15, 0, 0)) },
      { source: 'http://p2', error: 'HTTP 500' },
    ];
    const s2 = updateAdminCounts(s1.state, SEL, failing, T0 + 2000);
    expect(s2.sources).toEqual({ ok: 1, failed: 1, problems: ['http://p2: HTTP 500'], notes: [] });
    // p1: 50 + 5 since the baseline; p2: its last, 30 + 3.
    expect(readAdmin(s2.state, []).counts.requests.rows).toEqual([{ w: 0.1, canary: 8, primary: 80 }]);
    expect(s2.state.sources['http://p2']!.lastError).toBe('HTTP 500');
    // A malformed snapshot is a failing source too.
    const bad = snapshot('a', [route(0, [split({ ...dest('v1', 1, [1], 0), histogram: [1] })])]);
    const s3 = updateAdminCounts(s2.state, SEL, [{ source: 'http://p1', snapshot: bad }], T0 + 3000);
    expect(s3.sources.failed).toBe(1);
    expect(s3.sources.problems[0]).toMatch(/^http:\/\/p1: bad snapshot: histogram/);
    expect(readAdmin(s3.state, []).counts.requests.rows).toEqual([{ w: 0.1, canary: 8, primary: 80 }]);

    expect(() =>
      startAdminCounts(
        SEL,
        [
          { source: 'http://p1', error: 'ECONNREFUSED' },
          { source: 'http://p2', error: 'no answer within 100 ms' },
        ],
        T0,
      ),
    ).toThrow('no weir admin endpoint answered: http://p1: ECONNREFUSED; http://p2: no answer within 100 ms');
    // A URL that failed at the start and answers later with a process started after the baseline counts from zero.
    const late = startAdminCounts(
      SEL,
      [
        { source: 'http://p1', snapshot: snapshot('a', at(100, 10, 0, 0)) },
        { source: 'http://p2', error: 'ECONNREFUSED' },
      ],
      T0,
    );
    const l1 = updateAdminCounts(
      late.state,
      SEL,
      [{ source: 'http://p2', snapshot: snapshot('b', at(7, 3, 0, 0), T0 + 500, T0 + 900) }],
      T0 + 1000,
    );
    expect(readAdmin(l1.state, []).counts.requests.rows).toEqual([{ w: 0.1, canary: 3, primary: 7 }]);
  });

  it('a state for another selector or provider is refused', () => {
    const start = startAdminCounts(SEL, [{ source: 'http://p', snapshot: snapshot('a', []) }], T0);
    expect(() => updateAdminCounts(start.state, { ...SEL, canarySubset: 'v3' }, [], T0)).toThrow(/another selector/);
    expect(() => updateAdminCounts({ ...start.state, kind: 'prometheus' } as never, SEL, [], T0)).toThrow(
      /not an admin/,
    );
    expect(() => startAdminCounts({ ...SEL, canarySubset: 'v1' }, [], T0)).toThrow(RangeError);
  });

  it('two proxies summed equal one proxy holding the sums (additivity, §1.8)', () => {
    const thresholds = [25, 100, 500];
    const arbDest = fc.record({
      n: fc.integer({ min: 0, max: 40 }),
      errors: fc.integer({ min: 0, max: 5 }),
      slow: fc.integer({ min: 0, max: 10 }),
    });
    const weights = [0, 0.05, 0.5, 1];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...weights), arbDest, arbDest), { minLength: 1, maxLength: 4 }),
        (rows) => {
          // Proxy A and B get the rows' counts; C gets A + B (latencies alternate 10 / 300 ms so buckets differ).
          const mk = (n: number, slow: number): number[] => lat(n + slow, 10, slow, 300);
          const routesOf = (scale: number): RouteCounts[] =>
            rows.map(([w, c, p], i) => {
              const ds: DestinationCounts[] = [];
              if (w < 1)
                ds.push(
                  dest(
                    'v1',
                    1 - w,
                    mk(p.n * scale, p.slow * scale),
                    Math.min(p.errors * scale, p.n * scale + p.slow * scale),
                  ),
                );
              if (w > 0)
                ds.push(
                  dest(
                    'v2',
                    w,
                    mk(c.n * scale, c.slow * scale),
                    Math.min(c.errors * scale, c.n * scale + c.slow * scale),
                  ),
                );
              return route(i, [split(...ds)]);
            });
          const two = readFresh([snapshot('a', routesOf(1)), snapshot('b', routesOf(1))], thresholds);
          const one = readFresh([snapshot('c', routesOf(2))], thresholds);
          expect(two.counts).toEqual(one.counts);
          expect(two.primaryHistogram).toEqual(one.primaryHistogram);
        },
      ),
      { seed: 20260101, numRuns: 60 },
    );
  });

  it('snapshotGroups keys groups by route, split and role and sums a destination listed twice', () => {
    const sp: SplitCounts = {
      key: 'x',
      destinations: [dest('v1', 0.5, [1, 2], 0), dest('v2', 0.25, [3], 1), dest('v2', 0.25, [4, 5], 0)],
    };
    const gs = snapshotGroups(snapshot('a', [route(3, [sp])]), SEL);
    expect(gs.map((g) => [g.id, g.role, g.w, g.values[0], g.values[1]])).toEqual([
      ['3|x|primary', 'primary', 0.5, 2, 0],
      ['3|x|canary', 'canary', 0.5, 3, 1],
    ]);
  });
});

describe('Prometheus series → counter groups', () => {
  const labels = (over: Record<string, string> = {}): Record<string, string> => ({
    namespace: NS,
    virtual_service: VS,
    route: '0',
    destination_service: HOST,
    destination_subset: 'v2',
    split: splitKey([
      { host: HOST, subset: 'v1', probability: 0.9 },
      { host: HOST, subset: 'v2', probability: 0.1 },
    ]),
    traffic: 'routed',
    instance: '10.0.0.1:15000',
    job: 'weir',
    ...over,
  });
  /** The series of one destination at timestamps `ts` with cumulative `le` counts per Envoy edge. */
  function promSeries(
    lab: Record<string, string>,
    points: readonly { ts: number; requests: number; errors: number; latencies: readonly number[] }[],
  ): PrometheusSeries[] {
    const out: PrometheusSeries[] = [
      { metric: { __name__: ROUTE_METRICS.requests, ...lab }, values: points.map((p) => [p.ts, String(p.requests)]) },
      { metric: { __name__: ROUTE_METRICS.errors, ...lab }, values: points.map((p) => [p.ts, String(p.errors)]) },
    ];
    for (const le of [...ENVOY_DEFAULT_BUCKETS_MS, Number.POSITIVE_INFINITY]) {
      out.push({
        metric: {
          __name__: `${ROUTE_METRICS.duration}_bucket`,
          ...lab,
          le: le === Number.POSITIVE_INFINITY ? '+Inf' : String(le),
        },
        values: points.map((p) => [p.ts, String(p.latencies.filter((l) => l <= le).length)]),
      });
    }
    return out;
  }

  it('parses sample values: NaN, ±Inf and negatives are ignored, non-integers rounded', () => {
    expect(parseCounterValue('12')).toEqual({ value: 12, note: null });
    expect(parseCounterValue('1e3')).toEqual({ value: 1000, note: null });
    expect(parseCounterValue('NaN')).toEqual({ value: null, note: 'NaN' });
    expect(parseCounterValue('+Inf')).toEqual({ value: null, note: '+Inf' });
    expect(parseCounterValue('-Inf')).toEqual({ value: null, note: '-Inf' });
    expect(parseCounterValue('-3')).toEqual({ value: null, note: 'negative' });
    expect(parseCounterValue('2.6')).toEqual({ value: 3, note: 'non-integer (rounded)' });
    expect(parseLe('+Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parseLe('1.0')).toBe(1);
    expect(parseLe('2.5e+03')).toBe(2500);
  });

  it('baseline, growth, a reset that grew back between two reads, and a new instance: exact counts', () => {
    const canary = labels();
    const primary = labels({ destination_subset: 'v1' });
    const start = startPrometheusCounts(
      SEL,
      [
        ...promSeries(canary, [{ ts: 100, requests: 10, errors: 1, latencies: lat(10, 20, 1, 700) }]),
        ...promSeries(primary, [{ ts: 100, requests: 90, errors: 0, latencies: lat(90, 20) }]),
      ],
      T0,
    );
    expect(readStreams(start.state.streams, [500], ENVOY_DEFAULT_BUCKETS_MS).counts).toEqual(
      createRolloutCounts([500]),
    );
    // Canary: 10 → 30 (ts 101), restart → 5 (ts 102), 40 (ts 103): the counter grew back past 30 before the read.
    const update = updatePrometheusCounts(
      start.state,
      SEL,
      {
        series: [
          ...promSeries(canary, [
            { ts: 100, requests: 10, errors: 1, latencies: lat(10, 20, 1, 700) },
            { ts: 101, requests: 30, errors: 2, latencies: lat(30, 20, 3, 700) },
            { ts: 102, requests: 5, errors: 0, latencies: lat(5, 20) },
            { ts: 103, requests: 40, errors: 3, latencies: lat(40, 20, 2, 700) },
          ]),
          ...promSeries(primary, [{ ts: 103, requests: 190, errors: 1, latencies: lat(190, 20) }]),
          ...promSeries(labels({ instance: '10.0.0.2:15000' }), [
            { ts: 103, requests: 6, errors: 6, latencies: lat(6, 20) },
          ]),
        ],
      },
      T0 + 5000,
    );
    expect(update.sources.ok).toBe(1);
    expect(update.sources.notes.some((n) => /went down/.test(n))).toBe(true);
    const c = readStreams(update.state.streams, [500], ENVOY_DEFAULT_BUCKETS_MS).counts;
    // Canary: (30 − 10) + 40 + 6 from the new instance; errors (2 − 1) + 3 + 6; > 500 ms: (3 − 1) + 2. The target
    // restarted at ts 102, so its primary series (no sample there) restarted too: its 190 at ts 103 are all new.
    expect(c.requests.rows).toEqual([{ w: 0.1, canary: 66, primary: 190 }]);
    expect(c.errors.rows).toEqual([{ w: 0.1, canary: 10, primary: 1 }]);
    expect(c.latency[0]!.exceedances.rows).toEqual([{ w: 0.1, canary: 4, primary: 0 }]);
    // Re-reading the same samples changes nothing (applied once by timestamp).
    const again = updatePrometheusCounts(
      update.state,
      SEL,
      { series: promSeries(canary, [{ ts: 103, requests: 40, errors: 3, latencies: lat(40, 20, 2, 700) }]) },
      T0 + 6000,
    );
    expect(readStreams(again.state.streams, [500], ENVOY_DEFAULT_BUCKETS_MS).counts).toEqual(c);
    // An error answer keeps everything.
    const failed = updatePrometheusCounts(again.state, SEL, { error: 'HTTP 503' }, T0 + 7000);
    expect(failed.sources).toEqual({ ok: 0, failed: 1, problems: ['prometheus: HTTP 503'], notes: [] });
    expect(readStreams(failed.state.streams, [500], ENVOY_DEFAULT_BUCKETS_MS).counts).toEqual(c);
    expect(JSON.parse(JSON.stringify(failed.state))).toEqual(failed.state);
  });

  it('a restart seen on one series resets every group of that target, even one that grows back before it is scraped', () => {
    const canary = labels();
    const header = labels({ route: '1', split: splitKey([{ host: HOST, subset: 'v2', probability: 1 }]) });
    const other = labels({ instance: '10.0.0.9:15000' });
    const point = (ts: number, requests: number) => ({ ts, requests, errors: 0, latencies: lat(requests, 20) });
    const start = startPrometheusCounts(
      SEL,
      [
        ...promSeries(canary, [point(10, 100)]),
        ...promSeries(header, [point(10, 50)]),
        ...promSeries(other, [point(10, 7)]),
      ],
      T0,
    );
    // Between two reads: the header series grows to 60, the target restarts (canary 3, header not recreated yet),
    // then the header series comes back at 80 (> 60: alone it would look like growth); the other target is untouched.
    const s1 = updatePrometheusCounts(
      start.state,
      SEL,
      {
        series: [
          ...promSeries(canary, [point(11, 120), point(12, 3), point(13, 9)]),
          ...promSeries(header, [point(11, 60), point(13, 80)]),
          ...promSeries(other, [point(13, 8)]),
        ],
      },
      T0 + 1000,
    );
    expect(s1.sources.notes).toHaveLength(1);
    expect(s1.sources.notes[0]).toMatch(/^target .*10\.0\.0\.1:15000.* restarted/);
    const c = readStreams(s1.state.streams, [], ENVOY_DEFAULT_BUCKETS_MS).counts;
    // w = 0.1: (120 − 100) + 9 + (8 − 7); w = 1: (60 − 50) + 80.
    expect(c.requests.rows).toEqual([
      { w: 0.1, canary: 30, primary: 0 },
      { w: 1, canary: 90, primary: 0 },
    ]);
  });

  it('the baseline takes each series at its latest sample, even when one series stopped before the others', () => {
    const canary = labels();
    const series = (errorsTs: number, errors: number, ts: number, requests: number): PrometheusSeries[] => [
      { metric: { __name__: ROUTE_METRICS.requests, ...canary }, values: [[ts, String(requests)]] },
      { metric: { __name__: ROUTE_METRICS.errors, ...canary }, values: [[errorsTs, String(errors)]] },
    ];
    const start = startPrometheusCounts(SEL, series(5, 40, 6, 400), T0);
    const s1 = updatePrometheusCounts(start.state, SEL, { series: series(7, 41, 7, 410) }, T0 + 1000);
    const c = readStreams(s1.state.streams, [], ENVOY_DEFAULT_BUCKETS_MS).counts;
    expect(c.requests.rows).toEqual([{ w: 0.1, canary: 10, primary: 0 }]);
    expect(c.errors.rows).toEqual([{ w: 0.1, canary: 1, primary: 0 }]);
  });

  it('skips foreign series, malformed splits and non-edge buckets, with notes; NaN keeps the last value', () => {
    const series: PrometheusSeries[] = [
      {
        metric: { __name__: ROUTE_METRICS.requests, ...labels() },
        values: [
          [1, '5'],
          [2, 'NaN'],
          [3, '7.4'],
        ],
      },
      { metric: { __name__: ROUTE_METRICS.requests, ...labels({ split: 'garbage' }) }, values: [[1, '100']] },
      { metric: { __name__: ROUTE_METRICS.requests, ...labels({ virtual_service: 'x' }) }, values: [[1, '100']] },
      { metric: { __name__: ROUTE_METRICS.requests, ...labels({ destination_subset: 'v3' }) }, values: [[1, '100']] },
      { metric: { __name__: `${ROUTE_METRICS.duration}_bucket`, ...labels(), le: '7' }, values: [[1, '1']] },
      { metric: { __name__: 'up', ...labels() }, values: [[1, '1']] },
    ];
    const { groups, notes } = prometheusGroups(series, SEL);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.points.map((p) => [p.ts, p.values[0]])).toEqual([
      [1, 5],
      [3, 7],
    ]);
    expect(notes).toEqual(
      expect.arrayContaining([
        `${ROUTE_METRICS.requests}: NaN value ignored (last value kept)`,
        `${ROUTE_METRICS.requests}: non-integer (rounded) value`,
        'series with malformed split="garbage" skipped',
        `${ROUTE_METRICS.duration}_bucket{le="7"}: not a histogram edge, ignored`,
      ]),
    );
  });
});
