/**
 * Envoy's ROUND_ROBIN (source/extensions/load_balancing_policies/round_robin/round_robin_lb.h on top of
 * `EdfLoadBalancerBase`, common/load_balancer_impl.cc). Pure state machine; no I/O, no clock (slow start is not
 * implemented here).
 */
import { EdfScheduler } from './edf-scheduler.ts';
import {
  assertValidEndpoints,
  hasEqualWeights,
  type LbEndpoint,
  type LbPolicyType,
  type LoadBalancer,
  type PickContext,
} from './types.ts';

/** Options shared by the EDF-based balancers. */
export interface EdfBalancerOptions {
  /**
   * Envoy's per-balancer `seed_` (a random 64-bit value drawn when the balancer is built), as a non-negative safe
   * integer. It sets the start of the plain rotation (`seed mod n`) and the number of emulated initial EDF picks
   * (`(seed mod 2^32) mod 429496729`), so that proxies do not all start on the same host. Default 0 (deterministic);
   * pass e.g. `Math.floor(rng() * 2 ** 53)` to behave like Envoy.
   */
  readonly seed?: number;
}

/** Reads and checks {@link EdfBalancerOptions.seed}. @throws RangeError for a negative or non-integer seed. */
export function seedOf(options: EdfBalancerOptions): number {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer`);
  return seed;
}

/**
 * Round robin. With equal weights (or ≤ 1 endpoint) it is a plain rotation `endpoints[(seed + k) mod n]`; with unequal
 * weights an EDF schedule (deadline `+1/weight`) built with `createWithPicks(seed)`, which yields each endpoint in
 * proportion to its weight, smoothly interleaved. Each host-selection attempt (see `PickContext.exclude`) advances
 * the rotation, as in Envoy.
 */
export class RoundRobinLoadBalancer implements LoadBalancer {
  readonly type: LbPolicyType = 'ROUND_ROBIN';
  readonly size: number;
  private readonly edf: EdfScheduler | null;
  private rrIndex: number;
  private readonly weightOf: (i: number) => number;

  /** @throws RangeError for invalid endpoints or seed. */
  constructor(endpoints: readonly LbEndpoint[], options: EdfBalancerOptions = {}) {
    assertValidEndpoints(endpoints);
    const seed = seedOf(options);
    this.size = endpoints.length;
    const weights = Float64Array.from(endpoints, (e) => e.weight);
    this.weightOf = (i) => weights[i]!;
    this.rrIndex = endpoints.length > 0 ? seed % endpoints.length : 0;
    this.edf =
      endpoints.length > 1 && !hasEqualWeights(endpoints)
        ? EdfScheduler.createWithPicks(endpoints.length, this.weightOf, seed % 4294967296)
        : null;
  }

  /** See {@link LoadBalancer.pick}. Ignores `hash` and `activeRequests`; never reads `rng`. */
  pick(ctx: PickContext): number {
    if (this.size === 0) return -1;
    const attempts = (ctx.hostSelectionRetryCount ?? 0) + 1;
    let host = -1;
    for (let a = 0; a < attempts; a++) {
      host = this.pickOnce();
      if (ctx.exclude === undefined || !ctx.exclude(host)) return host;
    }
    return host;
  }

  private pickOnce(): number {
    if (this.edf !== null) return this.edf.pickAndAdd(this.weightOf);
    const host = this.rrIndex;
    this.rrIndex = host + 1 === this.size ? 0 : host + 1;
    return host;
  }
}
