import { describe, expect, it } from 'vitest';
import { type Expected, expectClean, expectDiagnostic, resource, validateText } from '../../../helpers/validate.ts';

const vs = (body: string) => resource('VirtualService', body);
const route = (extra: string, indent = '  ') =>
  `- ${extra.split('\n').join(`\n${indent}`)}\n${indent}route:\n${indent}- destination: {host: reviews}`;

/**
 * [title, spec body, message fragment, field path users see, expectations]. The marker (#=, #^, #-) designates the
 * reported position.
 */
type Bad = [string, string, string, string, Expected?];
/** [title, spec body]: valid input, next to the failing one of the same rule. */
type Good = [string, string];

const WARN: Expected = { level: 'warning' };

describe('validateVirtualService: hosts, gateways, delegates', () => {
  const bad: Bad[] = [
    [
      'delegate with gateways',
      'gateways: [ns/gw] #=\nhttp:\n- route: [{destination: {host: a}}]',
      'delegate virtual service must have no gateways specified',
      'spec.gateways',
    ],
    [
      'delegate with tcp',
      'tcp: [{route: [{destination: {host: db}}]}] #=',
      'delegate virtual service must have no tcp route specified',
      'spec.tcp',
    ],
    [
      'delegate with tls',
      'tls: [{match: [{sniHosts: [a.com]}], route: [{destination: {host: a.com}}]}] #=',
      'delegate virtual service must have no tls route specified',
      'spec.tls',
    ],
    ['no http, tcp or tls', 'hosts: [reviews] #^', 'http, tcp or tls must be provided in virtual service', 'spec'],
    [
      'invalid host',
      'hosts:\n- reviews\n- bad_host #-\nhttp:\n- route: [{destination: {host: a}}]',
      'domain name "bad_host" invalid',
      'spec.hosts[1]',
    ],
    [
      'wildcard not in first label',
      'hosts:\n- a.*.com #-\nhttp:\n- route: [{destination: {host: a}}]',
      'domain name "*.com" invalid (label "*" invalid)',
      'spec.hosts[0]',
    ],
    [
      'duplicate host',
      'hosts:\n- a.com\n- a.com #-\nhttp:\n- route: [{destination: {host: a}}]',
      'duplicate hosts in virtual service: a.com & a.com',
      'spec.hosts[1]',
    ],
    [
      'overlapping wildcard hosts',
      'hosts:\n- "*.foo.com"\n- "*.com" #-\nhttp:\n- route: [{destination: {host: a}}]',
      'duplicate hosts in virtual service: *.foo.com & *.com',
      'spec.hosts[1]',
    ],
    [
      '* on the mesh',
      'hosts:\n- "*" #-\nhttp:\n- route: [{destination: {host: a}}]',
      'wildcard host * is not allowed for virtual services bound to the mesh gateway',
      'spec.hosts[0]',
    ],
    [
      '* on mesh listed with a gateway',
      'hosts:\n- "*" #-\ngateways: [mesh, ns/gw]\nhttp:\n- route: [{destination: {host: a}}]',
      'wildcard host * is not allowed',
      'spec.hosts[0]',
    ],
    [
      'gateway namespace not a label',
      'hosts: [a.com]\ngateways:\n- Bad_NS/gw #-\nhttp:\n- route: [{destination: {host: a}}]',
      'invalid value for namespace: "Bad_NS"',
      'spec.gateways[0]',
    ],
    [
      'gateway name not a label',
      'hosts: [a.com]\ngateways:\n- ns/gw_1 #-\nhttp:\n- route: [{destination: {host: a}}]',
      'invalid value for gateway name: "gw_1"',
      'spec.gateways[0]',
    ],
    [
      'gateway with empty namespace',
      'hosts: [a.com]\ngateways:\n- /gw #-\nhttp:\n- route: [{destination: {host: a}}]',
      'config namespace and gateway name cannot be empty',
      'spec.gateways[0]',
    ],
    [
      'bare gateway name not a FQDN',
      'hosts: [a.com]\ngateways:\n- gw_1 #-\nhttp:\n- route: [{destination: {host: a}}]',
      'domain name "gw_1" invalid',
      'spec.gateways[0]',
    ],
    [
      'legacy FQDN gateway name warns',
      'hosts: [a.com]\ngateways:\n- gw.istio-system.svc.cluster.local #-\nhttp:\n- route: [{destination: {host: a}}]',
      'using legacy gatewayName format "gw.istio-system.svc.cluster.local"; prefer the <namespace>/<name> format: "istio-system/gw"',
      'spec.gateways[0]',
      WARN,
    ],
    [
      'JWT claim key on a mesh VS',
      'hosts: [a]\nhttp:\n- match:\n  - headers:\n      "@request.auth.claims.group": {exact: admin} #^\n  route: [{destination: {host: a}}]',
      'JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway',
      'spec.http[0].match[0].headers["@request.auth.claims.group"]',
    ],
    [
      'JWT claim key in withoutHeaders on mesh',
      'hosts: [a]\nhttp:\n- match:\n  - withoutHeaders:\n      "@request.auth.claims[group]": {exact: admin} #^\n  route: [{destination: {host: a}}]',
      'JWT claim based routing',
      'spec.http[0].match[0].withoutHeaders["@request.auth.claims[group]"]',
    ],
    [
      'exportTo . and own namespace',
      'hosts: [a]\nexportTo:\n- ns\n- "." #-\nhttp:\n- route: [{destination: {host: a}}]',
      'duplicate entries in exportTo: . and current namespace ns',
      'spec.exportTo[1]',
    ],
    [
      'exportTo duplicate',
      'hosts: [a]\nexportTo:\n- foo\n- foo #-\nhttp:\n- route: [{destination: {host: a}}]',
      'duplicate entries in exportTo for entry foo',
      'spec.exportTo[1]',
    ],
    [
      'exportTo * with others',
      'hosts: [a]\nexportTo: ["*", foo] #=\nhttp:\n- route: [{destination: {host: a}}]',
      'cannot have both public (*) and non-public exportTo values',
      'spec.exportTo',
    ],
    [
      'exportTo ~ on a VS',
      'hosts: [a]\nexportTo:\n- "~" #-\nhttp:\n- route: [{destination: {host: a}}]',
      'exportTo ~ (none) is not allowed',
      'spec.exportTo[0]',
    ],
    [
      'exportTo not a namespace',
      'hosts: [a]\nexportTo:\n- Bad_NS #-\nhttp:\n- route: [{destination: {host: a}}]',
      'only .,*, or a valid DNS 1123 label is allowed as exportTo entry',
      'spec.exportTo[0]',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(vs(body), msg, field, opts);
  });

  const good: Good[] = [
    ['delegate with http only', 'http:\n- route: [{destination: {host: a}}]'],
    ['hosts with http', 'hosts: [reviews]\nhttp:\n- route: [{destination: {host: reviews}}]'],
    ['IP host', 'hosts: [10.0.0.1]\nhttp:\n- route: [{destination: {host: a}}]'],
    [
      'wildcard and FQDN hosts that do not overlap',
      'hosts: ["*.foo.com", bar.com]\nhttp:\n- route: [{destination: {host: a}}]',
    ],
    ['* on a gateway-only VS', 'hosts: ["*"]\ngateways: [ns/gw]\nhttp:\n- route: [{destination: {host: a}}]'],
    ['gateway forms', 'hosts: [a.com]\ngateways: [ns/gw, mesh]\nhttp:\n- route: [{destination: {host: a}}]'],
    [
      'JWT claim key on a gateway VS',
      'hosts: [a.com]\ngateways: [ns/gw]\nhttp:\n- match: [{headers: {"@request.auth.claims.group": {exact: admin}}}]\n  route: [{destination: {host: a}}]',
    ],
    ['exportTo . and *', 'hosts: [a]\nexportTo: ["*"]\nhttp:\n- route: [{destination: {host: a}}]'],
    [
      'exportTo . and another namespace',
      'hosts: [a]\nexportTo: [".", other]\nhttp:\n- route: [{destination: {host: a}}]',
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(vs(body));
  });
});

