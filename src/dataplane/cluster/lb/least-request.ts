/**
 * Envoy's LEAST_REQUEST (source/extensions/load_balancing_policies/least_request/least_request_lb.{h,cc} on top of
 * `EdfLoadBalancerBase`), Istio's default `loadBalancer`. Pure: load comes from the injected `activeRequests`.
 */
import { EdfScheduler } from './edf-scheduler.ts';
import { type EdfBalancerOptions, seedOf } from './round-robin.ts';
import {
  assertValidEndpoints,
  hasEqualWeights,
  type LbEndpoint,
  type LbPolicyType,
  type LoadBalancer,
  type PickContext,
} from './types.ts';

/** LEAST_REQUEST options (Envoy `LeastRequest` proto; Istio sets none of them). */
export interface LeastRequestOptions extends EdfBalancerOptions {
  /** Number of random hosts compared when weights are equal (`choice_count`); default 2 (P2C); ≥ 2. */
  readonly choiceCount?: number;
  /** Exponent of the active-request scaling with unequal weights (`active_request_bias`); default 1.0; ≥ 0. */
  readonly activeRequestBias?: number;
}

/**
 * Least request.
 *
 * - Equal weights (Envoy `unweightedHostPickNChoices`): draw `choiceCount` endpoints uniformly at random (with
 *   replacement); the first is the candidate and each later draw replaces it only with strictly fewer active
 *   requests. So P2C: the less loaded of two random hosts, ties to the first draw.
 * - Unequal weights: an EDF schedule whose weights are `weight / (active + 1)^bias` (`hostWeight`), read when an
 *   endpoint is re-queued after being picked — so a busy host's next turn comes later, but hosts never fully drain.
 *   The schedule is built with `createWithPicks(seed)` and active requests = 0.
 *
 * Each host-selection attempt (see `PickContext.exclude`) runs the whole selection again, as in Envoy.
 */
export class LeastRequestLoadBalancer implements LoadBalancer {
  readonly type: LbPolicyType = 'LEAST_REQUEST';
  readonly size: number;
  private readonly edf: EdfScheduler | null;
  private readonly weights: Float64Array;
  private readonly choiceCount: number;
  private readonly bias: number;
  private activeOf: ((i: number) => number) | undefined = undefined;
  private readonly weightOf = (i: number): number => this.hostWeight(i);

  /** @throws RangeError for invalid endpoints, seed, `choiceCount` or `activeRequestBias`. */
  constructor(endpoints: readonly LbEndpoint[], options: LeastRequestOptions = {}) {
    assertValidEndpoints(endpoints);
    const seed = seedOf(options);
    this.choiceCount = options.choiceCount ?? 2;
    if (!Number.isInteger(this.choiceCount) || this.choiceCount < 2) {
      throw new RangeError(`least request: choiceCount must be an integer ≥ 2, got ${this.choiceCount}`);
    }
    // Envoy falls back to 1.0 for a negative or NaN bias (with a warning).
    const bias = options.activeRequestBias ?? 1.0;
    this.bias = Number.isNaN(bias) || bias < 0 ? 1.0 : bias;
    this.size = endpoints.length;
    this.weights = Float64Array.from(endpoints, (e) => e.weight);
    this.edf =
      endpoints.length > 1 && !hasEqualWeights(endpoints)
        ? EdfScheduler.createWithPicks(endpoints.length, this.weightOf, seed % 4294967296)
        : null;
  }

  /** See {@link LoadBalancer.pick}. Reads `rng` and `activeRequests`; ignores `hash`. */
  pick(ctx: PickContext): number {
    if (this.size === 0) return -1;
    const attempts = (ctx.hostSelectionRetryCount ?? 0) + 1;
    let host = -1;
    this.activeOf = ctx.activeRequests;
    for (let a = 0; a < attempts; a++) {
      host = this.edf !== null ? this.edf.pickAndAdd(this.weightOf) : this.pickNChoices(ctx);
      if (ctx.exclude === undefined || !ctx.exclude(host)) break;
    }
    this.activeOf = undefined;
    return host;
  }

  private pickNChoices(ctx: PickContext): number {
    const n = this.size;
    const active = ctx.activeRequests;
    let candidate = -1;
    let candidateActive = 0;
    for (let c = 0; c < this.choiceCount; c++) {
      const sampled = Math.min(Math.floor(ctx.rng() * n), n - 1);
      const sampledActive = active === undefined ? 0 : active(sampled);
      if (candidate === -1 || sampledActive < candidateActive) {
        candidate = sampled;
        candidateActive = sampledActive;
      }
    }
    return candidate;
  }

  /** Envoy `LeastRequestLoadBalancer::hostWeight`: `weight / (active + 1)^bias` (bias 0 → plain weight). */
  private hostWeight(i: number): number {
    const weight = this.weights[i]!;
    if (this.bias === 0) return weight;
    const active = this.activeOf === undefined ? 0 : this.activeOf(i);
    return this.bias === 1.0 ? weight / (active + 1) : weight / (active + 1) ** this.bias;
  }
}
