/**
 * Protocol selection for a Kubernetes Service port, as istiod does it (istio/istio `pkg/config/kube/conversion.go`
 * `ConvertProtocol`, `pkg/config/protocol/instance.go` `Parse`): `protocol: UDP` wins; then `appProtocol` (with
 * Kubernetes' `kubernetes.io/h2c`, `/ws`, `/wss`) or else the port name, whose prefix before the first `-` names
 * the protocol (`http`, `http-web`, `grpc-web…`, …, case-insensitive). An unknown prefix is `UnsupportedProtocol`
 * (Envoy then sniffs the protocol), except on the well-known ports 25, 53, 3306 and 27017, which are TCP.
 */

/** Istio's protocol names (`protocol.Instance`), plus `UnsupportedProtocol` for "sniff it". */
export type IstioProtocol =
  | 'GRPC'
  | 'GRPC-Web'
  | 'HTTP'
  | 'HTTP_PROXY'
  | 'HTTP2'
  | 'HTTPS'
  | 'TCP'
  | 'TLS'
  | 'UDP'
  | 'Mongo'
  | 'Redis'
  | 'MySQL'
  | 'UnsupportedProtocol';

const BY_PREFIX: Readonly<Record<string, IstioProtocol>> = {
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  http: 'HTTP',
  http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2',
  https: 'HTTPS',
  tls: 'TLS',
  mongo: 'Mongo',
  redis: 'Redis',
  mysql: 'MySQL',
};

/** Ports where a port without a recognisable name is TCP instead of sniffed (SMTP, DNS, MySQL, MongoDB). */
const WELL_KNOWN_TCP_PORTS: ReadonlySet<number> = new Set([25, 53, 3306, 27017]);

/**
 * The protocol istiod gives a Kubernetes Service port.
 * @param port the Service `port` number
 * @param name the port `name` (may be empty)
 * @param k8sProtocol the port `protocol` (`TCP`, `UDP`, `SCTP`; undefined when unset)
 * @param appProtocol the port `appProtocol`, undefined when unset (an empty string counts as set, as in Go)
 */
export function convertProtocol(
  port: number,
  name: string,
  k8sProtocol: string | undefined,
  appProtocol: string | undefined,
): IstioProtocol {
  if (k8sProtocol === 'UDP') return 'UDP';
  let n = name;
  if (appProtocol !== undefined) {
    n = appProtocol;
    if (n === 'kubernetes.io/h2c') return 'HTTP2';
    if (n === 'kubernetes.io/ws') return 'HTTP';
    if (n === 'kubernetes.io/wss') return 'HTTPS';
  }
  if (n.length >= 8 && n.slice(0, 8).toLowerCase() === 'grpc-web') return 'GRPC-Web';
  const dash = n.indexOf('-');
  const prefix = (dash >= 0 ? n.slice(0, dash) : n).toLowerCase();
  const p = BY_PREFIX[prefix] ?? 'UnsupportedProtocol';
  if (p === 'UnsupportedProtocol' && WELL_KNOWN_TCP_PORTS.has(port)) return 'TCP';
  return p;
}
