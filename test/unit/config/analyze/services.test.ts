/**
 * service.PortNameAnalyzer (IST0118) with Istio's protocol selection, serviceentry.Analyzer (IST0134) and
 * serviceentry.ConflictingServiceEntryProtocolAnalyzer (IST0177), on the cases of istio/istio's analyzer testdata
 * (service-no-port-name.yaml, service-port-name.yaml, serviceentry-missing-addresses-protocol.yaml,
 * serviceentry-conflicting-protocol.yaml, serviceentry-conflicting-exportto.yaml).
 */
import { describe, expect, it } from 'vitest';
import { convertProtocol } from '../../../../src/config/protocol.ts';
import { diags, of } from './helpers.ts';

const service = (ns: string, name: string, ports: string, labels = '') => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
${labels}spec:
  selector: {app: ${name}}
  ports:
${ports}`;

describe('convertProtocol (istio pkg/config/kube ConvertProtocol)', () => {
  it.each([
    [80, 'http', undefined, undefined, 'HTTP'],
    [80, 'http-web', undefined, undefined, 'HTTP'],
    [80, 'HTTP2-x', undefined, undefined, 'HTTP2'],
    [80, 'grpc-web', undefined, undefined, 'GRPC-Web'],
    [80, 'GRPC-Web-x', undefined, undefined, 'GRPC-Web'],
    [80, 'grpc', undefined, undefined, 'GRPC'],
    [80, 'tcp-db', undefined, undefined, 'TCP'],
    [80, 'https', undefined, undefined, 'HTTPS'],
    [80, 'tls', undefined, undefined, 'TLS'],
    [80, 'mongo', undefined, undefined, 'Mongo'],
    [80, 'redis', undefined, undefined, 'Redis'],
    [80, 'mysql', undefined, undefined, 'MySQL'],
    [80, 'http_proxy', undefined, undefined, 'HTTP_PROXY'],
    [80, 'web', undefined, undefined, 'UnsupportedProtocol'],
    [80, '', undefined, undefined, 'UnsupportedProtocol'],
    [80, 'http', 'UDP', undefined, 'UDP'],
    [80, 'web', 'TCP', 'http', 'HTTP'],
    [80, 'http', 'TCP', 'web', 'UnsupportedProtocol'],
    [80, 'http', 'TCP', '', 'UnsupportedProtocol'],
    [80, 'web', 'TCP', 'kubernetes.io/h2c', 'HTTP2'],
    [80, 'web', 'TCP', 'kubernetes.io/ws', 'HTTP'],
    [80, 'web', 'TCP', 'kubernetes.io/wss', 'HTTPS'],
    [3306, 'db', undefined, undefined, 'TCP'],
    [27017, '', undefined, undefined, 'TCP'],
    [25, 'smtp', undefined, undefined, 'TCP'],
    [53, 'dns', undefined, undefined, 'TCP'],
  ])('port %i name %j protocol %j appProtocol %j → %s', (port, name, proto, app, want) => {
    expect(convertProtocol(port, name, proto, app)).toBe(want);
  });
});

describe('IST0118 PortNameIsNotUnderNamingConvention', () => {
  it('reports unnamed ports and names without a protocol prefix (istio testdata), at the port', () => {
    const ds = diags(
      service('my-namespace1', 'my-service1', '  - {protocol: TCP, port: 8080, targetPort: 8080}\n  - {port: 8081}\n'),
      service('my-namespace2', 'my-service2', '  - {name: foo, protocol: TCP, port: 8080, targetPort: 9090}\n'),
    );
    expect(of('IST0118', ds)).toEqual([
      [
        'my-namespace1/my-service1',
        'spec.ports[0].port',
        "Port name  (port: 8080, targetPort: 8080) doesn't follow the naming convention of Istio port.",
      ],
      [
        'my-namespace1/my-service1',
        'spec.ports[1].port',
        "Port name  (port: 8081, targetPort: 8081) doesn't follow the naming convention of Istio port.",
      ],
      [
        'my-namespace2/my-service2',
        'spec.ports[0].port',
        "Port name foo (port: 8080, targetPort: 9090) doesn't follow the naming convention of Istio port.",
      ],
    ]);
    expect(ds.every((d) => d.level === 'info')).toBe(true);
  });

  it('is silent for named ports, appProtocol, UDP, well-known ports and ExternalName Services', () => {
    const ports =
      '  - {name: tcp-foo, port: 8080}\n  - {name: web, appProtocol: http, port: 81}\n' +
      '  - {name: dns, protocol: UDP, port: 5353}\n  - {name: db, port: 3306}\n';
    expect(of('IST0118', diags(service('ns', 'ok', ports)))).toEqual([]);
    const external = service('ns', 'ext', '  - {name: web, port: 80}\n').replace(
      'spec:\n',
      'spec:\n  type: ExternalName\n',
    );
    expect(of('IST0118', diags(external))).toEqual([]);
  });

  it("skips the control plane (labels istio, release: istio) and istiod's managed gateway Services", () => {
    const unnamed = '  - {port: 8080}\n';
    for (const labels of [
      '  labels: {istio: pilot}\n',
      '  labels: {release: istio}\n',
      '  labels: {gateway.istio.io/managed: istio.io-mesh-controller}\n',
      '  labels: {gateway.istio.io/managed: istio.io-gateway-controller}\n',
      '  labels: {gateway.istio.io/managed: istio.io-eastwest-controller}\n',
    ])
      expect(of('IST0118', diags(service('ns', 'cp', unnamed, labels))), labels).toEqual([]);
    const other = '  labels: {gateway.istio.io/managed: someone-else}\n';
    expect(of('IST0118', diags(service('ns', 'cp', unnamed, other)))).toHaveLength(1);
  });
});

const se = (
  name: string,
  port: string,
  extra = '',
  ns = 'default',
  host = 'istio.io',
) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  hosts: [${host}]
${extra}  ports:
  - ${port}
  location: MESH_EXTERNAL
  resolution: DNS
`;