describe('validateVirtualService: route actions and destinations', () => {
  const bad: Bad[] = [
    ['null rule', 'hosts: [a]\nhttp:\n- ~ #-', 'http route may not be null', 'spec.http[0]'],
    [
      'null match',
      'hosts: [a]\nhttp:\n- match:\n  - ~ #-\n  route: [{destination: {host: a}}]',
      'match may not be null',
      'spec.http[0].match[0]',
    ],
    [
      'no action',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /}}] #-',
      'HTTP route, redirect or direct_response is required',
      'spec.http[0]',
    ],
    [
      'route and redirect',
      'hosts: [a]\nhttp:\n- redirect: {uri: /x}\n  route: [{destination: {host: a}}] #=',
      'HTTP route cannot contain both route and redirect',
      'spec.http[0].route',
    ],
    [
      'fault and redirect',
      'hosts: [a]\nhttp:\n- redirect: {uri: /x}\n  fault: {abort: {httpStatus: 500}} #=',
      'HTTP route cannot contain both fault and redirect',
      'spec.http[0].fault',
    ],
    [
      'rewrite and redirect',
      'hosts: [a]\nhttp:\n- redirect: {uri: /x}\n  rewrite: {uri: /y} #=',
      'HTTP route rule cannot contain both rewrite and redirect',
      'spec.http[0].rewrite',
    ],
    [
      'directResponse and redirect',
      'hosts: [a]\nhttp:\n- redirect: {uri: /x}\n  directResponse: {status: 200} #=',
      'HTTP route rule cannot contain both direct_response and redirect',
      'spec.http[0].directResponse',
    ],
    [
      'route and directResponse',
      'hosts: [a]\nhttp:\n- directResponse: {status: 200}\n  route: [{destination: {host: a}}] #=',
      'HTTP route cannot contain both route and direct_response',
      'spec.http[0].route',
    ],
    [
      'fault and directResponse',
      'hosts: [a]\nhttp:\n- directResponse: {status: 200}\n  fault: {delay: {fixedDelay: 1s}} #=',
      'HTTP route cannot contain both fault and direct_response',
      'spec.http[0].fault',
    ],
    [
      'rewrite and directResponse',
      'hosts: [a]\nhttp:\n- directResponse: {status: 200}\n  rewrite: {uri: /y} #=',
      'HTTP route rule cannot contain both rewrite and direct_response',
      'spec.http[0].rewrite',
    ],
    [
      'root route with route',
      'hosts: [a]\nhttp:\n- name: r1\n  delegate: {name: d}\n  route: [{destination: {host: a}}] #=',
      'root HTTP route r1 must not specify route',
      'spec.http[0].route',
    ],
    [
      'root route with redirect',
      'hosts: [a]\nhttp:\n- name: r1\n  delegate: {name: d}\n  redirect: {uri: /x} #=',
      'root HTTP route r1 must not specify redirect',
      'spec.http[0].redirect',
    ],
    [
      'delegate inside a delegate VS',
      'http:\n- delegate: {name: d} #=',
      'delegate HTTP route cannot contain delegate',
      'spec.http[0].delegate',
    ],
    [
      'mirror with mirrors',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}\n  mirrors: [{destination: {host: c}}] #=',
      'HTTP route cannot contain both mirror and mirrors',
      'spec.http[0].mirrors',
    ],
    [
      'negative weight',
      'hosts: [a]\nhttp:\n- route:\n  - destination: {host: a}\n    weight: -1 #=\n  - destination: {host: b}\n    weight: 2',
      'weight -1 < 0',
      'spec.http[0].route[0].weight',
    ],
    [
      'total weight 0 with two destinations',
      'hosts: [a]\nhttp:\n- route:\n  - destination: {host: a} #^\n  - destination: {host: b}',
      'total destination weight = 0',
      'spec.http[0].route',
    ],
    [
      'route without destination',
      'hosts: [a]\nhttp:\n- route:\n  - weight: 1 #-',
      'destination is required',
      'spec.http[0].route[0]',
    ],
    [
      'destination host *',
      'hosts: [a]\nhttp:\n- route:\n  - destination:\n      host: "*" #=',
      'invalid destination host *',
      'spec.http[0].route[0].destination.host',
    ],
    [
      'invalid destination host',
      'hosts: [a]\nhttp:\n- route:\n  - destination:\n      host: bad_host #=',
      'domain name "bad_host" invalid',
      'spec.http[0].route[0].destination.host',
    ],
    [
      'subset not a DNS-1123 label',
      'hosts: [a]\nhttp:\n- route:\n  - destination:\n      host: a\n      subset: V1_beta #=',
      'subset name is invalid: V1_beta',
      'spec.http[0].route[0].destination.subset',
    ],
    [
      'destination port 0',
      'hosts: [a]\nhttp:\n- route:\n  - destination:\n      host: a\n      port:\n        number: 0 #=',
      'port number 0 must be in the range 1..65535',
      'spec.http[0].route[0].destination.port.number',
    ],
    [
      'destination port 65536',
      'hosts: [a]\nhttp:\n- route:\n  - destination:\n      host: a\n      port:\n        number: 65536 #=',
      'port number 65536 must be in the range 1..65535',
      'spec.http[0].route[0].destination.port.number',
    ],
    [
      'mirror host *',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror:\n    host: "*" #=',
      'invalid destination host *',
      'spec.http[0].mirror.host',
    ],
    [
      'mirrors entry without destination',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirrors:\n  - percentage: {value: 5} #-',
      'destination is required for mirrors',
      'spec.http[0].mirrors[0]',
    ],
    [
      'mirrors percentage > 100',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirrors:\n  - destination: {host: b}\n    percentage:\n      value: 101 #=',
      'mirror percentage must have a max value of 100 (it has 101.000000)',
      'spec.http[0].mirrors[0].percentage.value',
    ],
    [
      'mirrorPercentage > 100',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}\n  mirrorPercentage:\n    value: 100.5 #=',
      'mirror_percentage must have a max value of 100 (it has 100.500000)',
      'spec.http[0].mirrorPercentage.value',
    ],
    [
      'mirrorPercentage < 0',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}\n  mirrorPercentage:\n    value: -1 #=',
      'mirror_percentage must have a min value of 0',
      'spec.http[0].mirrorPercentage.value',
    ],
    [
      'mirrorPercent > 100',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}\n  mirrorPercent: 101 #=',
      'mirror_percent must have a max value of 100 (it has 101)',
      'spec.http[0].mirrorPercent',
    ],
    [
      'mirrorPercent is deprecated',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}\n  mirrorPercent: 50 #^',
      'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
      'spec.http[0].mirrorPercent',
      { level: 'warning', code: 'IST0002' },
    ],
    [
      'timeout 0s',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  timeout: 0s #=',
      'duration must be greater than 1ms',
      'spec.http[0].timeout',
    ],
    [
      'timeout below ms precision',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  timeout: 1500us #=',
      'only durations to ms precision are supported',
      'spec.http[0].timeout',
    ],
    [
      'timeout not a duration',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  timeout: "10" #=',
      'invalid duration "10"',
      'spec.http[0].timeout',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(vs(body), msg, field, opts);
  });

  const good: Good[] = [
    ['rule with route', `hosts: [a]\nhttp:\n${route('name: r')}`],
    ['match with route', 'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /}}]\n  route: [{destination: {host: a}}]'],
    ['redirect alone', 'hosts: [a]\nhttp:\n- redirect: {uri: /x}'],
    [
      'redirect with headers and cors',
      'hosts: [a]\nhttp:\n- redirect: {uri: /x}\n  headers: {response: {set: {x-a: b}}}',
    ],
    ['directResponse alone', 'hosts: [a]\nhttp:\n- directResponse: {status: 503}'],
    ['root route with delegate only', 'hosts: [a]\nhttp:\n- delegate: {name: d, namespace: other}'],
    ['delegate VS with plain routes', 'http:\n- route: [{destination: {host: a}}]'],
    [
      'mirror alone',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}\n  mirrorPercentage: {value: 0.00001}',
    ],
    [
      'mirrors alone',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirrors: [{destination: {host: b}, percentage: {value: 100}}]',
    ],
    [
      'weights need not sum to 100',
      'hosts: [a]\nhttp:\n- route:\n  - {destination: {host: a}, weight: 1}\n  - {destination: {host: b}, weight: 0}',
    ],
    ['single destination, weight 0', 'hosts: [a]\nhttp:\n- route: [{destination: {host: a}, weight: 0}]'],
    [
      'destination with FQDN, subset and port',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a.b.svc.cluster.local, subset: v1-beta, port: {number: 65535}}}]',
    ],
    [
      'timeout 1ms and 1.5s',
      'hosts: [a]\nhttp:\n- match: [{port: 80}]\n  route: [{destination: {host: a}}]\n  timeout: 1.5s\n- route: [{destination: {host: a}}]\n  timeout: 1ms',
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(vs(body), 'warning');
  });
});

