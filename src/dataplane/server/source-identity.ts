/**
 * Source identity for `sourceLabels`/`sourceNamespace` (never from a header): in sidecar mode, the proxy's own
 * workload; otherwise the registry workload (WorkloadEntry, ServiceEntry endpoint or Pod) whose address equals the
 * client's IP. An address shared by several distinct workloads identifies none of them.
 */
import { type Registry, type Workload, workloadDeltas } from '../../config/registry.ts';
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

/** Workloads by address, per registry: a patched registry's index is the previous one's, patched. */
const indexes = new WeakMap<Registry, Map<string, readonly Workload[]>>();

/**
 * {@link registrySourceResolver} as steps (`util/slice.ts`). For a registry patched from another one
 * (`workloadDeltas`) whose index exists, only the workloads that changed are indexed again.
 */
export function* registrySourceResolverSteps(registry: Registry): Steps<SourceResolver> {
  const delta = workloadDeltas.get(registry);
  const from = delta?.previous.deref();
  const before = from ? indexes.get(from) : undefined;
  let byIp: Map<string, readonly Workload[]>;
  if (delta && before) {
    byIp = new Map(before);
    yield;
    for (const w of delta.removed)
      for (const addr of w.addresses) {
        const list = byIp.get(addr)?.filter((x) => x !== w) ?? [];
        if (list.length > 0) byIp.set(addr, list);
        else byIp.delete(addr);
      }
    for (const w of delta.added) for (const addr of w.addresses) byIp.set(addr, [...(byIp.get(addr) ?? []), w]);
  } else {
    byIp = new Map();
    let n = 0;
    for (const w of registry.workloads) {
      if ((++n & 255) === 0) yield;
      for (const addr of w.addresses) {
        const list = byIp.get(addr) as Workload[] | undefined;
        if (list) list.push(w);
        else byIp.set(addr, [w]);
      }
    }
  }
  indexes.set(registry, byIp);
  workloadDeltas.delete(registry); // consumed
  const known = new Map<string, SourceIdentity>();
  const unknownCache = new Map<string, SourceIdentity>();
  return (ip) => {
    const hit = known.get(ip);
    if (hit) return hit;
    const id = identityOf(ip, byIp.get(ip));
    if (id) {
      if (known.size < 100_000) known.set(ip, id);
      return id;
    }
    let u = unknownCache.get(ip);
    if (!u) {
      u = { labels: {}, namespace: null, workload: null, ip };
      if (unknownCache.size < 10_000) unknownCache.set(ip, u);
    }
    return u;
  };
}

/** The identity of the workloads at an address: one workload (or several that agree), else none. */
function identityOf(ip: string, workloads: readonly Workload[] | undefined): SourceIdentity | null {
  if (!workloads || workloads.length === 0) return null;
  const w = workloads[0]!;
  for (let i = 1; i < workloads.length; i++) {
    const o = workloads[i]!;
    if (o.name !== w.name || o.namespace !== w.namespace || JSON.stringify(o.labels) !== JSON.stringify(w.labels))
      return null;
  }
  return { labels: w.labels, namespace: w.namespace, workload: w.name, ip };
}

/** A resolver that always answers with the sidecar's own workload (the client IP is kept for hashing). */
export function sidecarSourceResolver(self: {
  labels: Readonly<Record<string, string>>;
  namespace: string;
  workload: string | null;
}): SourceResolver {
  return (ip) => ({ labels: self.labels, namespace: self.namespace, workload: self.workload, ip });
}
