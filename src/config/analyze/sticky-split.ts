/**
 * WEIR0010 (weir's own): a route splits one host across several subsets by weight while the DestinationRule for
 * that host sets `consistentHash`. Envoy picks the subset at random per request before the hash runs inside the
 * subset (istio-semantics §9; envoyproxy/envoy#8167, istio/istio#17181), so users do not stay on one version.
 */

import { resolveHost } from '../hosts.ts';
import { findService } from '../registry.ts';
import type { VirtualService } from '../resources.ts';
import type { AnalysisContext, Analyzer } from './context.ts';

function checkStickyWeightedSplit(ctx: AnalysisContext, vs: VirtualService): void {
  const { registry, drIndex } = ctx;
  if (vs.annotations['weir.dev/sticky-split'] === 'true') return;
  (vs.spec.http ?? []).forEach((rule, i) => {
    const weighted = (rule?.route ?? []).filter((rd) => (rd.weight ?? 0) > 0);
    if (!rule || weighted.length < 2) return;
    const byHost = new Map<string, Set<string>>();
    for (const rd of weighted) {
      const host = resolveHost(rd.destination?.host ?? '', vs.namespace, registry.clusterDomain);
      const set = byHost.get(host) ?? new Set<string>();
      set.add(rd.destination?.subset ?? '');
      byHost.set(host, set);
    }
    for (const [host, subsets] of byHost) {
      if (subsets.size < 2) continue;
      const svc = findService(registry, host);
      const dr = drIndex.lookup(host, { namespace: vs.namespace }, svc?.namespace ?? null);
      if (!dr) continue;
      const hashed = [...subsets].some((s) => {
        const sub = s ? dr.subsets.get(s) : undefined;
        const lb = sub?.trafficPolicy?.loadBalancer ?? dr.trafficPolicy?.loadBalancer;
        return (
          lb?.consistentHash !== undefined ||
          (dr.trafficPolicy?.portLevelSettings ?? []).some((p) => p.loadBalancer?.consistentHash)
        );
      });
      if (!hashed) continue;
      const names = [...subsets].map((s) => s || '(no subset)').join(', ');
      const src = dr.sources[0];
      const drName = src ? `${src.namespace}/${src.name}` : host;
      ctx.report(
        vs,
        ['spec', 'http', i, 'route'],
        'WEIR0010',
        `DestinationRule ${drName} sets consistentHash, but this route splits ${host} across subsets ${names} by weight: Envoy picks the subset at random on every request and hashes only within it, so a user does NOT stay on one version. For stickiness, route canary users by a header or cookie match, or set the annotation weir.dev/sticky-split: "true" on this VirtualService (weir extension, see docs/compatibility.md).`,
      );
    }
  });
}

/** weir's consistent-hash-across-subsets check (WEIR0010). */
export const stickySplitAnalyzer: Analyzer = {
  name: 'weir.StickySplitAnalyzer',
  codes: ['WEIR0010'],
  *run(ctx) {
    for (const vs of ctx.of('VirtualService')) {
      checkStickyWeightedSplit(ctx, vs);
      yield;
    }
  },
};
