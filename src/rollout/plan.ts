/**
 * A Canary (`weir.dev/v1alpha1`) turned into what the controller runs (issue 8; `sequential-canary.md` §3.1, §3.6):
 * the ordered phases — header-only (`analysis.match`), mirroring (`analysis.mirror`), the weight steps of Flagger's
 * ladder, then promotion — and the sequential policy frozen at run start. Pure: no I/O.
 */

import { resolveHost } from '../config/hosts.ts';
import type { Canary } from '../config/resources.ts';
import type { CanaryAnalysis, CanaryWebhook } from '../config/weir/canary.ts';
import { parseDurationMs } from '../util/duration.ts';
import {
  DEFAULT_SEQUENTIAL_POLICY,
  defaultMaxDurationMs,
  errorSloFromSuccessRateMin,
  type SequentialPolicy,
  validateSequentialPolicy,
} from './stats/index.ts';

/** One phase of a rollout. `weight` is the canary's share of the rolled-out routes' traffic, in percent. */
export type RolloutStep =
  | {
      /** Requests matching `analysis.match` go to the canary (100 %); the rest stay on the primary. */
      readonly kind: 'header';
      readonly weight: 0;
      /** How long the phase lasts at least: `interval × max(1, iterations)` (ms). */
      readonly dwellMs: number;
    }
  | {
      /** The primary serves everything; `mirrorPercent` % of it is copied to the canary (responses dropped). */
      readonly kind: 'mirror';
      readonly weight: 0;
      readonly mirrorPercent: number;
      readonly dwellMs: number;
    }
  | {
      /** A weight step of the ladder; 100 is the promotion step. */
      readonly kind: 'weight';
      readonly weight: number;
      readonly dwellMs: number;
    };

/** Everything the controller needs from a Canary, with Flagger's defaults applied. */
export interface RolloutPlan {
  readonly namespace: string;
  readonly name: string;
  /** The VirtualService being rolled out (namespace defaults to the Canary's). */
  readonly virtualService: { readonly namespace: string; readonly name: string };
  /** The rolled-out service's fully qualified host. */
  readonly host: string;
  readonly primarySubset: string;
  readonly canarySubset: string;
  /** Phases in order; the weight steps end with 100 unless `maxWeight` stops short (then promotion follows the last). */
  readonly steps: readonly RolloutStep[];
  /** `analysis.interval` in ms (the dwell of a weight step; the webhook and log cadence). */
  readonly intervalMs: number;
  /** Flagger's `threshold`: consecutive failed `rollout` / `pre-rollout` webhooks before a rollback; default 5. */
  readonly threshold: number;
  /** `analysis.match` (Istio HTTPMatchRequests), or null. */
  readonly match: readonly unknown[] | null;
  /** Sticky, monotone split (weir.dev/sticky-split) during the weight steps; default true. */
  readonly sticky: boolean;
  /**
   * The sequential policy (§3.6). Its latency thresholds are placeholders until the run starts, when the controller
   * reads the primary's histogram (§2.2) and freezes them.
   */
  readonly policy: SequentialPolicy;
  /** `request-duration`'s `thresholdRange.max` in ms (the p99 SLO), or null. */
  readonly latencySloMs: number | null;
  /** Whether latency is judged at all (a `request-duration` metric is present). */
  readonly judgeLatency: boolean;
  readonly webhooks: readonly CanaryWebhook[];
  /** Custom metrics (with `query` / `templateRef`) that weir does not evaluate; named in the log at start. */
  readonly ignoredMetrics: readonly string[];
  /** `analysis.latencyFloor` in ms (default 5): relative latency thresholds τ are raised to at least this. */
  readonly latencyFloorMs: number;
  /** `analysis.rollback`: leave at once (`immediate`) or down the ladder, one interval per weight (`stepped`). */
  readonly rollback: 'immediate' | 'stepped';
  /** `spec.routes`: the names of the VirtualService routes to roll out, or null for the default (canary-routes.ts). */
  readonly routes: readonly string[] | null;
  /** `spec.rollbackUnmanagedRoutes`: on a rollback or abort, also send the other routes' canary traffic to the primary. */
  readonly rollbackUnmanagedRoutes: boolean;
}

/** Flagger's ladder in percent: `stepWeights`, or `stepWeight` up to `maxWeight` (default 50); then 100. Null without either. */
export function canaryLadderPercent(a: CanaryAnalysis): number[] | null {
  let percents: number[];
  if (a.stepWeights !== undefined) percents = a.stepWeights.filter((w) => w > 0);
  else if (a.stepWeight !== undefined) {
    const max = a.maxWeight ?? 50;
    percents = [];
    for (let w = a.stepWeight; w < max; w += a.stepWeight) percents.push(w);
    percents.push(max);
  } else return null;
  if (percents.length === 0 || percents[percents.length - 1]! < 100) percents.push(100);
  return percents;
}

/** {@link canaryLadderPercent} as fractions (the simulator's and `decide`'s ladder). */
export function canaryLadder(a: CanaryAnalysis): number[] | null {
  return canaryLadderPercent(a)?.map((w) => w / 100) ?? null;
}

/** Default `analysis.latencyFloor`: relative latency differences below 5 ms are not judged (weir's choice). */
export const DEFAULT_LATENCY_FLOOR_MS = 5;

/**
 * The sequential policy (§3.6) of a Canary's analysis — Flagger's fields (`alpha`, `metrics[].thresholdRange`,
 * `interval`) and weir's (`tolerance`, `margin`, `minRequestsPerStep`, `promoteOnSLO`, `onInconclusive`) over
 * {@link DEFAULT_SEQUENTIAL_POLICY} — with the given dwell, maxDuration and latency thresholds τ. Shared by the
 * controller and `weir rollout simulate`, so both judge with the same rule. Not validated here.
 */
