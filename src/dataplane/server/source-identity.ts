/**
 * Source identity for `sourceLabels`/`sourceNamespace` (never from a header): in sidecar mode, the proxy's own
 * workload; otherwise the registry workload (WorkloadEntry, ServiceEntry endpoint or Pod) whose address equals the
 * client's IP. An address shared by several distinct workloads identifies none of them.
 */
import type { Registry } from '../../config/registry.ts';
import type { SourceIdentity } from '../../routing/types.ts';
import { runToEnd, type Steps } from '../../util/slice.ts';

/** Looks up the identity of a client IP. */
export type SourceResolver = (ip: string) => SourceIdentity;

/** Removes the IPv4-mapped IPv6 prefix Node reports for IPv4 clients on dual-stack sockets. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** Builds a resolver by client IP from the registry's workloads. */
export function registrySourceResolver(registry: Registry): SourceResolver {
  return runToEnd(registrySourceResolverSteps(registry));
}

/** {@link registrySourceResolver} as steps (`util/slice.ts`), for large registries built while serving. */
export function* registrySourceResolverSteps(registry: Registry): Steps<SourceResolver> {
  const byIp = new Map<string, SourceIdentity | null>();
  let n = 0;
  for (const w of registry.workloads) {
    if ((++n & 255) === 0) yield;
    for (const addr of w.addresses) {
      const id: SourceIdentity = { labels: w.labels, namespace: w.namespace, workload: w.name, ip: addr };
      const prior = byIp.get(addr);
      if (prior === undefined) byIp.set(addr, id);
      else if (
        prior !== null &&
        (prior.workload !== id.workload ||
          prior.namespace !== id.namespace ||
          JSON.stringify(prior.labels) !== JSON.stringify(id.labels))
      )
        byIp.set(addr, null);
    }
  }
  const unknownCache = new Map<string, SourceIdentity>();
  return (ip) => {
    const id = byIp.get(ip);
    if (id) return id;
    let u = unknownCache.get(ip);
    if (!u) {
      u = { labels: {}, namespace: null, workload: null, ip };
      if (unknownCache.size < 10_000) unknownCache.set(ip, u);
    }
    return u;
  };
}

/** A resolver that always answers with the sidecar's own workload (the client IP is kept for hashing). */
export function sidecarSourceResolver(self: {
  labels: Readonly<Record<string, string>>;
  namespace: string;
  workload: string | null;
}): SourceResolver {
  return (ip) => ({ labels: self.labels, namespace: self.namespace, workload: self.workload, ip });
}
