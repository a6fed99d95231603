/**
 * Unknown fields (WEIR0002) as the API server's strict field validation treats them — `kubectl apply` refuses
 * `strict decoding error: unknown field "spec.http[0].matches"` — in the spec, the metadata and the top level, with
 * the field path, the key's position and a did-you-mean; and the lenient modes (kubectl `--validate=warn|ignore`).
 */
import { describe, expect, it } from 'vitest';
import { type Diagnostic, isRejection } from '../../../src/config/diagnostics.ts';
import type { FieldValidation } from '../../../src/config/schema-check.ts';
import { snapshotFromTexts } from '../../../src/config/snapshot.ts';
import { markedPosition } from '../../helpers/validate.ts';

const VS_TYPO = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: checkout, namespace: shop}
spec:
  hosts: [checkout]
  http:
  - matches: #-
    - headers: {x-canary-user: {exact: "true"}}
    route:
    - destination: {host: checkout, subset: v2}
  - route:
    - destination: {host: checkout, subset: v1}
`;

function build(text: string, fieldValidation?: FieldValidation) {
  return snapshotFromTexts([{ file: 't.yaml', text }], fieldValidation ? { fieldValidation } : {});
}
const unknownOf = (ds: readonly Diagnostic[]) => ds.filter((d) => d.code === 'WEIR0002');
const line = (d: Diagnostic) => `${d.position?.line}:${d.position?.column} ${d.level} ${d.field}: ${d.message}`;

describe('unknown fields, strict (the default, as kubectl apply)', () => {
  it('refuses a VirtualService whose header route has a typo: the error names the path, the key and the field meant', () => {
    const s = build(VS_TYPO);
    const found = unknownOf(s.diagnostics);
    expect(found.map(line)).toEqual([
      `${markedPosition(VS_TYPO).line}:${markedPosition(VS_TYPO).column} error spec.http[0].matches: strict decoding error: unknown field "spec.http[0].matches" (did you mean "match"?)`,
    ]);
    expect(found[0]!.resource).toEqual({ kind: 'VirtualService', name: 'checkout', namespace: 'shop' });
    // Refused like the API server refuses it: not in the snapshot, and a rejection for weir serve.
    expect(s.virtualServices).toEqual([]);
    expect(isRejection(found[0]!)).toBe(true);
  });

  it('reports every unknown field of a resource at once, also inside lists, with type errors beside them', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: ns}
spec:
  host: a
  trafficPolicy:
    connectionPool: {http: {maxRetrys: 3}}
  subsets:
  - name: v1
    lables: {version: v1}
  - name: v2
    labels: {version: 2}
`;
    expect(build(text).diagnostics.map(line)).toEqual([
      '7:29 error spec.trafficPolicy.connectionPool.http.maxRetrys: strict decoding error: unknown field "spec.trafficPolicy.connectionPool.http.maxRetrys" (did you mean "maxRetries"?)',
      '10:5 error spec.subsets[0].lables: strict decoding error: unknown field "spec.subsets[0].lables" (did you mean "labels"?)',
      '12:23 error spec.subsets[1].labels.version: expected a string, got number 2',
    ]);
  });

  it('suggests nothing when no known field is close', () => {
    const text = VS_TYPO.replace('matches: #-', 'colour: blue\n    match:');
    expect(unknownOf(build(text).diagnostics).map((d) => d.message)).toEqual([
      'strict decoding error: unknown field "spec.http[0].colour"',
    ]);
  });

  it('checks the metadata (as the API server does for custom resources) and the top level', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: r
  namespace: ns
  lables: {app: a}
specs:
  host: a
`;
    expect(build(text).diagnostics.map(line)).toEqual([
      '1:1 error spec: spec is required',
      '6:3 error metadata.lables: strict decoding error: unknown field "metadata.lables" (did you mean "labels"?)',
      '7:1 error specs: strict decoding error: unknown field "specs" (did you mean "spec"?)',
    ]);
  });

  it('accepts every ObjectMeta field kubectl writes (null creationTimestamp, managedFields, ownerReferences) and any status', () => {
    const text = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: r
  namespace: ns
  creationTimestamp: null
  generation: 3
  resourceVersion: "123"
  uid: 0b7c
  labels: {app: a}
  annotations: {note: x}
  finalizers: [f]
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: c, uid: u, controller: true}]
  managedFields:
  - manager: kubectl
    operation: Apply
    apiVersion: networking.istio.io/v1beta1
    time: "2024-01-01T00:00:00Z"
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {f:host: {}}}
spec:
  host: a
status:
  observedGeneration: 3
  anything: {goes: [1]}
`;
    const s = build(text);
    expect(s.diagnostics.filter((d) => d.level === 'error').map(line)).toEqual([]);
    expect(s.destinationRules).toHaveLength(1);
  });

  it('never calls a map key unknown (header names, labels, ports of a WorkloadEntry)', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: w, namespace: ns}
