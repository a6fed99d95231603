/**
 * istiod's main admission-webhook rules for the registry kinds ServiceEntry and WorkloadEntry, and for Gateway
 * (servers, ports, hosts; not the detailed server TLS options). Mirrors istio/istio
 * `pkg/config/validation/validation.go` (`ValidateServiceEntry`, `ValidateWorkloadEntry`, `ValidateGateway`) and
 * `pkg/config/validation/agent/validation.go` (`ValidateNamespaceSlashWildcardHostname`).
 */
import type * as S from '../istio/schemas.ts';
import type { Gateway, ServiceEntry, WorkloadEntry } from '../resources.ts';
import {
  checkExportTo,
  checkLabels,
  checkSelectorLabels,
  isDNS1123Label,
  isHTTPProtocol,
  isIPAddress,
  isTCPProtocol,
  isTLSProtocol,
  type Path,
  parseProtocol,
  q,
  validateFQDN,
  validateIPAddress,
  validateIPSubnet,
  validatePartialWildcard,
  validatePort,
  validateUnixAddress,
  validateWildcardDomain,
} from './common.ts';
import type { Report } from './report.ts';

const UNIX_PREFIX = 'unix://';

/** istio `ValidatePortName`: a port name must be a DNS-1123 label. */
function portNameError(name: string): string | null {
  return isDNS1123Label(name) ? null : `invalid port name: ${name}`;
}

/** istio `ValidateProtocol`: empty (sniffing) or a known protocol. */
function protocolError(name: string): string | null {
  return name !== '' && parseProtocol(name) === null ? `unsupported protocol: ${name}` : null;
}

/**
 * `resolution: DYNAMIC_DNS` (Istio master, after 1.30; istio `ValidateServiceEntry`): wildcard hosts only, no
 * addresses or endpoints (the destination comes from the request's host), HTTP, TLS, GRPC or HTTP2 ports, and no
 * MESH_INTERNAL behind a waypoint. Messages are istiod's, missing spaces included.
 */
function checkDynamicDns(report: Report, se: ServiceEntry, resolution: string): void {
  const spec = se.spec;
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0)
    report(
      spec.hosts === undefined ? ['spec'] : ['spec', 'hosts'],
      `at least one wildcard host must be provided for resolution type ${resolution}`,
    );
  hosts.forEach((h, i) => {
    if (!h.startsWith('*')) report(['spec', 'hosts', i], `host must be wildcarded for resolution mode ${resolution}`);
  });
  if ((spec.addresses ?? []).length > 0)
    report(
      ['spec', 'addresses'],
      `addresses cannot be set for resolution type ${resolution}. HTTP route domains will only be generatedfrom the hosts field values`,
    );
  if ((spec.endpoints ?? []).length > 0)
    report(
      ['spec', 'endpoints'],
      `endpoints cannot be set for resolution type ${resolution}. Destination IP address determined from hostsfield values`,
    );
  (spec.ports ?? []).forEach((p, i) => {
    const proto = parseProtocol(p.protocol ?? '');
    if (proto !== 'HTTP' && proto !== 'TLS' && proto !== 'GRPC' && proto !== 'HTTP2')
      report(
        p.protocol === undefined ? ['spec', 'ports', i] : ['spec', 'ports', i, 'protocol'],
        `only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type ${resolution}`,
      );
  });
  const waypoint = se.labels['istio.io/use-waypoint'];
  if (
    spec.location === 'MESH_INTERNAL' &&
    waypoint !== undefined &&
    waypoint !== '' &&
    waypoint.toLowerCase() !== 'none'
  )
    report(
      ['spec', 'location'],
      `location MESH_INTERNAL with resolution type ${resolution} is not supported when using waypoints`,
    );
}

/**
 * Validates a ServiceEntry as istiod's webhook does (istio `ValidateServiceEntry`): hosts, addresses, ports,
 * resolution/endpoint consistency, endpoint addresses, ports and labels, workloadSelector and exportTo.
 */
