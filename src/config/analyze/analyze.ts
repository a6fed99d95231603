/**
 * Cross-resource analysis: what `istioctl analyze` reports about VirtualServices and DestinationRules that
 * istiod would accept but that would not work as intended (istio/istio `pkg/config/analysis/analyzers/
 * virtualservice/*.go`, `destinationrule/*.go`), plus weir's own checks for traps users hit (`WEIR0010`).
 * Pure: works on resources and the registry only.
 */

import { byCreation, DestinationRuleIndex, isExportedTo } from '../destination-rules.ts';
import { CODES, type Diagnostic } from '../diagnostics.ts';
import { appliesToMesh, gatewayFullName } from '../gateways.ts';
import { isWildcard, resolveHost } from '../hosts.ts';
import type { Destination } from '../istio/schemas.ts';
import { findService, labelsMatch, type Registry, type Service, servicesMatching } from '../registry.ts';
import type { DestinationRule, Gateway, Resource, VirtualService } from '../resources.ts';
import { createReporter, type Report } from '../validate/report.ts';
import { checkCanaries } from './canary.ts';

/** Inputs of {@link analyze}: the resources that passed webhook validation and the registry built from them. */
export interface AnalysisInput {
  resources: readonly Resource[];
  registry: Registry;
}

/** Runs every analyzer and returns their diagnostics (unsorted). Never throws. */
export function analyze(input: AnalysisInput): Diagnostic[] {
  const out: Diagnostic[] = [];
  const vss = input.resources.filter((r): r is VirtualService => r.kind === 'VirtualService');
  const drs = input.resources.filter((r): r is DestinationRule => r.kind === 'DestinationRule');
  const gws = input.resources.filter((r): r is Gateway => r.kind === 'Gateway');
  const drIndex = new DestinationRuleIndex(drs, input.registry.clusterDomain);
  for (const vs of vss) {
    const report = createReporter(vs, out);
    checkDestinations(vs, report, input.registry, drIndex);
    checkGateways(vs, report, gws);
    checkStickyWeightedSplit(vs, report, input.registry, drIndex);
  }
  checkConflictingMeshHosts(vss, out, input.registry.clusterDomain);
  for (const dr of drs) checkDestinationRule(dr, createReporter(dr, out), input.registry, drIndex);
  checkCanaries(input.resources, input.registry, drIndex, out);
  return out;
}

interface DestinationRef {
  path: (string | number)[];
  destination: Destination;
  what: 'host' | 'mirror host';
}

