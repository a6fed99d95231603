/**
 * The registry of services and endpoints, built from what users keep in their manifest folders:
 * Istio ServiceEntry (inline `endpoints`, or a `workloadSelector` over WorkloadEntries and Pods) and WorkloadEntry,
 * and Kubernetes Service (selector, ports, `targetPort`) with its endpoints from EndpointSlices, or else from the
 * Pods its selector matches at `podIP:targetPort`. Deployment/StatefulSet/DaemonSet pod templates are kept as
 * label sets for analysis only (they have no addresses). Pure: no I/O.
 */

import { runToEnd, type Steps } from '../util/slice.ts';
import { DEFAULT_CLUSTER_DOMAIN, hostMatches, isWildcard, resolveHost } from './hosts.ts';
import type { Resource } from './resources.ts';

/** A service port: Istio `ServicePort` / Kubernetes `ServicePort`. */
export interface ServicePort {
  number: number;
  name: string;
  /** Upper-case protocol (`HTTP`, `HTTP2`, `GRPC`, `TCP`, …); Kubernetes ports get it from `appProtocol` or the name prefix. */
  protocol: string;
  /** Kubernetes `targetPort` (number or container port name) or ServiceEntry `targetPort`; null when unset. */
  targetPort: number | string | null;
}

/** The workload an endpoint belongs to (for `destination_workload` and source identity). */
export interface WorkloadRef {
  kind: 'Pod' | 'WorkloadEntry' | 'ServiceEntry' | 'EndpointSlice';
  name: string;
  namespace: string;
}

/** One endpoint of a service: an address with per-service-port target ports. */
export interface Endpoint {
  address: string;
  /** Target port per service port number. */
  ports: ReadonlyMap<number, number>;
  labels: Readonly<Record<string, string>>;
  /** `region/zone/subzone` (any part may be empty). */
  locality: string;
  /** Load-balancing weight, ≥ 1 (Istio: WorkloadEntry `weight`, default 1). */
  weight: number;
  workload: WorkloadRef;
  serviceAccount: string;
}

/** A service known to the registry. */
export interface Service {
  /** The FQDN (or the ServiceEntry host as written, lower-cased). */
  hostname: string;
  namespace: string;
  /** Short name (Kubernetes Service name, or the first label of the ServiceEntry host). */
  name: string;
  ports: readonly ServicePort[];
  endpoints: readonly Endpoint[];
  /** Where it came from. */
  origin: { kind: 'ServiceEntry' | 'Service'; name: string; namespace: string };
  /** Kubernetes Service selector, or ServiceEntry workloadSelector labels; null for inline endpoints. */
  selector: Readonly<Record<string, string>> | null;
  /** ServiceEntry resolution (`STATIC`, `DNS`, `NONE`, …); `STATIC` for Kubernetes services. */
  resolution: string;
  /** ServiceEntry `exportTo` or `['*']`. */
  exportTo: readonly string[];
}

/** A label set that can receive traffic (Pods, WorkloadEntries, endpoints) or would (pod templates). */
export interface Workload {
  kind: 'Pod' | 'WorkloadEntry' | 'ServiceEntryEndpoint' | 'Deployment' | 'StatefulSet' | 'DaemonSet';
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** Addresses the workload sends from (empty for templates). */
  addresses: readonly string[];
  serviceAccount: string;
  locality: string;
}

/** Services by hostname, plus every workload, for routing and analysis. */
export interface Registry {
  services: readonly Service[];
  /** Exact hostname → service. Wildcard ServiceEntry hosts are in `wildcardServices`. */
  byHost: ReadonlyMap<string, Service>;
  wildcardServices: readonly Service[];
  workloads: readonly Workload[];
  clusterDomain: string;
  /** What the next build from the same source may reuse (absent for registries built by hand). */
  memo?: RegistryMemo;
}

