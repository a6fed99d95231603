import { describe, expect, it } from 'vitest';
import { EdfScheduler } from '../../../../../src/dataplane/cluster/lb/edf-scheduler.ts';
import { RoundRobinLoadBalancer } from '../../../../../src/dataplane/cluster/lb/round-robin.ts';
import type { PickContext } from '../../../../../src/dataplane/cluster/lb/types.ts';
import { localEndpoints, scriptedRng } from './support.ts';

const ctx: PickContext = { hash: null, rng: scriptedRng([]) };
const picks = (lb: RoundRobinLoadBalancer, n: number) => Array.from({ length: n }, () => lb.pick(ctx));

describe('RoundRobinLoadBalancer', () => {
  it('equal weights: plain rotation starting at seed mod n, never reading the RNG', () => {
    expect(picks(new RoundRobinLoadBalancer(localEndpoints([1, 2, 3])), 7)).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(picks(new RoundRobinLoadBalancer(localEndpoints([1, 2, 3]), { seed: 5 }), 4)).toEqual([2, 0, 1, 2]);
    expect(picks(new RoundRobinLoadBalancer(localEndpoints([1, 2, 3], [4, 4, 4]), { seed: 1 }), 3)).toEqual([1, 2, 0]);
  });

  it('weights 1,2,3 from an empty EDF schedule: 2,1,2,0,1,2 then exact 1:2:3 per cycle', () => {
    const lb = new RoundRobinLoadBalancer(localEndpoints([1, 2, 3], [1, 2, 3]));
    expect(picks(lb, 6)).toEqual([2, 1, 2, 0, 1, 2]);
    const counts = [0, 0, 0];
    for (const i of picks(lb, 600)) counts[i]!++;
    expect(counts).toEqual([100, 200, 300]);
  });

  it('a seeded schedule continues the rotation as if `seed` picks had been made (Envoy createWithPicks)', () => {
    // Envoy documents that hosts whose deadlines coincide may come out in a different order than after real picks
    // (their insertion order differs); so compare running counts, which may differ by at most one per host.
    const eps = localEndpoints([1, 2, 3, 4], [1, 2, 3, 5]);
    const reference = picks(new RoundRobinLoadBalancer(eps), 400);
    expect(picks(new RoundRobinLoadBalancer(eps, { seed: 1 }), 399)).toEqual(reference.slice(1));
    for (const seed of [7, 23, 100, 257]) {
      const seeded = picks(new RoundRobinLoadBalancer(eps, { seed }), 400 - seed);
      const expected = reference.slice(seed);
      const a = [0, 0, 0, 0];
      const b = [0, 0, 0, 0];
      for (let k = 0; k < seeded.length; k++) {
        a[seeded[k]!]!++;
        b[expected[k]!]!++;
        for (let h = 0; h < 4; h++) expect(Math.abs(a[h]! - b[h]!)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('each rejected attempt advances the rotation; all rejected → the last pick', () => {
    const lb = new RoundRobinLoadBalancer(localEndpoints([1, 2, 3]));
    expect(lb.pick({ ...ctx, hostSelectionRetryCount: 5, exclude: (i) => i !== 2 })).toBe(2);
    expect(lb.pick(ctx)).toBe(0);
    expect(lb.pick({ ...ctx, hostSelectionRetryCount: 1, exclude: () => true })).toBe(2);
    expect(lb.pick({ ...ctx, exclude: () => true })).toBe(0); // no retries: first pick is returned
  });

  it('empty → -1; rejects a bad seed or weight', () => {
    expect(new RoundRobinLoadBalancer([]).pick(ctx)).toBe(-1);
    expect(() => new RoundRobinLoadBalancer(localEndpoints([1]), { seed: -1 })).toThrow(RangeError);
    expect(() => new RoundRobinLoadBalancer(localEndpoints([1], [0]))).toThrow(RangeError);
    expect(() => new RoundRobinLoadBalancer(localEndpoints([1], [1.5]))).toThrow(RangeError);
  });
});

describe('EdfScheduler', () => {
  it('breaks deadline ties by insertion order (FIFO)', () => {
    const s = EdfScheduler.createWithPicks(3, () => 1, 0);
    const w = () => 1;
    expect([s.pickAndAdd(w), s.pickAndAdd(w), s.pickAndAdd(w), s.pickAndAdd(w)]).toEqual([0, 1, 2, 0]);
  });

  it('reads weights at re-insertion time', () => {
    const weights = [1, 1];
    const s = EdfScheduler.createWithPicks(2, (i) => weights[i]!, 0);
    const w = (i: number) => weights[i]!;
    expect(s.pickAndAdd(w)).toBe(0); // re-queued at 1 + 1/1
    weights[1] = 100;
    expect(s.pickAndAdd(w)).toBe(1); // re-queued at 1 + 1/100
    expect(s.pickAndAdd(w)).toBe(1);
  });

  it('caps the emulated picks at 429496729 and handles no entries', () => {
    expect(EdfScheduler.createWithPicks(0, () => 1, 5).pickAndAdd(() => 1)).toBe(-1);
    const a = EdfScheduler.createWithPicks(2, (i) => i + 1, 3);
    const b = EdfScheduler.createWithPicks(2, (i) => i + 1, 429496729 + 3);
    const w = (i: number) => i + 1;
    for (let k = 0; k < 10; k++) expect(a.pickAndAdd(w)).toBe(b.pickAndAdd(w));
  });
});
