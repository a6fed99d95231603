import { describe, it } from 'vitest';
import { type Expected, expectClean, expectDiagnostic, resource } from '../../../helpers/validate.ts';

/** [title, spec body, message fragment, field path users see, expectations]; the marker designates the position. */
type Bad = [string, string, string, string, Expected?];
type Good = [string, string];
const WARN: Expected = { level: 'warning' };

describe('validateServiceEntry', () => {
  const se = (body: string) => resource('ServiceEntry', body);
  const P = 'ports: [{number: 443, name: https, protocol: HTTPS}]';
  const HTTP = 'ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]';
  const DYN = 'resolution: DYNAMIC_DNS';
  const bad: Bad[] = [
    ['no hosts', `${P} #^`, 'service entry must have at least one host', 'spec'],
    ['host *', `hosts:\n- "*" #-\n${P}`, 'invalid host *', 'spec.hosts[0]'],
    ['invalid host', `hosts:\n- bad_host.com #-\n${P}`, 'domain name "bad_host.com" invalid', 'spec.hosts[0]'],
    [
      'partial wildcard host (warning)',
      `hosts:\n- "*foo.com" #-\n${P}`,
      'partial wildcard "*foo.com" not allowed',
      'spec.hosts[0]',
      WARN,
    ],
    [
      'invalid address',
      `hosts: [a.com]\naddresses:\n- 10.0.0.300 #-\n${P}`,
      '10.0.0.300 is not a valid IP',
      'spec.addresses[0]',
    ],
    [
      'invalid CIDR',
      `hosts: [a.com]\naddresses:\n- 10.0.0.0/40 #-\n${P}`,
      '10.0.0.0/40 is not a valid CIDR block',
      'spec.addresses[0]',
    ],
    [
      'CIDR with DNS resolution',
      `hosts: [a.com]\naddresses: [10.0.0.0/24]\nresolution: DNS #=\n${P}`,
      'CIDR addresses are allowed only for NONE/STATIC resolution types',
      'spec.resolution',
    ],
    [
      'port number 0',
      'hosts: [a.com]\nports:\n- name: http\n  number: 0 #=',
      'port number 0 must be in the range 1..65535',
      'spec.ports[0].number',
    ],
    [
      'port number 65536',
      'hosts: [a.com]\nports:\n- name: http\n  number: 65536 #=',
      'port number 65536 must be in the range 1..65535',
      'spec.ports[0].number',
    ],
    [
      'targetPort out of range',
      'hosts: [a.com]\nports:\n- name: http\n  number: 80\n  targetPort: 70000 #=',
      'port number 70000 must be in the range 1..65535',
      'spec.ports[0].targetPort',
    ],
    [
      'duplicate port number',
      'hosts: [a.com]\nports:\n- {number: 80, name: a}\n- name: b\n  number: 80 #=',
      'service entry port 80 already defined',
      'spec.ports[1].number',
    ],
    [
      'duplicate port name',
      'hosts: [a.com]\nports:\n- {number: 80, name: a}\n- number: 81\n  name: a #=',
      'service entry port name "a" already defined',
      'spec.ports[1].name',
    ],
    [
      'invalid port name',
      'hosts: [a.com]\nports:\n- number: 80\n  name: Http_1 #=',
      'invalid port name: Http_1',
      'spec.ports[0].name',
    ],
    [
      'unknown protocol',
      'hosts: [a.com]\nports:\n- number: 80\n  name: http\n  protocol: QUIC #=',
      'unsupported protocol: QUIC',
      'spec.ports[0].protocol',
    ],
    [
      'endpoints with resolution NONE',
      `hosts: [a.com]\n${P}\nendpoints: [{address: 10.0.0.1}] #=`,
      'no endpoints should be provided for resolution type none',
      'spec.endpoints',
    ],
    [
      'workloadSelector with endpoints',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nworkloadSelector: {labels: {app: a}}\nendpoints: [{address: 10.0.0.1}] #=`,
      'only one of WorkloadSelector or Endpoints is allowed in Service Entry',
      'spec.endpoints',
    ],
    [
      'workloadSelector with resolution NONE (warning)',
      `hosts: [a.com]\n${P}\nworkloadSelector: {labels: {app: a}} #=`,
      'workloadSelector should not be set when resolution mode is NONE',
      'spec.workloadSelector',
      WARN,
    ],
    [
      'workloadSelector without labels (warning)',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nworkloadSelector:\n  labels: {} #=`,
      'workload selector specified without labels',
      'spec.workloadSelector.labels',
      WARN,
    ],
    [
      'STATIC endpoint with a hostname',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints:\n- address: a.example.com #=`,
      'endpoint address "a.example.com" is not a valid IP address',
      'spec.endpoints[0].address',
    ],
    [
      'STATIC endpoint without address',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints:\n- labels: {app: a} #-`,
      'address is required',
      'spec.endpoints[0]',
    ],
    [
      'STATIC endpoint port not declared',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints:\n- address: 10.0.0.1\n  ports:\n    http: 8080 #^`,
      'endpoint port 8080 is not defined by the service entry',
      'spec.endpoints[0].ports.http',
    ],
    [
      'endpoint port out of range',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints:\n- address: 10.0.0.1\n  ports:\n    https: 0 #=`,
      'port number 0 must be in the range 1..65535',
      'spec.endpoints[0].ports.https',
    ],
    [
      'endpoint label value',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints:\n- address: 10.0.0.1\n  labels:\n    app: "a b" #=`,
      'invalid tag value: "a b"',
      'spec.endpoints[0].labels.app',
    ],
    [
      'unix endpoint with ports',
      `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints:\n- address: unix:///var/run/a.sock\n  ports: {https: 1} #=`,
      'unix endpoint unix:///var/run/a.sock must not include ports',
      'spec.endpoints[0].ports',
    ],
    [
      'DNS without endpoints and a wildcard host',
      `hosts:\n- "*.a.com" #-\n${P}\nresolution: DNS`,
      'hosts must be FQDN if no endpoints are provided for resolution mode DNS',
      'spec.hosts[0]',
    ],
    [
      'DNS endpoint address',
      `hosts: [a.com]\n${P}\nresolution: DNS\nendpoints:\n- address: bad_host #=`,
      'endpoint address "bad_host" is not a valid FQDN or an IP address',
      'spec.endpoints[0].address',
    ],
    [
      'DNS_ROUND_ROBIN with two endpoints',
      `hosts: [a.com]\n${P}\nresolution: DNS_ROUND_ROBIN\nendpoints: [{address: b.com}, {address: c.com}] #=`,
      'there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN',
      'spec.endpoints',
    ],
    [
      'multiple hosts with a TCP port',
      'hosts: [a.com, b.com]\nresolution: DNS\nports:\n- {number: 5432, name: tcp, protocol: TCP} #-',
      'multiple hosts provided with non-HTTP, non-TLS ports',
      'spec.ports[0]',
    ],
    [
      'exportTo ~ with others',
      `hosts: [a.com]\n${P}\nexportTo: ["~", other] #=`,
      'cannot export service entry to no one (~) and someone',
      'spec.exportTo',
    ],
    // DYNAMIC_DNS (Istio master): wildcard hosts resolved per request by Envoy's dynamic forward proxy.
    [
      'DYNAMIC_DNS with a host that is not a wildcard',
      `hosts:\n- "*.a.com"\n- b.com #-\n${HTTP}\n${DYN}`,
      'host must be wildcarded for resolution mode DYNAMIC_DNS',
      'spec.hosts[1]',
    ],
    [
      'DYNAMIC_DNS without hosts',
      `${HTTP} #^\n${DYN}`,
      'at least one wildcard host must be provided for resolution type DYNAMIC_DNS',
      'spec',
    ],
    [
      'DYNAMIC_DNS with addresses',
      `hosts: ["*.a.com"]\naddresses: [10.0.0.1] #=\n${HTTP}\n${DYN}`,
      'addresses cannot be set for resolution type DYNAMIC_DNS. HTTP route domains will only be generatedfrom the hosts field values',
      'spec.addresses',
    ],
    [
      'DYNAMIC_DNS with endpoints',
      `hosts: ["*.a.com"]\n${HTTP}\n${DYN}\nendpoints: [{address: 10.0.0.1}] #=`,
      'endpoints cannot be set for resolution type DYNAMIC_DNS',
      'spec.endpoints',
    ],
    [
      'DYNAMIC_DNS with a TCP port',
      `hosts: ["*.a.com"]\nports:\n- number: 5432\n  name: tcp\n  protocol: TCP #=\n${DYN}`,
      'only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS',
      'spec.ports[0].protocol',
    ],
    [
      'DYNAMIC_DNS with an HTTPS port',
      `hosts: ["*.a.com"]\nports:\n- number: 443\n  name: https\n  protocol: HTTPS #=\n${DYN}`,
      'only HTTP, TLS, GRPC, and HTTP2 protocols are supported',
      'spec.ports[0].protocol',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(se(body), msg, field, opts);
  });
  it('rejects: DYNAMIC_DNS MESH_INTERNAL behind a waypoint', () => {
    const body = `hosts: ["*.a.com"]\n${HTTP}\n${DYN}\nlocation: MESH_INTERNAL #=`;
    const meta = '{name: r, namespace: ns, labels: {istio.io/use-waypoint: wp}}';
    expectDiagnostic(
      resource('ServiceEntry', body, meta),
      'location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints',
      'spec.location',
    );
    expectClean(resource('ServiceEntry', body.replace(' #=', ''), meta.replace(': wp', ': none')), 'warning');
  });

  const good: Good[] = [
    ['one host, resolution NONE', `hosts: [a.com]\n${P}`],
    ['wildcard host', `hosts: ["*.a.com"]\n${P}`],
    [
      'addresses and CIDR with STATIC',
      `hosts: [a.com]\naddresses: [10.0.0.1, 10.1.0.0/16, "2001:db8::/32"]\n${P}\nresolution: STATIC\nendpoints: [{address: 10.0.0.1, ports: {https: 8443}, labels: {app: a}}]`,
    ],
    [
      'ports with targetPort',
      'hosts: [a.com]\nports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}, {number: 443, name: https}]',
    ],
    ['workloadSelector with STATIC', `hosts: [a.com]\n${P}\nresolution: STATIC\nworkloadSelector: {labels: {app: a}}`],
    ['unix endpoint', `hosts: [a.com]\n${P}\nresolution: STATIC\nendpoints: [{address: "unix:///var/run/a.sock"}]`],
    ['DNS with FQDN host', `hosts: [a.com]\n${P}\nresolution: DNS`],
    ['DYNAMIC_DNS with wildcard hosts, partial ones too', `hosts: ["*.a.com", "*b.com"]\n${HTTP}\n${DYN}`],
    [
      'DNS endpoints by name',
      `hosts: ["*.a.com"]\n${P}\nresolution: DNS\nendpoints: [{address: b.a.com}, {address: 10.0.0.2}]`,
    ],
    [
      'multiple hosts with HTTP ports',
      'hosts: [a.com, b.com]\nresolution: DNS\nports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]',
    ],
    ['exportTo ~ alone', `hosts: [a.com]\n${P}\nexportTo: ["~"]`],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(se(body));
  });
});