describe('IST0134 ServiceEntryAddressesRequired', () => {
  it('warns for a TCP or unset protocol port without addresses (istio testdata), at the port', () => {
    const cases: [string, string, number][] = [
      ['https', '{number: 443, name: https, protocol: HTTPS}', 0],
      ['https-with-address', '{number: 443, name: https, protocol: HTTPS}', 0],
      ['unset', '{number: 443, name: https}', 1],
      ['empty', '{number: 443, name: https, protocol: ""}', 1],
      ['tcp', '{number: 443, name: tcp, protocol: TCP}', 1],
      ['tcp-lower', '{number: 443, name: tcp, protocol: tcp}', 1],
      ['tcp-with-address', '{number: 443, name: https, protocol: TCP}', 0],
    ];
    for (const [name, port, n] of cases) {
      const extra = name.endsWith('with-address') ? '  addresses: [10.0.0.1]\n' : '';
      const ds = diags(se(name, port, extra));
      expect(of('IST0106', ds), name).toEqual([]);
      expect(of('IST0134', ds), name).toEqual(
        n ? [[`default/${name}`, 'spec.ports[0]', 'ServiceEntry addresses are required for this protocol.']] : [],
      );
    }
    expect(diags(se('tcp', '{number: 443, name: tcp, protocol: TCP}')).find((d) => d.code === 'IST0134')?.level).toBe(
      'warning',
    );
  });
});

describe('IST0177 ConflictingServiceEntryProtocol', () => {
  it('reports every ServiceEntry of a host and port with different protocols (istio testdata), once each', () => {
    const ds = diags(
      se('se-https', '{name: https-13835, number: 13835, protocol: HTTPS}', '', 'default', 'example.com'),
      se('se-http', '{name: http-13835, number: 13835, protocol: HTTP}', '', 'default', 'example.com'),
      se('se-no-conflict', '{name: https-443, number: 443, protocol: HTTPS}', '', 'default', 'other.com'),
    );
    const msg =
      'Multiple ServiceEntries (default/se-http, default/se-https) define the same host "example.com" and port 13835 with conflicting protocols (HTTP, HTTPS).';
    expect(of('IST0177', ds)).toEqual([
      ['default/se-https', 'metadata.name', msg],
      ['default/se-http', 'metadata.name', msg],
    ]);
    expect(ds.find((d) => d.code === 'IST0177')?.level).toBe('warning');
  });

  it('is silent for the same protocol (case-insensitive) or exportTo scopes that never meet', () => {
    const a = se('a', '{name: http, number: 80, protocol: HTTP}', '  exportTo: ["."]\n', 'ns1', 'example.com');
    const b = se('b', '{name: https, number: 80, protocol: HTTPS}', '  exportTo: ["."]\n', 'ns2', 'example.com');
    expect(of('IST0177', diags(a, b))).toEqual([]);
    const c = se('c', '{name: http, number: 80, protocol: http}', '', 'ns3', 'example.com');
    const d = se('d', '{name: http, number: 80, protocol: HTTP}', '', 'ns4', 'example.com');
    expect(of('IST0177', diags(c, d))).toEqual([]);
  });

  it('a namespace scope meets the exported-everywhere entries; an unset protocol differs from TCP', () => {
    const a = se('a', '{name: http, number: 80, protocol: HTTP}', '  exportTo: ["."]\n', 'ns1', 'example.com');
    const b = se('b', '{name: tcp, number: 80, protocol: TCP}', '  addresses: [10.0.0.9]\n', 'ns2', 'example.com');
    expect(of('IST0177', diags(a, b)).map((x) => x[0])).toEqual(['ns1/a', 'ns2/b']);
    const c = se('c', '{name: tcp, number: 80}', '  addresses: [10.0.0.8]\n', 'ns3', 'example.com');
    expect(of('IST0177', diags(b, c)).map((x) => x[2])).toEqual([
      'Multiple ServiceEntries (ns2/b, ns3/c) define the same host "example.com" and port 80 with conflicting protocols (, TCP).',
      'Multiple ServiceEntries (ns2/b, ns3/c) define the same host "example.com" and port 80 with conflicting protocols (, TCP).',
    ]);
  });
});
