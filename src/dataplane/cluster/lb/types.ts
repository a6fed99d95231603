/**
 * Shared shapes of weir's host load balancers: the endpoint list a balancer is built over, the per-pick context and
 * the `LoadBalancer` contract. Pure data and interfaces; the algorithms live one per file beside this one.
 */

/**
 * One upstream host as a load balancer sees it. Balancers are immutable snapshots built over a fixed
 * `readonly LbEndpoint[]` (the host set to balance over: healthy hosts, or all hosts in panic); rebuild on change.
 */
export interface LbEndpoint {
  /**
   * The host key Envoy hashes for RING_HASH and MAGLEV: `Address::Instance::asString()` of the endpoint, i.e.
   * `"10.0.0.7:8080"` for IPv4 and `"[fd00::7]:8080"` for IPv6 (see {@link endpointKey}). Istio never sets
   * `use_hostname_for_hashing`, so the address, not a hostname, is what Envoy hashes.
   */
  readonly key: string;
  /** IP address of the endpoint, without brackets. */
  readonly address: string;
  /** TCP port, 1–65535. */
  readonly port: number;
  /** Load-balancing weight: an integer ≥ 1 (Envoy `load_balancing_weight`, default 1). */
  readonly weight: number;
  /** Opaque caller handle (e.g. an index into the caller's own endpoint table); never read by the algorithms. */
  readonly handle: number;
}

/**
 * Per-pick inputs. Callers may reuse one object across picks: `pick` neither retains nor mutates it.
 * Functions receive indexes into the endpoint list the balancer was built with.
 */
export interface PickContext {
  /**
   * Request hash, an unsigned 64-bit value in [0, 2^64) from `computeRequestHash` (hash-key.ts), or `null` when no
   * hash policy produced one. Only RING_HASH and MAGLEV read it; with `null` they hash a random 64-bit value from
   * `rng`, exactly as Envoy's `ThreadAwareLoadBalancerBase` does (so they then behave like a weighted random LB).
   */
  readonly hash: bigint | null;
  /** Uniform random numbers in [0, 1). The only source of randomness of every algorithm here. */
  readonly rng: () => number;
  /**
   * Active (in-flight) requests of endpoint `i` — Envoy's `rq_active`. Read by LEAST_REQUEST only; absent means 0
   * for every endpoint.
   */
  readonly activeRequests?: (i: number) => number;
  /**
   * Envoy's `LoadBalancerContext::shouldSelectAnotherHost` (the retry host predicate, e.g. `previous_hosts`): return
   * true to reject endpoint `i`. A rejected pick is retried up to {@link hostSelectionRetryCount} more times; when
   * every attempt is rejected the last picked endpoint is returned anyway, as Envoy does.
   */
  readonly exclude?: (i: number) => boolean;
  /**
   * Envoy's `hostSelectionRetryCount()` (`host_selection_retry_max_attempts` of the route's retry policy; Istio's
   * default retry policy sets 5). Number of extra attempts after a rejected pick; default 0.
   */
  readonly hostSelectionRetryCount?: number;
}

/** Envoy LB policy names as Istio's `loadBalancer` maps onto them. */
export type LbPolicyType = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';

/**
 * A host picker over a fixed endpoint list. Construction validates and may throw (start-up errors); `pick` never
 * throws on its own and allocates nothing (callbacks in the context are the caller's business).
 */
export interface LoadBalancer {
  /** The Envoy policy this balancer implements. */
  readonly type: LbPolicyType;
  /** Number of endpoints the balancer was built over. */
  readonly size: number;
  /**
   * Picks an endpoint for one request.
   * @returns an index into the endpoint list given at construction, or -1 when that list is empty.
   */
  pick(ctx: PickContext): number;
}

/**
 * Builds Envoy's host key (`Address::Ipv4Instance/Ipv6Instance::asString()`): `"ip:port"` for IPv4, `"[ip]:port"` for
 * IPv6. The IPv6 text must already be in the canonical compressed form (as Node's `net` module reports addresses).
 */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Checks the endpoint invariants every balancer relies on.
 * @throws RangeError when a weight is not an integer ≥ 1 or a key is empty (a programming error at build time).
 */
export function assertValidEndpoints(endpoints: readonly LbEndpoint[]): void {
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i]!;
    if (!Number.isInteger(e.weight) || e.weight < 1 || e.weight > 0xffffffff) {
      throw new RangeError(`endpoint ${i} (${e.key}): weight must be an integer in [1, 2^32), got ${e.weight}`);
    }
    if (e.key.length === 0) throw new RangeError(`endpoint ${i}: empty host key`);
  }
}

/** True when all endpoints have the same weight (Envoy `hostWeightsAreEqual`; true for 0 or 1 endpoint). */
export function hasEqualWeights(endpoints: readonly LbEndpoint[]): boolean {
  for (let i = 1; i < endpoints.length; i++) if (endpoints[i]!.weight !== endpoints[0]!.weight) return false;
  return true;
}
