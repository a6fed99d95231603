import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { RingHashLoadBalancer } from '../../../../../src/dataplane/cluster/lb/ring-hash.ts';
import type { PickContext } from '../../../../../src/dataplane/cluster/lb/types.ts';
import { initHashing } from '../../../../../src/dataplane/cluster/lb/xxhash.ts';
import { fiveSigma, keyedEndpoints, localEndpoints, scriptedRng, seededRng } from './support.ts';

beforeAll(async () => {
  await initHashing();
});

const U64_MAX = (1n << 64n) - 1n;
const ports90to95 = [90, 91, 92, 93, 94, 95];
const noRng = scriptedRng([]);
const ctx = (hash: bigint | null, extra: Partial<PickContext> = {}): PickContext => ({ hash, rng: noRng, ...extra });

describe('RingHashLoadBalancer — golden vectors from Envoy ring_hash_lb_test.cc', () => {
  it('Basic: 6 hosts, minimum_ring_size 12 → the exact published ring and lookups', () => {
    const lb = new RingHashLoadBalancer(localEndpoints(ports90to95), { minimumRingSize: 12 });
    expect(lb.ringSize).toBe(12);
    expect(lb.minHashesPerHost).toBe(2);
    expect(lb.maxHashesPerHost).toBe(2);
    const portOf = (i: number) => ports90to95[i];
    expect(lb.entries().map((e) => [e.hash, portOf(e.endpoint)])).toEqual([
      [833437586790550860n, 94],
      [928266305478181108n, 92],
      [1033482794131418490n, 90],
      [3551244743356806947n, 95],
      [3851675632748031481n, 93],
      [5583722120771150861n, 91],
      [6311230543546372928n, 91],
      [7700377290971790572n, 93],
      [13144177310400110813n, 95],
      [13444792449719432967n, 92],
      [15516499411664133160n, 94],
      [16117243373044804889n, 90],
    ]);
    expect(lb.pick(ctx(0n))).toBe(4);
    expect(lb.pick(ctx(U64_MAX))).toBe(4); // wraps past the last entry
    expect(lb.pick(ctx(3551244743356806947n))).toBe(5); // equal → that entry
    expect(lb.pick(ctx(3551244743356806948n))).toBe(3); // one above → next entry
    expect(lb.lookup(16117243373044804880n)).toBe(0); // Envoy's random() = 16117243373044804880 case
  });

  it('BasicWithHostname: keys "90".."95" → the published ring and lookups', () => {
    const lb = new RingHashLoadBalancer(keyedEndpoints(['90', '91', '92', '93', '94', '95']), { minimumRingSize: 12 });
    expect(lb.entries().map((e) => e.hash)).toEqual([
      1975508444536362413n,
      2376063919839173711n,
      2386806903309390596n,
      6749904478991551885n,
      6803900775736438537n,
      7225015537174310577n,
      8787465352164086522n,
      11282020843382717940n,
      13723418369486627818n,
      13776502110861797421n,
      14338313586354474791n,
      15364271037087512980n,
    ]);
    expect(lb.pick(ctx(0n))).toBe(5);
    expect(lb.pick(ctx(U64_MAX))).toBe(5);
    expect(lb.pick(ctx(7225015537174310577n))).toBe(2);
    expect(lb.pick(ctx(6803900775736438537n))).toBe(3);
  });

  it('BasicWithRetryHostPredicate: retries walk the ring and exhausted retries return the last host', () => {
    const lb = new RingHashLoadBalancer(localEndpoints(ports90to95), { minimumRingSize: 12 });
    expect(lb.pick(ctx(0n, { hostSelectionRetryCount: 2, exclude: () => false }))).toBe(4);
    expect(lb.pick(ctx(0n, { hostSelectionRetryCount: 2, exclude: (i) => i === 4 }))).toBe(2);
    expect(lb.pick(ctx(0n, { hostSelectionRetryCount: 2, exclude: () => true }))).toBe(0);
    expect(lb.pick(ctx(0n, { hostSelectionRetryCount: 13, exclude: () => true }))).toBe(2);
  });

  it('UnevenHosts: 2 hosts, minimum_ring_size 3 → 2 hashes each, ring of 4', () => {
    const lb = new RingHashLoadBalancer(localEndpoints([80, 81]), { minimumRingSize: 3 });
    expect(lb.ringSize).toBe(4);
    expect([lb.minHashesPerHost, lb.maxHashesPerHost]).toEqual([2, 2]);
    expect(lb.entries().map((e) => [e.hash, e.endpoint])).toEqual([
      [5454692015285649509n, 0],
      [7859399908942313493n, 1],
      [13838424394637650569n, 0],
      [16064866803292627174n, 1],
    ]);
    expect(lb.pick(ctx(0n))).toBe(0);
    const lb2 = new RingHashLoadBalancer(localEndpoints([81, 82]), { minimumRingSize: 3 });
    expect(lb2.entries().map((e) => [e.hash, e.endpoint])).toEqual([
      [7859399908942313493n, 0],
      [8241336090459785962n, 1],
      [12882406409176325258n, 1],
      [16064866803292627174n, 0],
    ]);
    expect(lb2.pick(ctx(0n))).toBe(0);
  });

  it('HostWeightedTinyRing: weights 1,2,3 and ring size exactly 6', () => {
    const lb = new RingHashLoadBalancer(localEndpoints([90, 91, 92], [1, 2, 3]), {
      minimumRingSize: 6,
      maximumRingSize: 6,
    });
    expect(lb.ringSize).toBe(6);
    expect([lb.minHashesPerHost, lb.maxHashesPerHost]).toEqual([1, 3]);
    const expected: Array<[bigint, number]> = [
      [928266305478181108n, 2],
      [4443673547860492590n, 2],
      [5583722120771150861n, 1],
      [6311230543546372928n, 1],
      [13444792449719432967n, 2],
      [16117243373044804889n, 0],
    ];
    for (const [h, host] of expected) expect(lb.pick(ctx(h))).toBe(host);
  });

  it('rejects minimum_ring_size > maximum_ring_size with Envoy’s message', () => {
    expect(() => new RingHashLoadBalancer(localEndpoints([1]), { minimumRingSize: 20, maximumRingSize: 10 })).toThrow(
      'ring hash: minimum_ring_size (20) > maximum_ring_size (10)',
    );
    expect(() => new RingHashLoadBalancer(localEndpoints([1]), { maximumRingSize: 8388609 })).toThrow(RangeError);
  });
});