describe('validateVirtualService: matches, headers, retries', () => {
  const m = (match: string) =>
    `hosts: [a]\nhttp:\n- match:\n  - ${match.split('\n').join('\n    ')}\n  route: [{destination: {host: a}}]`;
  const bad: Bad[] = [
    [
      'regex does not compile',
      m('uri:\n  regex: "a(b" #='),
      '"uri": error parsing regexp: missing closing ): `a(b`; Istio uses RE2 style regex-based match',
      'spec.http[0].match[0].uri.regex',
    ],
    [
      'JS-only regex syntax (lookahead)',
      m('uri:\n  regex: "/a(?=b)" #='),
      '"uri": error parsing regexp',
      'spec.http[0].match[0].uri.regex',
    ],
    [
      'regex longer than 1024',
      m(`uri:\n  regex: "${'a'.repeat(1025)}" #=`),
      '"uri": regex is too large, max length allowed is 1024',
      'spec.http[0].match[0].uri.regex',
    ],
    [
      'empty regex',
      m('uri:\n  regex: "" #='),
      '"uri": regex string match should not be empty',
      'spec.http[0].match[0].uri.regex',
    ],
    [
      'empty prefix on a header',
      m('headers:\n  x-a:\n    prefix: "" #='),
      '"headers": prefix string match should not be empty',
      'spec.http[0].match[0].headers["x-a"].prefix',
    ],
    [
      'empty prefix on method',
      m('method:\n  prefix: "" #='),
      '"method": prefix string match should not be empty',
      'spec.http[0].match[0].method.prefix',
    ],
    [
      'empty prefix on queryParams',
      m('queryParams:\n  v:\n    prefix: "" #='),
      '"queryParams": prefix string match should not be empty',
      'spec.http[0].match[0].queryParams.v.prefix',
    ],
    [
      'empty regex on withoutHeaders',
      m('withoutHeaders:\n  x-a:\n    regex: "" #='),
      '"withoutHeaders": regex string match should not be empty',
      'spec.http[0].match[0].withoutHeaders["x-a"].regex',
    ],
    [
      'two match types in one StringMatch',
      m('authority: {exact: a, prefix: b} #='),
      '"authority": only one of exact, prefix or regex may be set',
      'spec.http[0].match[0].authority',
    ],
    [
      'invalid header name',
      m('headers:\n  "x a": {exact: b} #^'),
      'header name x a is not a valid header name',
      'spec.http[0].match[0].headers["x a"]',
    ],
    [
      'null header match',
      m('headers:\n  x-a: ~ #='),
      'header match x-a cannot be null',
      'spec.http[0].match[0].headers["x-a"]',
    ],
    [
      'match port out of range',
      m('port: 70000 #='),
      'port number 70000 must be in the range 1..65535',
      'spec.http[0].match[0].port',
    ],
    [
      'invalid sourceLabels key',
      m('sourceLabels:\n  "a b": c #^'),
      'invalid tag key: "a b"',
      'spec.http[0].match[0].sourceLabels["a b"]',
    ],
    [
      'invalid sourceLabels value',
      m('sourceLabels:\n  app: "a b" #='),
      'invalid tag value: "a b"',
      'spec.http[0].match[0].sourceLabels.app',
    ],
    [
      'invalid match gateway',
      m('gateways:\n- ns/Bad_GW #-'),
      'invalid value for gateway name: "Bad_GW"',
      'spec.http[0].match[0].gateways[0]',
    ],
    [
      'invalid sourceNamespace',
      m('sourceNamespace: Bad_NS #='),
      'sourceNamespace match Bad_NS is invalid',
      'spec.http[0].match[0].sourceNamespace',
    ],
    [
      'request header value with a control character',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers:\n    request:\n      set:\n        x-a: "a\\x01b" #=',
      'header value configuration a\u0001b is invalid',
      'spec.http[0].headers.request.set["x-a"]',
    ],
    [
      'header value with a lone %',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers:\n    response:\n      add:\n        x-a: "100%" #=',
      'header value configuration: invalid header configuration. Un-escaped %',
      'spec.http[0].headers.response.add["x-a"]',
    ],
    [
      'header value with an unterminated variable',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers:\n    request:\n      add:\n        x-a: "%START_TIME" #=',
      'Un-terminated variable expression',
      'spec.http[0].headers.request.add["x-a"]',
    ],
    [
      'set of a pseudo-header',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers:\n    request:\n      set:\n        ":path": /x #^',
      'invalid header ":path": header cannot have ":" prefix',
      'spec.http[0].headers.request.set[":path"]',
    ],
    [
      'remove of host',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers:\n    request:\n      remove:\n      - Host #-',
      'invalid header "Host": cannot set Host header',
      'spec.http[0].headers.request.remove[0]',
    ],
    [
      'response set of host',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers:\n    response:\n      set:\n        host: b #^',
      'invalid header "host": cannot set Host header',
      'spec.http[0].headers.response.set.host',
    ],
    [
      'destination-level header on a pseudo-header',
      'hosts: [a]\nhttp:\n- route:\n  - destination: {host: a}\n    headers:\n      response:\n        remove:\n        - ":status" #-',
      'invalid header ":status": header cannot have ":" prefix',
      'spec.http[0].route[0].headers.response.remove[0]',
    ],
    [
      'authority set twice',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  rewrite: {authority: a.com}\n  headers:\n    request:\n      set:\n        host: b.com #^',
      'authority header cannot be set multiple times: have "a.com", attempting to set "b.com"',
      'spec.http[0].headers.request.set.host',
    ],
    [
      'retry attempts < 0',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries:\n    attempts: -1 #=',
      'attempts cannot be negative',
      'spec.http[0].retries.attempts',
    ],
    [
      'retry policy with attempts 0',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries: {retryOn: 5xx} #=',
      'http retry policy configured when attempts are set to 0 (disabled)',
      'spec.http[0].retries',
    ],
    [
      'retryOn token with a space',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries:\n    attempts: 2\n    retryOn: "5xx, reset" #=',
      '" reset" is not a valid retryOn policy',
      'spec.http[0].retries.retryOn',
    ],
    [
      'retryOn unknown policy',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries:\n    attempts: 2\n    retryOn: 5xx,timeout #=',
      '"timeout" is not a valid retryOn policy',
      'spec.http[0].retries.retryOn',
    ],
    [
      'retryOn unknown status code',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries:\n    attempts: 2\n    retryOn: "599" #=',
      '"599" is not a valid retryOn policy',
      'spec.http[0].retries.retryOn',
    ],
    [
      'perTryTimeout 0s',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries:\n    attempts: 2\n    perTryTimeout: 0s #=',
      'duration must be greater than 1ms',
      'spec.http[0].retries.perTryTimeout',
    ],
    [
      'backoff below ms precision',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries:\n    attempts: 2\n    backoff: 25.5ms #=',
      'only durations to ms precision are supported',
      'spec.http[0].retries.backoff',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(vs(body), msg, field, opts);
  });

  const good: Good[] = [
    ['RE2 regex with named group and (?i)', m('uri: {regex: "(?i)/api/(?P<v>v[0-9]+)/.*"}')],
    ['regex of 1024 characters', m(`uri: {regex: "${'a'.repeat(1024)}"}`)],
    ['empty uri prefix', m('uri: {prefix: ""}')],
    ['withoutHeaders regex * is a presence match', m('withoutHeaders: {x-a: {regex: "*"}}')],
    [
      'header and query matches',
      m('headers: {x-a: {exact: b}, ":authority": {prefix: a}}\nqueryParams: {v: {exact: "1"}}\nmethod: {exact: GET}'),
    ],
    ['presence header match {}', m('headers: {x-a: {}}')],
    [
      'match port, labels, gateways, namespace',
      m('port: 8080\nsourceLabels: {app.kubernetes.io/name: web}\ngateways: [mesh]\nsourceNamespace: prod'),
    ],
    [
      'header values with Envoy variables',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers: {request: {set: {x-a: "%HOSTNAME%", x-b: "100%%", x-c: "%REQ(x-id)%"}}}',
    ],
    [
      'authority via host header only',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  headers: {request: {set: {host: b.com}, remove: [x-a]}}',
    ],
    [
      'retries with status codes and gRPC policies',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries: {attempts: 3, perTryTimeout: 1ms, backoff: 25ms, retryOn: "5xx,503,unavailable,cancelled,reset-before-request,retriable-status-codes"}',
    ],
    [
      'retries disabled with attempts 0 only',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries: {attempts: 0}',
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(vs(body), 'warning');
  });
});