/** True when every key/value of `selector` is in `labels` (Kubernetes equality-based selection). */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * Infers the protocol of a Kubernetes port the way Istio does: `appProtocol`, else the port name's prefix
 * (`http`, `http-foo`, `grpc`, `http2`, …), else unknown (`TCP` for weir's purposes; Istio sniffs it).
 */
function protocolFromName(name: string | undefined, appProtocol: string | undefined): string {
  const p = (appProtocol ?? name ?? '').toLowerCase().split('-')[0] ?? '';
  const known: Record<string, string> = {
    http: 'HTTP',
    http2: 'HTTP2',
    grpc: 'GRPC',
    'grpc-web': 'GRPC-WEB',
    https: 'HTTPS',
    tcp: 'TCP',
    tls: 'TLS',
    h2c: 'HTTP2',
  };
  return known[p] ?? 'UNSUPPORTED';
}

/** Services by hostname, plus every workload, for routing and analysis. */
interface Contribution {
  services: Service[];
  workloads: Workload[];
  /** The namespace generation the contribution was computed at (null: it depends on its resource alone). */
  generation: number | null;
}

/**
 * What a registry remembers for the next build from the same source: each resource's contribution (services and
 * workloads), and per namespace the pods, WorkloadEntries and EndpointSlices it had, so a contribution that depends on
 * them (a selector, a Service's endpoints) is reused only while they are the same objects.
 */
export interface RegistryMemo {
  readonly clusterDomain: string;
  readonly contributions: WeakMap<Resource, Contribution>;
  readonly namespaces: Map<string, { members: Resource[]; generation: number }>;
  /** Contributions per kind, in resource order (the order of the registry's arrays). */
  readonly lists: Map<string, Contribution[]>;
  /** Where each resource's contribution is in {@link lists}. */
  readonly position: Map<Resource, number>;
  /** Per namespace, the resources whose contribution depends on its pods, WorkloadEntries and EndpointSlices. */
  readonly dependents: Map<string, Resource[]>;
}

/** What a patch changed in the registry's workloads (for the source-identity resolver). */
export interface WorkloadDelta {
  /** The registry it was patched from (weakly: a delta must not keep every earlier registry alive). */
  previous: WeakRef<Registry>;
  removed: readonly Workload[];
  added: readonly Workload[];
}

/**
 * For a registry made by {@link patchRegistry}: the registry it was patched from and the workloads that changed, so
 * that what is indexed by workload (the proxy's source-identity resolver) can be patched too.
 */
export const workloadDeltas = new WeakMap<Registry, WorkloadDelta>();

/** Builds the registry from typed resources. Never throws. */
export function buildRegistry(
  resources: readonly Resource[],
  clusterDomain = DEFAULT_CLUSTER_DOMAIN,
  previous: Registry | null = null,
): Registry {
  return runToEnd(buildRegistrySteps(resources, clusterDomain, previous));
}

let generations = 0;

/** The order the registry lists contributions in (services: ServiceEntry, then Service). */
const WORKLOAD_KINDS_IN_ORDER = [
  'Pod',
  'WorkloadEntry',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ServiceEntry',
  'Service',
];

/**
 * {@link buildRegistry} as steps (see `util/slice.ts`). With `previous` (the registry built from the same source
 * before this change), the services and workloads of every resource that is the same object as then — and, for those
 * that select pods, WorkloadEntries or EndpointSlices, whose namespace still holds the same ones — are reused
 * as they were (the same `Service` objects), so a change costs what it touches.
 */
export function* buildRegistrySteps(
  resources: readonly Resource[],
  clusterDomain: string,
  previous: Registry | null,
): Steps<Registry> {
  /** Pause points are offered every few units (a generator step costs more than one unit here). */
  let stepCount = 0;
  const old = previous?.memo && previous.memo.clusterDomain === clusterDomain ? previous.memo : null;
  const memo: RegistryMemo = {
    clusterDomain,
    contributions: old?.contributions ?? new WeakMap(),
    namespaces: new Map(),
    lists: new Map(),
    position: new Map(),
    dependents: new Map(),
  };
  // Namespace generations: a namespace whose pods, WorkloadEntries and EndpointSlices are the same objects as
  // before keeps its generation, so contributions computed from them stay valid.
  const members = new Map<string, Resource[]>();
  for (const r of resources) {
    if (r.kind !== 'Pod' && r.kind !== 'WorkloadEntry' && r.kind !== 'EndpointSlice') continue;
    const list = members.get(r.namespace);
    if (list) list.push(r);
    else members.set(r.namespace, [r]);
  }
  for (const [ns, list] of members) {
    const before = old?.namespaces.get(ns);
    const same =
      before !== undefined && before.members.length === list.length && before.members.every((m, i) => m === list[i]);
    memo.namespaces.set(ns, { members: list, generation: same ? before.generation : ++generations });
  }
  yield;
  const generationOf = (ns: string): number => memo.namespaces.get(ns)?.generation ?? 0;

  // Indexes for the contributions that must be computed; built on first need.
  let index: {
    pods: Map<string, Resource<'Pod'>[]>;
    wes: Map<string, Resource<'WorkloadEntry'>[]>;
    slices: Map<string, Resource<'EndpointSlice'>[]>;
  } | null = null;
  const indexes = () => {
    if (index) return index;
    const pods = new Map<string, Resource<'Pod'>[]>();
    const wes = new Map<string, Resource<'WorkloadEntry'>[]>();
    const slices = new Map<string, Resource<'EndpointSlice'>[]>();
    const add = <T>(m: Map<string, T[]>, k: string, v: T) => {
      const l = m.get(k);
      if (l) l.push(v);
      else m.set(k, [v]);
    };
    for (const r of resources) {
      if (r.kind === 'Pod') add(pods, r.namespace, r as Resource<'Pod'>);
      else if (r.kind === 'WorkloadEntry') add(wes, r.namespace, r as Resource<'WorkloadEntry'>);
      else if (r.kind === 'EndpointSlice') {
        const svcName = r.labels['kubernetes.io/service-name'] ?? '';
        add(slices, `${r.namespace}/${svcName}`, r as Resource<'EndpointSlice'>);
      }
    }
    index = { pods, wes, slices };
    return index;
  };

  // Contributions are gathered by kind, so services and workloads keep the order they always had: services of
  // ServiceEntries before Kubernetes Services (the first definition of a host wins), workloads by kind.
  const byKind = memo.lists;
  for (const r of resources) {
    const dependent = isDependent(r);
    const generation = dependent ? generationOf(r.namespace) : null;
    let c = memo.contributions.get(r);
    if (!c || c.generation !== generation) {
      c = contributionOf(r, clusterDomain, indexes, generation);
      memo.contributions.set(r, c);
    }
    let list = byKind.get(r.kind);
    if (!list) {
      list = [];
      byKind.set(r.kind, list);
    }
    memo.position.set(r, list.length);
    list.push(c);
    if (dependent) {
      const d = memo.dependents.get(r.namespace);
      if (d) d.push(r);
      else memo.dependents.set(r.namespace, [r]);
    }
    if ((++stepCount & 63) === 0) yield;
  }
  return flatten(memo);
}

/** A resource whose services depend on its namespace's pods, WorkloadEntries or EndpointSlices. */
function isDependent(r: Resource): boolean {
  return (
    (r.kind === 'ServiceEntry' && (r as Resource<'ServiceEntry'>).spec.workloadSelector?.labels !== undefined) ||
    r.kind === 'Service'
  );
}

/** The registry's arrays and host index from the contributions, in their fixed order. */
function flatten(memo: RegistryMemo): Registry {
  const services: Service[] = [];
  const workloads: Workload[] = [];
  const endpointWorkloads: Workload[] = [];
  for (const kind of WORKLOAD_KINDS_IN_ORDER) {
    for (const c of memo.lists.get(kind) ?? []) {
      for (const s of c.services) services.push(s);
      for (const w of c.workloads) (w.kind === 'ServiceEntryEndpoint' ? endpointWorkloads : workloads).push(w);
    }
  }
  for (const w of endpointWorkloads) workloads.push(w);
  const byHost = new Map<string, Service>();
  const wildcardServices: Service[] = [];
  for (const s of services) {
    if (isWildcard(s.hostname)) wildcardServices.push(s);
    else if (!byHost.has(s.hostname)) byHost.set(s.hostname, s);
  }
  return { services, byHost, wildcardServices, workloads, clusterDomain: memo.clusterDomain, memo };
}

/**
 * The registry after resources were replaced by new versions of the same kind, namespace and name (`pairs`, old →
 * new), from `previous` (built from the resources before): only the replaced resources' contributions are computed
 * again, and, where a pod, WorkloadEntry or EndpointSlice was replaced, those of the services of its namespace that
 * select them. Returns null when `previous` cannot be patched (no memo, or a resource it does not know); the caller
 * then builds the registry anew. The result equals a full build. The previous registry's memo moves to the new one.
 */
export function patchRegistry(
  previous: Registry,
  pairs: readonly (readonly [Resource, Resource])[],
): { registry: Registry; delta: WorkloadDelta } | null {
  const memo = previous.memo;
  if (!memo) return null;
  for (const [a] of pairs) if (!memo.position.has(a)) return null;
  const removed: Workload[] = [];
  const added: Workload[] = [];
  const lists = new Map(memo.lists);
  const copied = new Set<string>();
  const listOf = (kind: string): Contribution[] => {
    if (!copied.has(kind)) {
      lists.set(kind, [...(lists.get(kind) ?? [])]);
      copied.add(kind);
    }
    return lists.get(kind)!;
  };
  const position = memo.position;
  const namespaces = new Map(memo.namespaces);
  const dependents = new Map(memo.dependents);
  const touched = new Set<string>();
  for (const [a, b] of pairs) {
    if (a.kind === 'Pod' || a.kind === 'WorkloadEntry' || a.kind === 'EndpointSlice') {
      const ns = namespaces.get(a.namespace);
      if (!ns) return null;
      const i = ns.members.indexOf(a);
      if (i < 0) return null;
      const members = [...ns.members];
      members[i] = b;
      namespaces.set(a.namespace, { members, generation: ++generations });
      touched.add(a.namespace);
    }
    if (isDependent(a) !== isDependent(b)) return null;
    if (isDependent(a)) {
      const list = [...(dependents.get(a.namespace) ?? [])];
      const i = list.indexOf(a);
      if (i < 0) return null;
      list[i] = b;
      dependents.set(a.namespace, list);
    }
  }
  const next: RegistryMemo = {
    clusterDomain: memo.clusterDomain,
    contributions: memo.contributions,
    namespaces,
    lists,
    position,
    dependents,
  };
  const generationOf = (ns: string): number => namespaces.get(ns)?.generation ?? 0;
  const needed = new Set(touched);
  for (const [, b] of pairs) if (isDependent(b)) needed.add(b.namespace);
  let index: ReturnType<typeof namespaceIndexes> | null = null;
  const indexes = () => {
    index ??= namespaceIndexes(namespaces, needed);
    return index;
  };
  const recompute = (r: Resource, old: Resource): void => {
    const i = position.get(old)!;
    const list = listOf(r.kind);
    const before = list[i]!;
    const c = contributionOf(r, memo.clusterDomain, indexes, isDependent(r) ? generationOf(r.namespace) : null);
    memo.contributions.set(r, c);
    list[i] = c;
    for (const w of before.workloads) removed.push(w);
    for (const w of c.workloads) added.push(w);
  };
  // The new versions take the old ones' places.
  const replaced = new Set<Resource>();
  for (const [a, b] of pairs) {
    const i = position.get(a)!;
    recompute(b, a);
    position.delete(a);
    position.set(b, i);
    replaced.add(b);
  }
  for (const ns of touched) for (const r of dependents.get(ns) ?? []) if (!replaced.has(r)) recompute(r, r);
  const registry = flatten(next);
  const delta = { previous: new WeakRef(previous), removed, added };
  workloadDeltas.set(registry, delta);
  return { registry, delta };
}

/** Pods, WorkloadEntries and EndpointSlices by namespace (slices by namespace/service), from the namespace members. */
function namespaceIndexes(
  namespaces: ReadonlyMap<string, { members: Resource[] }>,
  only: ReadonlySet<string>,
): {
  pods: Map<string, Resource<'Pod'>[]>;
  wes: Map<string, Resource<'WorkloadEntry'>[]>;
  slices: Map<string, Resource<'EndpointSlice'>[]>;
} {
  const pods = new Map<string, Resource<'Pod'>[]>();
  const wes = new Map<string, Resource<'WorkloadEntry'>[]>();
  const slices = new Map<string, Resource<'EndpointSlice'>[]>();
  const add = <T>(m: Map<string, T[]>, k: string, v: T) => {
    const l = m.get(k);
    if (l) l.push(v);
    else m.set(k, [v]);
  };
  for (const ns of only) {
    for (const r of namespaces.get(ns)?.members ?? []) {
      if (r.kind === 'Pod') add(pods, r.namespace, r as Resource<'Pod'>);
      else if (r.kind === 'WorkloadEntry') add(wes, r.namespace, r as Resource<'WorkloadEntry'>);
      else
        add(slices, `${r.namespace}/${r.labels['kubernetes.io/service-name'] ?? ''}`, r as Resource<'EndpointSlice'>);
    }
  }
  return { pods, wes, slices };
}

/** The services and workloads one resource adds to the registry. */
function contributionOf(
  r: Resource,
  clusterDomain: string,
  indexes: () => {
    pods: Map<string, Resource<'Pod'>[]>;
    wes: Map<string, Resource<'WorkloadEntry'>[]>;
    slices: Map<string, Resource<'EndpointSlice'>[]>;
  },
  generation: number | null,
): Contribution {
  const services: Service[] = [];
  const workloads: Workload[] = [];
  const out: Contribution = { services, workloads, generation };
  switch (r.kind) {
    case 'Pod': {
      const p = r as Resource<'Pod'>;
      workloads.push({
        kind: 'Pod',
        name: p.name,
        namespace: p.namespace,
        labels: p.labels,
        addresses: podIps(p),
        serviceAccount: String((p.spec.spec as Record<string, unknown>).serviceAccountName ?? 'default'),
        locality: localityFromLabels(p.labels),
      });
      return out;
    }
    case 'WorkloadEntry': {
      const we = r as Resource<'WorkloadEntry'>;
      workloads.push({
        kind: 'WorkloadEntry',
        name: we.name,
        namespace: we.namespace,
        labels: { ...(we.spec.labels ?? {}) },
        addresses: we.spec.address ? [we.spec.address] : [],
        serviceAccount: we.spec.serviceAccount ?? 'default',
        locality: we.spec.locality ?? '',
      });
      return out;
    }
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet': {
      const d = r as Resource<'Deployment'>;
      workloads.push({
        kind: r.kind,
        name: d.name,
        namespace: d.namespace,
        labels: d.spec.template?.metadata?.labels ?? {},
        addresses: [],
        serviceAccount: 'default',
        locality: '',
      });
      return out;
    }
    case 'ServiceEntry': {
      const se = r as Resource<'ServiceEntry'>;
      const workloadEntries = indexesIfSelector(se, indexes).wes;
      const pods = indexesIfSelector(se, indexes).pods;
      const spec = se.spec;
      const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
        number: p.number ?? 0,
        name: p.name ?? '',
        protocol: (p.protocol ?? 'TCP').toUpperCase(),
        targetPort: p.targetPort ?? null,
      }));
      const endpoints: Endpoint[] = [];
      const selector = spec.workloadSelector?.labels ?? null;
      const portFor = (named: Record<string, number> | undefined, sp: ServicePort): number =>
        named?.[sp.name] ?? (typeof sp.targetPort === 'number' ? sp.targetPort : sp.number);
      if (selector) {
        for (const we of workloadEntries) {
          if (!labelsMatch(selector, we.spec.labels ?? {}) || !we.spec.address) continue;
          endpoints.push({
            address: we.spec.address,
            ports: new Map(ports.map((sp) => [sp.number, portFor(we.spec.ports, sp)])),
            labels: { ...(we.spec.labels ?? {}) },
            locality: we.spec.locality ?? '',
            weight: we.spec.weight && we.spec.weight > 0 ? we.spec.weight : 1,
            workload: { kind: 'WorkloadEntry', name: we.name, namespace: we.namespace },
            serviceAccount: we.spec.serviceAccount ?? 'default',
          });
        }
        for (const p of pods) {
          if (!labelsMatch(selector, p.labels)) continue;
          for (const ip of podIps(p).slice(0, 1)) {
            endpoints.push({
              address: ip,
              ports: new Map(
                ports.map((sp) => [sp.number, typeof sp.targetPort === 'number' ? sp.targetPort : sp.number]),
              ),
              labels: p.labels,
              locality: localityFromLabels(p.labels),
              weight: 1,
              workload: { kind: 'Pod', name: p.name, namespace: p.namespace },
              serviceAccount: 'default',
            });
          }
        }
      } else {
        (spec.endpoints ?? []).forEach((ep, i) => {
          if (!ep.address) return;
          endpoints.push({
            address: ep.address,
            ports: new Map(ports.map((sp) => [sp.number, portFor(ep.ports, sp)])),
            labels: { ...(ep.labels ?? {}) },
            locality: ep.locality ?? '',
            weight: ep.weight && ep.weight > 0 ? ep.weight : 1,
            workload: { kind: 'ServiceEntry', name: `${se.name}#${i}`, namespace: se.namespace },
            serviceAccount: ep.serviceAccount ?? 'default',
          });
          workloads.push({
            kind: 'ServiceEntryEndpoint',
            name: se.name,
            namespace: se.namespace,
            labels: { ...(ep.labels ?? {}) },
            addresses: [ep.address],
            serviceAccount: ep.serviceAccount ?? 'default',
            locality: ep.locality ?? '',
          });
        });
      }
      // DNS resolution with no endpoints: the host itself is the endpoint (Istio resolves it by DNS).
      for (const host of spec.hosts ?? []) {
        const hostname = host.toLowerCase();
        let eps = endpoints;
        if (
          endpoints.length === 0 &&
          (spec.resolution === 'DNS' || spec.resolution === 'DNS_ROUND_ROBIN') &&
          !isWildcard(hostname)
        ) {
          eps = [
            {
              address: hostname,
              ports: new Map(
                ports.map((sp) => [sp.number, typeof sp.targetPort === 'number' ? sp.targetPort : sp.number]),
              ),
              labels: {},
              locality: '',
              weight: 1,
              workload: { kind: 'ServiceEntry', name: se.name, namespace: se.namespace },
              serviceAccount: 'default',
            },
          ];
        }
        services.push({
          hostname,
          namespace: se.namespace,
          name: hostname.split('.')[0] ?? hostname,
          ports,
          endpoints: eps,
          origin: { kind: 'ServiceEntry', name: se.name, namespace: se.namespace },
          selector,
          resolution: spec.resolution ?? 'NONE',
          exportTo: spec.exportTo ?? ['*'],
        });
      }
      return out;
    }
    case 'Service': {
      const svc = r as Resource<'Service'>;
      const pods = indexes().pods.get(svc.namespace) ?? [];
      const spec = svc.spec;
      const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
        number: p.port,
        name: p.name ?? '',
        protocol: protocolFromName(p.name, p.appProtocol),
        targetPort: p.targetPort ?? null,
      }));
      const selector = spec.selector && Object.keys(spec.selector).length > 0 ? spec.selector : null;
      const mySlices = indexes().slices.get(`${svc.namespace}/${svc.name}`) ?? [];
      const endpoints: Endpoint[] = [];
      if (mySlices.length > 0) {
        for (const sl of mySlices) {
          const slicePorts = sl.spec.ports ?? [];
          for (const e of sl.spec.endpoints ?? []) {
            if (e.conditions?.ready === false) continue;
            const pod = e.targetRef?.kind === 'Pod' ? pods.find((p) => p.name === e.targetRef?.name) : undefined;
            const address = e.addresses[0];
            if (!address) continue;
            const portMap = new Map<number, number>();
            for (const sp of ports) {
              const match =
                slicePorts.find((x) => (x.name ?? '') === sp.name) ??
                (slicePorts.length === 1 ? slicePorts[0] : undefined);
              portMap.set(sp.number, match?.port ?? (typeof sp.targetPort === 'number' ? sp.targetPort : sp.number));
            }
            endpoints.push({
              address,
              ports: portMap,
              labels: pod?.labels ?? {},
              locality: pod ? localityFromLabels(pod.labels) : e.zone ? `/${e.zone}` : '',
              weight: 1,
              workload: pod
                ? { kind: 'Pod', name: pod.name, namespace: pod.namespace }
                : { kind: 'EndpointSlice', name: sl.name, namespace: sl.namespace },
              serviceAccount: 'default',
            });
          }
        }
      } else if (selector) {
        for (const p of pods) {
          if (!labelsMatch(selector, p.labels)) continue;
          const ip = podIps(p)[0];
          if (!ip) continue;
          const portMap = new Map<number, number>();
          for (const sp of ports) {
            let target: number = sp.number;
            if (typeof sp.targetPort === 'number') target = sp.targetPort;
            else if (typeof sp.targetPort === 'string') {
              if (/^\d+$/.test(sp.targetPort)) target = Number(sp.targetPort);
              else {
                const named = (p.spec.spec.containers ?? [])
                  .flatMap((c) => c.ports ?? [])
                  .find((cp) => cp.name === sp.targetPort);
                if (!named) continue;
                target = named.containerPort;
              }
            }
            portMap.set(sp.number, target);
          }
          endpoints.push({
            address: ip,
            ports: portMap,
            labels: p.labels,
            locality: localityFromLabels(p.labels),
            weight: 1,
            workload: { kind: 'Pod', name: p.name, namespace: p.namespace },
            serviceAccount: 'default',
          });
        }
      }
      services.push({
        hostname: resolveHost(svc.name, svc.namespace, clusterDomain),
        namespace: svc.namespace,
        name: svc.name,
        ports,
        endpoints,
        origin: { kind: 'Service', name: svc.name, namespace: svc.namespace },
        selector,
        resolution: 'STATIC',
        exportTo: ['*'],
      });
      return out;
    }
    default:
      return out;
  }
}

