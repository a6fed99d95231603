/**
 * Incremental updates equal a full rebuild: random sequences of changes to a generated mesh (services added and
 * removed, endpoints, weights, subsets, hash policies, sourceLabels, exportTo, a mesh-wide DestinationRule, a
 * delegate, a file with an error, a resource defined twice) are applied to files; after each step the store's
 * incremental snapshot and the table compiled from the previous one must decide and explain every probe request
 * exactly as a fresh load and compile do, and report the same diagnostics. A second part checks that the reuse is
 * real: what a change does not touch keeps its identity.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigSnapshot } from '../../../src/config/snapshot.ts';
import { FileConfigStore } from '../../../src/config/store.ts';
import { registrySourceResolver } from '../../../src/dataplane/server/source-identity.ts';
import { compileRouteTable, type RouteTable } from '../../../src/routing/compile.ts';
import { decide } from '../../../src/routing/decide.ts';
import { createFacts } from '../../../src/routing/facts.ts';
import type { ProxyMode, RouteDecision, TraceStep } from '../../../src/routing/types.ts';

interface Svc {
  id: number;
  ns: string;
  /** Endpoint versions (address derived from the index). */
  endpoints: ('v1' | 'v2')[];
  subsets: boolean;
  hash: 'none' | 'header' | 'cookie';
  vs: 'none' | 'split' | 'sourceLabels' | 'delegate';
  weights: [number, number];
  exportTo: '*' | '.';
  /** A second definition of the DestinationRule in another file (WEIR0005). */
  duplicate: boolean;
  /** The service file holds a YAML syntax error. */
  broken: boolean;
  /** A Kubernetes Service selecting Pods (from `pods.yaml`) instead of a ServiceEntry with inline endpoints. */
  k8s: boolean;
  /**
   * A second VirtualService for the same host in a file loaded before the service's (`aa-shadow-*.yaml`): the older
   * one wins the host, and with no creation time the load order decides.
   */
  shadow: boolean;
}

interface Mesh {
  services: Svc[];
  rootRule: boolean;
  /** Pods (in `pods.yaml`), selected by the Kubernetes Services by `app`. */
  pods: { id: number; ns: string; app: string; version: 'v1' | 'v2' }[];
}

const NAMESPACES = ['default', 'prod', 'shop'];

function host(s: Svc): string {
  return `svc-${s.id}.${s.ns}.svc.cluster.local`;
}

function renderService(s: Svc): string {
  const eps = s.endpoints
    .map(
      (v, i) =>
        `  - address: 127.1.${s.id}.${i + 1}\n    ports: {http: 8080}\n    labels: {app: svc-${s.id}, version: ${v}}`,
    )
    .join('\n');
  const docs = [
    s.k8s
      ? `apiVersion: v1
kind: Service
metadata: {name: svc-${s.id}, namespace: ${s.ns}}
spec:
  selector: {app: svc-${s.id}}
  ports: [{name: http, port: 80, targetPort: 8080}]
`
      : `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${s.id}, namespace: ${s.ns}}
spec:
  hosts: [${host(s)}]
  location: MESH_INTERNAL
  resolution: STATIC
  exportTo: ["${s.exportTo}"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:${eps ? `\n${eps}` : ' []'}
`,
  ];
  if (s.subsets || s.hash !== 'none') {
    const lb =
      s.hash === 'header'
        ? '\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}'
        : s.hash === 'cookie'
          ? '\n  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: sid, ttl: 60s}}}}'
          : '';
    const subsets = s.subsets
      ? '\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}'
      : '';
    docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${s.id}, namespace: ${s.ns}}
spec:
  host: ${host(s)}${lb}${subsets}
`);
  }
  const sub = (v: string) => (s.subsets ? `, subset: ${v}` : '');
  if (s.vs === 'split' || s.vs === 'sourceLabels') {
    const first =
      s.vs === 'split'
        ? `  - name: canary\n    match: [{headers: {x-canary-user: {exact: "true"}}}]\n    route: [{destination: {host: ${host(s)}${sub('v2')}}}]\n`
        : `  - name: qa\n    match: [{sourceLabels: {app: qa-tools}}]\n    route: [{destination: {host: ${host(s)}${sub('v2')}}}]\n`;
    docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${s.id}, namespace: ${s.ns}}
spec:
  hosts: [${host(s)}]
  http:
${first}  - name: split
    timeout: 3s
    route:
    - {destination: {host: ${host(s)}${sub('v1')}}, weight: ${s.weights[0]}}
    - {destination: {host: ${host(s)}${sub('v2')}}, weight: ${s.weights[1]}}
`);
  } else if (s.vs === 'delegate') {
    docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${s.id}, namespace: ${s.ns}}
