/**
 * Delegate VirtualServices (one level): a root route with `delegate` is replaced, in place, by one merged route per
 * delegate route (istio/istio `pilot/pkg/model/virtualservice.go` `mergeHTTPRoutes`, istio-semantics §1.6).
 * Fields unset in the delegate route are inherited whole from the root; matches are merged as a product of
 * compatible pairs; a delegate route with a match that conflicts with every root match is dropped.
 */
import type { HTTPMatchRequest, HTTPRoute, StringMatch } from '../config/istio/schemas.ts';

const INHERITED = [
  'rewrite',
  'directResponse',
  'timeout',
  'retries',
  'fault',
  'mirror',
  'mirrorPercent',
  'mirrorPercentage',
  'corsPolicy',
  'mirrors',
  'headers',
] as const;

/** Merges one root route with the routes of its delegate. Returns the merged routes with their delegate index. */
export function mergeDelegateRoutes(
  root: HTTPRoute,
  delegateRoutes: readonly (HTTPRoute | null)[],
): { route: HTTPRoute; delegateIndex: number }[] {
  const out: { route: HTTPRoute; delegateIndex: number }[] = [];
  delegateRoutes.forEach((d, delegateIndex) => {
    if (!d) return;
    const merged: HTTPRoute = { ...d };
    for (const f of INHERITED) {
      if (merged[f] === undefined && root[f] !== undefined) (merged as Record<string, unknown>)[f] = root[f];
    }
    merged.name = root.name && d.name ? `${root.name}-${d.name}` : (d.name ?? root.name);
    delete merged.delegate;
    const rootMatches = (root.match ?? []).filter((m): m is HTTPMatchRequest => m !== null);
    const delegateMatches = (d.match ?? []).filter((m): m is HTTPMatchRequest => m !== null);
    if (rootMatches.length === 0) {
      merged.match = delegateMatches.length > 0 ? delegateMatches : undefined;
    } else if (delegateMatches.length === 0) {
      merged.match = rootMatches;
    } else {
      const product: HTTPMatchRequest[] = [];
      for (const dm of delegateMatches) {
        const compatible = rootMatches.filter((rm) => !hasConflict(rm, dm));
        if (compatible.length === 0) return; // conflict: the whole delegate route is dropped
        for (const rm of compatible) product.push(mergeMatch(rm, dm));
      }
      merged.match = product;
    }
    out.push({ route: merged, delegateIndex });
  });
  return out;
}

function mergeMatch(root: HTTPMatchRequest, d: HTTPMatchRequest): HTTPMatchRequest {
  const out: HTTPMatchRequest = { ...d };
  for (const f of [
    'uri',
    'scheme',
    'method',
    'authority',
    'port',
    'sourceNamespace',
    'gateways',
    'statPrefix',
  ] as const) {
    if (out[f] === undefined && root[f] !== undefined) (out as Record<string, unknown>)[f] = root[f];
  }
  for (const f of ['headers', 'withoutHeaders', 'queryParams', 'sourceLabels'] as const) {
    if (root[f] || d[f]) (out as Record<string, unknown>)[f] = { ...(root[f] ?? {}), ...(d[f] ?? {}) };
  }
  return out;
}

/** Istio `stringMatchConflict`: can the root's and the delegate's match on one field never both hold? */
function stringConflict(root: StringMatch | null | undefined, d: StringMatch | null | undefined): boolean {
  if (!root || !d) return false;
  if (root.regex !== undefined || d.regex !== undefined) return true;
  if (root.exact !== undefined) {
    if (d.prefix !== undefined) return true;
    if (d.exact !== undefined) return d.exact !== root.exact;
    return false;
  }
  if (root.prefix !== undefined) {
    const v = d.exact ?? d.prefix;
    if (v !== undefined) return !v.startsWith(root.prefix);
  }
  return false;
}

/** Istio `hasConflict` between a root match and a delegate match. */
function hasConflict(root: HTTPMatchRequest, d: HTTPMatchRequest): boolean {
  if (
    stringConflict(root.uri, d.uri) ||
    stringConflict(root.scheme, d.scheme) ||
    stringConflict(root.method, d.method) ||
    stringConflict(root.authority, d.authority)
  )
    return true;
  if ((root.ignoreUriCase ?? false) !== (d.ignoreUriCase ?? false)) return true;
  if (root.port && d.port && root.port !== d.port) return true;
  for (const f of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    for (const [k, rv] of Object.entries(root[f] ?? {})) {
      const dv = d[f]?.[k];
      if (dv !== undefined && stringConflict(rv, dv)) return true;
    }
  }
  if (root.sourceNamespace && d.sourceNamespace && root.sourceNamespace !== d.sourceNamespace) return true;
  for (const [k, v] of Object.entries(root.sourceLabels ?? {})) {
    const dv = d.sourceLabels?.[k];
    if (dv !== undefined && dv !== v) return true;
  }
  if (d.gateways && d.gateways.length > 0) {
    const rg = root.gateways ?? [];
    if (rg.length > 0 && !d.gateways.every((g) => rg.includes(g))) return true;
  }
  return false;
}
