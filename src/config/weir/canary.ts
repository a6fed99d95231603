/**
 * The structural schema of weir's `Canary` resource (`apiVersion: weir.dev/v1alpha1`, issue 8): what to roll out (a
 * VirtualService, its host, the primary and canary subsets) and how to judge it. The `analysis` block keeps Flagger's
 * field names and meanings (`interval`, `threshold`, `maxWeight`, `stepWeight`, `stepWeights`, `iterations`, `match`,
 * `mirror`, `mirrorWeight`, `metrics[]`, `webhooks[]`; flagger.app/v1beta1 `CanaryAnalysis`), so a Flagger user moves
 * over by changing the target, plus weir's own fields for the sequential statistics of `sequential-canary.md`
 * (`tolerance` θ₀, `alpha`, `maxDuration`, `onInconclusive`, `sticky`). Shapes and types only, strict objects (unknown
 * fields are errors, see `schema-check.ts`); the semantic rules live in `config/validate/canary.ts`.
 */
import { z } from 'zod';
import { HTTPMatchRequest, INT_MARKER } from '../istio/schemas.ts';

/** The apiVersion of weir's own resources. */
export const CANARY_API_VERSION = 'weir.dev/v1alpha1';

const str = z.string();
const int = z.number({ error: () => INT_MARKER }).int({ error: () => INT_MARKER });
const num = z.number();
const bool = z.boolean();
/** A Go-style duration (`"1m"`, `"30s"`, `"500ms"`); checked by the validator. */
const duration = z.string();

/** The built-in metrics (Flagger's names): canary success rate in %, and p99 latency in ms. */
export const BUILTIN_METRICS = ['request-success-rate', 'request-duration'] as const;

/** Flagger's webhook types (flagger.app/v1beta1 `HookType`). */
export const WEBHOOK_TYPES = [
  'pre-rollout',
  'rollout',
  'confirm-rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
] as const;

/** What happens when `maxDuration` ends a run without a decision (`sequential-canary.md` §3.5). */
export const INCONCLUSIVE_POLICIES = ['pause', 'rollback', 'promote'] as const;

/** A reference to the VirtualService being rolled out. The namespace defaults to the Canary's. */
export const CanaryTargetRef = z.strictObject({
  apiVersion: str.optional(),
  /** Only `VirtualService` today (Flagger points at a Deployment; weir routes at the VirtualService). */
  kind: str.optional(),
  name: str.optional(),
  namespace: str.optional(),
});
export type CanaryTargetRef = z.infer<typeof CanaryTargetRef>;

/** Flagger `CanaryThresholdRange`: the accepted range of a metric's value. */
export const ThresholdRange = z.strictObject({ min: num.optional(), max: num.optional() });

/** Flagger `CanaryMetric`: a built-in (`request-success-rate` ≥ min %, `request-duration` p99 ≤ max ms) or custom one. */
export const CanaryMetric = z.strictObject({
  name: str.optional(),
  thresholdRange: ThresholdRange.optional(),
  /** The PromQL range of a query; ignored for the built-ins (weir counts every request). */
  interval: duration.optional(),
  /** A custom metric's PromQL query (Flagger's pre-template form). */
  query: str.optional(),
  /** A custom metric's MetricTemplate reference (Flagger's templated form). */
  templateRef: z.strictObject({ name: str.optional(), namespace: str.optional() }).optional(),
});
export type CanaryMetric = z.infer<typeof CanaryMetric>;

/**
 * Flagger `CanaryWebhook` (flagger.app/v1beta1): an HTTP POST hook called at a point of the rollout given by `type`.
 * Calls, payload, success and retries are implemented in `rollout/webhooks.ts`, which follows Flagger's
 * `pkg/controller/webhook.go`.
 */
export const CanaryWebhook = z.strictObject({
  name: str.optional(),
  /** One of {@link WEBHOOK_TYPES}; Flagger treats an absent or empty type as `rollout`. */
  type: str.optional(),
  /** Absolute http(s) URL; the hook is POSTed a JSON payload (`name`, `namespace`, `phase`, `checksum`, `metadata`). */
  url: str.optional(),
  /** Per-attempt request timeout (Go duration); Flagger's default `10s`. */
  timeout: duration.optional(),
  /**
   * Flagger (fluxcd/flagger#1541, 2023): how many times a failed call is retried — connection errors, timeouts,
   * HTTP 429 and 5xx except 501, as hashicorp/go-retryablehttp's default policy — with exponential backoff from 1 s.
   * Default 0.
   */
  retries: int.optional(),
  /**
   * Flagger: do not raise alerts for this hook's failures (e.g. a confirm gate that is expected to hold). weir has no
   * alert providers; the controller uses it to keep a holding gate out of its warnings.
   */
  muteAlert: bool.optional(),
  /** Key-value pairs passed to the hook in the payload's `metadata`. */
  metadata: z.record(z.string(), z.string()).optional(),
});
export type CanaryWebhook = z.infer<typeof CanaryWebhook>;

