/**
 * What compiling a VirtualService reads of the rest of the configuration — delegate VirtualServices, registry
 * services, the DestinationRules that apply to a destination — through one interface, so the reads can be recorded.
 * A compiled VirtualService is still valid for a new snapshot when its VirtualService is the same object and every
 * recorded read gives the same objects again ({@link stillValid}): that is how an incremental compile knows what
 * it may reuse without a dependency graph to maintain. Pure: no I/O.
 */
import type { MergedDestinationRule } from '../config/destination-rules.ts';
import { hostMatches } from '../config/hosts.ts';
import { findService, type Service } from '../config/registry.ts';
import type { DestinationRule, VirtualService } from '../config/resources.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import type { ProxyMode } from './types.ts';

/** The reads of the configuration a compiled route may depend on. */
export interface CompileLookups {
  /** The delegate VirtualService `namespace/name` (one with no hosts), or null. */
  delegate(namespace: string, name: string): VirtualService | null;
  /** The registry service of a host, or null. */
  service(host: string): Service | null;
  /** The merged DestinationRule for a host as this proxy sees it, or null. */
  destinationRule(host: string, serviceNamespace: string | null): MergedDestinationRule | null;
}

/** One recorded read and what it gave. */
export type Dependency =
  | { read: 'delegate'; namespace: string; name: string; got: VirtualService | null }
  | { read: 'service'; host: string; got: Service | null }
  | { read: 'destinationRule'; host: string; serviceNamespace: string | null; got: readonly DestinationRule[] | null };

/** The lookups of a snapshot for one proxy (the delegate index is built on first use). */
export function snapshotLookups(snapshot: ConfigSnapshot, mode: ProxyMode): CompileLookups {
  let delegates: Map<string, VirtualService> | null = null;
  const client = { namespace: mode.namespace, labels: mode.labels ?? null };
  return {
    delegate(namespace, name) {
      if (!delegates) {
        delegates = new Map();
        for (const vs of snapshot.virtualServices) {
          const key = `${vs.namespace}/${vs.name}`;
          if ((vs.spec.hosts ?? []).length === 0 && !delegates.has(key)) delegates.set(key, vs);
        }
      }
      return delegates.get(`${namespace}/${name}`) ?? null;
    },
    service: (host) => findService(snapshot.registry, host),
    destinationRule: (host, serviceNamespace) => snapshot.destinationRuleIndex.lookup(host, client, serviceNamespace),
  };
}

/** Wraps lookups so that every read is appended to `deps`. */
export function recording(base: CompileLookups, deps: Dependency[]): CompileLookups {
  return {
    delegate(namespace, name) {
      const got = base.delegate(namespace, name);
      deps.push({ read: 'delegate', namespace, name, got });
      return got;
    },
    service(host) {
      const got = base.service(host);
      deps.push({ read: 'service', host, got });
      return got;
    },
    destinationRule(host, serviceNamespace) {
      const dr = base.destinationRule(host, serviceNamespace);
      deps.push({ read: 'destinationRule', host, serviceNamespace, got: dr?.sources ?? null });
      return dr;
    },
  };
}

/**
 * True when every recorded read gives the same objects from `now` (DestinationRules: the same rules merged). With
 * `changes`, only the reads it flags are replayed.
 */
export function stillValid(deps: readonly Dependency[], now: CompileLookups, changes?: ChangeFilter): boolean {
  for (const d of deps) {
    switch (d.read) {
      case 'delegate':
        if (changes && !changes.delegate(d.namespace, d.name)) break;
        if (now.delegate(d.namespace, d.name) !== d.got) return false;
        break;
      case 'service':
        if (changes && !changes.service(d.host)) break;
        if (now.service(d.host) !== d.got) return false;
        break;
      case 'destinationRule':
        if (changes && !changes.destinationRule(d.host) && !changes.service(d.host)) break;
        if (!sameRules(now.destinationRule(d.host, d.serviceNamespace)?.sources ?? null, d.got)) return false;
        break;
    }
  }
  return true;
}

