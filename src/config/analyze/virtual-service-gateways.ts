/**
 * The gateways a VirtualService names: istio/istio `pkg/config/analysis/analyzers/virtualservice/gateways.go`
 * (`GatewayAnalyzer`). IST0101 for a gateway that does not exist.
 */
import { gatewayFullName } from '../gateways.ts';
import type { VirtualService } from '../resources.ts';
import type { AnalysisContext, Analyzer } from './context.ts';

function checkVirtualService(ctx: AnalysisContext, vs: VirtualService, known: ReadonlySet<string>): void {
  const check = (name: string, path: (string | number)[]): void => {
    if (name === 'mesh') return;
    if (!known.has(gatewayFullName(name, vs.namespace)))
      ctx.report(vs, path, 'IST0101', `Referenced gateway not found: "${name}"`);
  };
  (vs.spec.gateways ?? []).forEach((g, i) => check(g, ['spec', 'gateways', i]));
  (vs.spec.http ?? []).forEach((rule, i) =>
    (rule?.match ?? []).forEach((m, j) =>
      (m?.gateways ?? []).forEach((g, k) => check(g, ['spec', 'http', i, 'match', j, 'gateways', k])),
    ),
  );
}

/** `virtualservice.GatewayAnalyzer`. */
export const gatewayAnalyzer: Analyzer = {
  name: 'virtualservice.GatewayAnalyzer',
  codes: ['IST0101'],
  run(ctx) {
    const known = new Set(ctx.of('Gateway').map((g) => `${g.namespace}/${g.name}`));
    for (const vs of ctx.of('VirtualService')) checkVirtualService(ctx, vs, known);
  },
};