spec:
  hosts: [${host(s)}]
  http:
  - delegate: {name: shared-delegate, namespace: default}
`);
  }
  const text = docs.join('---\n');
  return s.broken ? `${text}---\nkind: [unterminated\n` : text;
}

function renderShared(m: Mesh): Record<string, string | null> {
  const first = m.services[0];
  return {
    'shared-delegate.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shared-delegate, namespace: default}
spec:
  http:
  - name: delegated
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: ${first ? host(first) : 'nowhere.default.svc.cluster.local'}}}]
  - name: rest
    route: [{destination: {host: ${first ? host(first) : 'nowhere.default.svc.cluster.local'}}}]
`,
    'root-rule.yaml': m.rootRule
      ? `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mesh-wide, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}, outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}}
`
      : null,
    'pods.yaml':
      m.pods
        .map(
          (p) => `apiVersion: v1
kind: Pod
metadata: {name: pod-${p.id}, namespace: ${p.ns}, labels: {app: ${p.app}, version: ${p.version}}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 127.2.${p.id % 250}.${1 + Math.floor(p.id / 250)}}
`,
        )
        .join('---\n') || '# no pods\n',
    'clients.yaml': `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: qa-tools, namespace: default}
spec: {address: 127.9.0.1, labels: {app: qa-tools}}
`,
  };
}

/** Writes the files of a mesh that differ from `prior` (null: write all); returns the paths written or removed. */
function writeMesh(dir: string, m: Mesh, prior: Map<string, string | null>): string[] {
  const want = new Map<string, string | null>();
  for (const s of m.services) want.set(`svc-${s.id}.yaml`, renderService(s));
  for (const s of m.services)
    if (s.duplicate)
      want.set(
        `zz-dup-${s.id}.yaml`,
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${s.id}, namespace: ${s.ns}}
spec: {host: ${host(s)}}
`,
      );
  for (const s of m.services)
    if (s.shadow)
      want.set(
        `aa-shadow-${s.id}.yaml`,
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${s.id}-shadow, namespace: ${s.ns}}
spec:
  hosts: [${host(s)}]
  http:
  - name: shadow
    match: [{headers: {x-user: {exact: u1}}}]
    directResponse: {status: 418}
`,
      );
  for (const [f, t] of Object.entries(renderShared(m))) want.set(f, t);
  for (const f of prior.keys()) if (!want.has(f)) want.set(f, null);
  const changed: string[] = [];
  for (const [f, text] of want) {
    if (prior.get(f) === text) continue;
    const path = join(dir, f);
    if (text === null) {
      if (prior.get(f) !== undefined && prior.get(f) !== null) unlinkSync(path);
    } else writeFileSync(path, text);
    prior.set(f, text);
    changed.push(path);
  }
  return changed;
}

