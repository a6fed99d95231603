/**
 * IST0140: a VirtualService bound to gateways routes to a host without a subset, while a VirtualService for that
 * host splits it by subset. Requests through the gateway go straight to the host's cluster, so that
 * VirtualService's subsets never apply to them. istio/istio `pkg/config/analysis/analyzers/virtualservice/
 * destinationhosts.go` (`analyzeSubset`), reproduced exactly:
 *
 * - the VirtualService checked has any `gateways` entry (`mesh` included);
 * - the other side is every VirtualService (this one included) with an HTTP route destination that has a subset and
 *   whose `host` equals one of that VirtualService's `hosts`;
 * - hosts are compared as written (`reviews` and `reviews.prod.svc.cluster.local` are different strings);
 * - one diagnostic per matching destination; identical lines are merged, as istioctl does.
 */
import type { Destination } from '../istio/schemas.ts';
import type { VirtualService } from '../resources.ts';
import type { Analyzer } from './context.ts';

/** The HTTP route destinations with a subset whose host is one of the VirtualService's own hosts. */
function subsetDestinations(vs: VirtualService): Destination[] {
  const hosts = vs.spec.hosts ?? [];
  const out: Destination[] = [];
  for (const rule of vs.spec.http ?? []) {
    for (const rd of rule?.route ?? []) {
      const d = rd.destination;
      if (d?.subset && hosts.includes(d.host ?? '')) out.push(d);
    }
  }
  return out;
}

/** The subset part of `virtualservice.DestinationHostAnalyzer`: IST0140. */
export const ingressSubsetAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer (subsets)',
  codes: ['IST0140'],
  run(ctx) {
    const vss = ctx.of('VirtualService');
    const withSubsets = vss
      .map((vs) => ({ vs, destinations: subsetDestinations(vs) }))
      .filter((e) => e.destinations.length > 0);
    for (const vs of vss) {
      if ((vs.spec.gateways ?? []).length === 0) continue;
      (vs.spec.http ?? []).forEach((rule, i) => {
        (rule?.route ?? []).forEach((rd, j) => {
          const d = rd.destination;
          if (!d || d.subset) return;
          for (const other of withSubsets) {
            for (const od of other.destinations) {
              if (od.host !== d.host) continue;
              ctx.report(
                vs,
                ['spec', 'http', i, 'route', j, 'destination', 'host'],
                'IST0140',
                `Subset in virtual service ${other.vs.namespace}/${other.vs.name} has no effect on ingress gateway ${vs.namespace}/${vs.name} requests`,
              );
            }
          }
        });
      });
    }
  },
};
