/**
 * istiod's admission-webhook rules for DestinationRule, reported at the offending field. Mirrors istio/istio
 * `pkg/config/validation/validation.go` (`ValidateDestinationRule`, `validateTrafficPolicy` and helpers) and
 * `pkg/config/validation/agent/validation.go` (`ValidateLocalityLbSetting`, `ValidateTLS`). Whether the host exists
 * or subsets select pods is left to the analyzers.
 */
import type * as S from '../istio/schemas.ts';
import type { DestinationRule } from '../resources.ts';
import {
  checkDuration,
  checkExportTo,
  checkLabels,
  checkSelectorLabels,
  isIPAddress,
  type Path,
  percentError,
  validateFQDN,
  validatePort,
  validateSubsetName,
  validateWildcardDomain,
} from './common.ts';
import type { Report } from './report.ts';

/** Most `portLevelSettings` entries a traffic policy may have (the CRD's `maxItems`). */
export const MAX_PORT_LEVEL_SETTINGS = 4096;

/** Maglev table sizes must be below this prime (istio `validateLoadBalancer`). */
export const MAGLEV_TABLE_SIZE_LIMIT = 5_000_011;

/**
 * Validates a DestinationRule as istiod's webhook does (istio `ValidateDestinationRule`): host, traffic policy,
 * subsets (unique DNS-1123 names, valid labels, their own policies), exportTo and workloadSelector.
 */
export function validateDestinationRule(dr: DestinationRule, report: Report): void {
  const spec = dr.spec;
  const hostErr = validateWildcardDomain(spec.host ?? '');
  if (hostErr) report(spec.host === undefined ? ['spec'] : ['spec', 'host'], hostErr);
  if (spec.trafficPolicy !== undefined) validateTrafficPolicy(report, ['spec', 'trafficPolicy'], spec.trafficPolicy);

  const names = new Set<string>();
  (spec.subsets ?? []).forEach((subset, i) => {
    const at: Path = ['spec', 'subsets', i];
    const name = subset.name ?? '';
    if (names.has(name)) report([...at, 'name'], `duplicate subset names: ${name}`);
    names.add(name);
    const nameErr = validateSubsetName(name);
    if (nameErr) report(subset.name === undefined ? at : [...at, 'name'], nameErr);
    checkLabels(report, [...at, 'labels'], subset.labels);
    if (subset.trafficPolicy !== undefined)
      validateTrafficPolicy(report, [...at, 'trafficPolicy'], subset.trafficPolicy);
  });

  checkExportTo(report, ['spec', 'exportTo'], dr.namespace, spec.exportTo, {
    isDestinationRuleWithSelector: spec.workloadSelector !== undefined,
  });
  if (spec.workloadSelector !== undefined) {
    checkSelectorLabels(
      report,
      ['spec', 'workloadSelector', 'matchLabels'],
      spec.workloadSelector.matchLabels,
      'workload selector specified without labels',
    );
  }
}

/**
 * istio `validateTrafficPolicy`: at least one field; `tunnel` excludes `proxyProtocol`; then each block. Exported
 * for reuse by other kinds that embed a TrafficPolicy.
 */
export function validateTrafficPolicy(report: Report, at: Path, p: S.TrafficPolicy): void {
  const hasAny =
    p.outlierDetection !== undefined ||
    p.connectionPool !== undefined ||
    p.loadBalancer !== undefined ||
    p.tls !== undefined ||
    (p.portLevelSettings ?? []).length > 0 ||
    p.tunnel !== undefined ||
    p.proxyProtocol !== undefined ||
    p.retryBudget !== undefined;
  if (!hasAny) {
    report(at, 'traffic policy must have at least one field');
    return;
  }
  if (p.tunnel !== undefined && p.proxyProtocol !== undefined) {
    report([...at, 'proxyProtocol'], 'tunnel and proxyProtocol must not be set together');
    return;
  }
  checkOutlierDetection(report, [...at, 'outlierDetection'], p.outlierDetection);
  checkConnectionPool(report, [...at, 'connectionPool'], p.connectionPool);
  checkLoadBalancer(report, [...at, 'loadBalancer'], p.loadBalancer, p.outlierDetection);
  checkClientTLS(report, [...at, 'tls'], p.tls);
  checkPortTrafficPolicies(report, [...at, 'portLevelSettings'], p.portLevelSettings);
  checkTunnel(report, [...at, 'tunnel'], p.tunnel);
}

