import { describe, expect, it } from 'vitest';
import { snapshotFromTexts } from '../../../src/config/snapshot.ts';
import { compileRouteTable } from '../../../src/routing/compile.ts';
import { decide } from '../../../src/routing/decide.ts';
import { createFacts } from '../../../src/routing/facts.ts';
import { seed, seededRng } from '../../helpers/config.ts';

const HOST = 'checkout-service.prod.svc.cluster.local';

function tableFor(...prefixes: string[]) {
  const s = snapshotFromTexts(seed(...prefixes));
  expect(s.diagnostics.filter((d) => d.level === 'error')).toEqual([]);
  return compileRouteTable(s, { gateway: null, namespace: 'prod' });
}

describe('the article configurations', () => {
  it('composite: x-canary-user: true → v2', () => {
    const t = tableFor('00', '01', '02');
    const d = decide(t, createFacts({ authority: HOST, headers: { 'x-canary-user': 'true' } }), { rng: () => 0.99 });
    expect(d.action).toBe('route');
    if (d.action !== 'route') return;
    expect(d.route.name).toBe('internal-canary-route');
    expect(d.cluster.name).toBe(`outbound|80|v2|${HOST}`);
    expect(d.cluster.endpoints.map((e) => e.key)).toEqual(['127.0.0.1:18082']);
  });

  it('composite: no header → 95/5 split within a 5-sigma binomial bound', () => {
    const t = tableFor('00', '01', '02');
    const rng = seededRng(42);
    const n = 20_000;
    let v2 = 0;
    for (let i = 0; i < n; i++) {
      const d = decide(t, createFacts({ authority: HOST }), { rng });
      if (d.action === 'route' && d.cluster.subset === 'v2') v2++;
    }
    const p = 0.05;
    const sigma = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(v2 - n * p)).toBeLessThan(5 * sigma);
  });

  it('source labels: app=qa-tools → v2, others → v1', () => {
    const t = tableFor('00', '01', '03');
    const qa = decide(t, createFacts({ authority: HOST, source: { labels: { app: 'qa-tools' } } }), {
      rng: Math.random,
    });
    const other = decide(t, createFacts({ authority: HOST, source: { labels: { app: 'web' } } }), { rng: Math.random });
    expect(qa.action === 'route' && qa.cluster.subset).toBe('v2');
    expect(other.action === 'route' && other.cluster.subset).toBe('v1');
  });

  it('mirroring: all to v1, 10% mirror to v2', () => {
    const t = tableFor('00', '01', '04');
    const d = decide(t, createFacts({ authority: HOST }), { rng: Math.random });
    expect(d.action === 'route' && d.cluster.subset).toBe('v1');
    if (d.action !== 'route') return;
    expect(d.route.mirrors).toEqual([{ host: HOST, subset: 'v2', port: null, percent: 10 }]);
  });

  it('per-group: beta testers → v2 with 2s timeout and 1 attempt', () => {
    const t = tableFor('00', '01', '08');
    const d = decide(t, createFacts({ authority: HOST, headers: { 'user-group': 'beta-testers' } }), {
      rng: Math.random,
    });
    expect(d.action).toBe('route');
    if (d.action !== 'route') return;
    expect(d.cluster.subset).toBe('v2');
    expect(d.route.timeoutMs).toBe(2000);
    expect(d.route.retries?.attempts).toBe(1);
    expect(d.route.retries?.perTryTimeoutMs).toBe(1000);
    const other = decide(t, createFacts({ authority: HOST }), { rng: Math.random });
    expect(other.action === 'route' && other.route.timeoutMs).toBe(10_000);
    expect(other.action === 'route' && other.route.retries?.attempts).toBe(3);
  });

  it('short-name alias and port in Host select the same virtual host', () => {
    const t = tableFor('00', '01', '02');
    for (const authority of [
      'checkout-service',
      'checkout-service.prod',
      'checkout-service.prod.svc',
      `${HOST}:80`,
      'CHECKOUT-SERVICE.prod.svc.cluster.local',
    ]) {
      const d = decide(t, createFacts({ authority, headers: { 'x-canary-user': 'true' } }), { rng: Math.random });
      expect(d.action === 'route' && d.cluster.subset, authority).toBe('v2');
    }
  });

  it('unknown host → 404 NR', () => {
    const t = tableFor('00', '01', '02');
    const d = decide(t, createFacts({ authority: 'nope.example.com' }), { rng: Math.random });
    expect(d).toMatchObject({ action: 'notFound', status: 404, responseFlags: 'NR' });
  });
});
