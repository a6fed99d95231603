/**
 * gateway.ConflictingGatewayAnalyzer (IST0145) and gateway.IngressGatewayPortAnalyzer (IST0162), on the cases of
 * istio/istio's analyzer testdata (conflicting-gateways*.yaml, gateway-different-port.yaml, gateway-*port*.yaml,
 * gateway-custom-ingressgateway*.yaml).
 */
import { describe, expect, it } from 'vitest';
import { diags, gateway, of } from './helpers.ts';

const pod = (name: string, labels: Record<string, string>, ns = 'default') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: ${JSON.stringify(labels)}
spec:
  containers: [{name: istio-proxy}]
`;
const service = (name: string, selector: Record<string, string> | null, ports: string, ns = 'default') =>
  `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
spec:
${selector ? `  selector: ${JSON.stringify(selector)}\n` : ''}  ports:
${ports}`;

describe('IST0145 ConflictingGateways', () => {
  it('reports both Gateways that share selector, port and host (istio testdata), at the server', () => {
    const ds = diags(gateway('default', 'beta', ['80:foo.bar']), gateway('default', 'alpha', ['80:foo.bar']));
    expect(of('IST0145', ds)).toEqual([
      [
        'default/beta',
        'spec.servers[0]',
        'Conflict with gateways default/alpha (workload selector istio=ingressgateway, port 80, hosts foo.bar).',
      ],
      [
        'default/alpha',
        'spec.servers[0]',
        'Conflict with gateways default/beta (workload selector istio=ingressgateway, port 80, hosts foo.bar).',
      ],
    ]);
    expect(ds.find((d) => d.code === 'IST0145')?.level).toBe('error');
  });

  it('names every other Gateway, sorted, and reports the conflicting server only', () => {
    const ds = diags(
      gateway('default', 'c', ['80:foo.bar', '80:other.bar']),
      gateway('default', 'b', ['80:foo.bar']),
      gateway('default', 'a', ['80:foo.bar']),
    );
    expect(of('IST0145', ds)[0]).toEqual([
      'default/c',
      'spec.servers[0]',
      'Conflict with gateways default/a,default/b (workload selector istio=ingressgateway, port 80, hosts foo.bar).',
    ]);
    expect(of('IST0145', ds).map((d) => d[1])).not.toContain('spec.servers[1]');
  });

  it('is silent for another port, another host, another bind, another selector, or one Gateway alone', () => {
    const cases = [
      [gateway('default', 'a', ['80:foo.bar']), gateway('default', 'b', ['8080:foo.bar'])],
      [gateway('default', 'a', ['80:foo.bar']), gateway('default', 'b', ['80:bar.foo'])],
      [gateway('default', 'a', ['80:foo.bar'], undefined, '10.0.0.1'), gateway('default', 'b', ['80:foo.bar'])],
      [gateway('default', 'a', ['80:foo.bar']), gateway('default', 'b', ['80:foo.bar'], { istio: 'egressgateway' })],
      [gateway('default', 'a', ['80:foo.bar', '80:foo.bar'])],
    ];
    for (const texts of cases) {
      const ds = diags(...texts);
      expect(of('IST0106', ds)).toEqual([]); // accepted by the webhook, so the analyzer saw them
      expect(of('IST0145', ds)).toEqual([]);
    }
  });

  it('matches selectors that contain one another when a pod carries both (istio testdata: sub selector)', () => {
    const beta = gateway('default', 'beta', ['80:foo.bar'], {
      istio: 'ingressgateway',
      app: 'istio-ingressgateway',
      cusKey: 'cusValue',
    });
    const alpha = gateway('default', 'alpha', ['80:foo.bar'], { istio: 'ingressgateway', cusKey: 'cusValue' });
    const p = pod('my-ingressgateway-1', { istio: 'ingressgateway', app: 'istio-ingressgateway', cusKey: 'cusValue' });
    expect(of('IST0145', diags(beta, alpha, p)).map((d) => d[2])).toEqual([
      'Conflict with gateways default/alpha (workload selector app=istio-ingressgateway,cusKey=cusValue,istio=ingressgateway, port 80, hosts foo.bar).',
      'Conflict with gateways default/beta (workload selector cusKey=cusValue,istio=ingressgateway, port 80, hosts foo.bar).',
    ]);
    expect(of('IST0145', diags(beta, alpha))).toEqual([]);
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress, namespace: istio-system}
spec:
  template:
    metadata:
      labels: {istio: ingressgateway, app: istio-ingressgateway, cusKey: cusValue}
`;
    expect(of('IST0145', diags(beta, alpha, deployment))).toHaveLength(2);
  });
});

