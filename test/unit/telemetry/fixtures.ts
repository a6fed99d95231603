/**
 * Config for the telemetry tests: checkout-service in a namespace with WorkloadEntries per version (so endpoints
 * have workload names, as Deployments would), subsets by `version`, and optionally the article's 95/5 split.
 */

/** A WorkloadEntry for 127.0.0.1:`port` with `labels`. */
export function workloadEntryYaml(ns: string, name: string, port: number, labels: Record<string, string>): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  address: 127.0.0.1
  ports:
    http: ${port}
  labels:
${Object.entries(labels)
  .map(([k, v]) => `    ${k}: "${v}"`)
  .join('\n')}
`;
}

/** The checkout-service ServiceEntry selecting its WorkloadEntries by `app: checkout-service`. */
export function checkoutServiceYaml(ns: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: checkout-service
  namespace: ${ns}
spec:
  hosts:
  - checkout-service.${ns}.svc.cluster.local
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: 80
    name: http
    protocol: HTTP
  workloadSelector:
    labels:
      app: checkout-service
`;
}

/** DestinationRule subsets v1, v2 and `empty` (a version no endpoint has). */
export function checkoutSubsetsYaml(ns: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: checkout-service-dr
  namespace: ${ns}
spec:
  host: checkout-service.${ns}.svc.cluster.local
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
  - name: empty
    labels:
      version: v9
`;
}

/**
 * The article's composite route (Pattern 1): `x-canary-user: "true"` → v2, everything else 95 % v1 / 5 % v2
 * (as in examples/01-composite-routing, in namespace `ns`).
 */
export function compositeRouteYaml(ns: string): string {
  const host = `checkout-service.${ns}.svc.cluster.local`;
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${ns}
spec:
  hosts:
  - ${host}
  http:
  - name: "internal-canary-route"
    match:
    - headers:
        x-canary-user:
          exact: "true"
    route:
    - destination:
        host: ${host}
        subset: v2
      weight: 100
  - name: "public-traffic-split"
    route:
    - destination:
        host: ${host}
        subset: v1
      weight: 95
    - destination:
        host: ${host}
        subset: v2
      weight: 5
`;
}

/** One parsed sample of the text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the subset prom-client writes: no timestamps, escaped label values). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      for (let m = re.exec(body); m !== null; m = re.exec(body)) {
        labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    out.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return out;
}

/** Samples of `name` whose labels include every pair of `match`. */
export function select(samples: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}