describe('validateWorkloadEntry', () => {
  const we = (body: string) => resource('WorkloadEntry', body);
  const bad: Bad[] = [
    ['no address and no network', 'labels: {app: a} #^', 'address is required', 'spec'],
    ['no address with a network (warning)', 'network: n1 #^', 'address is unset with network "n1"', 'spec', WARN],
    [
      'address neither IP nor FQDN',
      'address: bad_host #=',
      'endpoint address "bad_host" is not a valid FQDN or an IP address',
      'spec.address',
    ],
    ['relative unix address', 'address: unix://a.sock #=', 'a.sock is not an absolute path to a file', 'spec.address'],
    [
      'port out of range',
      'address: 10.0.0.1\nports:\n  http: 70000 #=',
      'port number 70000 must be in the range 1..65535',
      'spec.ports.http',
    ],
    [
      'invalid port name',
      'address: 10.0.0.1\nports:\n  Http_1: 80 #^',
      'invalid port name: Http_1',
      'spec.ports.Http_1',
    ],
    [
      'invalid label key',
      'address: 10.0.0.1\nlabels:\n  "-app": a #^',
      'invalid tag key: "-app"',
      'spec.labels["-app"]',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(we(body), msg, field, opts);
  });
  const good: Good[] = [
    ['IP address with ports and labels', 'address: 10.0.0.1\nports: {http: 8080}\nlabels: {app: a, version: v1}'],
    ['FQDN address', 'address: vm1.example.com'],
    ['IPv6 address', 'address: "2001:db8::1"'],
    ['unix address', 'address: unix:///var/run/a.sock'],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(we(body));
  });
});

