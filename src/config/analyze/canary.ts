/**
 * Cross-resource checks of weir's `Canary` (`weir.dev/v1alpha1`, issue 12), reported as `IST0101`
 * (ReferencedResourceNotFound, istioctl's code for a reference to something that does not exist): the VirtualService
 * it names exists among the resources analysed, serves the Canary's host, has the routes named in `spec.routes` (or,
 * without them, a route that reaches the primary or canary subset), and a DestinationRule visible from the
 * VirtualService's namespace defines both subsets. These are the checks `weir rollout run` makes before it changes
 * anything (`rollout/router/file-router.ts`), moved forward to `weir validate`. Pure.
 */

import type { DestinationRuleIndex } from '../destination-rules.ts';
import { CODES, type Code } from '../diagnostics.ts';
import { hostMatches, resolveHost } from '../hosts.ts';
import { findService, type Registry } from '../registry.ts';
import type { Canary, VirtualService } from '../resources.ts';
import type { Report } from '../validate/report.ts';
import { routeName, selectManagedRoutes } from '../weir/canary-routes.ts';
import type { Analyzer } from './context.ts';

const IST0101 = { code: CODES.IST0101.code, level: 'error' } as const;

/** weir's Canary reference checks (`IST0101`), run with the analyzers. */
export const canaryAnalyzer: Analyzer = {
  name: 'weir.CanaryReferenceAnalyzer',
  codes: ['IST0101'],
  run(ctx) {
    const vss = ctx.of('VirtualService');
    for (const canary of ctx.of('Canary')) {
      const report: Report = (path, message, opts = {}) =>
        ctx.report(canary, path, (opts.code ?? CODES.IST0101.code) as Code, message, opts.level);
      checkCanary(canary, vss, ctx.registry, ctx.drIndex, report);
    }
  },
};

function checkCanary(
  canary: Canary,
  vss: readonly VirtualService[],
  registry: Registry,
  drIndex: DestinationRuleIndex,
  report: Report,
): void {
  const spec = canary.spec;
  const field = spec.targetRef !== undefined ? 'targetRef' : 'virtualService';
  const ref = spec.targetRef ?? spec.virtualService;
  if (!ref?.name || spec.host === undefined || !spec.primarySubset || !spec.canarySubset) return; // WEIR0020
  const vsNamespace = ref.namespace ?? canary.namespace;
  const vsName = `${vsNamespace}/${ref.name}`;
  const vs = vss.find((v) => v.namespace === vsNamespace && v.name === ref.name);
  if (!vs) {
    report(['spec', field, 'name'], `Referenced VirtualService not found: "${vsName}"`, IST0101);
    return;
  }
  // The Canary's host resolves in the VirtualService's namespace, as the VirtualService's own hosts do.
  const host = resolveHost(spec.host, vsNamespace, registry.clusterDomain);
  const vsHosts = (vs.spec.hosts ?? []).map((h) => resolveHost(h, vsNamespace, registry.clusterDomain));
  const hostServed = vsHosts.some((h) => hostMatches(h, host));
  if (!hostServed) {
    report(
      ['spec', 'host'],
      `Referenced host not found in VirtualService ${vsName}: "${spec.host}" (its hosts: ${vsHosts.join(', ') || 'none'})`,
      IST0101,
    );
  }

  const svc = findService(registry, host);
  const dr = drIndex.lookup(host, { namespace: vsNamespace }, svc?.namespace ?? null);
  let subsetsDefined = true;
  for (const f of ['primarySubset', 'canarySubset'] as const) {
    const subset = spec[f]!;
    if (dr?.subsets.has(subset)) continue;
    subsetsDefined = false;
    const why = dr
      ? `${f} ${subset} is not a subset of DestinationRule ${dr.sources.map((s) => `${s.namespace}/${s.name}`).join(', ')} (it defines ${[...dr.subsets.keys()].join(', ') || 'no subsets'})`
      : `${f} ${subset}: no DestinationRule for ${host} is visible from namespace ${vsNamespace}`;
    report([`spec`, f], `Referenced host+subset in destinationrule not found: "${host}+${subset}": ${why}`, IST0101);
  }

  const http = (vs.spec.http ?? []) as unknown[];
  const target = {
    host,
    primarySubset: spec.primarySubset,
    canarySubset: spec.canarySubset,
    namespace: vsNamespace,
    clusterDomain: registry.clusterDomain,
  };
  const managed = selectManagedRoutes(http, target, spec.routes);
  const names = http
    .map((r, i) => {
      const n = routeName(r);
      return n ? JSON.stringify(n) : `http[${i}] (unnamed)`;
    })
    .join(', ');
  for (const name of managed.missing) {
    const i = (spec.routes ?? []).indexOf(name);
    report(
      ['spec', 'routes', i],
      `Referenced route not found in VirtualService ${vsName}: "${name}" (its HTTP routes: ${names || 'none'})`,
      IST0101,
    );
  }
  // Reported only when the host and both subsets are right: otherwise the errors above name the cause.
  if (managed.indices.length === 0 && managed.missing.length === 0 && hostServed && subsetsDefined) {
    report(
      ['spec', field],
      `Referenced host+subset not routed: no HTTP route of VirtualService ${vsName} sends ${host} to subset ${spec.primarySubset} or ${spec.canarySubset}, so there is nothing to roll out`,
      IST0101,
    );
  }
}
