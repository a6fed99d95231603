/**
 * IST0174 (the DestinationRule host matches no service) and IST0173 (a subset selects no endpoint): istio/istio
 * `pkg/config/analysis/analyzers/destinationrule/subset.go` (`SubsetSelectPodAnalyzer`); plus weir's WEIR0012
 * (ROUND_ROBIN over weighted endpoints), which needs the same service lookup.
 */
import { isWildcard } from '../hosts.ts';
import { labelsMatch, type Registry, type Service, servicesMatching } from '../registry.ts';
import type { DestinationRule } from '../resources.ts';
import type { AnalysisContext, Analyzer } from './context.ts';

function checkDestinationRule(ctx: AnalysisContext, dr: DestinationRule): void {
  const written = dr.spec.host ?? '';
  if (written === '') return;
  const host = ctx.drIndex.hostOfRule(dr);
  const services = servicesMatching(ctx.registry, host);
  if (services.length === 0) {
    ctx.report(
      dr,
      ['spec', 'host'],
      'IST0174',
      `The host ${written} defined in the DestinationRule does not match any services in the mesh.`,
    );
    return;
  }
  if (isWildcard(host)) return;
  const svc = services[0]!;
  checkRoundRobinWeights(ctx, dr, svc);
  (dr.spec.subsets ?? []).forEach((subset, i) => {
    const labels = subset.labels ?? {};
    if (Object.keys(labels).length === 0) return;
    const candidates = candidateLabelSets(svc, ctx.registry);
    if (!candidates.some((l) => labelsMatch(labels, l))) {
      ctx.report(
        dr,
        ['spec', 'subsets', i, 'name'],
        'IST0173',
        `The Subset ${subset.name ?? ''} defined in the DestinationRule does not select any pods, which may lead to 503 UH (NoHealthyUpstream).`,
      );
    }
  });
}

/**
 * WEIR0012: `simple: ROUND_ROBIN` over endpoints with different weights. The Istio API warns that round robin is
 * unsafe when endpoint weighting is used (it can overburden endpoints); LEAST_REQUEST, the default, is not.
 */
function checkRoundRobinWeights(ctx: AnalysisContext, dr: DestinationRule, svc: Service): void {
  const weights = new Set(svc.endpoints.map((e) => e.weight));
  if (weights.size < 2) return;
  const at: (string | number)[][] = [];
  if (dr.spec.trafficPolicy?.loadBalancer?.simple === 'ROUND_ROBIN')
    at.push(['spec', 'trafficPolicy', 'loadBalancer', 'simple']);
  (dr.spec.subsets ?? []).forEach((s, i) => {
    if (s.trafficPolicy?.loadBalancer?.simple === 'ROUND_ROBIN')
      at.push(['spec', 'subsets', i, 'trafficPolicy', 'loadBalancer', 'simple']);
  });
  for (const path of at) {
    ctx.report(
      dr,
      path,
      'WEIR0012',
      `ROUND_ROBIN over endpoints of ${svc.hostname} with different weights (${[...weights].sort((a, b) => a - b).join(', ')}): the Istio API calls round robin unsafe with endpoint weighting; LEAST_REQUEST (the default) balances weighted endpoints safely.`,
    );
  }
}

/** Label sets that can back a service: its endpoints, plus pod templates its selector matches. */
function candidateLabelSets(svc: Service, registry: Registry): Readonly<Record<string, string>>[] {
  const out: Readonly<Record<string, string>>[] = svc.endpoints.map((e) => e.labels);
  if (svc.selector) {
    for (const w of registry.workloads) {
      if (
        w.namespace === svc.namespace &&
        (w.kind === 'Deployment' || w.kind === 'StatefulSet' || w.kind === 'DaemonSet' || w.kind === 'Pod') &&
        labelsMatch(svc.selector, w.labels)
      )
        out.push(w.labels);
    }
  }
  return out;
}

/** `destinationrule.SubsetSelectPodAnalyzer` (IST0173, IST0174) and weir's WEIR0012. */
export const subsetSelectPodAnalyzer: Analyzer = {
  name: 'destinationrule.SubsetSelectPodAnalyzer',
  codes: ['IST0173', 'IST0174', 'WEIR0012'],
  *run(ctx) {
    for (const dr of ctx.of('DestinationRule')) {
      checkDestinationRule(ctx, dr);
      yield;
    }
  },
};
