/**
 * Envoy's MAGLEV load balancer (source/extensions/load_balancing_policies/maglev/maglev_lb.cc, after the Maglev paper
 * §3.4 listing 1, with Envoy's weighted turns). Pure: the lookup table is built once; a pick is `table[h mod M]`.
 */
import {
  assertValidEndpoints,
  type LbEndpoint,
  type LbPolicyType,
  type LoadBalancer,
  type PickContext,
} from './types.ts';
import { hi32, lo32, loadRandomU64, loadU64, modU64 } from './u64.ts';
import { xxhash64 } from './xxhash.ts';

/** Envoy's `MaglevTable::DefaultTableSize` (prime; the paper's recommended size). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Istio's validation bound: `maglev.tableSize` must be prime and below this. */
export const MAX_MAGLEV_TABLE_SIZE = 5000011;

/** Maglev options (Envoy `Maglev.table_size`). */
export interface MaglevOptions {
  /** Lookup table size M; prime; default 65537. Istio's `consistentHash.maglev.tableSize`. */
  readonly tableSize?: number;
}

/** True when `n` is a prime number (trial division; build-time only). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * Maglev consistent hashing.
 *
 * Build (Envoy `MaglevTable::constructMaglevTableInternal` + `OriginalMaglevTable::constructImplementationInternals`):
 * endpoints are sorted by host key; each gets `offset = xxHash64(key, 0) mod M` and
 * `skip = xxHash64(key, 1) mod (M−1) + 1`, and its normalised weight `w_i / Σw`. The table is filled in rounds
 * `iteration = 1, 2, …`; in each round every endpoint (in key order) whose `iteration · w ≥ target` takes a turn
 * (`target += w_max`), claiming the next free slot of its permutation `(offset + skip · next) mod M`. So the heaviest
 * host takes a slot every round and a host with a third of its weight every third round. A single endpoint gets no
 * table (Envoy's `DegenerateMaglevTable`): every hash maps to it.
 * Lookup (`chooseHost`): `table[h mod M]`; retry attempt `a > 0` first XORs h with `2^64 − a` (`~0ULL − a + 1`).
 */
export class MaglevLoadBalancer implements LoadBalancer {
  readonly type: LbPolicyType = 'MAGLEV';
  readonly size: number;
  /** M, the lookup table size. */
  readonly tableSize: number;
  /** Fewest slots any endpoint got (Envoy stat `maglev_lb.min_entries_per_host`; 1 for a single endpoint). */
  readonly minEntriesPerHost: number;
  /** Most slots any endpoint got (Envoy stat `maglev_lb.max_entries_per_host`). */
  readonly maxEntriesPerHost: number;

  /** Endpoint index per slot; empty for 0 or 1 endpoint. */
  private readonly table: Int32Array;
  private readonly twoPow32ModM: number;

  /**
   * @throws RangeError when an endpoint is invalid or `tableSize` is not a prime below 5000011 (Envoy: "The table
   *   size of maglev must be prime number"; Istio validation adds the upper bound).
   * @throws Error when hashing has not been initialised (`initHashing`).
   */
  constructor(endpoints: readonly LbEndpoint[], options: MaglevOptions = {}) {
    assertValidEndpoints(endpoints);
    const m = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (!isPrime(m) || m >= MAX_MAGLEV_TABLE_SIZE) {
      throw new RangeError(`The table size of maglev must be prime number below ${MAX_MAGLEV_TABLE_SIZE}, got ${m}`);
    }
    this.size = endpoints.length;
    this.tableSize = m;
    this.twoPow32ModM = 4294967296 % m;

    if (endpoints.length <= 1) {
      this.table = new Int32Array(0);
      this.minEntriesPerHost = endpoints.length === 1 ? 1 : 0;
      this.maxEntriesPerHost = endpoints.length === 1 ? 1 : 0;
      return;
    }

    let sum = 0;
    for (const e of endpoints) sum += e.weight;
    let maxW = 0.0;
    const bigM = BigInt(m);
    const bigM1 = BigInt(m - 1);
    const entries = endpoints.map((e, index) => {
      const weight = (e.weight * 1.0) / sum;
      maxW = Math.max(maxW, weight);
      return {
        index,
        key: e.key,
        weight,
        offset: Number(xxhash64(e.key, 0n) % bigM),
        skip: Number(xxhash64(e.key, 1n) % bigM1) + 1,
        target: 0.0,
        next: 0,
        count: 0,
      };
    });
    // Envoy sorts (key, host, weight) tuples; keys are unique per host set, so the key decides.
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index));

    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    for (let iteration = 1; filled < m; iteration++) {
      for (let i = 0; i < entries.length && filled < m; i++) {
        const entry = entries[i]!;
        if (iteration * entry.weight < entry.target) continue;
        entry.target += maxW;
        let c = (entry.offset + entry.skip * (entry.next % m)) % m;
        while (table[c] !== -1) {
          entry.next++;
          c = (entry.offset + entry.skip * (entry.next % m)) % m;
        }
        table[c] = entry.index;
        entry.next++;
        entry.count++;
        filled++;
      }
    }
    this.table = table;
    let minE = m;
    let maxE = 0;
    for (const e of entries) {
      minE = Math.min(minE, e.count);
      maxE = Math.max(maxE, e.count);
    }
    this.minEntriesPerHost = minE;
    this.maxEntriesPerHost = maxE;
  }

  /** Endpoint index per table slot (length M), for tests and diagnostics; all zeros for a single endpoint. */
  slots(): Int32Array {
    return this.table.length > 0 || this.size === 0 ? this.table.slice() : new Int32Array(this.tableSize);
  }

  /**
   * The endpoint Envoy's `MaglevTable::chooseHost(hash, attempt)` returns, without the retry loop.
   * @returns endpoint index, or -1 with no endpoints.
   */
  lookup(hash: bigint, attempt = 0): number {
    loadU64(hash);
    return this.lookupHalves(hi32(), lo32(), attempt);
  }

  /** See {@link LoadBalancer.pick}. Uses `ctx.hash`, or one random 64-bit value when it is null. */
  pick(ctx: PickContext): number {
    if (this.size === 0) return -1;
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

  private lookupHalves(hi: number, lo: number, attempt: number): number {
    if (this.size === 0) return -1;
    if (this.table.length === 0) return 0;
    if (attempt > 0) {
      // hash ^= ~0ULL - attempt + 1, i.e. XOR with ~(attempt - 1); attempt < 2^32 so the high word is all ones.
      hi = ~hi >>> 0;
      lo = (lo ^ ~(attempt - 1)) >>> 0;
    }
    return this.table[modU64(hi, lo, this.tableSize, this.twoPow32ModM)]!;
  }
}
