import { describe, expect, it } from 'vitest';
import { LeastRequestLoadBalancer } from '../../../../../src/dataplane/cluster/lb/least-request.ts';
import { fiveSigma, localEndpoints, scriptedRng, seededRng } from './support.ts';

describe('LeastRequestLoadBalancer — equal weights (P2C)', () => {
  const active = [5, 0, 9];
  const activeRequests = (i: number) => active[i]!;
  const lb = new LeastRequestLoadBalancer(localEndpoints([1, 2, 3]));
  // rng value v selects floor(v·3): [0,1/3) → 0, [1/3,2/3) → 1, [2/3,1) → 2.

  it('keeps the less loaded of two random draws; ties keep the first draw', () => {
    expect(lb.pick({ hash: null, rng: scriptedRng([0.1, 0.5]), activeRequests })).toBe(1);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.5, 0.1]), activeRequests })).toBe(1);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.9, 0.1]), activeRequests })).toBe(0);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.9, 0.95]), activeRequests })).toBe(2);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.9, 0.1]), activeRequests: () => 3 })).toBe(2);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.4, 0.9]) })).toBe(1); // no load info → first draw
  });

  it('prefers the least-loaded host with probability 1 − (2/3)² = 5/9, the busiest with (1/3)² = 1/9', () => {
    const rng = seededRng(2024);
    const n = 30000;
    const hits = [0, 0, 0];
    for (let i = 0; i < n; i++) hits[lb.pick({ hash: null, rng, activeRequests })]!++;
    const expected = [3 / 9, 5 / 9, 1 / 9]; // host 0: drawn once with host 2, or twice: 2·(1/3)(1/3) + 1/9
    for (let i = 0; i < 3; i++) {
      expect(Math.abs(hits[i]! / n - expected[i]!)).toBeLessThanOrEqual(fiveSigma(expected[i]!, n));
    }
  });

  it('choiceCount draws and host-selection retries each redraw; all rejected → the last pick', () => {
    const lb3 = new LeastRequestLoadBalancer(localEndpoints([1, 2, 3]), { choiceCount: 3 });
    expect(lb3.pick({ hash: null, rng: scriptedRng([0.9, 0.1, 0.5]), activeRequests })).toBe(1);
    const rng = scriptedRng([0.1, 0.1, 0.9, 0.9]);
    expect(lb.pick({ hash: null, rng, activeRequests, hostSelectionRetryCount: 1, exclude: (i) => i === 0 })).toBe(2);
    expect(
      lb.pick({ hash: null, rng: scriptedRng([0.1, 0.1, 0.5, 0.5]), hostSelectionRetryCount: 1, exclude: () => true }),
    ).toBe(1);
    expect(() => new LeastRequestLoadBalancer(localEndpoints([1]), { choiceCount: 1 })).toThrow(RangeError);
    expect(new LeastRequestLoadBalancer([]).pick({ hash: null, rng: scriptedRng([]) })).toBe(-1);
  });
});

describe('LeastRequestLoadBalancer — unequal weights (EDF of weight / (active + 1))', () => {
  it('with no load it is weighted round robin and never reads the RNG', () => {
    const lb = new LeastRequestLoadBalancer(localEndpoints([1, 2, 3], [1, 2, 3]));
    const seq = Array.from({ length: 6 }, () => lb.pick({ hash: null, rng: scriptedRng([]) }));
    expect(seq).toEqual([2, 1, 2, 0, 1, 2]);
  });

  it('a busy host is re-queued later in proportion to (active + 1)', () => {
    const active = [0, 0];
    const lb = new LeastRequestLoadBalancer(localEndpoints([1, 2], [1, 2]));
    const ctx = { hash: null, rng: scriptedRng([]), activeRequests: (i: number) => active[i]! };
    const counts = [0, 0];
    // Host 1 (weight 2) carries 3 in-flight requests: effective weight 2/4 = 0.5 < host 0's 1/1.
    active[1] = 3;
    const seq: number[] = [];
    for (let k = 0; k < 300; k++) {
      const i = lb.pick(ctx);
      seq.push(i);
      counts[i]!++;
    }
    // EDF is deterministic: once host 1 is re-queued at weight 0.5, the schedule repeats 1, 0, 0 (picks ∝ 1 : 0.5).
    expect(seq.slice(0, 9)).toEqual([1, 0, 0, 1, 0, 0, 1, 0, 0]);
    expect(counts).toEqual([200, 100]);
  });

  it('active_request_bias 0 ignores load; other biases use (active + 1)^bias', () => {
    const lb0 = new LeastRequestLoadBalancer(localEndpoints([1, 2], [1, 2]), { activeRequestBias: 0 });
    const busy = { hash: null, rng: scriptedRng([]), activeRequests: (i: number) => (i === 1 ? 100 : 0) };
    const counts = [0, 0];
    for (let k = 0; k < 300; k++) counts[lb0.pick(busy)]!++;
    expect(counts).toEqual([100, 200]);
    const lb2 = new LeastRequestLoadBalancer(localEndpoints([1, 2], [1, 2]), { activeRequestBias: 2 });
    const c2 = [0, 0];
    const load = { hash: null, rng: scriptedRng([]), activeRequests: (i: number) => (i === 1 ? 1 : 0) };
    for (let k = 0; k < 300; k++) c2[lb2.pick(load)]!++;
    // Host 1: 2 / 2² = 0.5 vs host 0: 1 → exactly 2:1 over whole periods of the deterministic schedule.
    expect(c2).toEqual([200, 100]);
  });
});