describe('validateGateway', () => {
  const gw = (body: string, meta?: string) => resource('Gateway', body, meta);
  const S = (server: string) => `servers:\n- ${server.split('\n').join('\n  ')}`;
  const bad: Bad[] = [
    ['no servers', 'selector: {istio: ingressgateway} #^', 'gateway must have at least one server', 'spec'],
    [
      'server without hosts',
      S('port: {number: 80, name: http, protocol: HTTP} #-'),
      'server config must contain at least one host',
      'spec.servers[0]',
    ],
    [
      'short host name',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts:\n- reviews #-'),
      'short names (non FQDN) are not allowed',
      'spec.servers[0].hosts[0]',
    ],
    [
      'partial wildcard host',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts:\n- "*a.com" #-'),
      'partial wildcard "*a.com" not allowed',
      'spec.servers[0].hosts[0]',
    ],
    [
      'invalid host namespace',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts:\n- Bad_NS/a.com #-'),
      'invalid namespace value "Bad_NS" in gateway',
      'spec.servers[0].hosts[0]',
    ],
    [
      'host with empty dnsName',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts:\n- "ns/" #-'),
      'config namespace and dnsName in host entry cannot be empty',
      'spec.servers[0].hosts[0]',
    ],
    ['server without port', S('hosts: ["*"] #-'), 'port is required', 'spec.servers[0]'],
    [
      'port number out of range',
      S('hosts: ["*"]\nport:\n  number: 70000 #=\n  name: http\n  protocol: HTTP'),
      'port number 70000 must be in the range 1..65535',
      'spec.servers[0].port.number',
    ],
    [
      'unknown protocol',
      S('hosts: ["*"]\nport:\n  number: 80\n  name: http\n  protocol: QUIC #='),
      'invalid protocol "QUIC", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP',
      'spec.servers[0].port.protocol',
    ],
    [
      'port without name',
      S('hosts: ["*"]\nport:\n  number: 80 #^\n  protocol: HTTP'),
      'port name must be set',
      'spec.servers[0].port',
    ],
    [
      'targetPort on a gateway',
      S('hosts: ["*"]\nport:\n  number: 80\n  name: http\n  protocol: HTTP\n  targetPort: 8080 #='),
      'targetPort has no impact on Gateways',
      'spec.servers[0].port.targetPort',
    ],
    [
      'duplicate port names',
      `servers:\n- {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}\n- hosts: ["*"]\n  port:\n    number: 8080\n    name: http #=\n    protocol: HTTP`,
      'port names in servers must be unique: duplicate name http',
      'spec.servers[1].port.name',
    ],
    [
      'HTTPS without TLS settings',
      S('port: {number: 443, name: https, protocol: HTTPS} #-\nhosts: ["*"]'),
      'server must have TLS settings for HTTPS/TLS protocols',
      'spec.servers[0]',
    ],
    [
      'TLS settings on a TCP port',
      S('port: {number: 5432, name: tcp, protocol: TCP}\nhosts: ["*"]\ntls: {mode: SIMPLE, credentialName: c} #='),
      'server cannot have TLS settings for non HTTPS/TLS ports',
      'spec.servers[0].tls',
    ],
    [
      'certificates on a plain HTTP port',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts: ["*"]\ntls: {mode: SIMPLE, credentialName: c} #='),
      'server cannot have TLS settings for plain text HTTP ports',
      'spec.servers[0].tls',
    ],
    [
      'invalid bind address',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts: ["*"]\nbind: 10.0.0.300 #='),
      '10.0.0.300 is not a valid IP',
      'spec.servers[0].bind',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(gw(body), msg, field, opts);
  });
  const server = 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]';
  it('rejects: gateway name not a DNS-1123 label', () => {
    expectDiagnostic(
      gw(server, '\n  namespace: ns\n  name: my.gw #='),
      'invalid gateway name: "my.gw"',
      'metadata.name',
    );
  });
  it('accepts: gateway name that is a DNS-1123 label', () => {
    expectClean(gw(server, '{name: my-gw, namespace: ns}'));
  });

  const good: Good[] = [
    [
      'HTTP server',
      S(
        'port: {number: 80, name: http, protocol: HTTP}\nhosts: ["*", "ns/a.com", "./b.com", "*/c.com", "*.d.com", 10.0.0.1]',
      ),
    ],
    [
      'HTTPS server with credentials',
      S('port: {number: 443, name: https, protocol: HTTPS}\nhosts: [a.com]\ntls: {mode: SIMPLE, credentialName: c}'),
    ],
    [
      'HTTP server with httpsRedirect',
      S('port: {number: 80, name: http, protocol: HTTP}\nhosts: [a.com]\ntls: {httpsRedirect: true}'),
    ],
    [
      'unix socket bind with port 0',
      S('port: {number: 0, name: uds, protocol: HTTP}\nhosts: [a.com]\nbind: "unix:///var/run/gw.sock"'),
    ],
    [
      'two servers with distinct port names',
      `servers:\n- {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}\n- {port: {number: 8080, name: http-alt, protocol: HTTP2}, hosts: ["*"]}`,
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(gw(body));
  });
});
