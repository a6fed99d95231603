/**
 * The generated mesh of `npm run bench:scale`: N services spread over namespaces, each a ServiceEntry with 4 inline
 * endpoints (v1, v1, v2, v2), a DestinationRule with subsets v1/v2, and a VirtualService with a header route
 * (`x-canary-user: true` → v2) and a 95/5 split with a timeout and retries. Service 0 is the instrumented one: its
 * endpoints are the real local backend's four ports, and it has a third subset `v3` behind a
 * header route `x-weir-bench: endpoint`, and one `version: v3` endpoint at start; removing and re-adding that endpoint
 * is visible from outside (200 ↔ 503 `UH`). (With the subset empty, `istioctl analyze` reports IST0173; weir serve
 * logs it and applies the change, as istiod would.) A separate `probe.bench.local` service answers a direct response (the stall probe's cheap route).
 *
 * Every other endpoint is `127.a.b.c:8080` on loopback, unique per service; nothing listens there and the benchmark
 * sends them no traffic.
 *
 * Files are replaced atomically (write a hidden temporary file, rename over the target), as a config-management
 * tool or `kubectl`-style writer would; weir's watcher ignores hidden files, so it sees one change per write.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Namespaces the services are spread over (service i goes to `ns{i mod 50}`). */
export const NAMESPACES = 50;

/** Header that selects the instrumented routes of service 0 (`endpoint` → subset v3). */
export const PROBE_HEADER = 'x-weir-bench';
/** Host of the stall probe's direct-response route. */
export const PROBE_HOST = 'probe.bench.local';

/** The mutable part of one service: its extra endpoint and its split weights (v1, v2). */
export interface ServiceState {
  /** An extra (fifth) endpoint: for service 0 the `version: v3` one on the probe backend port; else a v1 endpoint. */
  extraEndpoint: boolean;
  /** Weights of the split route to v1 and v2, in percent (sum 100). */
  weights: readonly [number, number];
}

/** Layout on disk: one file per service (plus `probe.yaml`) or everything in `mesh.yaml`. */
export type MeshLayout = 'per-service' | 'one-file';

/** Ports of the real backend that service 0 points at. */
export interface BackendPorts {
  /** Four ports: service 0's endpoints v1, v1, v2, v2. */
  readonly service: readonly [number, number, number, number];
  /** The port of the `version: v3` endpoint that the endpoint change adds and removes. */
  readonly extra: number;
}

/** Service i's namespace, name and host. */
export function serviceName(i: number): { ns: string; name: string; host: string } {
  const ns = `ns${i % NAMESPACES}`;
  const name = `svc-${i}`;
  return { ns, name, host: `${name}.${ns}.svc.cluster.local` };
}

function endpoint(address: string, port: number, app: string, version: string): string {
  return `  - address: ${address}\n    ports:\n      http: ${port}\n    labels:\n      app: ${app}\n      version: ${version}\n`;
}

