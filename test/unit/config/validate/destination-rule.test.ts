import { describe, it } from 'vitest';
import { type Expected, expectClean, expectDiagnostic, resource } from '../../../helpers/validate.ts';

const dr = (body: string) => resource('DestinationRule', body);
/** The spec body of a DR for host `reviews` whose trafficPolicy is `policy` (indented under `trafficPolicy:`). */
const tp = (policy: string) => `host: reviews\ntrafficPolicy:\n  ${policy.split('\n').join('\n  ')}`;

/** [title, spec body, message fragment, field path users see, expectations]; the marker designates the position. */
type Bad = [string, string, string, string, Expected?];
type Good = [string, string];

describe('validateDestinationRule', () => {
  const bad: Bad[] = [
    ['invalid host', 'host: bad_host #=', 'domain name "bad_host" invalid (label "bad_host" invalid)', 'spec.host'],
    ['wildcard inside the host', 'host: "a.*.com" #=', 'domain name "*.com" invalid (label "*" invalid)', 'spec.host'],
    ['missing host', 'subsets: [{name: v1}] #^', 'empty domain name not allowed', 'spec'],
    [
      'empty trafficPolicy',
      'host: reviews\ntrafficPolicy: {} #=',
      'traffic policy must have at least one field',
      'spec.trafficPolicy',
    ],
    [
      'empty subset trafficPolicy',
      'host: reviews\nsubsets:\n- name: v1\n  trafficPolicy: {} #=',
      'traffic policy must have at least one field',
      'spec.subsets[0].trafficPolicy',
    ],
    [
      'tunnel with proxyProtocol',
      tp('tunnel: {targetHost: a.com, targetPort: 443}\nproxyProtocol: {version: V1} #='),
      'tunnel and proxyProtocol must not be set together',
      'spec.trafficPolicy.proxyProtocol',
    ],
    [
      'tunnel protocol',
      tp('tunnel:\n  protocol: GET #=\n  targetHost: a.com\n  targetPort: 443'),
      'tunnel protocol must be "CONNECT" or "POST"',
      'spec.trafficPolicy.tunnel.protocol',
    ],
    [
      'tunnel target port',
      tp('tunnel:\n  targetHost: a.com\n  targetPort: 0 #='),
      'tunnel target port is invalid: port number 0 must be in the range 1..65535',
      'spec.trafficPolicy.tunnel.targetPort',
    ],
    [
      'empty connectionPool',
      tp('connectionPool: {} #='),
      'connection pool must have at least one field',
      'spec.trafficPolicy.connectionPool',
    ],
    [
      'negative maxConnections',
      tp('connectionPool:\n  tcp:\n    maxConnections: -1 #='),
      'max connections must be non-negative',
      'spec.trafficPolicy.connectionPool.tcp.maxConnections',
    ],
    [
      'negative http1MaxPendingRequests',
      tp('connectionPool:\n  http:\n    http1MaxPendingRequests: -1 #='),
      'http1 max pending requests must be non-negative',
      'spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests',
    ],
    [
      'negative http2MaxRequests',
      tp('connectionPool:\n  http:\n    http2MaxRequests: -1 #='),
      'http2 max requests must be non-negative',
      'spec.trafficPolicy.connectionPool.http.http2MaxRequests',
    ],
    [
      'negative maxRequestsPerConnection',
      tp('connectionPool:\n  http:\n    maxRequestsPerConnection: -1 #='),
      'max requests per connection must be non-negative',
      'spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection',
    ],
    [
      'negative maxRetries',
      tp('connectionPool:\n  http:\n    maxRetries: -1 #='),
      'max retries must be non-negative',
      'spec.trafficPolicy.connectionPool.http.maxRetries',
    ],
    [
      'negative maxConcurrentStreams',
      tp('connectionPool:\n  http:\n    maxConcurrentStreams: -1 #='),
      'max concurrent streams must be non-negative',
      'spec.trafficPolicy.connectionPool.http.maxConcurrentStreams',
    ],
    [
      'UPGRADE with useClientProtocol',
      tp('connectionPool:\n  http:\n    h2UpgradePolicy: UPGRADE\n    useClientProtocol: true #='),
      'use client protocol must not be true when H2UpgradePolicy is UPGRADE',
      'spec.trafficPolicy.connectionPool.http.useClientProtocol',
    ],
    [
      'connectTimeout 0s',
      tp('connectionPool:\n  tcp:\n    connectTimeout: 0s #='),
      'duration must be greater than 1ms',
      'spec.trafficPolicy.connectionPool.tcp.connectTimeout',
    ],
    [
      'tcp idleTimeout below ms precision',
      tp('connectionPool:\n  tcp:\n    idleTimeout: 1.5ms #='),
      'only durations to ms precision are supported',
      'spec.trafficPolicy.connectionPool.tcp.idleTimeout',
    ],
    [
      'http idleTimeout 0s',
      tp('connectionPool:\n  http:\n    idleTimeout: 0s #='),
      'duration must be greater than 1ms',
      'spec.trafficPolicy.connectionPool.http.idleTimeout',
    ],
    [
      'tcpKeepalive interval',
      tp('connectionPool:\n  tcp:\n    tcpKeepalive:\n      interval: 0s #='),
      'duration must be greater than 1ms',
      'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.interval',
    ],
    [
      'maxEjectionPercent > 100',
      tp('outlierDetection:\n  maxEjectionPercent: 101 #='),
      'percentage 101 is not in range 0..100',
      'spec.trafficPolicy.outlierDetection.maxEjectionPercent',
    ],
    [
      'minHealthPercent < 0',
      tp('outlierDetection:\n  minHealthPercent: -1 #='),
      'percentage -1 is not in range 0..100',
      'spec.trafficPolicy.outlierDetection.minHealthPercent',
    ],
    [
      'local-origin failures without split mode',
      tp('outlierDetection:\n  consecutiveLocalOriginFailures: 5 #='),
      'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false',
      'spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures',
    ],
    [
      'consecutiveErrors is deprecated',
      tp('outlierDetection:\n  consecutiveErrors: 5 #^'),
      'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead',
      'spec.trafficPolicy.outlierDetection.consecutiveErrors',
      { level: 'warning', code: 'IST0002' },
    ],
    [
      'outlier interval 0s',
      tp('outlierDetection:\n  interval: 0s #='),
      'duration must be greater than 1ms',
      'spec.trafficPolicy.outlierDetection.interval',
    ],
    [
      'baseEjectionTime below ms precision',
      tp('outlierDetection:\n  baseEjectionTime: 30.0001s #='),
      'only durations to ms precision are supported',
      'spec.trafficPolicy.outlierDetection.baseEjectionTime',
    ],
    [
      'httpCookie without name',
      tp('loadBalancer:\n  consistentHash:\n    httpCookie: {ttl: 0s} #='),
      'name required for HttpCookie',
      'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie',
    ],
    [
      'duplicate cookie attribute',
      tp(
        'loadBalancer:\n  consistentHash:\n    httpCookie:\n      name: s\n      attributes:\n      - {name: SameSite, value: Lax}\n      - name: SameSite #=',
      ),
      'duplicate cookie attribute name: SameSite',
      'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name',
    ],
    [
      'empty cookie attribute name',
      tp('loadBalancer:\n  consistentHash:\n    httpCookie:\n      name: s\n      attributes:\n      - value: Lax #-'),
      'cookie attribute name must not be empty',
      'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[0]',
    ],
    [
      'two hash keys',
      tp('loadBalancer:\n  consistentHash:\n    httpHeaderName: x-user #^\n    useSourceIp: true'),
      'consistentHash may only use one hash key (got httpHeaderName, useSourceIp)',
      'spec.trafficPolicy.loadBalancer.consistentHash',
    ],
    [
      'simple with consistentHash',
      tp('loadBalancer:\n  simple: ROUND_ROBIN\n  consistentHash:\n    useSourceIp: true #^'),
      'only one of simple or consistentHash can be set',
      'spec.trafficPolicy.loadBalancer.consistentHash',
    ],
    [
      'maglev tableSize 0',
      tp('loadBalancer:\n  consistentHash:\n    useSourceIp: true\n    maglev:\n      tableSize: 0 #='),
      'tableSize must be set for maglev',
      'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize',
    ],
    [
      'maglev tableSize not prime',
      tp('loadBalancer:\n  consistentHash:\n    useSourceIp: true\n    maglev:\n      tableSize: 65536 #='),
      'tableSize must be a prime number for maglev',
      'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize',
    ],
    [
      'maglev tableSize too large',
      tp('loadBalancer:\n  consistentHash:\n    useSourceIp: true\n    maglev:\n      tableSize: 5000011 #='),
      'tableSize must be less than 5000011 for maglev',
      'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize',
    ],
    [
      'minimumRingSize with ringHash',
      tp(
        'loadBalancer:\n  consistentHash:\n    useSourceIp: true\n    ringHash: {minimumRingSize: 1024}\n    minimumRingSize: 1024 #=',
      ),
      'only one of MinimumRingSize or Maglev/Ringhash can be specified',
      'spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize',
    ],
    [
      'minimumRingSize is deprecated',
      tp('loadBalancer:\n  consistentHash:\n    useSourceIp: true\n    minimumRingSize: 1024 #^'),
      'consistent hash MinimumRingSize is deprecated',
      'spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize',
      { level: 'warning', code: 'IST0002' },
    ],
    [
      'localityLbSetting with zoneAwareLbSetting',
      tp('loadBalancer:\n  localityLbSetting: {enabled: true}\n  zoneAwareLbSetting: {} #='),
      'only one of localityLbSetting or zoneAwareLbSetting can be set',
      'spec.trafficPolicy.loadBalancer.zoneAwareLbSetting',
    ],
    [
      'distribute with failover',
      tp(
        'outlierDetection: {consecutive5xxErrors: 5}\nloadBalancer:\n  localityLbSetting:\n    distribute: [{from: a/*, to: {"a/*": 100}}] #^\n    failover: [{from: a, to: b}]',
      ),
      "can not simultaneously specify 'distribute' and 'failover'",
      'spec.trafficPolicy.loadBalancer.localityLbSetting',
    ],
    [
      'distribute weights not summing to 100',
      tp(
        'loadBalancer:\n  localityLbSetting:\n    distribute:\n    - from: us-east/*\n      to:\n        "us-east/*": 80 #^\n        "us-west/*": 10',
      ),
      'total locality weight 90 != 100',
      'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to',
    ],
    [
      'distribute weight out of range',
      tp(
        'loadBalancer:\n  localityLbSetting:\n    distribute:\n    - from: us-east/*\n      to:\n        "us-east/*": 0 #=',
      ),
      'locality weight must be in range [1, 100]',
      'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to["us-east/*"]',
    ],
    [
      'overlapping distribute sources',
      tp(
        'loadBalancer:\n  localityLbSetting:\n    distribute:\n    - {from: "us-east/*", to: {"us-east/*": 100}}\n    - from: us-east/zone1 #=\n      to: {"us-east/*": 100}',
      ),
      'locality us-east/zone1 overlap with previous specified ones',
      'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].from',
    ],
    [
      'failover to the same region',
      tp(
        'outlierDetection: {consecutive5xxErrors: 5}\nloadBalancer:\n  localityLbSetting:\n    failover:\n    - {from: us-east, to: us-east} #-',
      ),
      'locality lb failover settings must specify different regions',
      'spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]',
    ],
    [
      'failover with a zone',
      tp(
        'outlierDetection: {consecutive5xxErrors: 5}\nloadBalancer:\n  localityLbSetting:\n    failover:\n    - {from: us-east/z1, to: us-west} #-',
      ),
      'locality lb failover only specify region',
      'spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]',
    ],
    [
      'failover without outlierDetection (warning)',
      tp('loadBalancer:\n  localityLbSetting:\n    failover: [{from: us-east, to: us-west}] #^'),
      'outlier detection policy must be provided for failover',
      'spec.trafficPolicy.loadBalancer.localityLbSetting',
      { level: 'warning' },
    ],
    [
      'failover with a topology failoverPriority',
      tp(
        'outlierDetection: {consecutive5xxErrors: 5}\nloadBalancer:\n  localityLbSetting:\n    failover: [{from: us-east, to: us-west}]\n    failoverPriority:\n    - topology.kubernetes.io/zone #-',
      ),
      "can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/zone'",
      'spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[0]',
    ],
    [
      'warmup without duration',
      tp('loadBalancer:\n  warmup: {minimumPercent: 10} #='),
      'duration is required',
      'spec.trafficPolicy.loadBalancer.warmup',
    ],
    [
      'warmup minimumPercent > 100',
      tp('loadBalancer:\n  warmup:\n    duration: 60s\n    minimumPercent: 101 #='),
      'minimumPercent value should be less than or equal to 100',
      'spec.trafficPolicy.loadBalancer.warmup.minimumPercent',
    ],
    [
      'warmup aggression < 1',
      tp('loadBalancer:\n  warmup:\n    duration: 60s\n    aggression: 0.5 #='),
      'aggression should be greater than or equal to 1',
      'spec.trafficPolicy.loadBalancer.warmup.aggression',
    ],
    [
      'warmup with warmupDurationSecs',
      tp('loadBalancer:\n  warmupDurationSecs: 60s\n  warmup: {duration: 60s} #='),
      'only one of warmup or warmupDurationSecs can be set',
      'spec.trafficPolicy.loadBalancer.warmup',
    ],
    [
      'MUTUAL TLS without certificates',
      tp('tls: {mode: MUTUAL} #='),
      'client certificate required for mutual tls',
      'spec.trafficPolicy.tls',
    ],
    [
      'port-level entry without port',
      tp('portLevelSettings:\n- connectionPool: {tcp: {maxConnections: 1}} #-'),
      'portTrafficPolicy must have valid port',
      'spec.trafficPolicy.portLevelSettings[0]',
    ],
    [
      'port-level entry without fields',
      tp('portLevelSettings:\n- port: {number: 80} #-'),
      'port traffic policy must have at least one field',
      'spec.trafficPolicy.portLevelSettings[0]',
    ],
    [
      'port-level entries beyond 4096',
      tp(
        `portLevelSettings: [${Array.from({ length: 4097 }, (_, i) => `{port: {number: ${i + 1}}, tls: {mode: DISABLE}}`).join(', ')}] #=`,
      ),
      'portLevelSettings must have at most 4096 entries (it has 4097)',
      'spec.trafficPolicy.portLevelSettings',
    ],
    [
      'port-level pool validated',
      tp('portLevelSettings:\n- port: {number: 80}\n  connectionPool: {} #='),
      'connection pool must have at least one field',
      'spec.trafficPolicy.portLevelSettings[0].connectionPool',
    ],
    [
      'duplicate subset names',
      'host: reviews\nsubsets:\n- name: v1\n- name: v1 #=',
      'duplicate subset names: v1',
      'spec.subsets[1].name',
    ],
    [
      'subset name not a DNS-1123 label',
      'host: reviews\nsubsets:\n- name: V1_0 #=',
      'subset name is invalid: V1_0',
      'spec.subsets[0].name',
    ],
    [
      'subset without name',
      'host: reviews\nsubsets:\n- labels: {version: v1} #-',
      'subset name cannot be empty',
      'spec.subsets[0]',
    ],
    [
      'invalid subset label key',
      'host: reviews\nsubsets:\n- name: v1\n  labels:\n    "bad key": v1 #^',
      'invalid tag key: "bad key"',
      'spec.subsets[0].labels["bad key"]',
    ],
    [
      'invalid subset label value',
      'host: reviews\nsubsets:\n- name: v1\n  labels:\n    version: "-v1" #=',
      'invalid tag value: "-v1"',
      'spec.subsets[0].labels.version',
    ],
    [
      'workloadSelector DR exported elsewhere',
      'host: reviews\nworkloadSelector: {matchLabels: {app: a}}\nexportTo: [other] #=',
      'destination rule with workload selector cannot have exportTo beyond current namespace',
      'spec.exportTo',
    ],
    [
      'workloadSelector DR exported twice',
      'host: reviews\nworkloadSelector: {matchLabels: {app: a}}\nexportTo: [".", other] #=',
      'destination rule with workload selector cannot have multiple entries in exportTo',
      'spec.exportTo',
    ],
    [
      'workloadSelector with a wildcard',
      'host: reviews\nworkloadSelector:\n  matchLabels:\n    app: "a*" #=',
      'wildcard is not supported in selector: "app=a*"',
      'spec.workloadSelector.matchLabels.app',
    ],
    [
      'exportTo * with others',
      'host: reviews\nexportTo: ["*", other] #=',
      'cannot have both public (*) and non-public exportTo values',
      'spec.exportTo',
    ],
  ];
  it.each(bad)('rejects: %s', (_t, body, msg, field, opts) => {
    expectDiagnostic(dr(body), msg, field, opts);
  });

  const good: Good[] = [
    ['FQDN host', 'host: reviews.prod.svc.cluster.local'],
    ['wildcard host', 'host: "*.example.com"'],
    ['trafficPolicy with one field', 'host: reviews\ntrafficPolicy: {tls: {mode: ISTIO_MUTUAL}}'],
    [
      'tunnel alone',
      'host: reviews\ntrafficPolicy: {tunnel: {protocol: CONNECT, targetHost: 10.0.0.1, targetPort: 8443}}',
    ],
    ['proxyProtocol alone', 'host: reviews\ntrafficPolicy: {proxyProtocol: {version: V2}}'],
    [
      'connection pool values',
      'host: reviews\ntrafficPolicy: {connectionPool: {tcp: {maxConnections: 0, connectTimeout: 1ms, idleTimeout: 0s, tcpKeepalive: {time: 7200s, interval: 75s}}, http: {http1MaxPendingRequests: 0, maxRetries: 3, idleTimeout: 1h, h2UpgradePolicy: UPGRADE}}}',
    ],
    [
      'outlier detection',
      'host: reviews\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100, minHealthPercent: 0, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 3}}',
    ],
    [
      'consistent hash cookie',
      'host: reviews\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 0s, attributes: [{name: SameSite, value: Lax}, {name: Secure}]}}}}',
    ],
    [
      'maglev prime below the limit',
      'host: reviews\ntrafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}}',
    ],
    [
      'ringHash',
      'host: reviews\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 1024}}}}',
    ],
    [
      'locality distribute summing to 100',
      'host: reviews\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: "us-east/*", to: {"us-east/*": 80, "us-west/*": 20}}]}}}',
    ],
    [
      'locality failover with outlier detection',
      'host: reviews\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: us-west}]}}}',
    ],
    [
      'warmup',
      'host: reviews\ntrafficPolicy: {loadBalancer: {warmup: {duration: 60s, minimumPercent: 100, aggression: 1}}}',
    ],
    [
      'port-level settings',
      'host: reviews\ntrafficPolicy: {portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: RANDOM}}]}',
    ],
    [
      'subsets',
      'host: reviews\nsubsets: [{name: v1, labels: {version: v1, app.kubernetes.io/name: reviews}}, {name: v2-canary, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}]',
    ],
    [
      'workloadSelector DR in its namespace',
      'host: reviews\nworkloadSelector: {matchLabels: {app: a}}\nexportTo: ["."]',
    ],
  ];
  it.each(good)('accepts: %s', (_t, body) => {
    expectClean(dr(body));
  });
});
