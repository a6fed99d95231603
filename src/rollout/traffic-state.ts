/**
 * The traffic states of a rollout (issue 8): what a step asks of the VirtualService (canary weight, header-only route,
 * mirror, sticky split), the {@link TrafficRouter} that writes them (`router/file-router.ts` today), and the states of
 * each phase, of a promotion and of a rollback. Pure.
 */
import type { RouteRef } from '../config/weir/canary-routes.ts';
import type { RolloutPlan, RolloutStep } from './plan.ts';

/** The VirtualService state a rollout step needs (see `router/file-router.ts`). */
export interface TrafficState {
  /** Canary weight on the rolled-out routes, percent 0..100. */
  readonly canaryWeight: number;
  /** Header-only route to the canary (Istio HTTPMatchRequests), or null. */
  readonly match: readonly unknown[] | null;
  /** Percentage of the rolled-out routes' traffic mirrored to the canary, or null. */
  readonly mirrorPercent: number | null;
  /** The `weir.dev/sticky-split` annotation. */
  readonly sticky: boolean;
  /**
   * On the way back to 100 % primary (weight 0, no match route): also send the routes the rollout does not manage
   * from the canary to the primary (the Canary's `rollbackUnmanagedRoutes`). Not compared by {@link sameTrafficState}.
   */
  readonly unmanagedToPrimary?: boolean;
}

/** Applies traffic states (a file rewrite today; a Kubernetes API call later). */
export interface TrafficRouter {
  /** For logs: what is being rewritten. */
  readonly description: string;
  /** The routes the rollout manages (`config/weir/canary-routes.ts`), persisted so a resumed run keeps them. */
  readonly managedRoutes?: readonly RouteRef[];
  read(): Promise<TrafficState>;
  /**
   * Writes `state`. In a state where the managed routes reach the canary no more (weight 0, no match, no mirror),
   * `unmanagedToCanary` lists the other routes that still send requests to (or mirror to) the canary.
   */
  apply(state: TrafficState): Promise<{ changed: boolean; unmanagedToCanary?: readonly string[] }>;
}

/** Whether two traffic states route the same (weight, header route, mirror, sticky annotation). */
export function sameTrafficState(a: TrafficState, b: TrafficState): boolean {
  return (
    a.canaryWeight === b.canaryWeight &&
    a.mirrorPercent === b.mirrorPercent &&
    a.sticky === b.sticky &&
    JSON.stringify(a.match ?? null) === JSON.stringify(b.match ?? null)
  );
}

/** `canary 25 %, header route, mirror 20 %, sticky` */
export function describeTraffic(s: TrafficState): string {
  return [
    `canary ${s.canaryWeight} %`,
    s.match ? 'header route' : null,
    s.mirrorPercent !== null ? `mirror ${s.mirrorPercent} %` : null,
    s.sticky ? 'sticky' : null,
  ]
    .filter(Boolean)
    .join(', ');
}

/** The traffic state of step `i` of a plan. */
export function stateForStep(plan: RolloutPlan, step: RolloutStep): TrafficState {
  switch (step.kind) {
    case 'header':
      return { canaryWeight: 0, match: plan.match, mirrorPercent: null, sticky: false };
    case 'mirror':
      return { canaryWeight: 0, match: plan.match, mirrorPercent: step.mirrorPercent, sticky: false };
    case 'weight':
      return {
        canaryWeight: step.weight,
        match: step.weight >= 100 ? null : plan.match,
        mirrorPercent: null,
        sticky: plan.sticky && step.weight < 100,
      };
  }
}

/** 100 % canary, no header route, no mirror (promotion). */
export const PROMOTED_STATE: TrafficState = { canaryWeight: 100, match: null, mirrorPercent: null, sticky: false };
/** 100 % primary, no header route, no mirror (rollback). */
export const ROLLED_BACK_STATE: TrafficState = { canaryWeight: 0, match: null, mirrorPercent: null, sticky: false };