describe('validateVirtualService: fault, redirect, rewrite, directResponse, CORS', () => {
  const r = (extra: string) =>
    `hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  ${extra.split('\n').join('\n  ')}`;
  const a = (extra: string) => `hosts: [a]\nhttp:\n- ${extra.split('\n').join('\n  ')}`;
  const bad: Bad[] = [
    [
      'fault with neither abort nor delay',
      r('fault: {} #='),
      'HTTP fault injection must have an abort and/or a delay',
      'spec.http[0].fault',
    ],
    [
      'fault percentage below 0.0001',
      r('fault:\n  abort:\n    httpStatus: 503\n    percentage:\n      value: 0.00001 #='),
      'percentage 0.00001 is neither 0.0, nor in range [0.0001, 100.0]',
      'spec.http[0].fault.abort.percentage.value',
    ],
    [
      'fault percentage above 100',
      r('fault:\n  delay:\n    fixedDelay: 1s\n    percentage:\n      value: 100.1 #='),
      'is neither 0.0, nor in range [0.0001, 100.0]',
      'spec.http[0].fault.delay.percentage.value',
    ],
    [
      'abort httpStatus 199',
      r('fault:\n  abort:\n    httpStatus: 199 #='),
      'HTTP status 199 is not in range 200-599',
      'spec.http[0].fault.abort.httpStatus',
    ],
    [
      'abort httpStatus 601',
      r('fault:\n  abort:\n    httpStatus: 601 #='),
      'HTTP status 601 is not in range 200-599',
      'spec.http[0].fault.abort.httpStatus',
    ],
    [
      'abort grpcStatus as a number',
      r('fault:\n  abort:\n    grpcStatus: "14" #='),
      'gRPC status "14" is not supported',
      'spec.http[0].fault.abort.grpcStatus',
    ],
    [
      'abort http2Error',
      r('fault:\n  abort:\n    http2Error: REFUSED_STREAM #='),
      'HTTP/2 abort fault injection not supported yet',
      'spec.http[0].fault.abort.http2Error',
    ],
    [
      'abort without error type (warning)',
      r('fault:\n  abort:\n    percentage: {value: 1} #^'),
      'abort configured, but error type not set',
      'spec.http[0].fault.abort',
      WARN,
    ],
    [
      'delay exponentialDelay',
      r('fault:\n  delay:\n    exponentialDelay: 1s #='),
      'exponentialDelay not supported yet',
      'spec.http[0].fault.delay.exponentialDelay',
    ],
    [
      'delay fixedDelay 0s',
      r('fault:\n  delay:\n    fixedDelay: 0s #='),
      'duration must be greater than 1ms',
      'spec.http[0].fault.delay.fixedDelay',
    ],
    [
      'redirect without fields',
      a('redirect: {} #='),
      'redirect must specify URI, authority, scheme, or port',
      'spec.http[0].redirect',
    ],
    [
      'redirect code not 3xx',
      a('redirect:\n  uri: /x\n  redirectCode: 200 #='),
      '200 is not a valid redirect code, must be 3xx',
      'spec.http[0].redirect.redirectCode',
    ],
    [
      'redirect scheme ftp',
      a('redirect:\n  uri: /x\n  scheme: ftp #='),
      'invalid redirect scheme, must be "http" or "https"',
      'spec.http[0].redirect.scheme',
    ],
    [
      'redirect port out of range',
      a('redirect:\n  port: 70000 #='),
      'port number 70000 must be in the range 1..65535',
      'spec.http[0].redirect.port',
    ],
    [
      'redirect port with derivePort',
      a('redirect:\n  port: 8080\n  derivePort: FROM_REQUEST_PORT #='),
      'redirect may only contain one of port or derivePort',
      'spec.http[0].redirect.derivePort',
    ],
    [
      'redirect uri with prefixRewrite',
      a('redirect:\n  uri: /x\n  prefixRewrite: /y #='),
      'redirect may only contain one of uri or prefixRewrite',
      'spec.http[0].redirect.prefixRewrite',
    ],
    [
      'redirect prefixRewrite with an exact match',
      a('match:\n- uri: {prefix: /a}\n- uri: {exact: /b} #=\nredirect: {prefixRewrite: /y}'),
      'redirect prefixRewrite requires every match to use a uri prefix match',
      'spec.http[0].match[1].uri',
    ],
    [
      'rewrite with uri and uriRegexRewrite',
      r('rewrite:\n  uri: /x\n  uriRegexRewrite: {match: a, rewrite: b} #='),
      'rewrite may only contain one of URI or UriRegexRewrite',
      'spec.http[0].rewrite.uriRegexRewrite',
    ],
    [
      'empty rewrite',
      r('rewrite: {} #='),
      'rewrite must specify at least one of URI, UriRegexRewrite, or authority',
      'spec.http[0].rewrite',
    ],
    [
      'uriRegexRewrite without rewrite',
      r('rewrite:\n  uriRegexRewrite: {match: "^/a"} #='),
      'UriRegexRewrite requires both Rewrite and Match fields to be specified',
      'spec.http[0].rewrite.uriRegexRewrite',
    ],
    [
      'uriRegexRewrite with a bad regex',
      r('rewrite:\n  uriRegexRewrite:\n    match: "^/a(" #=\n    rewrite: /b'),
      '"HTTPRewrite.UriRegexRewrite.Match": error parsing regexp',
      'spec.http[0].rewrite.uriRegexRewrite.match',
    ],
    [
      'directResponse status 199',
      a('directResponse:\n  status: 199 #='),
      'HTTP status 199 is not in range 200-599',
      'spec.http[0].directResponse.status',
    ],
    [
      'directResponse status 601',
      a('directResponse:\n  status: 601 #='),
      'HTTP status 601 is not in range 200-599',
      'spec.http[0].directResponse.status',
    ],
    [
      'directResponse body over 1 MB',
      a(`directResponse:\n  status: 200\n  body:\n    string: ${'x'.repeat(1024 * 1024 + 1)} #^`),
      'large direct_responses may impact control plane performance, must be less than 1MB',
      'spec.http[0].directResponse.body',
    ],
    [
      'directResponse body over 100 KB warns',
      a(`directResponse:\n  status: 200\n  body:\n    string: ${'x'.repeat(100 * 1024 + 1)} #^`),
      'large direct_responses may impact control plane performance',
      'spec.http[0].directResponse.body',
      WARN,
    ],
    [
      'CORS method not upper case',
      r('corsPolicy:\n  allowMethods:\n  - get #-'),
      '"get" is not a supported HTTP method',
      'spec.http[0].corsPolicy.allowMethods[0]',
    ],
    [
      'CORS invalid header name',
      r('corsPolicy:\n  allowHeaders:\n  - "x a" #-'),
      'header name x a is not a valid header name',
      'spec.http[0].corsPolicy.allowHeaders[0]',
    ],
    [
      'CORS empty origin',
      r('corsPolicy:\n  allowOrigins:\n  - exact: "" #-'),
      "'' is not a valid match type for CORS allow origins",
      'spec.http[0].corsPolicy.allowOrigins[0]',
    ],
    [
      'CORS origin regex does not compile',
      r('corsPolicy:\n  allowOrigins:\n  - regex: "https://(a" #='),
      '"corsPolicy.allowOrigins": error parsing regexp',
      'spec.http[0].corsPolicy.allowOrigins[0].regex',
    ],
    [
      'CORS maxAge with sub-second part',
      r('corsPolicy:\n  maxAge: 1500ms #='),
      'max_age duration is accurate only to seconds precision',
      'spec.http[0].corsPolicy.maxAge',
    ],
    [
      'CORS maxAge 0s',
      r('corsPolicy:\n  maxAge: 0s #='),
      'duration must be greater than 1ms',
      'spec.http[0].corsPolicy.maxAge',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(vs(body), msg, field, opts);
  });

  const good: Good[] = [
    ['abort 503 at 0.0001 %', r('fault: {abort: {httpStatus: 503, percentage: {value: 0.0001}}}')],
    ['abort 600 is accepted (istiod bound)', r('fault: {abort: {httpStatus: 600, percentage: {value: 0}}}')],
    ['abort gRPC UNAVAILABLE', r('fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}')],
    ['delay 1ms', r('fault: {delay: {fixedDelay: 1ms, percentage: {value: 50}}}')],
    ['redirect 308 to https port 443', a('redirect: {scheme: https, port: 443, redirectCode: 308}')],
    ['redirect derivePort alone', a('redirect: {derivePort: FROM_REQUEST_PORT}')],
    [
      'redirect prefixRewrite with prefix matches',
      a('match: [{uri: {prefix: /a}}, {headers: {x: {exact: z}}}]\nredirect: {prefixRewrite: /y}'),
    ],
    ['rewrite uri and authority', r('rewrite: {uri: /x, authority: b.com}')],
    [
      'rewrite uriRegexRewrite',
      r('rewrite: {uriRegexRewrite: {match: "^/service/([^/]+)(/.*)$", rewrite: "/x/\\\\2/\\\\1"}}'),
    ],
    ['directResponse 200 and 600', a('directResponse: {status: 600, body: {string: hello}}')],
    [
      'CORS policy',
      r(
        'corsPolicy: {allowOrigins: [{exact: "https://a.com"}, {regex: "https://.*[.]b[.]com"}], allowMethods: [GET, POST, "*"], allowHeaders: ["*", x-a], exposeHeaders: [x-b], maxAge: 24h}',
      ),
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(vs(body), 'warning');
  });
});

