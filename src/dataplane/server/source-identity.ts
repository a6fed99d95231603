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

/**
 * Workloads by address: a map of the addresses that changed over the index it was patched from, so a patch costs the
 * addresses it touches (copying 20,000 entries per endpoint change would not). Layers are folded into one map once
 * they are deep.
 */
class AddressIndex {
  private constructor(
    private readonly own: Map<string, readonly Workload[] | null>,
    private readonly base: AddressIndex | null,
    readonly depth: number,
  ) {}

  static of(entries: Map<string, readonly Workload[]>): AddressIndex {
    return new AddressIndex(entries, null, 0);
  }

  get(ip: string): readonly Workload[] | undefined {
    for (let i: AddressIndex | null = this; i !== null; i = i.base) {
      const v = i.own.get(ip);
      if (v !== undefined) return v ?? undefined;
    }
    return undefined;
  }

  /** This index with `removed` and `added` applied (a new layer; this one is unchanged). */
  patch(removed: readonly Workload[], added: readonly Workload[]): AddressIndex {
    const own = new Map<string, readonly Workload[] | null>();
    const current = (ip: string) => (own.has(ip) ? (own.get(ip) ?? undefined) : this.get(ip));
    for (const w of removed)
      for (const addr of w.addresses) {
        const list = current(addr)?.filter((x) => x !== w) ?? [];
        own.set(addr, list.length > 0 ? list : null);
      }
    for (const w of added) for (const addr of w.addresses) own.set(addr, [...(current(addr) ?? []), w]);
    const next = new AddressIndex(own, this, this.depth + 1);
    return next.depth > MAX_LAYERS ? next.fold() : next;
  }

  private fold(): AddressIndex {
    const layers: AddressIndex[] = [];
    for (let i: AddressIndex | null = this; i !== null; i = i.base) layers.unshift(i);
    const all = new Map<string, readonly Workload[]>();
    for (const l of layers)
      for (const [ip, v] of l.own) {
        if (v === null) all.delete(ip);
        else all.set(ip, v);
      }
    return AddressIndex.of(all);
  }
}

/** Layers of an address index before they are folded into one map. */
const MAX_LAYERS = 16;

/** The address index of each registry (a patched registry's is its predecessor's, patched). */
const indexes = new WeakMap<Registry, AddressIndex>();

/**
 * {@link registrySourceResolver} as steps (`util/slice.ts`). For a registry patched from another one
 * (`workloadDeltas`) whose index exists, only the addresses of the workloads that changed are indexed again.
 */
export function* registrySourceResolverSteps(registry: Registry): Steps<SourceResolver> {
  const delta = workloadDeltas.get(registry);
  const from = delta?.previous.deref();
  const before = from ? indexes.get(from) : undefined;
  let index: AddressIndex;
  if (delta && before) index = before.patch(delta.removed, delta.added);
  else {
    const byIp = new Map<string, Workload[]>();
    let n = 0;
    for (const w of registry.workloads) {
      if ((++n & 255) === 0) yield;
      for (const addr of w.addresses) {
        const list = byIp.get(addr);
        if (list) list.push(w);
        else byIp.set(addr, [w]);
      }
    }
    index = AddressIndex.of(byIp);
  }
  indexes.set(registry, index);
  workloadDeltas.delete(registry); // consumed
  const known = new Map<string, SourceIdentity>();
  const unknownCache = new Map<string, SourceIdentity>();
  return (ip) => {
    const hit = known.get(ip);
    if (hit) return hit;
    const id = identityOf(ip, index.get(ip));
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
