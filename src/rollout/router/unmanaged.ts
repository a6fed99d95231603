/**
 * The routes a rollout does not manage, on its way back to the primary (issue 12): which of them still reach the
 * canary subset ({@link canaryReach}, for the controller's warning), and the opt-in rewrite that sends their canary
 * destinations to the primary subset ({@link releaseToPrimary}, the Canary's `rollbackUnmanagedRoutes`). Mirrors to
 * the canary are reported but never removed: they change no user's response.
 */
import { isMap, isScalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { type CanaryRouteTarget, type DestinationRole, destinationRole } from '../../config/weir/canary-routes.ts';
import { findPair, type SourceEditor } from './yaml-edit.ts';

/** The parts of a route the rewrite needs (the router's view of one `http[]` item). */
export interface UnmanagedRoute {
  readonly node: YAMLMap;
  readonly dests: readonly { readonly node: YAMLMap; readonly role: DestinationRole; readonly weight?: number }[];
}

/**
 * How a route (plain JSON) reaches the canary subset of the target: `v2` for a route destination (`v2 (weight 30)`
 * when it shares the route), `mirror to v2` for a mirror. Empty when it does not.
 */
export function canaryReach(route: Record<string, unknown>, t: CanaryRouteTarget): string[] {
  const out: string[] = [];
  const dests = Array.isArray(route.route) ? (route.route as { destination?: unknown; weight?: unknown }[]) : [];
  for (const d of dests) {
    if (destinationRole(d?.destination, t) !== 'canary') continue;
    out.push(
      dests.length > 1 && typeof d.weight === 'number' ? `${t.canarySubset} (weight ${d.weight})` : t.canarySubset,
    );
  }
  const mirrors = [
    route.mirror,
    ...(Array.isArray(route.mirrors) ? (route.mirrors as { destination?: unknown }[]).map((m) => m?.destination) : []),
  ];
  for (const m of mirrors) if (destinationRole(m, t) === 'canary') out.push(`mirror to ${t.canarySubset}`);
  return out;
}

/**
 * Sends a route's canary destinations to the primary subset, as a person would write it: merged into the route's
 * primary destination when it has one (weights added; a lone remaining destination keeps weight 100), otherwise each
 * canary destination's subset becomes the primary's (everything else in it kept).
 */
export function releaseToPrimary(ed: SourceEditor, r: UnmanagedRoute, primarySubset: string): void {
  const canaries = r.dests.filter((d) => d.role === 'canary');
  if (canaries.length === 0) return;
  const primary = r.dests.find((d) => d.role === 'primary');
  if (!primary) {
    for (const c of canaries) {
      const dest = c.node.get('destination', true);
      const subset = isMap(dest) ? findPair(dest, 'subset') : undefined;
      if (subset && isScalar(subset.value)) ed.setScalar(subset.value, primarySubset);
    }
    return;
  }
  const seq = r.node.get('route', true) as unknown as YAMLSeq;
  const remaining = r.dests.length - canaries.length;
  const pair = findPair(primary.node, 'weight');
  if (remaining === 1) {
    if (pair && isScalar(pair.value)) ed.setScalar(pair.value, 100);
  } else {
    const w = (primary.weight ?? 0) + canaries.reduce((a, d) => a + (d.weight ?? 0), 0);
    if (pair && isScalar(pair.value)) ed.setScalar(pair.value, w);
    else ed.insertPair(primary.node, 'weight', w);
  }
  for (const c of canaries) ed.deleteItem(seq, c.node);
}
