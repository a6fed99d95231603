/**
 * Entry point of the host load balancers: a small policy union (what Istio's DestinationRule `loadBalancer` becomes in
 * Envoy) and `createLoadBalancer`. Pure; see README.md in this folder for the Envoy sources and deviations.
 */
import { LeastRequestLoadBalancer } from './least-request.ts';
import { MaglevLoadBalancer } from './maglev.ts';
import { RandomLoadBalancer } from './random.ts';
import { RingHashLoadBalancer } from './ring-hash.ts';
import { RoundRobinLoadBalancer } from './round-robin.ts';
import type { LbEndpoint, LoadBalancer } from './types.ts';

export {
  addressAsString,
  type CookieAttribute,
  computeRequestHash,
  firstQueryParameterValue,
  generateCookieValue,
  type HashPolicy,
  type HashRequestView,
  hashPolicyFromConsistentHash,
  type IstioConsistentHashKey,
  makeSetCookieValue,
  parseCookieValue,
  type RequestHash,
  type SocketAddress,
} from './hash-key.ts';
export { LeastRequestLoadBalancer, type LeastRequestOptions } from './least-request.ts';
export { DEFAULT_MAGLEV_TABLE_SIZE, isPrime, MAX_MAGLEV_TABLE_SIZE, MaglevLoadBalancer } from './maglev.ts';
export { RandomLoadBalancer } from './random.ts';
export { DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE, RingHashLoadBalancer } from './ring-hash.ts';
export { type EdfBalancerOptions, RoundRobinLoadBalancer } from './round-robin.ts';
export {
  endpointKey,
  type LbEndpoint,
  type LbPolicyType,
  type LoadBalancer,
  type PickContext,
} from './types.ts';
export { initHashing, isHashingReady, xxhash64 } from './xxhash.ts';

/** The Envoy LB policy of a cluster, as Istio configures it. */
export type LbPolicy =
  | { readonly type: 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' }
  | { readonly type: 'RING_HASH'; readonly minimumRingSize?: number }
  | { readonly type: 'MAGLEV'; readonly tableSize?: number };

/** Build-time options common to all balancers. */
export interface CreateLoadBalancerOptions {
  /**
   * Envoy's random per-balancer seed (non-negative safe integer; default 0). Used by ROUND_ROBIN and LEAST_REQUEST
   * for their starting point; ignored by the others. See `EdfBalancerOptions.seed`.
   */
  readonly seed?: number;
}

/**
 * Builds the balancer for `policy` over `endpoints` (the host set to balance over, in EDS order).
 * RING_HASH and MAGLEV need `await initHashing()` first.
 * @throws RangeError for invalid endpoints or policy parameters; Error if hashing is not initialised.
 */
export function createLoadBalancer(
  policy: LbPolicy,
  endpoints: readonly LbEndpoint[],
  options: CreateLoadBalancerOptions = {},
): LoadBalancer {
  switch (policy.type) {
    case 'LEAST_REQUEST':
      return new LeastRequestLoadBalancer(endpoints, { seed: options.seed ?? 0 });
    case 'ROUND_ROBIN':
      return new RoundRobinLoadBalancer(endpoints, { seed: options.seed ?? 0 });
    case 'RANDOM':
      return new RandomLoadBalancer(endpoints);
    case 'RING_HASH':
      return new RingHashLoadBalancer(
        endpoints,
        policy.minimumRingSize !== undefined ? { minimumRingSize: policy.minimumRingSize } : {},
      );
    case 'MAGLEV':
      return new MaglevLoadBalancer(endpoints, policy.tableSize !== undefined ? { tableSize: policy.tableSize } : {});
  }
}

/** The Istio `LoadBalancerSettings` fields {@link lbPolicyFromIstio} reads (structurally compatible). */
export interface IstioLoadBalancerSettings {
  readonly simple?: string;
  readonly consistentHash?: {
    readonly ringHash?: { readonly minimumRingSize?: number };
    readonly maglev?: { readonly tableSize?: number };
    readonly minimumRingSize?: number;
  };
}

/**
 * Istio `applyLoadBalancer` (networking/core/cluster/traffic policy): `consistentHash` → MAGLEV when `maglev` is set,
 * else RING_HASH with `ringHash.minimumRingSize`, the deprecated top-level `minimumRingSize`, or 1024; `simple`
 * unset/`UNSPECIFIED`/`LEAST_REQUEST`/`LEAST_CONN` → LEAST_REQUEST; `ROUND_ROBIN`, `RANDOM` as named. `PASSTHROUGH`
 * (an ORIGINAL_DST cluster, no host LB) → null.
 */
export function lbPolicyFromIstio(settings: IstioLoadBalancerSettings | undefined): LbPolicy | null {
  const ch = settings?.consistentHash;
  if (ch !== undefined) {
    if (ch.maglev !== undefined) {
      return ch.maglev.tableSize ? { type: 'MAGLEV', tableSize: ch.maglev.tableSize } : { type: 'MAGLEV' };
    }
    const min = ch.ringHash?.minimumRingSize || ch.minimumRingSize || 1024;
    return { type: 'RING_HASH', minimumRingSize: min };
  }
  switch (settings?.simple) {
    case 'ROUND_ROBIN':
      return { type: 'ROUND_ROBIN' };
    case 'RANDOM':
      return { type: 'RANDOM' };
    case 'PASSTHROUGH':
      return null;
    default:
      return { type: 'LEAST_REQUEST' };
  }
}