/** Flagger `CanaryAnalysis` plus weir's sequential fields. */
export const CanaryAnalysis = z.strictObject({
  /** Flagger: tick and query window. weir: the dwell per weight step. Default `1m`. */
  interval: duration.optional(),
  /** Flagger: failed checks before rollback. weir: feeds only the default `maxDuration` (§3.6). Default 5. */
  threshold: int.optional(),
  /** Highest canary weight before promotion (%), with `stepWeight`. */
  maxWeight: int.optional(),
  /** Weight increment per step (%). */
  stepWeight: int.optional(),
  /** Explicit weight ladder (%), instead of `stepWeight`. */
  stepWeights: z.array(int).optional(),
  /** A/B testing: checks with all matching traffic on the canary before promotion. */
  iterations: int.optional(),
  /** Istio HTTP matches that route to the canary (header-only phase). */
  match: z.array(HTTPMatchRequest).optional(),
  /** Mirror traffic to the canary before shifting weight. */
  mirror: bool.optional(),
  /** Percentage of traffic mirrored. */
  mirrorWeight: int.optional(),
  metrics: z.array(CanaryMetric).optional(),
  webhooks: z.array(CanaryWebhook).optional(),
  /** weir: θ₀, the tolerated relative risk canary/primary (> 1); default 1.2. */
  tolerance: num.optional(),
  /** weir: the error budget α of both the rollback and the not-worse tests, in (0, 0.5); default 0.05. */
  alpha: num.optional(),
  /** weir: the longest a run may take before it is INCONCLUSIVE; default `max(30m, interval × (steps + threshold))`. */
  maxDuration: duration.optional(),
  /** weir: what an INCONCLUSIVE run does; default `pause`. */
  onInconclusive: z.enum(INCONCLUSIVE_POLICIES).optional(),
  /** weir: sticky, monotone weight split (a user who reached the canary stays there); default true. */
  sticky: bool.optional(),
  /** weir: θ_m, the not-worse margin of the relative promotion route (> tolerance); default 2 (§1.6). */
  margin: num.optional(),
  /** weir: canary requests a step must see before it may end (§3.3); default 10. */
  minRequestsPerStep: int.optional(),
  /** weir: whether the canary-only SLO route may prove "not worse" (§3.2); default true. */
  promoteOnSLO: bool.optional(),
  /**
   * weir: how a rollback leaves the canary — `immediate` (default: 100 % primary at once) or `stepped` (down the
   * ladder's lower weights, one `interval` each, then 0; the judgement is over and the canary's errors keep counting
   * only for the log).
   */
  rollback: z.enum(['immediate', 'stepped']).optional(),
  /**
   * weir: the smallest latency threshold τ of the relative latency test (default `5ms`); the primary's p50/p90/p99
   * below it are raised to it, so sub-millisecond differences (connection set-up, warm-up) cannot roll back a canary.
   */
  latencyFloor: duration.optional(),
});
export type CanaryAnalysis = z.infer<typeof CanaryAnalysis>;

/** `Canary.spec`. Exactly one of `targetRef` and `virtualService` names the VirtualService. */
export const CanarySpec = z.strictObject({
  targetRef: CanaryTargetRef.optional(),
  virtualService: z.strictObject({ name: str.optional(), namespace: str.optional() }).optional(),
  /** The VirtualService host whose route is rolled out. */
  host: str.optional(),
  /** The DestinationRule subsets of the stable and the new version. */
  primarySubset: str.optional(),
  canarySubset: str.optional(),
  /**
   * The names of the VirtualService's HTTP routes the rollout manages (Argo Rollouts'
   * `trafficRouting.istio.virtualService.routes`); other routes are left alone. Default: the routes that send the host
   * to the primary subset, alone or split with the canary (`config/weir/canary-routes.ts`).
   */
  routes: z.array(str).optional(),
  /**
   * On a rollback or abort, also send the canary destinations of the routes the rollout does not manage (e.g. beta
   * testers → v2) to the primary subset. Default false: they are left alone and named in a warning.
   */
  rollbackUnmanagedRoutes: bool.optional(),
  analysis: CanaryAnalysis.optional(),
});
export type CanarySpec = z.infer<typeof CanarySpec>;