/** The namespace's WorkloadEntries and Pods for a ServiceEntry with a workload selector (none otherwise). */
function indexesIfSelector(
  se: Resource<'ServiceEntry'>,
  indexes: () => { pods: Map<string, Resource<'Pod'>[]>; wes: Map<string, Resource<'WorkloadEntry'>[]> },
): { pods: Resource<'Pod'>[]; wes: Resource<'WorkloadEntry'>[] } {
  if (!se.spec.workloadSelector?.labels) return { pods: [], wes: [] };
  const i = indexes();
  return { pods: i.pods.get(se.namespace) ?? [], wes: i.wes.get(se.namespace) ?? [] };
}

/**
 * Finds the service for a concrete host: an exact registry entry, else the most specific wildcard ServiceEntry
 * host that matches it. Returns null when the host is unknown.
 */
export function findService(registry: Registry, host: string): Service | null {
  const exact = registry.byHost.get(host.toLowerCase());
  if (exact) return exact;
  let best: Service | null = null;
  for (const s of registry.wildcardServices) {
    if (hostMatches(s.hostname, host) && (best === null || s.hostname.length > best.hostname.length)) best = s;
  }
  return best;
}

/**
 * Finds the services a host pattern (possibly a wildcard, e.g. a DestinationRule host `*.prod.svc.cluster.local`)
 * refers to.
 */
export function servicesMatching(registry: Registry, pattern: string): Service[] {
  if (!isWildcard(pattern)) {
    const s = findService(registry, pattern);
    return s ? [s] : [];
  }
  return registry.services.filter((s) => hostMatches(pattern, s.hostname) || s.hostname === pattern);
}

function podIps(p: Resource<'Pod'>): string[] {
  const st = p.spec.status;
  const ips = (st.podIPs ?? []).map((x) => x.ip);
  if (st.podIP && !ips.includes(st.podIP)) ips.unshift(st.podIP);
  return ips;
}

/**
 * Locality of a Pod from its labels: Istio's `istio-locality` label (`region.zone.subzone`), else the topology
 * labels `topology.kubernetes.io/region` and `/zone`. Returned as `region/zone/subzone`.
 */
export function localityFromLabels(labels: Readonly<Record<string, string>>): string {
  const il = labels['istio-locality'];
  if (il) return il.split('.').join('/');
  const region = labels['topology.kubernetes.io/region'] ?? '';
  const zone = labels['topology.kubernetes.io/zone'] ?? '';
  const subzone = labels['topology.istio.io/subzone'] ?? '';
  if (!region && !zone && !subzone) return '';
  return `${region}/${zone}/${subzone}`;
}
