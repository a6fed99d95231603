/**
 * IST0101 for destinations (host, host:port, host+subset not found) and IST0112 (port selector required):
 * istio/istio `pkg/config/analysis/analyzers/virtualservice/destinationhosts.go` (`DestinationHostAnalyzer`) and
 * `destinationrules.go` (`DestinationRuleAnalyzer`, the subset check).
 */
import { isExportedTo } from '../destination-rules.ts';
import { resolveHost } from '../hosts.ts';
import type { Destination } from '../istio/schemas.ts';
import { findService, type Registry, type Service } from '../registry.ts';
import type { VirtualService } from '../resources.ts';
import type { AnalysisContext, Analyzer } from './context.ts';

/** A destination of a VirtualService with its field path and what Istio calls it in messages. */
export interface DestinationRef {
  path: (string | number)[];
  destination: Destination;
  what: 'host' | 'mirror host';
}

/** Every destination of a VirtualService with its field path (routes, mirrors, tcp and tls routes). */
export function destinationsOf(vs: VirtualService): DestinationRef[] {
  const out: DestinationRef[] = [];
  (vs.spec.http ?? []).forEach((rule, i) => {
    if (!rule) return;
    (rule.route ?? []).forEach((rd, j) => {
      if (rd.destination)
        out.push({ path: ['spec', 'http', i, 'route', j, 'destination'], destination: rd.destination, what: 'host' });
    });
    if (rule.mirror) out.push({ path: ['spec', 'http', i, 'mirror'], destination: rule.mirror, what: 'mirror host' });
    (rule.mirrors ?? []).forEach((m, j) => {
      if (m.destination)
        out.push({
          path: ['spec', 'http', i, 'mirrors', j, 'destination'],
          destination: m.destination,
          what: 'mirror host',
        });
    });
  });
  for (const proto of ['tcp', 'tls'] as const) {
    (vs.spec[proto] ?? []).forEach((rule, i) => {
      (rule.route ?? []).forEach((rd, j) => {
        if (rd.destination)
          out.push({ path: ['spec', proto, i, 'route', j, 'destination'], destination: rd.destination, what: 'host' });
      });
    });
  }
  return out;
}

function visibleService(registry: Registry, host: string, clientNs: string): Service | null {
  const s = findService(registry, host);
  if (!s) return null;
  return isExportedTo(s.exportTo, s.namespace, clientNs) ? s : null;
}

function checkVirtualService(ctx: AnalysisContext, vs: VirtualService): void {
  const { registry, drIndex } = ctx;
  for (const ref of destinationsOf(vs)) {
    const written = ref.destination.host ?? '';
    if (written === '') continue;
    const host = resolveHost(written, vs.namespace, registry.clusterDomain);
    const svc = visibleService(registry, host, vs.namespace);
    if (!svc) {
      ctx.report(vs, [...ref.path, 'host'], 'IST0101', `Referenced ${ref.what} not found: "${written}"`);
      continue;
    }
    const port = ref.destination.port?.number;
    if (port === undefined) {
      if (svc.ports.length > 1) {
        ctx.report(
          vs,
          [...ref.path, 'host'],
          'IST0112',
          `This VirtualService routes to a service "${written}" that exposes multiple ports [${svc.ports.map((p) => p.number).join(' ')}]. Specifying a port in the destination is required to disambiguate.`,
        );
      }
    } else if (!svc.ports.some((p) => p.number === port)) {
      ctx.report(
        vs,
        [...ref.path, 'port', 'number'],
        'IST0101',
        `Referenced host:port not found: "${written}:${port}"`,
      );
    }
    const subset = ref.destination.subset;
    if (subset) {
      const dr = drIndex.lookup(host, { namespace: vs.namespace }, svc.namespace);
      if (!dr?.subsets.has(subset)) {
        const what = ref.what === 'host' ? 'host+subset in destinationrule' : 'mirror+subset in destinationrule';
        ctx.report(vs, [...ref.path, 'subset'], 'IST0101', `Referenced ${what} not found: "${written}+${subset}"`);
      }
    }
  }
}

/** `virtualservice.DestinationHostAnalyzer` + the subset part of `virtualservice.DestinationRuleAnalyzer`. */
export const destinationHostAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer',
  codes: ['IST0101', 'IST0112'],
  *run(ctx) {
    for (const vs of ctx.of('VirtualService')) {
      checkVirtualService(ctx, vs);
      yield;
    }
  },
};