/** istio `validatePortTrafficPolicies`, plus the CRD's limit of 4096 entries. */
function checkPortTrafficPolicies(report: Report, at: Path, list: S.PortTrafficPolicy[] | undefined): void {
  if (!list) return;
  if (list.length > MAX_PORT_LEVEL_SETTINGS) {
    report(at, `portLevelSettings must have at most ${MAX_PORT_LEVEL_SETTINGS} entries (it has ${list.length})`);
  }
  list.forEach((t, k) => {
    const p = [...at, k];
    if (t.port === undefined) report(p, 'portTrafficPolicy must have valid port');
    if (
      t.outlierDetection === undefined &&
      t.connectionPool === undefined &&
      t.loadBalancer === undefined &&
      t.tls === undefined
    ) {
      report(p, 'port traffic policy must have at least one field');
      return;
    }
    checkOutlierDetection(report, [...p, 'outlierDetection'], t.outlierDetection);
    checkConnectionPool(report, [...p, 'connectionPool'], t.connectionPool);
    checkLoadBalancer(report, [...p, 'loadBalancer'], t.loadBalancer, t.outlierDetection);
    checkClientTLS(report, [...p, 'tls'], t.tls);
  });
}

/** istio `validateTunnelSettings`. */
function checkTunnel(report: Report, at: Path, t: S.TrafficPolicy['tunnel']): void {
  if (!t) return;
  if (t.protocol && t.protocol !== 'CONNECT' && t.protocol !== 'POST')
    report([...at, 'protocol'], 'tunnel protocol must be "CONNECT" or "POST"');
  const target = t.targetHost ?? '';
  const fqdnErr = validateFQDN(target);
  if (fqdnErr && !isIPAddress(target)) {
    report(
      t.targetHost === undefined ? at : [...at, 'targetHost'],
      `tunnel target host must be valid FQDN or IP address: ${fqdnErr}; ${target} is not a valid IP`,
    );
  }
  const portErr = validatePort(t.targetPort ?? 0);
  if (portErr)
    report(t.targetPort === undefined ? at : [...at, 'targetPort'], `tunnel target port is invalid: ${portErr}`);
}

/** istio `validateOutlierDetection`. */
function checkOutlierDetection(report: Report, at: Path, o: S.OutlierDetection | undefined): void {
  if (!o) return;
  checkDuration(report, [...at, 'baseEjectionTime'], o.baseEjectionTime);
  if (o.consecutiveErrors !== undefined && o.consecutiveErrors !== 0) {
    report(
      [...at, 'consecutiveErrors'],
      'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead',
      {
        level: 'warning',
        code: 'IST0002',
        key: true,
      },
    );
  }
  if (!o.splitExternalLocalOriginErrors && (o.consecutiveLocalOriginFailures ?? 0) > 0) {
    report(
      [...at, 'consecutiveLocalOriginFailures'],
      'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false',
    );
  }
  checkDuration(report, [...at, 'interval'], o.interval);
  for (const field of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    const err = percentError(o[field] ?? 0);
    if (err) report([...at, field], err);
  }
  for (const field of ['consecutiveLocalOriginFailures', 'consecutiveGatewayErrors', 'consecutive5xxErrors'] as const) {
    const v = o[field];
    if (v !== undefined && v < 0) report([...at, field], `${field} must be non-negative (it is an unsigned integer)`);
  }
}

/** istio `validateConnectionPool`. */
function checkConnectionPool(report: Report, at: Path, c: S.ConnectionPoolSettings | undefined): void {
  if (!c) return;
  if (c.http === undefined && c.tcp === undefined) {
    report(at, 'connection pool must have at least one field');
    return;
  }
  const h = c.http;
  if (h) {
    const hp = [...at, 'http'];
    const negative: [keyof NonNullable<S.ConnectionPoolSettings['http']>, string][] = [
      ['http1MaxPendingRequests', 'http1 max pending requests must be non-negative'],
      ['http2MaxRequests', 'http2 max requests must be non-negative'],
      ['maxRequestsPerConnection', 'max requests per connection must be non-negative'],
      ['maxRetries', 'max retries must be non-negative'],
      ['maxConcurrentStreams', 'max concurrent streams must be non-negative'],
    ];
    for (const [field, msg] of negative) {
      const v = h[field];
      if (typeof v === 'number' && v < 0) report([...hp, field], msg);
    }
    checkDuration(report, [...hp, 'idleTimeout'], h.idleTimeout);
    if (h.h2UpgradePolicy === 'UPGRADE' && h.useClientProtocol) {
      report([...hp, 'useClientProtocol'], 'use client protocol must not be true when H2UpgradePolicy is UPGRADE');
    }
  }
  const t = c.tcp;
  if (t) {
    const tp = [...at, 'tcp'];
    if ((t.maxConnections ?? 0) < 0) report([...tp, 'maxConnections'], 'max connections must be non-negative');
    checkDuration(report, [...tp, 'connectTimeout'], t.connectTimeout);
    checkDuration(report, [...tp, 'maxConnectionDuration'], t.maxConnectionDuration);
    checkDuration(report, [...tp, 'idleTimeout'], t.idleTimeout, { allowZero: true });
    if (t.tcpKeepalive) {
      checkDuration(report, [...tp, 'tcpKeepalive', 'time'], t.tcpKeepalive.time);
      checkDuration(report, [...tp, 'tcpKeepalive', 'interval'], t.tcpKeepalive.interval);
    }
  }
}