describe('validateVirtualService: TLS and TCP routes', () => {
  const bad: Bad[] = [
    [
      'TLS route without match',
      'hosts: [a.com]\ntls:\n- route: [{destination: {host: a.com}}] #-',
      'TLS route must have at least one match condition',
      'spec.tls[0]',
    ],
    [
      'TLS SNI host not covered by hosts',
      'hosts: [a.com]\ntls:\n- match:\n  - sniHosts:\n    - b.com #-\n  route: [{destination: {host: a.com}}]',
      'SNI host "b.com" is not a compatible subset of any of the virtual service hosts: [a.com]',
      'spec.tls[0].match[0].sniHosts[0]',
    ],
    [
      'TCP route without route',
      'hosts: [db]\ntcp:\n- match: [{port: 5432}] #-',
      'TCP route is required',
      'spec.tcp[0]',
    ],
    [
      'TCP destination subnet',
      'hosts: [db]\ntcp:\n- match:\n  - destinationSubnets:\n    - 10.0.0.0/33 #-\n  route: [{destination: {host: db}}]',
      '10.0.0.0/33 is not a valid CIDR block',
      'spec.tcp[0].match[0].destinationSubnets[0]',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(vs(body), msg, field, opts);
  });
  const good: Good[] = [
    [
      'TLS route',
      'hosts: ["*.a.com"]\ntls:\n- match: [{sniHosts: [b.a.com], port: 443}]\n  route: [{destination: {host: b.a.com}}]',
    ],
    [
      'TCP route',
      'hosts: [db]\ntcp:\n- match: [{port: 5432, destinationSubnets: [10.0.0.0/8]}]\n  route: [{destination: {host: db}}]',
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(vs(body), 'warning');
  });
});

