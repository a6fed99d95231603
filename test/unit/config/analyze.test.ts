/**
 * istioctl-analyze style checks across resources (IST0101, IST0109, IST0112, IST0173, IST0174, WEIR0010) and the
 * article's configurations as the issue states them.
 */
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../src/config/diagnostics.ts';
import { snapshotFromTexts } from '../../../src/config/snapshot.ts';
import { seed } from '../../helpers/config.ts';

function diags(...texts: string[]): Diagnostic[] {
  return [...snapshotFromTexts(texts.map((text, i) => ({ file: `f${i}.yaml`, text }))).diagnostics];
}
const codes = (ds: readonly Diagnostic[]) => ds.map((d) => d.code);

const SE = (
  ns: string,
  ports = '  - number: 80\n    name: http\n    protocol: HTTP\n',
  host = `reviews.${ns}.svc.cluster.local`,
) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
  namespace: ${ns}
spec:
  hosts:
  - ${host}
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
${ports}  endpoints:
  - address: 10.0.0.1
    labels:
      app: reviews
      version: v1
`;
const DR = (ns: string, subsets = ['v1'], extra = '') => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: ${ns}
spec:
  host: reviews
${extra}  subsets:
${subsets.map((s) => `  - name: ${s}\n    labels:\n      version: ${s}\n`).join('')}`;
const VS = (ns: string, route: string, name = 'reviews', meta = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: ${ns}
${meta}spec:
  hosts:
  - reviews
  http:
  - route:
${route}`;

describe('IST0101 ReferencedResourceNotFound', () => {
  it('flags a destination host that is not in the registry, at the host field', () => {
    const ds = diags(SE('prod'), VS('prod', '    - destination:\n        host: ratings\n'));
    const d = ds.find((x) => x.code === 'IST0101');
    expect(d).toMatchObject({
      level: 'error',
      field: 'spec.http[0].route[0].destination.host',
      message: 'Referenced host not found: "ratings"',
      position: { line: 12 },
    });
  });
  it('flags a subset that no DestinationRule defines', () => {
    const ds = diags(
      SE('prod'),
      DR('prod'),
      VS('prod', '    - destination:\n        host: reviews\n        subset: v2\n'),
    );
    expect(ds.find((x) => x.code === 'IST0101')?.message).toBe(
      'Referenced host+subset in destinationrule not found: "reviews+v2"',
    );
  });
  it('flags a mirror host and a host:port that do not exist', () => {
    const ds = diags(
      SE('prod'),
      VS(
        'prod',
        '    - destination:\n        host: reviews\n        port:\n          number: 9080\n    mirror:\n      host: nowhere\n',
      ),
    );
    expect(ds.filter((x) => x.code === 'IST0101').map((x) => x.message)).toEqual([
      'Referenced host:port not found: "reviews:9080"',
      'Referenced mirror host not found: "nowhere"',
    ]);
  });
  it('flags a missing gateway', () => {
    const vs = VS('prod', '    - destination:\n        host: reviews\n').replace(
      'spec:\n',
      'spec:\n  gateways:\n  - prod/ingress\n',
    );
    expect(diags(SE('prod'), vs).find((x) => x.code === 'IST0101')?.message).toBe(
      'Referenced gateway not found: "prod/ingress"',
    );
  });
  it('passes when everything exists', () => {
    expect(
      diags(SE('prod'), DR('prod'), VS('prod', '    - destination:\n        host: reviews\n        subset: v1\n')),
    ).toEqual([]);
  });
});

describe('IST0109 ConflictingMeshGatewayVirtualServiceHosts', () => {
  it('flags two mesh VirtualServices for one host', () => {
    const r = '    - destination:\n        host: reviews\n';
    const ds = diags(SE('prod'), VS('prod', r, 'a'), VS('prod', r, 'b'));
    expect(codes(ds).filter((c) => c === 'IST0109')).toHaveLength(2);
  });
  it('does not flag VirtualServices exported to disjoint namespaces', () => {
    const r = '    - destination:\n        host: reviews\n';
    const a = VS('prod', r, 'a').replace('spec:\n', 'spec:\n  exportTo:\n  - "."\n');
    const b = VS('prod', r, 'b').replace('spec:\n', 'spec:\n  exportTo:\n  - other\n');
    expect(codes(diags(SE('prod'), a, b))).not.toContain('IST0109');
  });
});

describe('IST0112 VirtualServiceDestinationPortSelectorRequired', () => {
  const twoPorts =
    '  - number: 80\n    name: http\n    protocol: HTTP\n  - number: 9090\n    name: http-admin\n    protocol: HTTP\n';
  it('flags a destination without port on a multi-port service', () => {
    const ds = diags(SE('prod', twoPorts), VS('prod', '    - destination:\n        host: reviews\n'));
    expect(ds.find((d) => d.code === 'IST0112')?.level).toBe('error');
  });
  it('passes with a port', () => {
    expect(
      codes(
        diags(
          SE('prod', twoPorts),
          VS('prod', '    - destination:\n        host: reviews\n        port:\n          number: 80\n'),
        ),
      ),
    ).not.toContain('IST0112');
  });
});

describe('IST0173 DestinationRuleSubsetNotSelectPods and IST0174 UnknownDestinationRuleHost', () => {
  it('flags a subset whose labels select no endpoint', () => {
    const ds = diags(SE('prod'), DR('prod', ['v1', 'v9']));
    const d = ds.find((x) => x.code === 'IST0173');
    expect(d).toMatchObject({ level: 'error', field: 'spec.subsets[1].name' });
    expect(d?.message).toContain('v9');
  });
  it('counts pod templates of Deployments selected by a Kubernetes Service', () => {
    const svc = `apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: prod
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 80
    targetPort: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v2
  namespace: prod
spec:
  template:
    metadata:
      labels:
        app: reviews
        version: v2
`;
    expect(codes(diags(svc, DR('prod', ['v2'])))).toEqual([]);
    expect(codes(diags(svc, DR('prod', ['v3'])))).toEqual(['IST0173']);
  });
  it('warns about a DestinationRule whose host matches no service', () => {
    const d = diags(DR('prod')).find((x) => x.code === 'IST0174');
    expect(d).toMatchObject({ level: 'warning', field: 'spec.host' });
  });
});

describe('WEIR0010 consistent hash does not make a weighted split sticky', () => {
  const hashed = DR(
    'prod',
    ['v1', 'v2'],
    '  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        httpHeaderName: session-id\n',
  );
  const SE2 = SE('prod').replace(
    '  - address: 10.0.0.1',
    '  - address: 10.0.0.2\n    labels:\n      app: reviews\n      version: v2\n  - address: 10.0.0.1',
  );
  const split =
    '    - destination:\n        host: reviews\n        subset: v1\n      weight: 50\n    - destination:\n        host: reviews\n        subset: v2\n      weight: 50\n';
  it('warns on the weighted route', () => {
    const d = diags(SE2, hashed, VS('prod', split)).find((x) => x.code === 'WEIR0010');
    expect(d).toMatchObject({ level: 'warning', field: 'spec.http[0].route' });
    expect(d?.message).toContain('does NOT stay on one version');
  });
  it('is silent with the sticky-split annotation, or without a weighted split', () => {
    expect(
      codes(diags(SE2, hashed, VS('prod', split, 'reviews', '  annotations:\n    weir.dev/sticky-split: "true"\n'))),
    ).not.toContain('WEIR0010');
    expect(
      codes(diags(SE2, hashed, VS('prod', '    - destination:\n        host: reviews\n        subset: v1\n'))),
    ).not.toContain('WEIR0010');
  });
});

describe("the article's configurations", () => {
  it.each([
    ['00', '01', '02'],
    ['00', '01', '03'],
    ['00', '01', '04'],
    ['00', '01', '08'],
  ])('%s+%s+%s are clean', (...files) => {
    expect(snapshotFromTexts(seed(...files)).diagnostics).toEqual([]);
  });
  it('00+01+07 report IST0130 for the second route (the "common mistake")', () => {
    const ds = snapshotFromTexts(seed('00', '01', '07')).diagnostics;
    expect(ds.map((d) => [d.code, d.field, d.position?.line])).toEqual([['IST0130', 'spec.http[1]', 26]]);
    expect(ds[0]?.position?.file).toMatch(/07-common-mistake\.yaml$/);
  });
  it('00+05+06 report that consistent hashing does not make the 50/50 split sticky', () => {
    const ds = snapshotFromTexts(seed('00', '05', '06')).diagnostics;
    expect(ds.map((d) => d.code)).toEqual(['WEIR0010']);
  });
  it('all load together as resources (00 with every DR and VS file one at a time)', () => {
    for (const f of ['01', '02', '03', '04', '05', '06', '07', '08']) {
      const s = snapshotFromTexts(seed('00', f));
      expect(s.resourceCount).toBeGreaterThanOrEqual(3);
      expect(s.diagnostics.filter((d) => d.code.startsWith('WEIR000') || d.code === 'IST0106')).toEqual([]);
    }
  });
});

describe('WEIR0012 round robin with weighted endpoints', () => {
  const weighted = SE('prod').replace(
    '  - address: 10.0.0.1\n',
    '  - address: 10.0.0.2\n    weight: 9\n  - address: 10.0.0.1\n    weight: 1\n',
  );
  it('is reported (info) on a ROUND_ROBIN policy over weighted endpoints', () => {
    const ds = diags(weighted, DR('prod', ['v1'], '  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBIN\n'));
    expect(ds.find((d) => d.code === 'WEIR0012')).toMatchObject({
      level: 'info',
      field: 'spec.trafficPolicy.loadBalancer.simple',
    });
  });
  it('is silent with equal weights or the default balancer', () => {
    expect(
      codes(diags(SE('prod'), DR('prod', ['v1'], '  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBIN\n'))),
    ).not.toContain('WEIR0012');
    expect(codes(diags(weighted, DR('prod', ['v1'])))).not.toContain('WEIR0012');
  });
});