export function validateServiceEntry(se: ServiceEntry, report: Report): void {
  const spec = se.spec;
  const hosts = spec.hosts ?? [];
  const addresses = spec.addresses ?? [];
  const ports = spec.ports ?? [];
  const endpoints = spec.endpoints ?? [];
  const resolution = spec.resolution ?? 'NONE';

  if (spec.workloadSelector !== undefined) {
    checkSelectorLabels(
      report,
      ['spec', 'workloadSelector', 'labels'],
      spec.workloadSelector.labels,
      'service entry: workload selector specified without labels, will be applied to all services in namespace',
    );
    if (endpoints.length > 0)
      report(['spec', 'endpoints'], 'only one of WorkloadSelector or Endpoints is allowed in Service Entry');
  }

  if (hosts.length === 0)
    report(spec.hosts === undefined ? ['spec'] : ['spec', 'hosts'], 'service entry must have at least one host');
  hosts.forEach((h, i) => {
    const at = ['spec', 'hosts', i];
    if (h === '*') {
      report(at, `invalid host ${h}`);
      return;
    }
    const err = validateWildcardDomain(h);
    if (err) report(at, err);
    // Partial wildcards are fine for DYNAMIC_DNS, whose hosts are patterns resolved per request.
    const partial = resolution === 'DYNAMIC_DNS' ? null : validatePartialWildcard(h);
    if (partial) report(at, partial, { level: 'warning' });
  });

  let cidrFound = false;
  addresses.forEach((a, i) => {
    cidrFound ||= a.includes('/');
    const err = validateIPSubnet(a);
    if (err) report(['spec', 'addresses', i], err);
  });
  if (cidrFound && resolution !== 'NONE' && resolution !== 'STATIC') {
    report(['spec', 'resolution'], 'CIDR addresses are allowed only for NONE/STATIC resolution types');
  }

  const portNames = new Set<string>();
  const portNumbers = new Set<number>();
  ports.forEach((p, i) => {
    const at: Path = ['spec', 'ports', i];
    const name = p.name ?? '';
    const number = p.number ?? 0;
    if (portNames.has(name)) report([...at, 'name'], `service entry port name ${q(name)} already defined`);
    portNames.add(name);
    if (portNumbers.has(number)) report([...at, 'number'], `service entry port ${number} already defined`);
    portNumbers.add(number);
    if (p.targetPort !== undefined && p.targetPort !== 0) {
      const err = validatePort(p.targetPort);
      if (err) report([...at, 'targetPort'], err);
    }
    const nameErr = portNameError(name);
    if (nameErr) report(p.name === undefined ? at : [...at, 'name'], nameErr);
    const protoErr = protocolError(p.protocol ?? '');
    if (protoErr) report([...at, 'protocol'], protoErr);
    const numErr = validatePort(number);
    if (numErr) report(p.number === undefined ? at : [...at, 'number'], numErr);
  });

  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0)
        report(['spec', 'endpoints'], 'no endpoints should be provided for resolution type none');
      if (spec.workloadSelector !== undefined)
        report(['spec', 'workloadSelector'], 'workloadSelector should not be set when resolution mode is NONE', {
          level: 'warning',
        });
      break;
    case 'STATIC':
      endpoints.forEach((ep, i) => {
        checkWorkloadEntrySpec(report, ['spec', 'endpoints', i], ep, portNames, false);
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        hosts.forEach((h, i) => {
          if (validateFQDN(h))
            report(
              ['spec', 'hosts', i],
              `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}`,
            );
        });
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        report(['spec', 'endpoints'], `there must only be 0 or 1 endpoint for resolution mode ${resolution}`);
      }
      endpoints.forEach((ep, i) => {
        const at: Path = ['spec', 'endpoints', i];
        const addr = ep.address ?? '';
        if (!isIPAddress(addr) && validateFQDN(addr)) {
          report(
            ep.address === undefined ? at : [...at, 'address'],
            `endpoint address ${q(addr)} is not a valid FQDN or an IP address`,
          );
        }
        checkLabels(report, [...at, 'labels'], ep.labels);
        checkEndpointPorts(report, [...at, 'ports'], ep.ports, portNames);
      });
      if (
        addresses.length > 0 &&
        hosts.length > 1 &&
        ports.some((p) => isTCPProtocol(parseProtocol(p.protocol ?? '')))
      ) {
        report(
          ['spec', 'hosts'],
          'service entry can not have more than one host specified simultaneously with address and tcp port',
          { level: 'warning' },
        );
      }
      break;
    case 'DYNAMIC_DNS':
      checkDynamicDns(report, se, resolution);
      break;
  }

  // With several hosts, plain TCP cannot tell them apart (unless resolution is NONE, where hosts are ignored).
  if (resolution !== 'NONE' && hosts.length > 1) {
    const k = ports.findIndex((p) => {
      const proto = parseProtocol(p.protocol ?? '');
      return !isHTTPProtocol(proto) && !isTLSProtocol(proto);
    });
    if (k >= 0) report(['spec', 'ports', k], 'multiple hosts provided with non-HTTP, non-TLS ports');
  }

  checkExportTo(report, ['spec', 'exportTo'], se.namespace, spec.exportTo, { isServiceEntry: true });
}