export function sequentialPolicyOf(
  a: CanaryAnalysis,
  intervalMs: number,
  maxDurationMs: number,
  latencyThresholdsMs: readonly number[],
): { policy: SequentialPolicy; successMin: number | undefined; latencySloMs: number | null } {
  const base = DEFAULT_SEQUENTIAL_POLICY;
  const success = a.metrics?.find((m) => m.name === 'request-success-rate');
  const duration = a.metrics?.find((m) => m.name === 'request-duration');
  const successMin = success?.thresholdRange?.min;
  const latencySloMs = duration?.thresholdRange?.max ?? null;
  const policy: SequentialPolicy = {
    ...base,
    alphaRollback: a.alpha ?? base.alphaRollback,
    alphaPromote: a.alpha ?? base.alphaPromote,
    tolerance: a.tolerance ?? base.tolerance,
    margin: a.margin ?? base.margin,
    minRequestsPerStep: a.minRequestsPerStep ?? base.minRequestsPerStep,
    promoteOnSLO: a.promoteOnSLO ?? base.promoteOnSLO,
    dwellMs: intervalMs,
    maxDurationMs,
    onInconclusive: a.onInconclusive ?? base.onInconclusive,
    // The relative error test against the primary is always on; the canary-only SLO test with a success-rate min.
    errors: { sloRate: successMin !== undefined ? errorSloFromSuccessRateMin(successMin) : null },
    latency:
      duration === undefined
        ? null
        : { thresholdsMs: latencyThresholdsMs, sloThresholdMs: latencySloMs, sloQuantile: 0.99 },
  };
  return { policy, successMin, latencySloMs };
}

/** Thrown when a Canary cannot be run (its message says why); `weir rollout` maps it to exit 64. */
export class RolloutPlanError extends Error {
  override name = 'RolloutPlanError';
}

/**
 * Builds the plan of a validated Canary. Throws {@link RolloutPlanError} when it has nothing to run (no match, no
 * mirror and no weight steps) or its analysis is not a usable sequential policy (§6).
 */
export function planRollout(canary: Canary): RolloutPlan {
  const spec = canary.spec;
  const a = spec.analysis ?? {};
  const base = DEFAULT_SEQUENTIAL_POLICY;
  const intervalMs = (a.interval !== undefined ? parseDurationMs(a.interval) : null) ?? base.dwellMs;
  const threshold = a.threshold ?? 5;
  const ladder = canaryLadderPercent(a);
  const match = a.match && a.match.length > 0 ? (a.match as readonly unknown[]) : null;
  const steps: RolloutStep[] = [];
  if (match) steps.push({ kind: 'header', weight: 0, dwellMs: intervalMs * Math.max(1, a.iterations ?? 1) });
  if (a.mirror === true) {
    steps.push({
      kind: 'mirror',
      weight: 0,
      mirrorPercent: a.mirrorWeight ?? 100,
      dwellMs: intervalMs * (ladder === null ? Math.max(1, a.iterations ?? 1) : 1),
    });
  }
  for (const w of ladder ?? []) steps.push({ kind: 'weight', weight: w, dwellMs: intervalMs });
  if (steps.length === 0) {
    throw new RolloutPlanError(
      `Canary ${canary.namespace}/${canary.name}: nothing to run — set analysis.stepWeights (or stepWeight), analysis.match, or analysis.mirror`,
    );
  }
  const maxDurationMs =
    (a.maxDuration !== undefined ? parseDurationMs(a.maxDuration) : null) ??
    defaultMaxDurationMs(intervalMs, steps.length, threshold);
  const { policy, latencySloMs } = sequentialPolicyOf(a, intervalMs, maxDurationMs, base.latency?.thresholdsMs ?? []);
  const problems = validateSequentialPolicy(policy);
  if (problems.length > 0) {
    throw new RolloutPlanError(
      `Canary ${canary.namespace}/${canary.name}: analysis not usable: ${problems.join('; ')}`,
    );
  }
  const vsRef = spec.virtualService ?? spec.targetRef ?? {};
  const vsNamespace = vsRef.namespace ?? canary.namespace;
  return {
    namespace: canary.namespace,
    name: canary.name,
    virtualService: { namespace: vsNamespace, name: vsRef.name ?? '' },
    // Short names resolve in the VirtualService's namespace, as Istio resolves the VirtualService's own hosts.
    host: resolveHost(spec.host ?? '', vsNamespace),
    primarySubset: spec.primarySubset ?? '',
    canarySubset: spec.canarySubset ?? '',
    steps,
    intervalMs,
    threshold,
    match,
    sticky: a.sticky ?? true,
    policy,
    latencySloMs,
    judgeLatency: policy.latency !== null,
    webhooks: a.webhooks ?? [],
    ignoredMetrics: (a.metrics ?? [])
      .filter((m) => m.name !== 'request-success-rate' && m.name !== 'request-duration')
      .map((m) => m.name ?? '(unnamed)'),
    rollback: a.rollback ?? 'immediate',
    routes: spec.routes && spec.routes.length > 0 ? spec.routes : null,
    rollbackUnmanagedRoutes: spec.rollbackUnmanagedRoutes ?? false,
    latencyFloorMs: (a.latencyFloor !== undefined ? parseDurationMs(a.latencyFloor) : null) ?? DEFAULT_LATENCY_FLOOR_MS,
  };
}