spec:
  address: 10.0.0.1
  labels: {anything: goes}
  ports: {http-web: 8080}
`;
    expect(unknownOf(build(text).diagnostics)).toEqual([]);
  });

  it('reads the CRD alternative name mirror_percent as mirrorPercent, at its own position', () => {
    const text = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: r, namespace: ns}
spec:
  hosts: [a]
  http:
  - route: [{destination: {host: a}}]
    mirror: {host: b}
    mirror_percent: 30
`;
    const s = build(text);
    expect(s.virtualServices[0]!.spec.http![0]!.mirrorPercent).toBe(30);
    expect(s.virtualServices[0]!.spec.http![0]!.mirror_percent).toBeUndefined();
    // istiod warns about the deprecated field; the warning points at the key the user wrote.
    const deprecated = s.diagnostics.find((d) => d.code === 'IST0002')!;
    expect(line(deprecated)).toBe(
      '9:5 warning spec.http[0].mirrorPercent: using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
    );
    const both = build(text.replace('mirror_percent: 30', 'mirror_percent: 30\n    mirrorPercent: 30'));
    expect(both.diagnostics.filter((d) => d.level === 'error').map(line)).toEqual([
      '9:5 error spec.http[0].mirror_percent: duplicate field: mirror_percent is another name of mirrorPercent; set only one',
    ]);
    expect(both.virtualServices).toEqual([]);
  });
});

describe('Kubernetes kinds weir reads', () => {
  it('accept spec fields weir does not model (weir reads a subset of Service, Pod, EndpointSlice)', () => {
    const text = `apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
spec:
  selector: {app: checkout}
  sessionAffinity: ClientIP
  ipFamilyPolicy: SingleStack
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
`;
    const s = build(text);
    expect(s.diagnostics.map(line)).toEqual([]);
    expect(s.registry.services.map((x) => x.hostname)).toEqual(['checkout.shop.svc.cluster.local']);
  });

  it('check their top level and metadata strictly (every field of those is known)', () => {
    const text = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metdata: {name: e}
addressType: IPv4
endpoint: []
`;
    expect(unknownOf(build(text).diagnostics).map(line)).toEqual([
      '3:1 error metdata: strict decoding error: unknown field "metdata" (did you mean "metadata"?)',
      '5:1 error endpoint: strict decoding error: unknown field "endpoint" (did you mean "endpoints"?)',
    ]);
  });
});

describe('lenient modes (kubectl --validate=warn and --validate=ignore)', () => {
  it('warn: a warning at the same place, the field dropped, the resource used', () => {
    const s = build(VS_TYPO, 'warn');
    expect(unknownOf(s.diagnostics).map(line)).toEqual([
      `7:5 warning spec.http[0].matches: unknown field "spec.http[0].matches" (did you mean "match"?); the field is ignored`,
    ]);
    expect(isRejection(unknownOf(s.diagnostics)[0]!)).toBe(false);
    // What the cluster would then serve: the first route has no match, so it takes all traffic to v2.
    const http = s.virtualServices[0]!.spec.http!;
    expect(http[0]!.match).toBeUndefined();
    expect(http[0]!.route![0]!.destination!.subset).toBe('v2');
  });

  it('ignore: no diagnostic, the field dropped, the resource used', () => {
    const s = build(VS_TYPO, 'ignore');
    expect(unknownOf(s.diagnostics)).toEqual([]);
    expect(s.virtualServices).toHaveLength(1);
  });

  it('type errors stay errors in every mode', () => {
    const text = VS_TYPO.replace('subset: v2}', 'subset: v2}\n      weight: "fifty"');
    for (const mode of ['strict', 'warn', 'ignore'] as const)
      expect(
        build(text, mode)
          .diagnostics.filter((d) => d.code === 'IST0106')
          .map((d) => d.field),
      ).toEqual(['spec.http[0].route[0].weight']);
  });
});