function checkEndpointPorts(
  report: Report,
  at: Path,
  ports: Record<string, number> | undefined,
  servicePorts: ReadonlySet<string> | null,
): void {
  for (const [name, port] of Object.entries(ports ?? {})) {
    const p = [...at, name];
    if (servicePorts && !servicePorts.has(name))
      report(p, `endpoint port ${port} is not defined by the service entry`, { key: true });
    const nameErr = portNameError(name);
    if (nameErr) report(p, nameErr, { key: true });
    const portErr = validatePort(port);
    if (portErr) report(p, portErr);
  }
}

/**
 * istio `validateWorkloadEntry`: address (IP, FQDN when allowed, or `unix://` path), ports against the
 * ServiceEntry's port names, labels.
 */
function checkWorkloadEntrySpec(
  report: Report,
  at: Path,
  we: S.WorkloadEntrySpec,
  servicePorts: ReadonlySet<string> | null,
  allowFQDN: boolean,
): void {
  const addr = we.address ?? '';
  if (addr === '') {
    if (!we.network) {
      report(at, 'address is required');
      return;
    }
    report(at, `address is unset with network ${q(we.network)}`, { level: 'warning' });
  }
  const unix = addr.startsWith(UNIX_PREFIX);
  if (unix) {
    const err = validateUnixAddress(addr.slice(UNIX_PREFIX.length));
    if (err) report([...at, 'address'], err);
    if (Object.keys(we.ports ?? {}).length > 0)
      report([...at, 'ports'], `unix endpoint ${addr} must not include ports`);
  } else if (addr !== '' && !isIPAddress(addr)) {
    if (!allowFQDN) report([...at, 'address'], `endpoint address ${q(addr)} is not a valid IP address`);
    else if (validateFQDN(addr))
      report([...at, 'address'], `endpoint address ${q(addr)} is not a valid FQDN or an IP address`);
  }
  checkEndpointPorts(report, [...at, 'ports'], we.ports, servicePorts);
  checkLabels(report, [...at, 'labels'], we.labels);
  if (unix && servicePorts && servicePorts.size !== 1) report(at, 'exactly 1 service port required for unix endpoints');
}

/** Validates a WorkloadEntry as istiod's webhook does (istio `ValidateWorkloadEntry`: address, ports, labels). */
export function validateWorkloadEntry(we: WorkloadEntry, report: Report): void {
  checkWorkloadEntrySpec(report, ['spec'], we.spec, null, true);
}

type Server = NonNullable<S.GatewaySpec['servers']>[number];

/**
 * Validates a Gateway as istiod's webhook does (istio `ValidateGateway`, `validateServer`, `validateServerPort`,
 * `validateServerBind`): a DNS-1123 name, at least one server, server hosts (`namespace/host` or `host`), ports
 * 1..65535 with a known protocol and a unique name, bind address, and whether TLS settings fit the protocol.
 * The details of server TLS options (certificates, cipher suites) are not checked.
 */
export function validateGateway(gw: Gateway, report: Report): void {
  const gatewaySemantics = gw.annotations['internal.istio.io/gateway-semantics'] === 'gateway';
  if (!isDNS1123Label(gw.name) && !gatewaySemantics)
    report(['metadata', 'name'], `invalid gateway name: ${q(gw.name)}`);
  const servers = gw.spec.servers ?? [];
  if (servers.length === 0)
    report(gw.spec.servers === undefined ? ['spec'] : ['spec', 'servers'], 'gateway must have at least one server');
  servers.forEach((s, i) => {
    checkServer(report, ['spec', 'servers', i], s, gatewaySemantics);
  });

  const names = new Set<string>();
  servers.forEach((s, i) => {
    if (!s.port) return;
    const name = s.port.name ?? '';
    if (names.has(name))
      report(['spec', 'servers', i, 'port', 'name'], `port names in servers must be unique: duplicate name ${name}`);
    names.add(name);
    const proto = parseProtocol(s.port.protocol ?? '');
    if (!isHTTPProtocol(proto) && s.tls?.httpsRedirect === true) {
      report(
        ['spec', 'servers', i, 'tls', 'httpsRedirect'],
        'tls.httpsRedirect should only be used with http servers',
        { level: 'warning' },
      );
    }
  });
}

