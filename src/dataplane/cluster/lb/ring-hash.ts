/**
 * Envoy's RING_HASH (ketama) load balancer, as built by `RingHashLoadBalancer::Ring` in
 * source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc. Pure: the ring is built once from the endpoint
 * list; a pick is a binary search. Hash policies (what the request hash is made of) live in hash-key.ts.
 */
import {
  assertValidEndpoints,
  type LbEndpoint,
  type LbPolicyType,
  type LoadBalancer,
  type PickContext,
} from './types.ts';
import { hi32, lo32, loadRandomU64, loadU64 } from './u64.ts';
import { xxhash64 } from './xxhash.ts';

/** Envoy's default `minimum_ring_size` (`RingHashLoadBalancer::DefaultMinRingSize`); Istio's default too. */
export const DEFAULT_MIN_RING_SIZE = 1024;
/** Envoy's default and hard upper bound for `maximum_ring_size` (8 M entries). */
export const DEFAULT_MAX_RING_SIZE = 8388608;

/** Ring size bounds (Envoy `RingHash.minimum_ring_size` / `maximum_ring_size`). */
export interface RingHashOptions {
  /** Minimum number of ring entries; default 1024. Istio's `ringHash.minimumRingSize`. */
  readonly minimumRingSize?: number;
  /** Maximum number of ring entries; default and cap 8388608. Istio never sets it. */
  readonly maximumRingSize?: number;
}

/**
 * Consistent hashing over a ring of `xxHash64("<host key>_<i>")` points.
 *
 * Build (Envoy `Ring::Ring`): weights are normalised to sum 1 (`w_i / Σw`, in endpoint order); with the smallest
 * normalised weight `w_min`, `scale = min(ceil(w_min · minRing) / w_min, maxRing)` and the nominal ring size is
 * `ceil(scale)`. Walking the endpoints in the given order, running sums `target += scale · w_i` and one entry per
 * `current < target` step give each host ≈ `scale · w_i` entries, keyed `"<key>_0"`, `"<key>_1"`, …; entries are then
 * sorted by hash. Lookup (Envoy `chooseHost`, ported from ketama): the first entry whose hash is ≥ h, wrapping to
 * entry 0 past the end; retry attempt `a > 0` moves `a` entries further round the ring.
 */
export class RingHashLoadBalancer implements LoadBalancer {
  readonly type: LbPolicyType = 'RING_HASH';
  readonly size: number;
  /** Nominal ring size `ceil(scale)` (Envoy stat `ring_hash_lb.size`). */
  readonly ringSize: number;
  /** Fewest entries any endpoint got (Envoy stat `ring_hash_lb.min_hashes_per_host`). */
  readonly minHashesPerHost: number;
  /** Most entries any endpoint got (Envoy stat `ring_hash_lb.max_hashes_per_host`). */
  readonly maxHashesPerHost: number;

  /** Sorted ring: entry hash high/low halves and owning endpoint index. */
  private readonly ringHi: Uint32Array;
  private readonly ringLo: Uint32Array;
  private readonly ringHost: Int32Array;