type Op =
  | { op: 'add'; ns: number; vs: Svc['vs'] }
  | { op: 'remove'; i: number }
  | { op: 'endpoint+'; i: number; v2: boolean }
  | { op: 'endpoint-'; i: number }
  | { op: 'weights'; i: number; w: number }
  | { op: 'vs'; i: number; vs: Svc['vs'] }
  | { op: 'subsets'; i: number }
  | { op: 'hash'; i: number; hash: Svc['hash'] }
  | { op: 'exportTo'; i: number }
  | { op: 'rootRule' }
  | { op: 'duplicate'; i: number }
  | { op: 'broken'; i: number }
  | { op: 'k8s'; i: number }
  | { op: 'shadow'; i: number }
  | { op: 'pod+'; i: number; v2: boolean }
  | { op: 'pod-'; i: number }
  | { op: 'podFlip'; i: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('add' as const),
    ns: fc.nat(NAMESPACES.length - 1),
    vs: fc.constantFrom('none', 'split', 'sourceLabels', 'delegate'),
  }),
  fc.record({ op: fc.constant('remove' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('endpoint+' as const), i: fc.nat(), v2: fc.boolean() }),
  fc.record({ op: fc.constant('endpoint-' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('weights' as const), i: fc.nat(), w: fc.integer({ min: 0, max: 100 }) }),
  fc.record({
    op: fc.constant('vs' as const),
    i: fc.nat(),
    vs: fc.constantFrom('none', 'split', 'sourceLabels', 'delegate'),
  }),
  fc.record({ op: fc.constant('subsets' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('hash' as const), i: fc.nat(), hash: fc.constantFrom('none', 'header', 'cookie') }),
  fc.record({ op: fc.constant('exportTo' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('rootRule' as const) }),
  fc.record({ op: fc.constant('duplicate' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('broken' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('k8s' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('shadow' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('pod+' as const), i: fc.nat(), v2: fc.boolean() }),
  fc.record({ op: fc.constant('pod-' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('podFlip' as const), i: fc.nat() }),
);

let nextId = 100;

function apply(m: Mesh, o: Op): Mesh {
  const services = m.services.map((s) => ({ ...s, endpoints: [...s.endpoints] }));
  let pods = m.pods;
  const at = (i: number) => (services.length === 0 ? null : services[i % services.length]!);
  switch (o.op) {
    case 'add':
      services.push({
        id: nextId++,
        ns: NAMESPACES[o.ns]!,
        endpoints: ['v1', 'v2'],
        subsets: true,
        hash: 'none',
        vs: o.vs,
        weights: [95, 5],
        exportTo: '*',
        duplicate: false,
        broken: false,
        k8s: false,
        shadow: false,
      });
      break;
    case 'remove':
      if (services.length > 0) services.splice(o.i % services.length, 1);
      break;
    case 'endpoint+':
      at(o.i)?.endpoints.push(o.v2 ? 'v2' : 'v1');
      break;
    case 'endpoint-':
      at(o.i)?.endpoints.pop();
      break;
    case 'weights': {
      const s = at(o.i);
      if (s) s.weights = [o.w, 100 - o.w];
      break;
    }
    case 'vs': {
      const s = at(o.i);
      if (s) s.vs = o.vs;
      break;
    }
    case 'subsets': {
      const s = at(o.i);
      if (s) s.subsets = !s.subsets;
      break;
    }
    case 'hash': {
      const s = at(o.i);
      if (s) s.hash = o.hash;
      break;
    }
    case 'exportTo': {
      const s = at(o.i);
      if (s) s.exportTo = s.exportTo === '*' ? '.' : '*';
      break;
    }
    case 'rootRule':
      return { services, rootRule: !m.rootRule, pods };
    case 'k8s': {
      const s = at(o.i);
      if (s) s.k8s = !s.k8s;
      break;
    }
    case 'shadow': {
      const s = at(o.i);
      if (s) s.shadow = !s.shadow;
      break;
    }
    case 'pod+': {
      const s = at(o.i);
      if (s) pods = [...pods, { id: nextId++, ns: s.ns, app: `svc-${s.id}`, version: o.v2 ? 'v2' : 'v1' }];
      break;
    }
    case 'pod-':
      if (pods.length > 0) pods = pods.filter((_, j) => j !== o.i % pods.length);
      break;
    case 'podFlip':
      // The same pod, relabelled in place (a rollout of its version).
      if (pods.length > 0)
        pods = pods.map((p, j) =>
          j === o.i % pods.length ? { ...p, version: p.version === 'v1' ? ('v2' as const) : ('v1' as const) } : p,
        );
      break;
    case 'duplicate': {
      const s = at(o.i);
      if (s) s.duplicate = !s.duplicate;
      break;
    }
    case 'broken': {
      const s = at(o.i);
      if (s) s.broken = !s.broken;
      break;
    }
  }
  return { services, rootRule: m.rootRule, pods };
}

/** A deterministic uniform generator (the same draws for both tables). */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** Everything a decision says that a user or the data plane can observe, as plain data. */
function project(d: RouteDecision): unknown {
  const vs = (r: { virtualService: { namespace: string; name: string } } | undefined) =>
    r ? `${r.virtualService.namespace}/${r.virtualService.name}` : null;
  const base = {
    action: d.action,
    host: d.vhost?.host ?? null,
    vhostVs: d.vhost?.virtualService ? `${d.vhost.virtualService.namespace}/${d.vhost.virtualService.name}` : null,
  };
  if (d.action === 'notFound') return base;
  const route = {
    name: d.route.name,
    index: d.route.index,
    delegateIndex: d.route.delegateIndex,
    vs: vs(d.route),
    matchIndex: d.matchIndex,
    timeoutMs: d.route.timeoutMs,
    retries: d.route.retries,
    mirrors: d.route.mirrors,
  };
  if (d.action === 'route')
    return {
      ...base,
      route,
      destinationIndex: d.destinationIndex,
      pick: d.pick,
      hashPolicies: d.hashPolicies,
      cluster: {
        name: d.cluster.name,
        endpoints: d.cluster.endpoints.map((e) => [e.key, e.weight, e.labels, e.locality]),
        policy: d.cluster.policy,
      },
      setCookie: d.setCookie,
    };
  if (d.action === 'clusterNotFound') return { ...base, route, cluster: d.clusterName };
  if (d.action === 'redirect') return { ...base, route, status: d.status, location: d.location };
  return { ...base, route, status: d.status, body: d.body };
}

/** The trace as plain data (resources by kind/namespace/name). */
function plainTrace(steps: TraceStep[]): unknown {
  return JSON.parse(
    JSON.stringify(steps, (_k, v) =>
      v && typeof v === 'object' && 'kind' in v && 'namespace' in v && 'name' in v && 'spec' in v
        ? `${v.kind}/${v.namespace}/${v.name}`
        : v,
    ),
  );
}

function probe(table: RouteTable, hosts: readonly string[]): unknown[] {
  const out: unknown[] = [];
  let n = 0;
  for (const h of hosts) {
    const variants: Record<string, string>[] = [
      {},
      { 'x-canary-user': 'true' },
      { 'x-user': 'u1' },
      { cookie: 'sid=abc' },
    ];
    for (const headers of variants) {
      for (const ip of ['127.9.0.1', '127.200.0.1']) {
        for (const path of ['/', '/api/x']) {
          const facts = createFacts({ authority: h, path, headers, source: { ip } });
          const trace: TraceStep[] = [];
          const d = decide(table, facts, { rng: seeded(++n), trace });
          out.push({ h, headers, ip, path, d: project(d), trace: plainTrace(trace) });
        }
      }
    }
  }
  return out;
}

const diagnostics = (s: ConfigSnapshot) => s.diagnostics.map((d) => JSON.stringify(d));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function initialMesh(): Mesh {
  nextId = 100;
  return {
    rootRule: false,
    pods: [
      { id: 1, ns: 'default', app: 'svc-0', version: 'v1' },
      { id: 2, ns: 'prod', app: 'svc-1', version: 'v2' },
    ],
    services: [0, 1, 2].map((i) => ({
      id: i,
      ns: NAMESPACES[i % NAMESPACES.length]!,
      endpoints: ['v1', 'v2'] as ('v1' | 'v2')[],
      subsets: true,
      hash: 'none' as const,
      vs: (['split', 'none', 'sourceLabels'] as const)[i]!,
      weights: [95, 5] as [number, number],
      exportTo: '*' as const,
      duplicate: false,
      broken: false,
      k8s: i === 1,
      shadow: false,
    })),
  };
}

describe('incremental snapshot and route table', () => {
  const modes: ProxyMode[] = [
    { gateway: null, namespace: 'default', labels: null },
    { gateway: null, namespace: 'prod', labels: { app: 'qa-tools' } },
  ];

  it('after every change, routes and explains every probe exactly as a fresh build', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 12 }),
        fc.nat(1),
        fc.boolean(),
        async (ops, modeIndex, analyze) => {
          const mode = modes[modeIndex]!;
          const dir = mkdtempSync(join(tmpdir(), 'weir-incremental-'));
          dirs.push(dir);
          let mesh = initialMesh();
          const written = new Map<string, string | null>();
          writeMesh(dir, mesh, written);
          const store = new FileConfigStore([dir], { defaultNamespace: 'default', analyze });
          let table = compileRouteTable(await store.refresh(), mode);
          const everHosts = new Set(mesh.services.map(host));
          for (const o of ops) {
            mesh = apply(mesh, o);
            for (const s of mesh.services) everHosts.add(host(s));
            const changed = writeMesh(dir, mesh, written);
            const snapshot = await store.refresh({ changed });
            table = compileRouteTable(snapshot, mode, table);
            const fresh = await new FileConfigStore([dir], { defaultNamespace: 'default', analyze }).refresh();
            const freshTable = compileRouteTable(fresh, mode);
            expect(diagnostics(snapshot), `after ${JSON.stringify(o)}`).toEqual(diagnostics(fresh));
            // The proxy's source identity by client IP (patched along with the registry) is the fresh one.
            const ips = [
              '127.9.0.1',
              '127.200.0.1',
              ...mesh.pods.map((p) => `127.2.${p.id % 250}.${1 + Math.floor(p.id / 250)}`),
            ];
            for (const s of mesh.services) s.endpoints.forEach((_, i) => ips.push(`127.1.${s.id}.${i + 1}`));
            const incremental = registrySourceResolver(snapshot.registry);
            const full = registrySourceResolver(fresh.registry);
            for (const ip of ips) expect(incremental(ip), `${ip} after ${JSON.stringify(o)}`).toEqual(full(ip));
            const hosts = [...everHosts, 'svc-0', 'svc-0.default', 'unknown.example.com'];
            expect(probe(table, hosts), `after ${JSON.stringify(o)}`).toEqual(probe(freshTable, hosts));
          }
        },
      ),
      { seed: Number(process.env.SEED ?? 20261208), numRuns: Number(process.env.RUNS ?? 40) },
    );
  }, 120_000);

  it('reuses what a change does not touch: other files’ resources, compiled routes and clusters keep their identity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-incremental-'));
    dirs.push(dir);
    let mesh = initialMesh();
    const written = new Map<string, string | null>();
    writeMesh(dir, mesh, written);
    const store = new FileConfigStore([dir], { defaultNamespace: 'default' });
    const mode = modes[0]!;
    const s1 = await store.refresh();
    const t1 = compileRouteTable(s1, mode);
    // Build every cluster the probes reach, so there is something to adopt.
    probe(t1, mesh.services.map(host));
    const clusters1 = new Map(t1.builtClusters().map((c) => [c.name, c]));

    // A weight change in service 0's VirtualService.
    mesh = apply(mesh, { op: 'weights', i: 0, w: 80 });
    const changed = writeMesh(dir, mesh, written);
    expect(changed).toEqual([join(dir, 'svc-0.yaml')]);
    const s2 = await store.refresh({ changed });
    expect(store.lastStats).toEqual({ read: 1, parsed: 1, removed: 0 });
    const t2 = compileRouteTable(s2, mode, t1);

    const vs = (s: ConfigSnapshot, id: number) => s.virtualServices.find((v) => v.name === `svc-${id}`)!;
    // Service 2's resources are the same objects; service 0's VirtualService is new.
    expect(vs(s2, 2)).toBe(vs(s1, 2));
    expect(vs(s2, 0)).not.toBe(vs(s1, 0));
    expect(t2.memo.routes.get(vs(s2, 2))).toBe(t1.memo.routes.get(vs(s1, 2)));
    expect(t2.memo.routes.get(vs(s2, 0))).not.toBe(t1.memo.routes.get(vs(s1, 0)));
    // Registry services of untouched files are the same objects; so are their clusters.
    expect(s2.registry.byHost.get(host(mesh.services[1]!))).toBe(s1.registry.byHost.get(host(mesh.services[1]!)));
    for (const [name, c] of clusters1) expect(t2.clusterByName(name), name).toBe(c);

    // An endpoint change in service 2 (a ServiceEntry): only its clusters are rebuilt.
    mesh = apply(mesh, { op: 'endpoint+', i: 2, v2: true });
    const s3 = await store.refresh({ changed: writeMesh(dir, mesh, written) });
    const t3 = compileRouteTable(s3, mode, t2);
    // The endpoint list grew, so service 2's DestinationRule and VirtualService moved down in their file: they are
    // reused as they were (nothing cached about them holds a position), only the ServiceEntry is new.
    expect(vs(s3, 2)).toBe(vs(s2, 2));
    expect(s3.destinationRules.find((d) => d.name === 'svc-2')).toBe(
      s2.destinationRules.find((d) => d.name === 'svc-2'),
    );
    for (const [name, c] of clusters1) {
      if (name.endsWith(`|${host(mesh.services[2]!)}`)) expect(t3.clusterByName(name), name).not.toBe(c);
      else expect(t3.clusterByName(name), name).toBe(c);
    }
    // A pod of service 1 (a Kubernetes Service in prod) added in pods.yaml: only service 1's clusters change.
    mesh = apply(mesh, { op: 'pod+', i: 1, v2: false });
    const s4 = await store.refresh({ changed: writeMesh(dir, mesh, written) });
    const t4 = compileRouteTable(s4, mode, t3);
    expect(t4.clusterByName(`outbound|80||${host(mesh.services[1]!)}`)!.endpoints).toHaveLength(2);
    for (const [name, c] of clusters1) {
      if (name.endsWith(`|${host(mesh.services[0]!)}`)) expect(t4.clusterByName(name), name).toBe(c);
    }
    expect(t3.memo.routes.get(vs(s3, 0))).toBe(t2.memo.routes.get(vs(s2, 0)));
  });
});

