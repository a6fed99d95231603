/**
 * Which routes of a VirtualService a `Canary` manages (`weir rollout`, issue 12), on plain JSON `spec.http` routes —
 * shared by the file router that rewrites them (`rollout/router/file-router.ts`) and by `weir validate`
 * (`config/analyze/canary.ts`). Pure: no I/O.
 *
 * The model is Argo Rollouts' (`trafficRouting.istio.virtualService(s)[].routes`: the names of the HTTP routes the
 * controller sets weights on; every other route is left alone):
 * - `spec.routes` names the managed routes (all routes with each name).
 * - Without it, the managed routes are those that **split between the primary and the canary**: every route (but
 *   weir's own {@link CANARY_MATCH_ROUTE}) with a destination that sends the Canary's host to the primary subset,
 *   alone or next to the canary subset. A route that sends the host only to the canary (the article's beta testers →
 *   v2) is not managed: it keeps sending its users to the canary whatever the rollout does. When no route reaches the
 *   primary — a VirtualService at 100 % canary, after a promotion or at the 100 % step — the routes that reach the
 *   canary are the managed ones. (Argo requires the list when the VirtualService has more than one HTTP route; weir
 *   derives it instead, so the article's files work unchanged.)
 *
 * A run resolves the set once when it starts and keeps it ({@link RouteRef}s in its status): at the 100 % step and
 * after a restart the same routes are managed, whatever they send to by then. Unnamed routes are identified by their
 * position among the routes that are not weir's match route (`spec.http[i]` as the user wrote it).
 */

import { resolveHost } from '../hosts.ts';

/** The name of the route weir inserts for the header-only phase (never a managed route, never the user's). */
export const CANARY_MATCH_ROUTE = 'weir-canary-match';

/** A managed route: by name, or (unnamed) by its position among the user's routes ({@link userRouteIndices}). */
export type RouteRef = { readonly name: string } | { readonly index: number };

/** What a Canary rolls out, for classifying destinations. */
export interface CanaryRouteTarget {
  /** The rolled-out service's FQDN. */
  readonly host: string;
  readonly primarySubset: string;
  readonly canarySubset: string;
  /** The VirtualService's namespace (destination short names resolve in it). */
  readonly namespace: string;
  readonly clusterDomain?: string;
}

/** A destination's part in a rollout: the primary or canary subset of the host, or anything else. */
export type DestinationRole = 'primary' | 'canary' | 'other';

/** The role of an Istio `Destination` (`{host, subset, port}`; anything else is `other`). */
export function destinationRole(destination: unknown, t: CanaryRouteTarget): DestinationRole {
  const d = destination as { host?: unknown; subset?: unknown } | null | undefined;
  if (typeof d?.host !== 'string' || d.host === '') return 'other';
  if (resolveHost(d.host, t.namespace, t.clusterDomain) !== t.host) return 'other';
  if (d.subset === t.primarySubset) return 'primary';
  if (d.subset === t.canarySubset) return 'canary';
  return 'other';
}

/** The roles of a route's `route[].destination`s, in order. */
export function routeDestinationRoles(route: unknown, t: CanaryRouteTarget): DestinationRole[] {
  const r = route as { route?: unknown } | null | undefined;
  if (!Array.isArray(r?.route)) return [];
  return r.route.map((rd) => destinationRole((rd as { destination?: unknown } | null)?.destination, t));
}

/** The `name` of a route, or null. */
export function routeName(route: unknown): string | null {
  const n = (route as { name?: unknown } | null | undefined)?.name;
  return typeof n === 'string' ? n : null;
}

/** `spec.http` indices of the user's routes (every route but weir's {@link CANARY_MATCH_ROUTE}), in order. */
export function userRouteIndices(http: readonly unknown[]): number[] {
  const out: number[] = [];
  http.forEach((r, i) => {
    if (routeName(r) !== CANARY_MATCH_ROUTE) out.push(i);
  });
  return out;
}

/** The {@link RouteRef} of `spec.http[i]`: its name, or its position among the user's routes. */
export function routeRefAt(http: readonly unknown[], i: number): RouteRef {
  const name = routeName(http[i]);
  return name !== null && name !== '' ? { name } : { index: userRouteIndices(http).indexOf(i) };
}

/** The `spec.http` indices a ref designates (every route with the name; the unnamed route at the position). */
export function routeIndicesOf(http: readonly unknown[], ref: RouteRef): number[] {
  if ('name' in ref) {
    const out: number[] = [];
    http.forEach((r, i) => {
      if (routeName(r) === ref.name) out.push(i);
    });
    return out;
  }
  const i = userRouteIndices(http)[ref.index];
  return i !== undefined && (routeName(http[i]) ?? '') === '' ? [i] : [];
}

/** `"public-traffic-split"` or `the unnamed route http[2]` (the position among the user's routes). */
export function describeRouteRef(ref: RouteRef): string {
  return 'name' in ref ? JSON.stringify(ref.name) : `the unnamed route http[${ref.index}]`;
}

/** The managed routes of a Canary over `spec.http`, or why there are none. */
export interface ManagedRoutes {
  readonly refs: RouteRef[];
  /** `spec.http` indices of the managed routes, ascending. */
  readonly indices: number[];
  /** How they were chosen, for messages. */
  readonly how: 'named' | 'split' | 'canary-only';
  /** Names in `spec.routes` that no route has, in order (the rest are still managed). */
  readonly missing: string[];
}

/**
 * Resolves the managed routes: `names` (the Canary's `spec.routes`) when given, else the default of the file comment.
 * Never throws; an empty `indices` means nothing can be rolled out.
 */
export function selectManagedRoutes(
  http: readonly unknown[],
  t: CanaryRouteTarget,
  names: readonly string[] | null | undefined,
): ManagedRoutes {
  if (names && names.length > 0) {
    const missing: string[] = [];
    const indices = new Set<number>();
    for (const name of names) {
      const found = name === CANARY_MATCH_ROUTE ? [] : routeIndicesOf(http, { name });
      if (found.length === 0) missing.push(name);
      for (const i of found) indices.add(i);
    }
    const sorted = [...indices].sort((a, b) => a - b);
    return { refs: refsOf(http, sorted), indices: sorted, how: 'named', missing };
  }
  const user = userRouteIndices(http);
  const reaching = (role: DestinationRole) =>
    user.filter((i) => routeDestinationRoles(http[i], t).some((r) => r === role));
  const split = reaching('primary');
  if (split.length > 0) return { refs: refsOf(http, split), indices: split, how: 'split', missing: [] };
  const canary = reaching('canary');
  return { refs: refsOf(http, canary), indices: canary, how: 'canary-only', missing: [] };
}

/** Resolves persisted refs to `spec.http` indices; `missing` lists the refs no route matches any more. */
export function resolveRouteRefs(
  http: readonly unknown[],
  refs: readonly RouteRef[],
): { indices: number[]; missing: RouteRef[] } {
  const indices = new Set<number>();
  const missing: RouteRef[] = [];
  for (const ref of refs) {
    const found = routeIndicesOf(http, ref);
    if (found.length === 0) missing.push(ref);
    for (const i of found) indices.add(i);
  }
  return { indices: [...indices].sort((a, b) => a - b), missing };
}

function refsOf(http: readonly unknown[], indices: readonly number[]): RouteRef[] {
  const seen = new Set<string>();
  const out: RouteRef[] = [];
  for (const i of indices) {
    const ref = routeRefAt(http, i);
    const key = JSON.stringify(ref);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(ref);
    }
  }
  return out;
}