describe('RingHashLoadBalancer — ring construction', () => {
  const counts = (lb: RingHashLoadBalancer, n: number) => {
    const c = new Array<number>(n).fill(0);
    for (const e of lb.entries()) c[e.endpoint]!++;
    return c;
  };

  it('equal weights: scale = ceil(1024/N)·N (3 hosts → 342 each, 1026 entries)', () => {
    const lb = new RingHashLoadBalancer(localEndpoints([1, 2, 3]));
    expect(lb.ringSize).toBe(1026);
    expect(counts(lb, 3)).toEqual([342, 342, 342]);
    expect(lb.entryCount).toBe(1026);
  });

  it('unequal weights scale so the lightest host gets ceil(w_min·min) entries', () => {
    // weights 1:3 → w_min 0.25 → scale = ceil(256)/0.25 = 1024 → 256 + 768.
    const lb = new RingHashLoadBalancer(localEndpoints([1, 2], [1, 3]));
    expect(lb.ringSize).toBe(1024);
    expect(counts(lb, 2)).toEqual([256, 768]);
    // weights 1:2 → w_min 1/3 → ceil(341.33)=342 → scale 1026 → 342 + 684.
    const lb2 = new RingHashLoadBalancer(localEndpoints([1, 2], [1, 2]));
    expect(lb2.ringSize).toBe(1026);
    expect(counts(lb2, 2)).toEqual([342, 684]);
  });

  it('caps at maximum_ring_size with running-sum rounding', () => {
    // weights 1:99, min 10 → scale = min(ceil(0.1)/0.01, 20) = 20: host 0 target 0.2 → 1 entry, host 1 → 19.
    const lb = new RingHashLoadBalancer(localEndpoints([1, 2], [1, 99]), { minimumRingSize: 10, maximumRingSize: 20 });
    expect(lb.ringSize).toBe(20);
    expect(counts(lb, 2)).toEqual([1, 19]);
  });

  it('empty endpoint list → pick returns -1; no hash → one random 64-bit draw', () => {
    expect(new RingHashLoadBalancer([]).pick(ctx(null))).toBe(-1);
    const lb = new RingHashLoadBalancer(localEndpoints(ports90to95), { minimumRingSize: 12 });
    // rng 0 → hash 0 → entry 0 (:94); rng just below 1 → hash near 2^64 → wraps to entry 0 too.
    expect(lb.pick({ hash: null, rng: scriptedRng([0]) })).toBe(4);
    expect(lb.pick({ hash: null, rng: scriptedRng([0.9999999999]) })).toBe(4);
    // 0.5 → 2^63 = 9223372036854775808 → first entry ≥ is 13144177310400110813 (:95).
    expect(lb.pick({ hash: null, rng: scriptedRng([0.5]) })).toBe(5);
  });
});

