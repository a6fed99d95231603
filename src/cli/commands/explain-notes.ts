/**
 * Additions to the `weir explain` result that come from outside the routing decision: the route's hash policy in
 * Istio's terms, and the marking of routes `weir validate` reports as unreachable (IST0130) in the trace.
 */
import type { Diagnostic } from '../../config/diagnostics.ts';
import type { HashPolicy, TraceStep } from '../../routing/types.ts';
import { formatDurationMs } from '../../util/duration.ts';

/** A hash policy of the route in JSON (durations as Istio writes them). */
export type HashPolicyJson =
  | { type: 'header'; name: string }
  | {
      type: 'cookie';
      name: string;
      path: string | null;
      /** Lifetime of a cookie the proxy generates when the request has none (`"60s"`); null: never generated. */
      ttl: string | null;
      attributes: { name: string; value: string }[];
    }
  | { type: 'sourceIp' }
  | { type: 'queryParameter'; name: string };

/** The route's Envoy `hash_policy` list in JSON. */
export function hashPolicyJson(list: readonly HashPolicy[]): HashPolicyJson[] {
  return list.map((p) =>
    p.type === 'cookie'
      ? {
          type: 'cookie',
          name: p.name,
          path: p.path,
          ttl: p.ttlMs === null ? null : formatDurationMs(p.ttlMs),
          attributes: p.attributes.map((a) => ({ ...a })),
        }
      : { ...p },
  );
}

/** One hash policy in words, for the text output. */
export function describeHashPolicy(p: HashPolicyJson): string {
  switch (p.type) {
    case 'header':
      return `header ${p.name}`;
    case 'cookie':
      return `cookie ${p.name}${p.ttl !== null ? ` (generated with ttl ${p.ttl} when absent)` : ''}`;
    case 'sourceIp':
      return 'source IP';
    case 'queryParameter':
      return `query parameter ${p.name}`;
  }
}

const HTTP_INDEX = /^spec\.http\[(\d+)\]$/;

/**
 * Marks in the trace the routes of `vs` that `weir validate` reports as never reachable (IST0130, istio
 * `analyzeUnreachableHTTPRules`): a match step of such a route gets the reason appended, and a flagged route the
 * request did not try (Istio does not even emit routes after a catch-all) gets its own `unreachable` step after the
 * match steps, whichever route this request took. `vs.routeNames` are the names of its `http` routes.
 */
export function markUnreachableRoutes(
  trace: TraceStep[],
  diagnostics: readonly Diagnostic[],
  vs: { name: string; namespace: string; routeNames: readonly (string | null)[] },
): void {
  const flagged = new Map<number, string>();
  for (const d of diagnostics) {
    if (d.code !== 'IST0130' || d.resource?.kind !== 'VirtualService') continue;
    if (d.resource.name !== vs.name || d.resource.namespace !== vs.namespace) continue;
    const m = HTTP_INDEX.exec(d.field);
    if (m) flagged.set(Number(m[1]), d.message);
  }
  if (flagged.size === 0) return;
  const tried = new Set<number>();
  let lastMatch = -1;
  trace.forEach((t, i) => {
    if (t.step !== 'match' || !t.route || t.route.delegateIndex !== undefined) return;
    lastMatch = i;
    tried.add(t.route.index);
    const why = flagged.get(t.route.index);
    if (why !== undefined) t.message += ` — never reachable: ${why} (IST0130)`;
  });
  const notTried: TraceStep[] = [];
  for (const [index, why] of [...flagged].sort((a, b) => a[0] - b[0])) {
    if (tried.has(index)) continue;
    notTried.push({
      step: 'unreachable',
      route: { name: vs.routeNames[index] ?? null, index },
      matched: false,
      message: `never reached: ${why} (IST0130)`,
    });
  }
  trace.splice(lastMatch + 1, 0, ...notTried);
}
