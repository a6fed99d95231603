/**
 * `weir validate` on a Canary with the resources beside it (issue 12): the VirtualService it names exists, serves its
 * host, has the routes in `spec.routes` (or a route to one of the subsets), and the DestinationRule defines both
 * subsets — each an IST0101 error naming what is missing, at the Canary's field (file, line, column).
 */
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../src/config/diagnostics.ts';
import { snapshotFromTexts } from '../../../src/config/snapshot.ts';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: checkout, namespace: shop}
spec:
  hosts: [checkout.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: checkout-dr, namespace: shop}
spec:
  host: checkout
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: checkout-vs, namespace: shop}
spec:
  hosts: [checkout]
  http:
  - name: beta
    match: [{headers: {x-beta: {exact: "1"}}}]
    route: [{destination: {host: checkout, subset: v2}}]
  - name: main
    route: [{destination: {host: checkout, subset: v1}}]
`;
/** The Canary; `extra` lines go into spec after the subsets (2-space indented). */
const canary = (o: { vs?: string; host?: string; primary?: string; canary?: string; extra?: string } = {}) =>
  `apiVersion: weir.dev/v1alpha1
kind: Canary
metadata: {name: checkout, namespace: shop}
spec:
  targetRef: {kind: VirtualService, name: ${o.vs ?? 'checkout-vs'}}
  host: ${o.host ?? 'checkout'}
  primarySubset: ${o.primary ?? 'v1'}
  canarySubset: ${o.canary ?? 'v2'}
${o.extra ?? ''}  analysis:
    interval: 1m
    stepWeights: [10, 50]
`;

function check(canaryText: string, ...others: string[]): Diagnostic[] {
  const texts = [canaryText, ...(others.length > 0 ? others : [SE, DR, VS])];
  return snapshotFromTexts(
    texts.map((text, i) => ({ file: i === 0 ? 'canary.yaml' : `f${i}.yaml`, text })),
  ).diagnostics.filter((d) => d.resource?.kind === 'Canary');
}
const line = (d: Diagnostic) =>
  `${d.position?.line}:${d.position?.column} ${d.level} ${d.code} ${d.field}: ${d.message}`;

describe('IST0101 for a Canary (weir validate)', () => {
  it('accepts a Canary whose VirtualService, host, routes and subsets exist', () => {
    expect(check(canary()).map(line)).toEqual([]);
    expect(check(canary({ extra: '  routes: [main]\n' })).map(line)).toEqual([]);
  });

  it('names a primarySubset that is not a subset of the DestinationRule, at the field', () => {
    expect(check(canary({ primary: 'v3' })).map(line)).toEqual([
      '7:18 error IST0101 spec.primarySubset: Referenced host+subset in destinationrule not found: "checkout.shop.svc.cluster.local+v3": primarySubset v3 is not a subset of DestinationRule shop/checkout-dr (it defines v1, v2)',
    ]);
    expect(check(canary({ canary: 'v2' }), SE, VS).map(line)).toEqual([
      '7:18 error IST0101 spec.primarySubset: Referenced host+subset in destinationrule not found: "checkout.shop.svc.cluster.local+v1": primarySubset v1: no DestinationRule for checkout.shop.svc.cluster.local is visible from namespace shop',
      '8:17 error IST0101 spec.canarySubset: Referenced host+subset in destinationrule not found: "checkout.shop.svc.cluster.local+v2": canarySubset v2: no DestinationRule for checkout.shop.svc.cluster.local is visible from namespace shop',
    ]);
  });

  it('names a missing VirtualService, a host it does not serve, and a route it does not have', () => {
    expect(check(canary({ vs: 'nope' })).map(line)).toEqual([
      '5:43 error IST0101 spec.targetRef.name: Referenced VirtualService not found: "shop/nope"',
    ]);
    expect(check(canary({ host: 'payments' })).map(line)).toEqual([
      '6:9 error IST0101 spec.host: Referenced host not found in VirtualService shop/checkout-vs: "payments" (its hosts: checkout.shop.svc.cluster.local)',
      '7:18 error IST0101 spec.primarySubset: Referenced host+subset in destinationrule not found: "payments.shop.svc.cluster.local+v1": primarySubset v1: no DestinationRule for payments.shop.svc.cluster.local is visible from namespace shop',
      '8:17 error IST0101 spec.canarySubset: Referenced host+subset in destinationrule not found: "payments.shop.svc.cluster.local+v2": canarySubset v2: no DestinationRule for payments.shop.svc.cluster.local is visible from namespace shop',
    ]);
    expect(check(canary({ extra: '  routes: [main, checkout]\n' })).map(line)).toEqual([
      '9:18 error IST0101 spec.routes[1]: Referenced route not found in VirtualService shop/checkout-vs: "checkout" (its HTTP routes: "beta", "main")',
    ]);
  });

  it('says when no route of the VirtualService sends the host to either subset (and only then)', () => {
    const other = VS.replaceAll('subset: v1', 'subset: v3').replaceAll('subset: v2', 'subset: v3');
    const dr = DR.replace(
      '  - {name: v2, labels: {version: v2}}\n',
      '  - {name: v2, labels: {version: v2}}\n  - {name: v3, labels: {version: v2}}\n',
    );
    expect(check(canary(), SE, dr, other).map(line)).toEqual([
      '5:14 error IST0101 spec.targetRef: Referenced host+subset not routed: no HTTP route of VirtualService shop/checkout-vs sends checkout.shop.svc.cluster.local to subset v1 or v2, so there is nothing to roll out',
    ]);
  });

  it('rejects an empty, duplicate or reserved route name (WEIR0020)', () => {
    const out = check(canary({ extra: '  routes: [main, "", main, weir-canary-match]\n' }));
    expect(out.map((d) => `${d.code} ${d.field}: ${d.message}`)).toEqual([
      'WEIR0020 spec.routes[1]: a route name must not be empty (unnamed routes cannot be listed)',
      'WEIR0020 spec.routes[2]: duplicate route name "main"',
      'WEIR0020 spec.routes[3]: "weir-canary-match" is the route weir inserts for the header-only phase; name your own routes',
    ]);
  });
});