describe('validateVirtualService: unreachable rules (IST0130) and ineffective matches (IST0131)', () => {
  const U: Expected = { level: 'warning', code: 'IST0130' };
  const I: Expected = { level: 'info', code: 'IST0131' };
  const bad: Bad[] = [
    [
      'the common mistake: a second match-less route',
      'hosts: [reviews]\nhttp:\n- route: [{destination: {host: reviews, subset: v1}}]\n- route: [{destination: {host: reviews, subset: v2}}] #-',
      'virtualService rule #1 not used (only the last rule can have no matches)',
      'spec.http[1]',
      { ...U },
    ],
    [
      'a rule after a match-less rule',
      'hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n- name: canary #-\n  match: [{headers: {x-canary: {exact: "1"}}}]\n  route: [{destination: {host: a, subset: v2}}]',
      'virtualService rule "canary" not used (route without matches defined before)',
      'spec.http[1]',
      U,
    ],
    [
      'every match repeats an earlier one',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /a}}]\n  route: [{destination: {host: a}}]\n- match: [{uri: {prefix: /a}, name: again}] #-\n  route: [{destination: {host: b}}]',
      'virtualService rule #1 not used (all matches used by prior rules)',
      'spec.http[1]',
      U,
    ],
    [
      'a duplicate match',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /a}}]\n  route: [{destination: {host: a}}]\n- match:\n  - uri: {prefix: /a} #-\n  - uri: {prefix: /b}\n  route: [{destination: {host: b}}]',
      'virtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0)',
      'spec.http[1].match[0]',
      { ...I },
    ],
    [
      'a match covered by an earlier prefix',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /api}}]\n  route: [{destination: {host: a}}]\n- match:\n  - uri: {prefix: /api/v1} #-\n  route: [{destination: {host: b}}]',
      'virtualService rule #1 match #0 of prefix /api/v1 is not used (duplicate/overlapping match in rule #0 of prefix /api on #0)',
      'spec.http[1].match[0]',
      I,
    ],
  ];
  it.each(bad)('reports: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(vs(body), msg, field, opts);
  });
  const good: Good[] = [
    [
      'one match-less route, last',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /a}}]\n  route: [{destination: {host: a}}]\n- route: [{destination: {host: b}}]',
    ],
    [
      'longer prefix first',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /api/v1}}]\n  route: [{destination: {host: b}}]\n- match: [{uri: {prefix: /api}}]\n  route: [{destination: {host: a}}]',
    ],
    [
      'same prefix, different method',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /api}, method: {exact: POST}}]\n  route: [{destination: {host: b}}]\n- match: [{uri: {prefix: /api/v1}}]\n  route: [{destination: {host: a}}]',
    ],
    [
      'prefix vs header-qualified match',
      'hosts: [a]\nhttp:\n- match: [{uri: {prefix: /api}, headers: {x: {exact: "1"}}}]\n  route: [{destination: {host: b}}]\n- match: [{uri: {prefix: /api/v1}}]\n  route: [{destination: {host: a}}]',
    ],
  ];
  it.each(good)('does not report: %s', (_t, body) => {
    expectClean(vs(body));
  });

  it('reports the common mistake once, on the second route only', () => {
    const out = validateText(
      vs(
        'hosts: [reviews]\nhttp:\n- route: [{destination: {host: reviews}}]\n- route: [{destination: {host: reviews}}]',
      ),
    );
    expect(out.map((d) => [d.code, d.level, d.field])).toEqual([['IST0130', 'warning', 'spec.http[1]']]);
  });
});