/** Envoy's primality test, as istiod copies it (`isPrime`). */
function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

/** istio `validateLoadBalancer` (consistent hash, locality, warmup), plus the proto `oneof` exclusivity rules. */
function checkLoadBalancer(
  report: Report,
  at: Path,
  lb: S.LoadBalancerSettings | undefined,
  outlier: S.OutlierDetection | undefined,
): void {
  if (!lb) return;
  if (lb.simple !== undefined && lb.consistentHash !== undefined)
    report([...at, 'consistentHash'], 'only one of simple or consistentHash can be set');
  const ch = lb.consistentHash;
  if (ch) {
    const cp = [...at, 'consistentHash'];
    const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter(
      (k) => ch[k] !== undefined,
    );
    if (keys.length > 1) report(cp, `consistentHash may only use one hash key (got ${keys.join(', ')})`);
    const cookie = ch.httpCookie;
    if (cookie) {
      if (!cookie.name) report([...cp, 'httpCookie'], 'name required for HttpCookie');
      const attrNames = new Set<string>();
      (cookie.attributes ?? []).forEach((a, k) => {
        const ap = [...cp, 'httpCookie', 'attributes', k];
        const name = a.name ?? '';
        if (name === '') report(ap, 'cookie attribute name must not be empty');
        else if (attrNames.has(name)) report([...ap, 'name'], `duplicate cookie attribute name: ${name}`);
        attrNames.add(name);
      });
    }
    if (ch.minimumRingSize !== undefined && ch.minimumRingSize !== 0) {
      report(
        [...cp, 'minimumRingSize'],
        "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
        {
          level: 'warning',
          code: 'IST0002',
          key: true,
        },
      );
      if (ch.ringHash !== undefined || ch.maglev !== undefined)
        report([...cp, 'minimumRingSize'], 'only one of MinimumRingSize or Maglev/Ringhash can be specified');
    }
    if (ch.ringHash !== undefined && ch.maglev !== undefined)
      report([...cp, 'maglev'], 'only one of ringHash or maglev can be specified');
    if (ch.maglev) {
      const size = ch.maglev.tableSize ?? 0;
      const mp = ch.maglev.tableSize === undefined ? [...cp, 'maglev'] : [...cp, 'maglev', 'tableSize'];
      if (size === 0) report(mp, 'tableSize must be set for maglev');
      if (size >= MAGLEV_TABLE_SIZE_LIMIT)
        report(mp, `tableSize must be less than ${MAGLEV_TABLE_SIZE_LIMIT} for maglev`);
      if (!isPrime(size)) report(mp, 'tableSize must be a prime number for maglev');
    }
  }
  if (lb.localityLbSetting !== undefined && lb.zoneAwareLbSetting !== undefined) {
    report([...at, 'zoneAwareLbSetting'], 'only one of localityLbSetting or zoneAwareLbSetting can be set');
  }
  checkLocalityLbSetting(report, [...at, 'localityLbSetting'], lb.localityLbSetting, outlier);
  const w = lb.warmup;
  if (w) {
    const wp = [...at, 'warmup'];
    if (lb.warmupDurationSecs !== undefined) report(wp, 'only one of warmup or warmupDurationSecs can be set');
    if (w.duration === undefined) report(wp, 'duration is required');
    else checkDuration(report, [...wp, 'duration'], w.duration);
    if ((w.minimumPercent ?? 0) > 100)
      report([...wp, 'minimumPercent'], 'minimumPercent value should be less than or equal to 100');
    if (w.aggression !== undefined && w.aggression < 1)
      report([...wp, 'aggression'], 'aggression should be greater than or equal to 1');
  }
}

const REGION = 0;
const ZONE = 1;
const SUB_ZONE = 2;
const TOPOLOGY_LABELS = new Set([
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'topology.istio.io/subzone',
]);