/** Same DestinationRule objects in the same order (a merge of the same rules gives the same result). */
export function sameRules(a: readonly DestinationRule[] | null, b: readonly DestinationRule[] | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Which reads may give a different answer in `next` than in `previous` (cheap identity comparisons of the two
 * snapshots): a compiled VirtualService none of whose reads is flagged is valid without replaying them. A flagged
 * read is replayed ({@link stillValid}); a false alarm costs a look-up, never a wrong reuse.
 */
export interface ChangeFilter {
  service(host: string): boolean;
  destinationRule(host: string): boolean;
  delegate(namespace: string, name: string): boolean;
}

/** Builds the {@link ChangeFilter} between two snapshots of the same source. */
export function changesBetween(previous: ConfigSnapshot, next: ConfigSnapshot): ChangeFilter {
  // Services: by host, the registry entries that are not the same objects; any change among wildcard services
  // flags every host (a host without an exact entry falls back to them).
  const a = previous.registry;
  const b = next.registry;
  let services: (host: string) => boolean;
  if (a === b) services = () => false;
  else {
    const changed = new Set<string>();
    for (const [h, s] of b.byHost) if (a.byHost.get(h) !== s) changed.add(h);
    for (const [h, s] of a.byHost) if (b.byHost.get(h) !== s) changed.add(h);
    const wild =
      a.wildcardServices.length !== b.wildcardServices.length ||
      a.wildcardServices.some((s, i) => b.wildcardServices[i] !== s);
    services = wild ? () => true : (h) => changed.has(h.toLowerCase());
  }
  // DestinationRules: the host patterns of rules added, removed or changed.
  const before = new Set(previous.destinationRules);
  const now = new Set(next.destinationRules);
  const patterns: string[] = [];
  for (const r of next.destinationRules) if (!before.has(r)) patterns.push(next.destinationRuleIndex.hostOfRule(r));
  for (const r of previous.destinationRules)
    if (!now.has(r)) patterns.push(previous.destinationRuleIndex.hostOfRule(r));
  const rules = patterns.length === 0 ? () => false : (h: string) => patterns.some((p) => hostMatches(p, h));
  // Delegates: VirtualServices added, removed or changed, by namespace/name.
  const vsBefore = new Set(previous.virtualServices);
  const vsNow = new Set(next.virtualServices);
  const keys = new Set<string>();
  for (const v of next.virtualServices) if (!vsBefore.has(v)) keys.add(`${v.namespace}/${v.name}`);
  for (const v of previous.virtualServices) if (!vsNow.has(v)) keys.add(`${v.namespace}/${v.name}`);
  return {
    service: services,
    destinationRule: rules,
    delegate: (namespace, name) => keys.has(`${namespace}/${name}`),
  };
}

/**
 * True when `next` differs from `previous` only in service endpoints (Envoy's EDS updates): the same
 * VirtualServices, DestinationRules and Gateways (the same objects), the same service hosts, and every service
 * that changed keeps its namespace, ports, `exportTo` and resolution. Routes are then unchanged; only the clusters
 * of the changed services are rebuilt.
 */
export function isEndpointOnlyChange(previous: ConfigSnapshot, next: ConfigSnapshot): boolean {
  const same = <T>(a: readonly T[], b: readonly T[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(previous.virtualServices, next.virtualServices)) return false;
  if (!same(previous.destinationRules, next.destinationRules)) return false;
  if (!same(previous.gateways, next.gateways)) return false;
  const a = previous.registry;
  const b = next.registry;
  if (a === b) return true;
  if (a.byHost.size !== b.byHost.size || !same(a.wildcardServices, b.wildcardServices)) return false;
  for (const [h, s] of b.byHost) {
    const o = a.byHost.get(h);
    if (o === s) continue;
    if (!o || !sameShape(o, s)) return false;
  }
  return true;
}

/** Same service apart from its endpoints. */
function sameShape(a: Service, b: Service): boolean {
  return (
    a.hostname === b.hostname &&
    a.namespace === b.namespace &&
    a.name === b.name &&
    a.resolution === b.resolution &&
    a.origin.kind === b.origin.kind &&
    JSON.stringify(a.exportTo) === JSON.stringify(b.exportTo) &&
    JSON.stringify(a.ports) === JSON.stringify(b.ports)
  );
}