describe('many edits in a row', () => {
  it('40 endpoint and pod edits: source identity by address and routing stay those of a fresh build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-incremental-'));
    dirs.push(dir);
    let mesh = initialMesh();
    const written = new Map<string, string | null>();
    writeMesh(dir, mesh, written);
    const store = new FileConfigStore([dir], { defaultNamespace: 'default', analyze: false });
    const mode: ProxyMode = { gateway: null, namespace: 'default', labels: null };
    let table = compileRouteTable(await store.refresh(), mode);
    for (let k = 0; k < 40; k++) {
      const o: Op =
        k % 3 === 0
          ? { op: 'podFlip', i: k }
          : k % 3 === 1
            ? { op: 'endpoint+', i: 2, v2: k % 2 === 0 }
            : { op: 'endpoint-', i: 2 };
      mesh = apply(mesh, o);
      const snapshot = await store.refresh({ changed: writeMesh(dir, mesh, written) });
      table = compileRouteTable(snapshot, mode, table);
      const fresh = await new FileConfigStore([dir], { defaultNamespace: 'default', analyze: false }).refresh();
      const ips = ['127.9.0.1', ...mesh.pods.map((p) => `127.2.${p.id % 250}.${1 + Math.floor(p.id / 250)}`)];
      for (let i = 1; i <= 8; i++) ips.push(`127.1.2.${i}`);
      const a = registrySourceResolver(snapshot.registry);
      const b = registrySourceResolver(fresh.registry);
      for (const ip of ips) expect(a(ip), `${ip} after edit ${k}`).toEqual(b(ip));
      const hosts = mesh.services.map(host);
      expect(probe(table, hosts)).toEqual(probe(compileRouteTable(fresh, mode), hosts));
    }
  });
});
