/**
 * The computed parts of `npm run bench:scale`: the generated mesh is valid Istio config with the instrumented routes
 * of service 0 (and its v3 endpoint toggles), the growth slope, and the event-loop delay read from two scrapes.
 */
import { describe, expect, it } from 'vitest';
import {
  type BackendPorts,
  PROBE_HEADER,
  PROBE_HOST,
  renderProbe,
  renderService,
  serviceName,
} from '../../../bench/scale/mesh.ts';
import { logLogSlope } from '../../../bench/scale/report.ts';
import { eventLoopDelayBetween, type WeirMetrics } from '../../../bench/scale/weir.ts';
import { snapshotFromTexts } from '../../../src/config/snapshot.ts';
import { compileRouteTable } from '../../../src/routing/compile.ts';
import { decide } from '../../../src/routing/decide.ts';
import { createFacts } from '../../../src/routing/facts.ts';

const PORTS: BackendPorts = { service: [41001, 41002, 41003, 41004], extra: 41005 };

function snapshot(n: number, extra0: boolean) {
  const texts = Array.from({ length: n }, (_, i) => ({
    file: `${serviceName(i).name}.yaml`,
    text: renderService(i, { extraEndpoint: i === 0 ? extra0 : false, weights: [95, 5] }, PORTS),
  }));
  texts.push({ file: 'probe.yaml', text: renderProbe() });
  return snapshotFromTexts(texts);
}

describe('bench:scale mesh', () => {
  it('validates clean (3 resources per service + the probe) and routes as instrumented', () => {
    const snap = snapshot(120, true);
    expect(snap.diagnostics.filter((d) => d.level !== 'info')).toEqual([]);
    expect(snap.resourceCount).toBe(120 * 3 + 2);
    // Unique endpoint addresses across services.
    const keys = new Set<string>();
    for (const svc of snap.registry.services)
      for (const e of svc.endpoints) keys.add(`${e.address}:${e.ports.get(80)}`);
    expect(keys.size).toBe(120 * 4 + 1);
    const table = compileRouteTable(snap, { gateway: null, namespace: 'default' });
    const rng = () => 0.5;
    const svc0 = serviceName(0).host;
    const ep = decide(table, createFacts({ authority: svc0, path: '/', headers: { [PROBE_HEADER]: 'endpoint' } }), {
      rng,
    });
    expect(ep.action === 'route' && ep.cluster.name).toBe(`outbound|80|v3|${svc0}`);
    expect(ep.action === 'route' && ep.cluster.endpoints.map((e) => e.key)).toEqual(['127.0.0.1:41005']);
    const split = decide(table, createFacts({ authority: svc0, path: '/' }), { rng });
    expect(split.action === 'route' && split.route.name).toBe('split');
    expect(decide(table, createFacts({ authority: PROBE_HOST, path: '/' }), { rng }).action).toBe('directResponse');
  });

  it('without its v3 endpoint, service 0 routes to an empty subset (503 UH) and analysis reports IST0173', () => {
    const snap = snapshot(3, false);
    expect(snap.diagnostics.map((d) => d.code)).toEqual(['IST0173']);
    const table = compileRouteTable(snap, { gateway: null, namespace: 'default' });
    const svc0 = serviceName(0).host;
    const d = decide(table, createFacts({ authority: svc0, path: '/', headers: { [PROBE_HEADER]: 'endpoint' } }), {
      rng: () => 0.5,
    });
    expect(d.action === 'route' && d.cluster.endpoints).toEqual([]);
  });
});

describe('bench:scale figures', () => {
  it('log-log slope: 1 for linear, 2 for quadratic, null for fewer than 2 points', () => {
    expect(
      logLogSlope([
        [100, 3],
        [1000, 30],
        [5000, 150],
      ]),
    ).toBeCloseTo(1, 10);
    expect(
      logLogSlope([
        [100, 1],
        [1000, 100],
      ]),
    ).toBeCloseTo(2, 10);
    expect(logLogSlope([[100, 1]])).toBeNull();
  });

  it('event-loop delay between scrapes: the highest bucket bound whose own count grew, ms', () => {
    const m = (counts: number[]): WeirMetrics => ({
      configVersion: 1,
      reloadsOk: 0,
      reloadsFailed: 0,
      eventLoopDelayMaxS: 0,
      scrapeMs: 0,
      eventLoopDelayBuckets: [0.01, 0.1, 1, Number.POSITIVE_INFINITY].map((le, i) => ({ le, count: counts[i]! })),
    });
    // Cumulative counts: one new observation in (0.1, 1], more in the first bucket.
    expect(eventLoopDelayBetween(m([10, 12, 12, 12]), m([15, 17, 18, 18]))).toBe(1000);
    expect(eventLoopDelayBetween(m([10, 12, 12, 12]), m([11, 13, 13, 13]))).toBe(10);
    expect(eventLoopDelayBetween(m([10, 12, 12, 12]), m([10, 12, 12, 12]))).toBe(0);
    expect(eventLoopDelayBetween({ ...m([1, 1, 1, 1]), eventLoopDelayBuckets: null }, m([1, 1, 1, 1]))).toBeNull();
  });
});