function checkServer(report: Report, at: Path, s: Server, gatewaySemantics: boolean): void {
  const hosts = s.hosts ?? [];
  if (hosts.length === 0)
    report(s.hosts === undefined ? at : [...at, 'hosts'], 'server config must contain at least one host');
  hosts.forEach((h, k) => {
    for (const err of gatewayHostErrors(h, gatewaySemantics)) report([...at, 'hosts', k], err);
  });

  const bind = s.bind ?? '';
  let portOk = false;
  const port = s.port;
  if (!port) report(at, 'port is required');
  else {
    const pp = [...at, 'port'];
    const before = portErrors(port, bind);
    for (const [field, msg] of before) report(field ? [...pp, field] : pp, msg);
    portOk = before.length === 0;
  }
  if (bind.startsWith(UNIX_PREFIX)) {
    const err = validateUnixAddress(bind.slice(UNIX_PREFIX.length));
    if (err) report([...at, 'bind'], err);
    if (port && (port.number ?? 0) !== 0)
      report([...at, 'port', 'number'], 'port number must be 0 for unix domain socket');
  } else if (bind !== '') {
    const err = validateIPAddress(bind);
    if (err) report([...at, 'bind'], err);
  }

  if (portOk && port) {
    const proto = parseProtocol(port.protocol ?? '');
    const tls = s.tls;
    if (isTLSProtocol(proto) && tls === undefined) report(at, 'server must have TLS settings for HTTPS/TLS protocols');
    else if (!isTLSProtocol(proto) && tls !== undefined) {
      if (isHTTPProtocol(proto)) {
        const mode = tls.mode ?? 'PASSTHROUGH';
        const passthrough = mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
        if (!passthrough || tls.caCertificates || tls.privateKey || tls.serverCertificate) {
          report([...at, 'tls'], 'server cannot have TLS settings for plain text HTTP ports');
        }
      } else {
        report([...at, 'tls'], 'server cannot have TLS settings for non HTTPS/TLS ports');
      }
    }
  }
}

/** istio `validateServerPort`: errors as (sub-field, message) pairs. */
function portErrors(port: NonNullable<Server['port']>, bind: string): [string | null, string][] {
  const out: [string | null, string][] = [];
  const proto = port.protocol ?? '';
  if (parseProtocol(proto) === null) {
    out.push([
      'protocol',
      `invalid protocol ${q(proto)}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`,
    ]);
  }
  const number = port.number ?? 0;
  if (number > 0 || !bind.startsWith(UNIX_PREFIX)) {
    const err = validatePort(number);
    if (err) out.push([port.number === undefined ? null : 'number', err]);
  }
  if ((port.targetPort ?? 0) > 0) out.push(['targetPort', 'targetPort has no impact on Gateways']);
  if (!port.name) out.push([null, 'port name must be set']);
  return out;
}

/** istio `agent.ValidateNamespaceSlashWildcardHostname` for gateways (`isGateway = true`). */
function gatewayHostErrors(host: string, gatewaySemantics: boolean): string[] {
  const slash = host.indexOf('/');
  if (slash < 0) return hostnamePartErrors(host);
  const errs: string[] = [];
  const ns = host.slice(0, slash);
  const name = host.slice(slash + 1);
  if (ns === '' || name === '') errs.push('config namespace and dnsName in host entry cannot be empty');
  if (ns !== '*' && ns !== '.' && (ns !== '~' || !gatewaySemantics) && !isDNS1123Label(ns))
    errs.push(`invalid namespace value ${q(ns)} in gateway`);
  return [...errs, ...hostnamePartErrors(name)];
}

/** istio `validateSidecarOrGatewayHostnamePart` for gateways: FQDN or wildcard (or IP), no short names. */
function hostnamePartErrors(host: string): string[] {
  const errs: string[] = [];
  if (host !== '*' && !host.includes('.')) errs.push('short names (non FQDN) are not allowed');
  const err = validateWildcardDomain(host);
  if (err && !isIPAddress(host)) errs.push(err);
  const partial = validatePartialWildcard(host);
  if (partial) errs.push(partial);
  return errs;
}