/** istio `agent.ValidateLocalityLbSetting`: distribute weights, failover regions, no mixing. */
function checkLocalityLbSetting(
  report: Report,
  at: Path,
  lb: S.LocalityLbSetting | undefined,
  outlier: S.OutlierDetection | undefined,
): void {
  if (!lb) return;
  const distribute = lb.distribute ?? [];
  const failover = lb.failover ?? [];
  const priority = lb.failoverPriority ?? [];
  if (distribute.length > 0 && failover.length > 0) {
    report(at, "can not simultaneously specify 'distribute' and 'failover'");
    return;
  }
  if (failover.length > 0) {
    const k = priority.findIndex((l) => TOPOLOGY_LABELS.has(l));
    if (k >= 0) {
      report(
        [...at, 'failoverPriority', k],
        `can not simultaneously set 'failover' and topology label '${priority[k]}' in 'failover_priority'`,
      );
      return;
    }
  }
  for (let i = 0; i < distribute.length; i++) {
    const d = distribute[i]!;
    const dp = [...at, 'distribute', i];
    let total = 0;
    for (const [loc, weight] of Object.entries(d.to ?? {})) {
      if (weight <= 0 || weight > 100) {
        report([...dp, 'to', loc], 'locality weight must be in range [1, 100]');
        return;
      }
      total += weight;
    }
    if (total !== 100) {
      report([...dp, 'to'], `total locality weight ${total} != 100`);
      return;
    }
    const dests = Object.keys(d.to ?? {});
    const destErr = validateLocalities(dests);
    if (destErr) report([...dp, 'to', dests[destErr.index]!], destErr.message, { key: true });
  }
  const srcErr = validateLocalities(distribute.map((d) => d.from ?? ''));
  if (srcErr) report([...at, 'distribute', srcErr.index, 'from'], srcErr.message);
  if ((failover.length > 0 || priority.length > 0) && outlier === undefined) {
    report(at, 'outlier detection policy must be provided for failover', { level: 'warning' });
  }
  failover.forEach((f, k) => {
    const fp = [...at, 'failover', k];
    const from = f.from ?? '';
    const to = f.to ?? '';
    if (from === to) report(fp, 'locality lb failover settings must specify different regions');
    if (from.includes('/') || to.includes('/')) report(fp, 'locality lb failover only specify region');
    if (from.includes('*') || to.includes('*'))
      report(fp, "locality lb failover region should not contain '*' wildcard");
  });
}

/** istio `validateLocalities`: the first overlapping or malformed locality, with its index. */
function validateLocalities(localities: readonly string[]): { index: number; message: string } | null {
  const seen = new Map<string, Map<string, Set<string>>>();
  for (let i = 0; i < localities.length; i++) {
    const loc = localities[i]!;
    const fail = (message: string) => ({ index: i, message });
    const stars = loc.split('*').length - 1;
    if (stars > 0 && (stars > 1 || !loc.endsWith('*')))
      return fail(`locality ${loc} wildcard '*' number can not exceed 1 and must be in the end`);
    if (seen.has('*')) return fail(`locality ${loc} overlap with previous specified ones`);
    const items = splitN(loc, '/', 3);
    if (items.some((s) => s === '')) return fail(`locality ${loc} must not contain empty region/zone/subzone info`);
    const [region, zone = '', subZone = ''] = items as [string, string?, string?];
    const level = items.length - 1;
    const overlap = () => fail(`locality ${loc} overlap with previous specified ones`);
    const r = seen.get(region);
    if (level === REGION) {
      if (r) return overlap();
      seen.set(region, new Map([['*', new Set(['*'])]]));
    } else if (level === ZONE) {
      if (r) {
        if (r.has('*') || r.has(zone)) return overlap();
        r.set(zone, new Set(['*']));
      } else seen.set(region, new Map([[zone, new Set(['*'])]]));
    } else if (level === SUB_ZONE) {
      if (r) {
        if (r.has('*')) return overlap();
        const z = r.get(zone);
        if (z) {
          if (z.has('*') || z.has(subZone)) return overlap();
          z.add(subZone);
        } else r.set(zone, new Set([subZone]));
      } else seen.set(region, new Map([[zone, new Set([subZone])]]));
    }
  }
  return null;
}

function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

/** istio `agent.ValidateTLS` (client TLS settings). */
function checkClientTLS(report: Report, at: Path, t: S.TrafficPolicy['tls']): void {
  if (!t) return;
  if (t.insecureSkipVerify) {
    if (t.mode === 'SIMPLE' && (t.caCertificates || t.credentialName || t.subjectAltNames !== undefined)) {
      report(
        [...at, 'insecureSkipVerify'],
        'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true',
      );
    }
    if (t.mode === 'MUTUAL' && (t.caCertificates || t.subjectAltNames !== undefined)) {
      report(
        [...at, 'insecureSkipVerify'],
        'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true',
      );
    }
  }
  if ((t.mode === 'SIMPLE' || t.mode === 'MUTUAL') && t.credentialName) {
    if (t.clientCertificate || t.caCertificates || t.privateKey || t.caCrl) {
      report(
        [...at, 'credentialName'],
        'cannot specify client certificates or CA certificate or CA CRL If credentialName is set',
      );
    }
    return;
  }
  if (t.mode === 'MUTUAL') {
    if (!t.clientCertificate) report(at, 'client certificate required for mutual tls');
    if (!t.privateKey) report(at, 'private key required for mutual tls');
  }
}
