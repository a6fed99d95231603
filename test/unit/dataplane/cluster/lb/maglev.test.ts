import { beforeAll, describe, expect, it } from 'vitest';
import { isPrime, MaglevLoadBalancer } from '../../../../../src/dataplane/cluster/lb/maglev.ts';
import type { PickContext } from '../../../../../src/dataplane/cluster/lb/types.ts';
import { initHashing } from '../../../../../src/dataplane/cluster/lb/xxhash.ts';
import { fiveSigma, keyedEndpoints, localEndpoints, scriptedRng, seededRng } from './support.ts';

beforeAll(async () => {
  await initHashing();
});

const ctx = (hash: bigint | null, extra: Partial<PickContext> = {}): PickContext => ({
  hash,
  rng: scriptedRng([]),
  ...extra,
});
const ports90to95 = [90, 91, 92, 93, 94, 95];

function expectAssignments(lb: MaglevLoadBalancer, expected: readonly number[]): void {
  for (let i = 0; i < 3 * expected.length; i++) {
    expect(lb.pick(ctx(BigInt(i)))).toBe(expected[i % expected.length]);
  }
}

describe('MaglevLoadBalancer — golden vectors from Envoy maglev_lb_test.cc', () => {
  it('Basic: 6 hosts, table 7', () => {
    const lb = new MaglevLoadBalancer(localEndpoints(ports90to95), { tableSize: 7 });
    expect([lb.minEntriesPerHost, lb.maxEntriesPerHost]).toEqual([1, 2]);
    expectAssignments(lb, [2, 4, 0, 1, 5, 0, 3]);
  });

  it('BasicStability: the table does not depend on endpoint order (hosts are sorted by key)', () => {
    const eps = localEndpoints(ports90to95);
    const shuffled = [eps[3]!, eps[0]!, eps[5]!, eps[1]!, eps[4]!, eps[2]!];
    const lb = new MaglevLoadBalancer(shuffled, { tableSize: 7 });
    const expectedPorts = [2, 4, 0, 1, 5, 0, 3].map((i) => ports90to95[i]);
    for (let i = 0; i < 21; i++) expect(shuffled[lb.pick(ctx(BigInt(i)))]!.port).toBe(expectedPorts[i % 7]);
  });

  it('BasicWithHostName: keys "90".."95", table 7', () => {
    const lb = new MaglevLoadBalancer(keyedEndpoints(['90', '91', '92', '93', '94', '95']), { tableSize: 7 });
    expectAssignments(lb, [2, 5, 0, 3, 4, 1, 0]);
  });

  it('BasicWithRetryHostPredicate: retry attempts XOR the hash', () => {
    const lb = new MaglevLoadBalancer(localEndpoints(ports90to95), { tableSize: 7 });
    expect(lb.pick(ctx(10n))).toBe(1);
    expect(lb.pick(ctx(10n, { hostSelectionRetryCount: 2, exclude: () => false }))).toBe(1);
    expect(lb.pick(ctx(10n, { hostSelectionRetryCount: 2, exclude: (i) => i === 1 }))).toBe(0);
    expect(lb.pick(ctx(10n, { hostSelectionRetryCount: 2, exclude: () => true }))).toBe(5);
  });

  it('Weighted: weights 1,2, table 17', () => {
    const lb = new MaglevLoadBalancer(localEndpoints([90, 91], [1, 2]), { tableSize: 17 });
    expect([lb.minEntriesPerHost, lb.maxEntriesPerHost]).toEqual([6, 11]);
    expectAssignments(lb, [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]);
  });

  it('LocalityWeightedSameLocalityWeights ≡ two equally weighted hosts, table 17', () => {
    // Normalised weights 0.5 / 0.5, as Envoy derives them from locality weights {1, 1}.
    const lb = new MaglevLoadBalancer(localEndpoints([90, 91]), { tableSize: 17 });
    expect([lb.minEntriesPerHost, lb.maxEntriesPerHost]).toEqual([8, 9]);
    expectAssignments(lb, [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);
  });

  it('LocalityWeightedDifferentLocalityWeights ≡ weights 4:1 (normalised 0.8 / 0.2), table 17', () => {
    const lb = new MaglevLoadBalancer(localEndpoints([90, 91], [4, 1]), { tableSize: 17 });
    expect([lb.minEntriesPerHost, lb.maxEntriesPerHost]).toEqual([4, 13]);
    expectAssignments(lb, [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('LocalityWeightedLopsided: 1 heavy host and 1023 light ones in the default 65537 table', () => {
    // Normalised weights 127/128 and (1/128)/1023 — bit-identical to integer weights 127·1023 and 1.
    const weights = Array.from({ length: 1024 }, (_, i) => (i === 0 ? 127 * 1023 : 1));
    const lb = new MaglevLoadBalancer(
      localEndpoints(
        Array.from({ length: 1024 }, (_, i) => i),
        weights,
      ),
    );
    expect(lb.tableSize).toBe(65537);
    expect([lb.minEntriesPerHost, lb.maxEntriesPerHost]).toEqual([1, 65537 - 1023]);
    const counts = new Array<number>(1024).fill(0);
    for (const slot of lb.slots()) counts[slot]!++;
    expect(counts[0]).toBe(65537 - 1023);
    expect(counts.slice(1).every((c) => c === 1)).toBe(true);
  });

  it('SingleHost / WeightedSingleHost: every hash maps to it; 1 entry per host (degenerate table)', () => {
    const lb = new MaglevLoadBalancer(localEndpoints([90], [7]), { tableSize: 17 });
    expect([lb.minEntriesPerHost, lb.maxEntriesPerHost]).toEqual([1, 1]);
    for (let i = 0; i < 17; i++) expect(lb.pick(ctx(BigInt(i)))).toBe(0);
  });

  it('NoPrimeNumber: rejects a table size that is not prime', () => {
    expect(() => new MaglevLoadBalancer(localEndpoints([90]), { tableSize: 8 })).toThrow(/prime/);
    expect(() => new MaglevLoadBalancer(localEndpoints([90]), { tableSize: 5000011 })).toThrow(RangeError);
    expect(new MaglevLoadBalancer([]).pick(ctx(1n))).toBe(-1);
  });
});

describe('MaglevLoadBalancer — table fill', () => {
  it('default table: entries follow the weights to within the rounds’ granularity', () => {
    const weights = [1, 2, 3, 10];
    const lb = new MaglevLoadBalancer(localEndpoints([1, 2, 3, 4], weights));
    const m = lb.tableSize;
    const counts = [0, 0, 0, 0];
    for (const slot of lb.slots()) counts[slot]!++;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(m);
    const total = weights.reduce((a, b) => a + b, 0);
    // A host of weight w takes ⌊I·w/w_max⌋+1 turns in I rounds, plus at most one in the last partial round.
    for (let i = 0; i < 4; i++) expect(Math.abs(counts[i]! - (m * weights[i]!) / total)).toBeLessThanOrEqual(2);
  });

  it('lookups are table[h mod M] for full 64-bit hashes', () => {
    const lb = new MaglevLoadBalancer(localEndpoints([90, 91, 92]), { tableSize: 65537 });
    const slots = lb.slots();
    const rng = seededRng(7);
    for (let i = 0; i < 200; i++) {
      const h = (BigInt(Math.floor(rng() * 2 ** 32)) << 32n) | BigInt(Math.floor(rng() * 2 ** 32));
      expect(lb.lookup(h)).toBe(slots[Number(h % 65537n)]);
    }
    expect(lb.lookup((1n << 64n) - 1n)).toBe(slots[Number(((1n << 64n) - 1n) % 65537n)]);
  });

  it('without a hash, picks follow the table shares (random 64-bit draw)', () => {
    const lb = new MaglevLoadBalancer(localEndpoints([1, 2, 3], [1, 1, 2]));
    const slots = lb.slots();
    const share = [0, 0, 0];
    for (const s of slots) share[s]! += 1 / slots.length;
    const rng = seededRng(99);
    const n = 20000;
    const hits = [0, 0, 0];
    for (let i = 0; i < n; i++) hits[lb.pick({ hash: null, rng })]!++;
    for (let i = 0; i < 3; i++) expect(Math.abs(hits[i]! / n - share[i]!)).toBeLessThanOrEqual(fiveSigma(share[i]!, n));
  });

  it('isPrime', () => {
    expect([2, 3, 7, 17, 65537, 5000011].every(isPrime)).toBe(true);
    expect([0, 1, 4, 8, 65535, 65539 * 3].some(isPrime)).toBe(false);
  });
});
