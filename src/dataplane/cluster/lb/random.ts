/**
 * Envoy's RANDOM (source/extensions/load_balancing_policies/random/random_lb.cc): `hosts[random() mod n]`. Endpoint
 * weights are ignored, as in Envoy. Pure; randomness from the injected `rng`.
 */
import {
  assertValidEndpoints,
  type LbEndpoint,
  type LbPolicyType,
  type LoadBalancer,
  type PickContext,
} from './types.ts';

/** Uniform random choice among endpoints, one fresh draw per host-selection attempt. */
export class RandomLoadBalancer implements LoadBalancer {
  readonly type: LbPolicyType = 'RANDOM';
  readonly size: number;

  /** @throws RangeError for invalid endpoints. */
  constructor(endpoints: readonly LbEndpoint[]) {
    assertValidEndpoints(endpoints);
    this.size = endpoints.length;
  }

  /** See {@link LoadBalancer.pick}. Reads `rng` only. */
  pick(ctx: PickContext): number {
    const n = this.size;
    if (n === 0) return -1;
    const attempts = (ctx.hostSelectionRetryCount ?? 0) + 1;
    let host = -1;
    for (let a = 0; a < attempts; a++) {
      host = Math.min(Math.floor(ctx.rng() * n), n - 1);
      if (ctx.exclude === undefined || !ctx.exclude(host)) return host;
    }
    return host;
  }
}
