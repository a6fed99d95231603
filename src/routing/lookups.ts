/**
 * What compiling a VirtualService reads of the rest of the configuration — delegate VirtualServices, registry
 * services, the DestinationRules that apply to a destination — through one interface, so the reads can be recorded.
 * A compiled VirtualService is still valid for a new snapshot when its VirtualService is the same object and every
 * recorded read gives the same objects again ({@link stillValid}): that is how an incremental compile knows what
 * it may reuse without a dependency graph to maintain. Pure: no I/O.
 */
import type { MergedDestinationRule } from '../config/destination-rules.ts';
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

/** True when every recorded read gives the same objects from `now` (DestinationRules: the same rules merged). */
export function stillValid(deps: readonly Dependency[], now: CompileLookups): boolean {
  for (const d of deps) {
    switch (d.read) {
      case 'delegate':
        if (now.delegate(d.namespace, d.name) !== d.got) return false;
        break;
      case 'service':
        if (now.service(d.host) !== d.got) return false;
        break;
      case 'destinationRule':
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
