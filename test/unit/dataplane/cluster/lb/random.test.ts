import { describe, expect, it } from 'vitest';
import { RandomLoadBalancer } from '../../../../../src/dataplane/cluster/lb/random.ts';
import { fiveSigma, localEndpoints, scriptedRng, seededRng } from './support.ts';

describe('RandomLoadBalancer', () => {
  it('is uniform and ignores weights, as Envoy (hosts[random % n]); 5σ binomial bound', () => {
    const lb = new RandomLoadBalancer(localEndpoints([1, 2, 3, 4], [1, 1, 10, 100]));
    const rng = seededRng(31337);
    const n = 40000;
    const hits = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) hits[lb.pick({ hash: null, rng })]!++;
    for (const h of hits) expect(Math.abs(h / n - 0.25)).toBeLessThanOrEqual(fiveSigma(0.25, n));
  });

  it('maps rng values to indexes; each rejected attempt draws again', () => {
    const lb = new RandomLoadBalancer(localEndpoints([1, 2, 3]));
    expect(lb.pick({ hash: null, rng: scriptedRng([0]) })).toBe(0);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.999999]) })).toBe(2);
    const ctx = {
      hash: null,
      rng: scriptedRng([0.1, 0.5]),
      hostSelectionRetryCount: 3,
      exclude: (i: number) => i === 0,
    };
    expect(lb.pick(ctx)).toBe(1);
    expect(new RandomLoadBalancer([]).pick({ hash: null, rng: scriptedRng([]) })).toBe(-1);
  });
});