/** Exact fraction of the 2^64 hash space whose owner differs between two rings (merge of both boundary sets). */
function movedShare(a: RingHashLoadBalancer, b: RingHashLoadBalancer, mapB: (i: number) => number): number {
  const points = [...new Set([...a.entries(), ...b.entries()].map((e) => e.hash))].sort((x, y) =>
    x < y ? -1 : x > y ? 1 : 0,
  );
  let moved = 0n;
  let prev = -1n; // segment (prev, p]
  for (const p of points) {
    if (a.lookup(p) !== mapB(b.lookup(p))) moved += p - prev;
    prev = p;
  }
  // Wrap segment (last, 2^64 - 1] maps to entry 0 in both rings.
  if (a.lookup(U64_MAX) !== mapB(b.lookup(U64_MAX))) moved += U64_MAX - prev;
  return Number(moved) / 2 ** 64;
}

describe('RingHashLoadBalancer — consistency when a host is added (property, seeded)', () => {
  it('with a constant entry count per host, only keys moving to the new host move: ~1/(N+1) of them', () => {
    // minimumRingSize = C·N with C ≤ N keeps ceil(min/N) = ceil(min/(N+1)) = C, so no old point disappears.
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 16 }), fc.integer({ min: 0, max: 0xffffffff }), (n, keySeed) => {
        // Uniform 64-bit keys (fast-check's bigInt arbitrary is biased towards small values by design).
        const rng = seededRng(keySeed);
        const keys = Array.from(
          { length: 4000 },
          () => (BigInt(Math.floor(rng() * 2 ** 32)) << 32n) | BigInt(Math.floor(rng() * 2 ** 32)),
        );
        const c = n;
        const before = localEndpoints(Array.from({ length: n }, (_, i) => 1000 + i));
        const after = localEndpoints(Array.from({ length: n + 1 }, (_, i) => 1000 + i));
        const a = new RingHashLoadBalancer(before, { minimumRingSize: c * n });
        const b = new RingHashLoadBalancer(after, { minimumRingSize: c * n });
        expect(b.minHashesPerHost).toBe(c);
        expect(b.maxHashesPerHost).toBe(c);
        let moved = 0;
        for (const k of keys) {
          const was = a.lookup(k);
          const now = b.lookup(k);
          if (was !== now) {
            moved++;
            expect(now).toBe(n); // a key only ever moves to the new host
          }
        }
        // The new host's exact share S; sampled moves are Binomial(K, S).
        const share = movedShare(a, b, (i) => i);
        expect(Math.abs(moved / keys.length - share)).toBeLessThanOrEqual(fiveSigma(share, keys.length) + 1e-9);
        // S is the sum of C of the R = C·(N+1) spacings of R uniform points: Beta(C, R − C), mean 1/(N+1).
        const r = c * (n + 1);
        const mean = c / r;
        const sd = Math.sqrt((c * (r - c)) / (r * r * (r + 1)));
        expect(Math.abs(share - mean)).toBeLessThanOrEqual(5 * sd);
      }),
      { seed: 0x5eed, numRuns: 25 },
    );
  });

  it('with the default 1024 minimum, keys move only where a ring point was added or removed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), (n) => {
        const a = new RingHashLoadBalancer(localEndpoints(Array.from({ length: n }, (_, i) => 2000 + i)));
        const b = new RingHashLoadBalancer(localEndpoints(Array.from({ length: n + 1 }, (_, i) => 2000 + i)));
        const share = movedShare(a, b, (i) => i);
        // Upper bound, computed from the rings: the arcs whose successor point exists in only one of the two rings.
        const inA = new Set(a.entries().map((e) => e.hash));
        const inB = new Set(b.entries().map((e) => e.hash));
        const union = [...new Set([...inA, ...inB])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        let changed = 0n;
        let prev = union[union.length - 1]! - (1n << 64n);
        for (const p of union) {
          if (inA.has(p) !== inB.has(p)) changed += p - prev;
          prev = p;
        }
        const bound = Number(changed) / 2 ** 64;
        expect(share).toBeLessThanOrEqual(bound + 1e-12);
        expect(share).toBeGreaterThan(0);
      }),
      { seed: 0x1024, numRuns: 11 },
    );
  });

  it('keys spread over hosts in proportion to their ring share', () => {
    const lb = new RingHashLoadBalancer(localEndpoints([1, 2, 3], [1, 2, 3]));
    const rng = seededRng(42);
    const n = 30000;
    const hits = [0, 0, 0];
    for (let i = 0; i < n; i++) hits[lb.pick({ hash: null, rng })]!++;
    // Expected shares are the exact ring arcs of each host, not the nominal weights.
    const entries = lb.entries();
    const arcs = [0n, 0n, 0n];
    let prev = entries[entries.length - 1]!.hash - (1n << 64n);
    for (const e of entries) {
      arcs[e.endpoint]! += e.hash - prev;
      prev = e.hash;
    }
    for (let i = 0; i < 3; i++) {
      const p = Number(arcs[i]!) / 2 ** 64;
      expect(Math.abs(hits[i]! / n - p)).toBeLessThanOrEqual(fiveSigma(p, n));
    }
  });
});