describe('IST0162 GatewayPortNotDefinedOnService', () => {
  const gw = (port: number, selector = { myapp: 'private-ingressgateway' }, name = 'httpbin-gateway') =>
    gateway('default', name, [`${port}:*`], selector);
  const ingressPod = pod('my-ingressgateway-1234', { myapp: 'private-ingressgateway' });

  it("warns when the gateway's Service does not expose the port (istio testdata: badport-notarget)", () => {
    const svc = service(
      'my-ingressgateway',
      { myapp: 'private-ingressgateway' },
      '  - {name: http2, port: 80, protocol: TCP}\n',
    );
    const ds = diags(gw(8004), ingressPod, svc);
    expect(of('IST0162', ds)).toEqual([
      [
        'default/httpbin-gateway',
        'spec.servers[0].port.number',
        'The gateway is listening on a target port (port 8004) that is not defined in the Service associated with its workload instances (Pod selector myapp=private-ingressgateway). If you need to access the gateway port through the gateway Service, it will not be available.',
      ],
    ]);
    expect(ds.find((d) => d.code === 'IST0162')?.level).toBe('warning');
  });

  it("accepts the Service's port or its numeric targetPort; a port without protocol is TCP", () => {
    const svc = service(
      'my-ingressgateway',
      { myapp: 'private-ingressgateway' },
      '  - {name: http2, port: 80, targetPort: 8080}\n  - {name: https, port: 443, targetPort: https}\n',
    );
    for (const port of [80, 8080, 443]) expect(of('IST0162', diags(gw(port), ingressPod, svc)), `${port}`).toEqual([]);
    expect(of('IST0162', diags(gw(8443), ingressPod, svc))).toHaveLength(1);
  });

  it("ignores UDP ports and Services of another namespace than the gateway's pod", () => {
    const udp = service('dns', { myapp: 'private-ingressgateway' }, '  - {name: dns, port: 53, protocol: UDP}\n');
    expect(of('IST0162', diags(gw(53), ingressPod, udp))).toHaveLength(1);
    const elsewhere = service('other', { myapp: 'private-ingressgateway' }, '  - {name: http, port: 81}\n', 'other');
    const here = service('here', { myapp: 'private-ingressgateway' }, '  - {name: http, port: 80}\n');
    expect(of('IST0162', diags(gw(81), ingressPod, elsewhere, here))).toHaveLength(1);
  });

  it('checks each Gateway against the Services of the pods it selects (istio testdata: svcselector)', () => {
    const ds = diags(
      gateway('default', 'httpbin8001-gateway', ['8001:*'], { myapp: 'ingressgateway-8001' }),
      gateway('default', 'httpbin8002-gateway', ['8002:*'], { myapp: 'ingressgateway-8001' }),
      pod('my-ingressgateway-8001', { myapp: 'ingressgateway-8001' }),
      pod('my-ingressgateway-8002', { myapp: 'ingressgateway-8002' }),
      service('my-8002', { myapp: 'ingressgateway-8002' }, '  - {name: http2, port: 8002, targetPort: 80}\n'),
      service('my-8001', { myapp: 'ingressgateway-8001' }, '  - {name: http2, port: 8001}\n'),
    );
    expect(of('IST0162', ds).map((d) => d[0])).toEqual(['default/httpbin8002-gateway']);
  });

  it('without pods, a Service whose selector the Gateway selector matches stands for them (weir)', () => {
    const svc = service(
      'istio-ingressgateway',
      { app: 'istio-ingressgateway', istio: 'ingressgateway' },
      '  - {name: http2, port: 80, targetPort: 8080}\n',
      'istio-system',
    );
    const g = (port: number) => gateway('shop', 'public', [`${port}:shop.example.com`]);
    expect(of('IST0162', diags(g(80), svc))).toEqual([]);
    expect(of('IST0162', diags(g(9000), svc)).map((d) => d[2])).toEqual([
      'The gateway is listening on a target port (port 9000) that is not defined in the Service associated with its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port through the gateway Service, it will not be available.',
    ]);
    expect(of('IST0162', diags(g(9000)))).toEqual([]);
  });
});