/** The YAML of service i (three documents: ServiceEntry, DestinationRule, VirtualService). */
export function renderService(i: number, state: ServiceState, backend: BackendPorts): string {
  const { ns, name, host } = serviceName(i);
  const real = i === 0;
  let eps = '';
  for (let k = 0; k < 4; k++) {
    const version = k < 2 ? 'v1' : 'v2';
    eps += real
      ? endpoint('127.0.0.1', backend.service[k]!, name, version)
      : endpoint(`127.${1 + ((i >> 8) & 127)}.${i & 255}.${k + 1}`, 8080, name, version);
  }
  if (state.extraEndpoint) {
    eps += real
      ? endpoint('127.0.0.1', backend.extra, name, 'v3')
      : endpoint(`127.${1 + ((i >> 8) & 127)}.${i & 255}.5`, 8080, name, 'v1');
  }
  const probeSubset = real ? `  - name: v3\n    labels:\n      version: v3\n` : '';
  const probeRoute = real
    ? `  - name: probe-endpoint
    match:
    - headers:
        ${PROBE_HEADER}:
          exact: endpoint
    route:
    - destination:
        host: ${host}
        subset: v3
`
    : '';
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  hosts:
  - ${host}
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: 80
    name: http
    protocol: HTTP
  endpoints:
${eps}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  host: ${host}
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
${probeSubset}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  hosts:
  - ${host}
  http:
${probeRoute}  - name: canary
    match:
    - headers:
        x-canary-user:
          exact: "true"
    route:
    - destination:
        host: ${host}
        subset: v2
  - name: split
    timeout: 3s
    retries:
      attempts: 2
      perTryTimeout: 1s
      retryOn: 5xx,connect-failure
    route:
    - destination:
        host: ${host}
        subset: v1
      weight: ${state.weights[0]}
    - destination:
        host: ${host}
        subset: v2
      weight: ${state.weights[1]}
`;
}

/** The stall probe's service: a ServiceEntry (no endpoints needed) and a VirtualService answering 200 itself. */
export function renderProbe(): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: bench-probe
  namespace: ns0
spec:
  hosts:
  - ${PROBE_HOST}
  location: MESH_EXTERNAL
  resolution: NONE
  ports:
  - number: 80
    name: http
    protocol: HTTP
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bench-probe
  namespace: ns0
spec:
  hosts:
  - ${PROBE_HOST}
  http:
  - name: probe
    directResponse:
      status: 200
      body:
        string: ok
`;
}

/** Resources per service (ServiceEntry, DestinationRule, VirtualService) and of the probe (ServiceEntry, VS). */
export const RESOURCES_PER_SERVICE = 3;
export const PROBE_RESOURCES = 2;

/** A generated mesh on disk, with atomic per-service updates. */
export class Mesh {
  /** The current state of each service. */
  readonly states: ServiceState[];
  private readonly texts: string[];
  private seq = 0;
  /** Bytes of YAML written at generation. */
  readonly bytes: number;

  /**
   * Writes the mesh under `dir` (created). @param services number of services (≥ 1).
   * @throws on file-system errors.
   */
  constructor(
    readonly dir: string,
    readonly services: number,
    readonly layout: MeshLayout,
    readonly backend: BackendPorts,
  ) {
    mkdirSync(dir, { recursive: true });
    // Service 0 starts with its v3 endpoint (so subset v3 selects something and the mesh validates clean).
    this.states = Array.from({ length: services }, (_, i) => ({ extraEndpoint: i === 0, weights: [95, 5] as const }));
    this.texts = this.states.map((s, i) => renderService(i, s, backend));
    if (layout === 'per-service') {
      this.texts.forEach((t, i) => writeFileSync(join(dir, `${serviceName(i).name}.yaml`), t));
      writeFileSync(join(dir, 'probe.yaml'), renderProbe());
    } else {
      writeFileSync(join(dir, 'mesh.yaml'), this.oneFile());
    }
    this.bytes = this.texts.reduce((a, t) => a + Buffer.byteLength(t), 0) + Buffer.byteLength(renderProbe());
  }

  /** Resources in the mesh (what `weir validate` should count). */
  get resourceCount(): number {
    return this.services * RESOURCES_PER_SERVICE + PROBE_RESOURCES;
  }

  /**
   * Sets service i's state and replaces its file atomically (one-file layout: the whole `mesh.yaml`). Returns the
   * `performance.now()` at which the rename made the change visible, in ms.
   */
  update(i: number, state: ServiceState): number {
    this.states[i] = state;
    this.texts[i] = renderService(i, state, this.backend);
    const target = this.layout === 'per-service' ? `${serviceName(i).name}.yaml` : 'mesh.yaml';
    const text = this.layout === 'per-service' ? this.texts[i]! : this.oneFile();
    const tmp = join(this.dir, `.tmp-${process.pid}-${this.seq++}`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dir, target));
    return performance.now();
  }

  private oneFile(): string {
    return `${this.texts.join('---\n')}---\n${renderProbe()}`;
  }
}
