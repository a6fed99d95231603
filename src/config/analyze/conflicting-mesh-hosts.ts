/**
 * IST0109: several mesh VirtualServices define the same host in overlapping exportTo scopes (istio/istio
 * `pkg/config/analysis/analyzers/virtualservice/conflictingmeshgatewayhosts.go`).
 */
import { byCreation } from '../destination-rules.ts';
import { appliesToMesh } from '../gateways.ts';
import { resolveHost } from '../hosts.ts';
import type { VirtualService } from '../resources.ts';
import type { Analyzer } from './context.ts';

function exportScope(vs: VirtualService): Set<string> | '*' {
  const e = vs.spec.exportTo ?? [];
  if (e.length === 0 || e.includes('*')) return '*';
  return new Set(e.map((x) => (x === '.' ? vs.namespace : x)));
}

function scopesOverlap(a: VirtualService, b: VirtualService): boolean {
  const sa = exportScope(a);
  const sb = exportScope(b);
  if (sa === '*' || sb === '*') return true;
  for (const x of sa) if (sb.has(x)) return true;
  return false;
}

/** `virtualservice.ConflictingMeshGatewayHostsAnalyzer`: one diagnostic per conflicting VirtualService. */
export const conflictingMeshGatewayHostsAnalyzer: Analyzer = {
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  codes: ['IST0109'],
  *run(ctx) {
    const clusterDomain = ctx.registry.clusterDomain;
    const byHost = new Map<string, { vs: VirtualService; index: number }[]>();
    for (const vs of [...ctx.of('VirtualService')].sort(byCreation)) {
      yield;
      if (!appliesToMesh(vs)) continue;
      (vs.spec.hosts ?? []).forEach((h, index) => {
        const host = resolveHost(h, vs.namespace, clusterDomain);
        const list = byHost.get(host) ?? [];
        list.push({ vs, index });
        byHost.set(host, list);
      });
    }
    for (const [host, list] of byHost) {
      if (list.length < 2) continue;
      const names = list.map((e) => `${e.vs.namespace}/${e.vs.name}`);
      for (const e of list) {
        const others = list.filter((o) => o !== e && scopesOverlap(o.vs, e.vs));
        if (others.length === 0) continue;
        ctx.report(
          e.vs,
          ['spec', 'hosts', e.index],
          'IST0109',
          `The VirtualServices ${names.join(',')} associated with mesh gateway define the same host ${host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
        );
      }
    }
  },
};