  /**
   * @throws RangeError when an endpoint is invalid, a ring size is not an integer in [0, 8388608], or
   *   `minimumRingSize > maximumRingSize` (Envoy: "ring hash: minimum_ring_size (X) > maximum_ring_size (Y)").
   * @throws Error when hashing has not been initialised (`initHashing`).
   */
  constructor(endpoints: readonly LbEndpoint[], options: RingHashOptions = {}) {
    assertValidEndpoints(endpoints);
    const minRing = options.minimumRingSize ?? DEFAULT_MIN_RING_SIZE;
    const maxRing = options.maximumRingSize ?? DEFAULT_MAX_RING_SIZE;
    for (const [name, v] of [
      ['minimumRingSize', minRing],
      ['maximumRingSize', maxRing],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > DEFAULT_MAX_RING_SIZE) {
        throw new RangeError(`ring hash: ${name} must be an integer in [0, ${DEFAULT_MAX_RING_SIZE}], got ${v}`);
      }
    }
    if (minRing > maxRing) {
      throw new RangeError(`ring hash: minimum_ring_size (${minRing}) > maximum_ring_size (${maxRing})`);
    }
    this.size = endpoints.length;

    // Envoy normalizeHostWeights: w * 1.0 / sum, tracking min (from 1.0) and max (from 0.0).
    let sum = 0;
    for (const e of endpoints) sum += e.weight;
    let minW = 1.0;
    const normalized = new Float64Array(endpoints.length);
    for (let i = 0; i < endpoints.length; i++) {
      normalized[i] = (endpoints[i]!.weight * 1.0) / sum;
      minW = Math.min(minW, normalized[i]!);
    }

    const hashes: bigint[] = [];
    const owners: number[] = [];
    let ringSize = 0;
    let minHashes = 0;
    let maxHashes = 0;
    if (endpoints.length > 0) {
      const scale = Math.min(Math.ceil(minW * minRing) / minW, maxRing);
      ringSize = Math.ceil(scale);
      minHashes = ringSize;
      let current = 0.0;
      let target = 0.0;
      for (let h = 0; h < endpoints.length; h++) {
        const prefix = `${endpoints[h]!.key}_`;
        target += scale * normalized[h]!;
        let i = 0;
        while (current < target) {
          hashes.push(xxhash64(prefix + i));
          owners.push(h);
          i++;
          current++;
        }
        minHashes = Math.min(minHashes, i);
        maxHashes = Math.max(maxHashes, i);
      }
    }
    this.ringSize = ringSize;
    this.minHashesPerHost = minHashes;
    this.maxHashesPerHost = maxHashes;

    const order = Array.from(hashes.keys()).sort((a, b) => {
      const ha = hashes[a]!;
      const hb = hashes[b]!;
      return ha < hb ? -1 : ha > hb ? 1 : owners[a]! - owners[b]!;
    });
    const n = order.length;
    this.ringHi = new Uint32Array(n);
    this.ringLo = new Uint32Array(n);
    this.ringHost = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const src = order[k]!;
      loadU64(hashes[src]!);
      this.ringHi[k] = hi32();
      this.ringLo[k] = lo32();
      this.ringHost[k] = owners[src]!;
    }
  }

  /** Number of entries actually on the ring (≈ {@link ringSize}). */
  get entryCount(): number {
    return this.ringHost.length;
  }

  /** The sorted ring as `{hash, endpoint}` pairs, for tests and diagnostics. Allocates. */
  entries(): Array<{ hash: bigint; endpoint: number }> {
    const out: Array<{ hash: bigint; endpoint: number }> = [];
    for (let k = 0; k < this.ringHost.length; k++) {
      out.push({ hash: (BigInt(this.ringHi[k]!) << 32n) | BigInt(this.ringLo[k]!), endpoint: this.ringHost[k]! });
    }
    return out;
  }

  /**
   * The endpoint Envoy's `Ring::chooseHost(hash, attempt)` returns for a hash, without the retry loop.
   * @returns endpoint index, or -1 for an empty ring.
   */
  lookup(hash: bigint, attempt = 0): number {
    loadU64(hash);
    return this.lookupHalves(hi32(), lo32(), attempt);
  }

  /** See {@link LoadBalancer.pick}. Uses `ctx.hash`, or one random 64-bit value when it is null. */
  pick(ctx: PickContext): number {
    if (this.ringHost.length === 0) return -1;
    if (ctx.hash === null) loadRandomU64(ctx.rng);
    else loadU64(ctx.hash);
    const hi = hi32();
    const lo = lo32();
    const attempts = (ctx.hostSelectionRetryCount ?? 0) + 1;
    let host = -1;
    for (let a = 0; a < attempts; a++) {
      host = this.lookupHalves(hi, lo, a);
      if (ctx.exclude === undefined || !ctx.exclude(host)) return host;
    }
    return host;
  }

  /** First entry with hash ≥ (hi, lo), wrapping to 0; then `attempt` entries further (mod ring length). */
  private lookupHalves(hi: number, lo: number, attempt: number): number {
    const n = this.ringHost.length;
    if (n === 0) return -1;
    const ringHi = this.ringHi;
    const ringLo = this.ringLo;
    let low = 0;
    let high = n; // lower_bound over [low, high)
    while (low < high) {
      const mid = (low + high) >>> 1;
      const mh = ringHi[mid]!;
      if (mh < hi || (mh === hi && ringLo[mid]! < lo)) low = mid + 1;
      else high = mid;
    }
    let idx = low === n ? 0 : low;
    if (attempt > 0) idx = (idx + attempt) % n;
    return this.ringHost[idx]!;
  }
}
