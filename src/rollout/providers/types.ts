/**
 * Metric providers of `weir rollout` (issue 8): where the controller reads the proxies' route counts
 * (`rollout/route-counts.ts`) from — weir admin endpoints (one or many, summed) or the Prometheus HTTP API — and how
 * they become the {@link RolloutCounts} of the statistics (`sequential-canary.md` §1.3, §1.8).
 *
 * Counters are cumulative since each proxy started, so a provider works against a **baseline**: the values seen when
 * the rollout started. Its state is plain JSON, persisted by the controller, so a restarted controller resumes with
 * the same baseline (§1.8 "Controller restart"). A counter that goes down (a proxy restarted) is treated as a reset:
 * what was counted before it is kept, and the new process counts from zero.
 */

import type { LatencyHistogram, RolloutCounts } from '../stats/index.ts';

/** Which traffic a rollout judges: one VirtualService's routes to one host's two subsets. */
export interface RolloutSelector {
  /** The VirtualService's namespace and name. */
  readonly namespace: string;
  readonly virtualService: string;
  /** Fully qualified destination host of both subsets. */
  readonly host: string;
  readonly primarySubset: string;
  readonly canarySubset: string;
}

/** Canary-only counts of mirrored copies (§1.1: never in the relative tables; they feed the canary-only tests). */
export interface MirrorCounts {
  readonly requests: number;
  readonly errors: number;
  /** Copies slower than each counted threshold, same order as the reading's `counts.latency`. */
  readonly exceedances: readonly { readonly thresholdMs: number; readonly count: number }[];
}

/** What one read returns: everything since the baseline, for the selector, at the asked thresholds. */
export interface CountsReading {
  /**
   * Routed (user-visible) traffic since the baseline, every row keyed by the canary routing probability `w` in force
   * (the canary's probability in its split; 0 when the split lacks the canary). Only events served by the primary or
   * the canary subset of the selector's host are counted. Latency tables at the asked thresholds.
   */
  readonly counts: RolloutCounts;
  /** Mirrored copies served by the canary subset since the baseline. */
  readonly mirror: MirrorCounts;
  /**
   * The primary subset's latency histogram since its proxies started (not since the baseline): what §2.2 reads the
   * primary's p50/p90/p99 from before the canary starts. Edges are {@link CountsReading.edgesMs} plus `Infinity`.
   */
  readonly primaryHistogram: LatencyHistogram;
  /** Edges (ms) at which this provider's exceedance counts are exact; thresholds must be among them (snap up). */
  readonly edgesMs: readonly number[];
  /** How many sources answered; problems name the failing ones (a partial read is still a valid lower count). */
  readonly sources: {
    readonly ok: number;
    readonly failed: number;
    readonly problems: readonly string[];
    /**
     * Non-fatal observations for the log, when the provider has any: counter resets and new proxy instances (counts
     * before them kept), sample values ignored (NaN, ±Inf, negative) or rounded (non-integer), Prometheus warnings.
     */
    readonly notes?: readonly string[];
  };
}

/** A provider's persisted state (baselines, resets carried over); JSON. */
export type ProviderState = { readonly kind: string } & Record<string, unknown>;

/** A source of route counts. */
export interface MetricsProvider {
  /** `admin` or `prometheus`, for logs. */
  readonly kind: string;
  /** A human description (URLs), for logs. */
  readonly description: string;
  /** Captures the baseline (the current cumulative values). Throws when no source answers. */
  start(selector: RolloutSelector): Promise<ProviderState>;
  /**
   * Reads the counts since the baseline in `state`, with exceedances at `thresholdsMs` (each must be one of the
   * provider's edges; use `snapUpToEdge`). Returns the reading and the updated state (resets carried). Never throws
   * on a source that does not answer: it is reported in `sources`, and its last counts are kept.
   */
  read(
    selector: RolloutSelector,
    state: ProviderState,
    thresholdsMs: readonly number[],
  ): Promise<{ reading: CountsReading; state: ProviderState }>;
}
