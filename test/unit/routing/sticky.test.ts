/**
 * The opt-in sticky split (weighted rendezvous hashing, `weir.dev/sticky-split: "true"`): property tests with
 * fast-check (fixed seeds) for monotonicity when the canary weight rises and for shares within a binomial bound.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { destinationSeed, pickSticky } from '../../../src/routing/sticky.ts';
import type { CompiledDestination } from '../../../src/routing/types.ts';
import { decideOne, outcome, service, snapshot, subsets, tableOf, to, vs } from './fixtures.ts';

const H = 's.test';

function dests(weights: number[]): CompiledDestination[] {
  return weights.map((weight, i) => ({
    host: H,
    subset: `v${i + 1}`,
    port: null,
    weight,
    requestHeaders: [],
    responseHeaders: [],
    authority: null,
  }));
}

const pick = (key: string, weights: number[]) => {
  const d = dests(weights);
  return pickSticky(key, d, d.map(destinationSeed));
};

describe('sticky split (weighted rendezvous hashing)', () => {
  it('(a) monotone: raising the canary weight only moves users v1 → v2', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 98 }), (key, w) => {
        const before = pick(key, [100 - w, w]);
        const after = pick(key, [100 - w - 1, w + 1]);
        // A user on the canary stays there; a user on v1 either stays or moves to the canary.
        if (before === 1) expect(after).toBe(1);
      }),
      { seed: 20240601, numRuns: 3000 },
    );
    // The article's step 5 → 10: count movers in both directions over many keys.
    let toV2 = 0;
    let toV1 = 0;
    for (let i = 0; i < 20_000; i++) {
      const a = pick(`user-${i}`, [95, 5]);
      const b = pick(`user-${i}`, [90, 10]);
      if (a === 0 && b === 1) toV2++;
      if (a === 1 && b === 0) toV1++;
    }
    expect(toV1).toBe(0);
    expect(toV2).toBeGreaterThan(0);
  });

  it('(b) shares match weights within a binomial 5-sigma bound', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 4 }), fc.nat(), (ws, salt) => {
        const n = 4000;
        const total = ws.reduce((a, b) => a + b, 0);
        const counts = ws.map(() => 0);
        for (let i = 0; i < n; i++) counts[pick(`k${salt}-${i}`, ws)]!++;
        ws.forEach((w, i) => {
          const p = w / total;
          const sigma = Math.sqrt(n * p * (1 - p));
          expect(Math.abs(counts[i]! - n * p)).toBeLessThanOrEqual(5 * sigma + 1e-9);
        });
      }),
      { seed: 7, numRuns: 40 },
    );
  });

  it('the same key always gets the same destination, and reordering destinations does not move it', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        const d = dests([70, 30]);
        const a = d[pickSticky(key, d, d.map(destinationSeed))]!.subset;
        const r = [d[1]!, d[0]!];
        const b = r[pickSticky(key, r, r.map(destinationSeed))]!.subset;
        expect(b).toBe(a);
      }),
      { seed: 3, numRuns: 1000 },
    );
  });

  it('end to end: with the annotation and a header hash key, a user stays on one subset whatever the rng', () => {
    const s = snapshot(
      service(H),
      subsets(H, { trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } }),
      vs(
        'v',
        { hosts: [H], http: [{ route: [to(H, 'v1', 50), to(H, 'v2', 50)] }] },
        { annotations: { 'weir.dev/sticky-split': 'true' } },
      ),
    );
    const t = tableOf(s);
    for (let u = 0; u < 50; u++) {
      const seen = new Set(
        [0, 0.3, 0.6, 0.99].map((r) => outcome(decideOne(t, { authority: H, headers: { 'x-user': `u${u}` } }, r))),
      );
      expect(seen.size).toBe(1);
    }
    // Without a key the pick is random per request, as Envoy's.
    expect(outcome(decideOne(t, { authority: H }, 0.1))).toBe('v1');
    expect(outcome(decideOne(t, { authority: H }, 0.9))).toBe('v2');
  });
});
