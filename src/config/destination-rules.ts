/**
 * DestinationRule lookup and merging as istiod does it for a client proxy (istio/istio
 * `pilot/pkg/model/destination_rule.go` `mergeDestinationRule`; istio.io best practices): the lookup path is the
 * client namespace, then the service's namespace, then the root namespace (`istio-system`); within a namespace the
 * exact host wins over wildcards and the longest wildcard over shorter ones; several DestinationRules for the same
 * host string are merged — subsets unioned by name (first wins), the top-level `trafficPolicy` from the first that
 * has one — in creation-time order. Pure: no I/O.
 */
import { hostMatches, isWildcard, resolveHost } from './hosts.ts';
import type { Subset, TrafficPolicy } from './istio/schemas.ts';
import { labelsMatch } from './registry.ts';
import type { DestinationRule } from './resources.ts';

/** Istio's root namespace, whose DestinationRules apply mesh-wide. */
export const ROOT_NAMESPACE = 'istio-system';

/** The merged view of the DestinationRules that apply to one host for one client. */
export interface MergedDestinationRule {
  /** The host as written in the rules (resolved to an FQDN). */
  host: string;
  namespace: string;
  trafficPolicy: TrafficPolicy | null;
  /** Subsets by name (first definition wins). */
  subsets: ReadonlyMap<string, Subset>;
  /** The DestinationRules that were merged, in order. */
  sources: readonly DestinationRule[];
}

/** The client asking: its namespace and, for `workloadSelector` rules, its labels (sidecar mode). */
export interface ClientIdentity {
  namespace: string;
  labels?: Readonly<Record<string, string>> | null;
}

/** Sorts resources as Istio orders configs: creation time ascending, then name, then namespace. */
export function byCreation<T extends { createdMs: number | null; name: string; namespace: string; order: number }>(
  a: T,
  b: T,
): number {
  const ta = a.createdMs ?? Number.POSITIVE_INFINITY;
  const tb = b.createdMs ?? Number.POSITIVE_INFINITY;
  if (ta !== tb) return ta - tb;
  if (a.createdMs === null && b.createdMs === null) return a.order - b.order;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** True when a resource with `exportTo` in `ownNs` is visible from `clientNs` (`*` or absent = everywhere, `.` = own). */
export function isExportedTo(exportTo: readonly string[] | undefined, ownNs: string, clientNs: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  for (const e of exportTo) {
    if (e === '*') return true;
    if (e === '.' && ownNs === clientNs) return true;
    if (e === clientNs) return true;
  }
  return false;
}

/** The rules of one namespace, for look-ups by host: exact hosts by name, wildcard hosts in a list. */
interface NamespaceRules {
  /** Exact (non-wildcard) host → its rules, in creation order. */
  exact: Map<string, DestinationRule[]>;
  /** Rules with a wildcard host, in creation order. */
  wildcards: DestinationRule[];
}

/**
 * An index of DestinationRules for repeated look-ups: per namespace, exact hosts in a map and wildcard hosts in a
 * list, so a look-up costs the rules that could match, not every rule of the mesh.
 */
export class DestinationRuleIndex {
  private readonly rules: readonly DestinationRule[];
  private readonly hostOf = new Map<DestinationRule, string>();
  private readonly byNamespace = new Map<string, NamespaceRules>();
  private readonly cache = new Map<string, MergedDestinationRule | null>();

  /** @param rules every DestinationRule of the snapshot (already validated). */
  constructor(rules: readonly DestinationRule[], clusterDomain?: string) {
    this.rules = [...rules].sort(byCreation);
    for (const r of this.rules) {
      const host = resolveHost(r.spec.host ?? '', r.namespace, clusterDomain);
      this.hostOf.set(r, host);
      let ns = this.byNamespace.get(r.namespace);
      if (!ns) {
        ns = { exact: new Map(), wildcards: [] };
        this.byNamespace.set(r.namespace, ns);
      }
      if (isWildcard(host)) ns.wildcards.push(r);
      else {
        const list = ns.exact.get(host);
        if (list) list.push(r);
        else ns.exact.set(host, [r]);
      }
    }
  }

  /** The resolved host of a rule. */
  hostOfRule(dr: DestinationRule): string {
    return this.hostOf.get(dr) ?? '';
  }

  /**
   * The merged rule that applies to `host` (a concrete service host) for `client`, or null.
   * @param serviceNamespace namespace of the service (for the lookup path); null when unknown.
   */
  lookup(host: string, client: ClientIdentity, serviceNamespace: string | null): MergedDestinationRule | null {
    const key = `${host}|${client.namespace}|${serviceNamespace ?? ''}|${client.labels ? JSON.stringify(client.labels) : ''}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const path = [client.namespace, serviceNamespace, ROOT_NAMESPACE].filter(
      (n, i, a): n is string => n !== null && a.indexOf(n) === i,
    );
    const applies = (r: DestinationRule): boolean => {
      if (!isExportedTo(r.spec.exportTo, r.namespace, client.namespace)) return false;
      const sel = r.spec.workloadSelector?.matchLabels;
      if (sel && Object.keys(sel).length > 0) {
        if (r.namespace !== client.namespace || !client.labels || !labelsMatch(sel, client.labels)) return false;
      }
      return hostMatches(this.hostOf.get(r)!, host);
    };
    let result: MergedDestinationRule | null = null;
    for (const ns of path) {
      const rules = this.byNamespace.get(ns);
      if (!rules) continue;
      // An exact host is more specific than any wildcard, so the wildcards count only when no exact rule applies.
      // (A wildcard `host` argument is compared with every rule, as the patterns decide among themselves.)
      let candidates = isWildcard(host) ? [] : (rules.exact.get(host.toLowerCase()) ?? []).filter(applies);
      if (candidates.length === 0) {
        candidates = isWildcard(host)
          ? [...[...rules.exact.values()].flat(), ...rules.wildcards].sort(byCreation).filter(applies)
          : rules.wildcards.filter(applies);
      }
      if (candidates.length === 0) continue;
      // Most specific host string wins; rules with that same host string are merged.
      let best = candidates[0]!;
      for (const c of candidates) if (specificity(this.hostOf.get(c)!) > specificity(this.hostOf.get(best)!)) best = c;
      const bestHost = this.hostOf.get(best)!;
      // Rules with a workload selector merge only with rules with an equal selector; prefer selector rules.
      const withSelector = candidates.filter((c) => this.hostOf.get(c) === bestHost && c.spec.workloadSelector);
      const group =
        withSelector.length > 0
          ? withSelector
          : candidates.filter((c) => this.hostOf.get(c) === bestHost && !c.spec.workloadSelector);
      result = merge(bestHost, ns, group);
      break;
    }
    this.cache.set(key, result);
    return result;
  }
}

function specificity(h: string): number {
  return h === '*' ? 0 : isWildcard(h) ? h.length : 1_000_000 + h.length;
}

function merge(host: string, namespace: string, group: readonly DestinationRule[]): MergedDestinationRule {
  const subsets = new Map<string, Subset>();
  let trafficPolicy: TrafficPolicy | null = null;
  for (const r of group) {
    if (trafficPolicy === null && r.spec.trafficPolicy) trafficPolicy = r.spec.trafficPolicy;
    for (const s of r.spec.subsets ?? []) if (s.name && !subsets.has(s.name)) subsets.set(s.name, s);
  }
  return { host, namespace, trafficPolicy, subsets, sources: group };
}