/** Every destination of a VirtualService with its field path (routes, mirrors, tcp and tls routes). */
function destinationsOf(vs: VirtualService): DestinationRef[] {
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

/** IST0101 (host, host:port, host+subset not found) and IST0112 (port selector required). */
function checkDestinations(
  vs: VirtualService,
  report: Report,
  registry: Registry,
  drIndex: DestinationRuleIndex,
): void {
  for (const ref of destinationsOf(vs)) {
    const written = ref.destination.host ?? '';
    if (written === '') continue;
    const host = resolveHost(written, vs.namespace, registry.clusterDomain);
    const svc = visibleService(registry, host, vs.namespace);
    if (!svc) {
      report([...ref.path, 'host'], `Referenced ${ref.what} not found: "${written}"`, {
        code: CODES.IST0101.code,
        level: 'error',
      });
      continue;
    }
    const port = ref.destination.port?.number;
    if (port === undefined) {
      if (svc.ports.length > 1) {
        report(
          [...ref.path, 'host'],
          `This VirtualService routes to a service "${written}" that exposes multiple ports [${svc.ports.map((p) => p.number).join(' ')}]. Specifying a port in the destination is required to disambiguate.`,
          { code: CODES.IST0112.code, level: 'error' },
        );
      }
    } else if (!svc.ports.some((p) => p.number === port)) {
      report([...ref.path, 'port', 'number'], `Referenced host:port not found: "${written}:${port}"`, {
        code: CODES.IST0101.code,
        level: 'error',
      });
    }
    const subset = ref.destination.subset;
    if (subset) {
      const dr = drIndex.lookup(host, { namespace: vs.namespace }, svc.namespace);
      if (!dr?.subsets.has(subset)) {
        const what = ref.what === 'host' ? 'host+subset in destinationrule' : 'mirror+subset in destinationrule';
        report([...ref.path, 'subset'], `Referenced ${what} not found: "${written}+${subset}"`, {
          code: CODES.IST0101.code,
          level: 'error',
        });
      }
    }
  }
}

/** IST0101 for a `gateways` entry (top level or in a match) naming a Gateway that does not exist. */
function checkGateways(vs: VirtualService, report: Report, gateways: readonly Gateway[]): void {
  const check = (name: string, path: (string | number)[]): void => {
    if (name === 'mesh') return;
    const full = gatewayFullName(name, vs.namespace);
    if (!gateways.some((g) => `${g.namespace}/${g.name}` === full)) {
      report(path, `Referenced gateway not found: "${name}"`, { code: CODES.IST0101.code, level: 'error' });
    }
  };
  (vs.spec.gateways ?? []).forEach((g, i) => check(g, ['spec', 'gateways', i]));
  (vs.spec.http ?? []).forEach((rule, i) =>
    (rule?.match ?? []).forEach((m, j) =>
      (m?.gateways ?? []).forEach((g, k) => check(g, ['spec', 'http', i, 'match', j, 'gateways', k])),
    ),
  );
}

/** IST0109: several mesh VirtualServices defining the same host in overlapping exportTo scopes. */
function checkConflictingMeshHosts(vss: readonly VirtualService[], out: Diagnostic[], clusterDomain: string): void {
  const byHost = new Map<string, { vs: VirtualService; index: number }[]>();
  for (const vs of [...vss].sort(byCreation)) {
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
      createReporter(e.vs, out)(
        ['spec', 'hosts', e.index],
        `The VirtualServices ${names.join(',')} associated with mesh gateway define the same host ${host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
        { code: CODES.IST0109.code, level: 'error' },
      );
    }
  }
}

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

/** IST0174 (host matches no service) and IST0173 (subset selects no endpoint). */
function checkDestinationRule(
  dr: DestinationRule,
  report: Report,
  registry: Registry,
  drIndex: DestinationRuleIndex,
): void {
  const written = dr.spec.host ?? '';
  if (written === '') return;
  const host = drIndex.hostOfRule(dr);
  const services = servicesMatching(registry, host);
  if (services.length === 0) {
    report(
      ['spec', 'host'],
      `The host ${written} defined in the DestinationRule does not match any services in the mesh.`,
      { code: CODES.IST0174.code, level: 'warning' },
    );
    return;
  }
  if (isWildcard(host)) return;
  const svc = services[0]!;
  checkRoundRobinWeights(dr, report, svc);
  (dr.spec.subsets ?? []).forEach((subset, i) => {
    const labels = subset.labels ?? {};
    if (Object.keys(labels).length === 0) return;
    const candidates = candidateLabelSets(svc, registry);
    if (!candidates.some((l) => labelsMatch(labels, l))) {
      report(
        ['spec', 'subsets', i, 'name'],
        `The Subset ${subset.name ?? ''} defined in the DestinationRule does not select any pods, which may lead to 503 UH (NoHealthyUpstream).`,
        { code: CODES.IST0173.code, level: 'error' },
      );
    }
  });
}

/**
 * WEIR0012: `simple: ROUND_ROBIN` over endpoints with different weights. The Istio API warns that round robin is
 * unsafe when endpoint weighting is used (it can overburden endpoints); LEAST_REQUEST, the default, is not.
 */
function checkRoundRobinWeights(dr: DestinationRule, report: Report, svc: Service): void {
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
    report(
      path,
      `ROUND_ROBIN over endpoints of ${svc.hostname} with different weights (${[...weights].sort((a, b) => a - b).join(', ')}): the Istio API calls round robin unsafe with endpoint weighting; LEAST_REQUEST (the default) balances weighted endpoints safely.`,
      { code: CODES.WEIR0012.code, level: 'info' },
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

/**
 * WEIR0010: a route splits one host across several subsets by weight while the DestinationRule for that host
 * sets `consistentHash`. Envoy picks the subset at random per request before the hash runs inside the subset
 * (istio-semantics §9; envoyproxy/envoy#8167, istio/istio#17181), so users do not stay on one version.
 */
function checkStickyWeightedSplit(
  vs: VirtualService,
  report: Report,
  registry: Registry,
  drIndex: DestinationRuleIndex,
): void {
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
      report(
        ['spec', 'http', i, 'route'],
        `DestinationRule ${drName} sets consistentHash, but this route splits ${host} across subsets ${names} by weight: Envoy picks the subset at random on every request and hashes only within it, so a user does NOT stay on one version. For stickiness, route canary users by a header or cookie match, or set the annotation weir.dev/sticky-split: "true" on this VirtualService (weir extension, see docs/compatibility.md).`,
        { code: CODES.WEIR0010.code, level: 'warning' },
      );
    }
  });
}
