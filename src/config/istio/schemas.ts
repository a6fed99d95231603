/**
 * Structural schemas (zod) for the Istio networking resources weir reads, one per kind, shared by the
 * `networking.istio.io` versions `v1alpha3`, `v1beta1` and `v1` (the latter two are generated aliases of
 * v1alpha3; istio/api `networking/v1/*_alias.gen.go`). They check shapes and types only, as the CRD's OpenAPI
 * schema does; Istio's webhook rules live in `config/validate/`. Objects are strict so that an unknown field is
 * reported (an error by default, as the API server's strict field validation; `config/schema-check.ts`). Every field
 * of Istio's CRDs (1.16 to master, every served version) is here: `test/unit/config/crd-fields.test.ts`.
 *
 * Field names and meanings mirror istio/api `networking/v1alpha3/virtual_service.proto`,
 * `destination_rule.proto`, `service_entry.proto`, `workload_entry.proto` and `gateway.proto`.
 */
import { z } from 'zod';

/** Message marker of integer fields' type errors (see resources.ts). */
export const INT_MARKER = 'expected-integer';

const str = z.string();
/** An integer; the marker message lets diagnostics say "expected an integer" (zod reports "number" for a string). */
const int = z.number({ error: () => INT_MARKER }).int({ error: () => INT_MARKER });
const num = z.number();
const bool = z.boolean();
const strMap = z.record(z.string(), z.string());
/** A duration as Istio writes it (`"1.5s"`, `"100ms"`, `"1m30s"`); parsed by `util/duration.ts`. */
const duration = z.string();

/** istio `StringMatch`: exactly one of `exact`, `prefix`, `regex` (RE2, full match). */
export const StringMatch = z.strictObject({ exact: str.optional(), prefix: str.optional(), regex: str.optional() });
export type StringMatch = z.infer<typeof StringMatch>;

/** istio `Percent`: `{value}` with a double in [0, 100]. */
export const Percent = z.strictObject({ value: num.optional() });
export type Percent = z.infer<typeof Percent>;

/** istio `PortSelector`. */
export const PortSelector = z.strictObject({ number: int.optional() });

/** istio `Destination`: a service host, an optional DestinationRule subset and port. */
export const Destination = z.strictObject({
  host: str.optional(),
  subset: str.optional(),
  port: PortSelector.optional(),
});
export type Destination = z.infer<typeof Destination>;

const HeaderOperations = z.strictObject({
  set: strMap.optional(),
  add: strMap.optional(),
  remove: z.array(str).optional(),
});
/** istio `Headers`: request and response header operations. */
export const Headers = z.strictObject({ request: HeaderOperations.optional(), response: HeaderOperations.optional() });
export type Headers = z.infer<typeof Headers>;
export type HeaderOperations = z.infer<typeof HeaderOperations>;

const StringMatchMap = z.record(z.string(), StringMatch.nullable());

/** istio `HTTPMatchRequest`: fields are AND-ed; the blocks of one route are OR-ed. */
export const HTTPMatchRequest = z.strictObject({
  name: str.optional(),
  uri: StringMatch.optional(),
  scheme: StringMatch.optional(),
  method: StringMatch.optional(),
  authority: StringMatch.optional(),
  headers: StringMatchMap.optional(),
  port: int.optional(),
  sourceLabels: strMap.optional(),
  gateways: z.array(str).optional(),
  queryParams: StringMatchMap.optional(),
  ignoreUriCase: bool.optional(),
  withoutHeaders: StringMatchMap.optional(),
  sourceNamespace: str.optional(),
  statPrefix: str.optional(),
});
export type HTTPMatchRequest = z.infer<typeof HTTPMatchRequest>;

/** istio `HTTPRouteDestination`: a destination with a relative weight. */
export const HTTPRouteDestination = z.strictObject({
  destination: Destination.optional(),
  weight: int.optional(),
  headers: Headers.optional(),
});
export type HTTPRouteDestination = z.infer<typeof HTTPRouteDestination>;

/** istio `HTTPRedirect`. `derivePort` is `FROM_PROTOCOL_DEFAULT` or `FROM_REQUEST_PORT`. */
export const HTTPRedirect = z.strictObject({
  uri: str.optional(),
  prefixRewrite: str.optional(),
  authority: str.optional(),
  port: int.optional(),
  derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
  scheme: str.optional(),
  redirectCode: int.optional(),
});
export type HTTPRedirect = z.infer<typeof HTTPRedirect>;

/** istio `HTTPDirectResponse`. */
export const HTTPDirectResponse = z.strictObject({
  status: int.optional(),
  body: z.strictObject({ string: str.optional(), bytes: str.optional() }).optional(),
});
export type HTTPDirectResponse = z.infer<typeof HTTPDirectResponse>;

/** istio `RegexRewrite`. */
export const RegexRewrite = z.strictObject({ match: str.optional(), rewrite: str.optional() });

/** istio `HTTPRewrite`. */
export const HTTPRewrite = z.strictObject({
  uri: str.optional(),
  authority: str.optional(),
  uriRegexRewrite: RegexRewrite.optional(),
});
export type HTTPRewrite = z.infer<typeof HTTPRewrite>;

/** istio `HTTPRetry`. */
export const HTTPRetry = z.strictObject({
  attempts: int.optional(),
  perTryTimeout: duration.optional(),
  retryOn: str.optional(),
  retryRemoteLocalities: bool.optional(),
  retryIgnorePreviousHosts: bool.optional(),
  backoff: duration.optional(),
});
export type HTTPRetry = z.infer<typeof HTTPRetry>;

/** istio `HTTPFaultInjection`. */
export const HTTPFaultInjection = z.strictObject({
  delay: z
    .strictObject({
      fixedDelay: duration.optional(),
      exponentialDelay: duration.optional(),
      percent: int.optional(),
      percentage: Percent.optional(),
    })
    .optional(),
  abort: z
    .strictObject({
      httpStatus: int.optional(),
      grpcStatus: str.optional(),
      http2Error: str.optional(),
      percentage: Percent.optional(),
    })
    .optional(),
});
export type HTTPFaultInjection = z.infer<typeof HTTPFaultInjection>;

/** istio `HTTPMirrorPolicy`. */
export const HTTPMirrorPolicy = z.strictObject({ destination: Destination.optional(), percentage: Percent.optional() });
export type HTTPMirrorPolicy = z.infer<typeof HTTPMirrorPolicy>;

/** istio `CorsPolicy`. */
export const CorsPolicy = z.strictObject({
  allowOrigin: z.array(str).optional(),
  allowOrigins: z.array(StringMatch).optional(),
  allowMethods: z.array(str).optional(),
  allowHeaders: z.array(str).optional(),
  exposeHeaders: z.array(str).optional(),
  maxAge: duration.optional(),
  allowCredentials: bool.optional(),
  unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional(),
});
export type CorsPolicy = z.infer<typeof CorsPolicy>;

/** istio `Delegate`. */
export const Delegate = z.strictObject({ name: str.optional(), namespace: str.optional() });

/** istio `HTTPRoute`: one ordered rule of a VirtualService. */
export const HTTPRoute = z.strictObject({
  name: str.optional(),
  match: z.array(HTTPMatchRequest.nullable()).optional(),
  route: z.array(HTTPRouteDestination).optional(),
  redirect: HTTPRedirect.optional(),
  directResponse: HTTPDirectResponse.optional(),
  delegate: Delegate.optional(),
  rewrite: HTTPRewrite.optional(),
  timeout: duration.optional(),
  retries: HTTPRetry.optional(),
  fault: HTTPFaultInjection.optional(),
  mirror: Destination.optional(),
  mirrors: z.array(HTTPMirrorPolicy).optional(),
  mirrorPercent: int.optional(),
  /**
   * The CRD's alternative name of `mirrorPercent` (istio/api `+kubebuilder:altName=mirror_percent`, the proto field
   * name). `resources.ts` moves it to `mirrorPercent`, so only the loader sees it.
   */
  mirror_percent: int.optional(),
  mirrorPercentage: Percent.optional(),
  corsPolicy: CorsPolicy.optional(),
  headers: Headers.optional(),
});
export type HTTPRoute = z.infer<typeof HTTPRoute>;

const RouteDestination = z.strictObject({ destination: Destination.optional(), weight: int.optional() });
/** istio `TLSRoute` (parsed for completeness; weir proxies HTTP). */
export const TLSRoute = z.strictObject({
  match: z
    .array(
      z.strictObject({
        sniHosts: z.array(str).optional(),
        destinationSubnets: z.array(str).optional(),
        port: int.optional(),
        sourceLabels: strMap.optional(),
        gateways: z.array(str).optional(),
        sourceNamespace: str.optional(),
      }),
    )
    .optional(),
  route: z.array(RouteDestination).optional(),
});
/** istio `TCPRoute` (parsed for completeness; weir proxies HTTP). */
export const TCPRoute = z.strictObject({
  match: z
    .array(
      z.strictObject({
        destinationSubnets: z.array(str).optional(),
        port: int.optional(),
        sourceSubnet: str.optional(),
        sourceLabels: strMap.optional(),
        gateways: z.array(str).optional(),
        sourceNamespace: str.optional(),
      }),
    )
    .optional(),
  route: z.array(RouteDestination).optional(),
});

/** istio `VirtualService.spec`. */
export const VirtualServiceSpec = z.strictObject({
  hosts: z.array(str).optional(),
  gateways: z.array(str).optional(),
  http: z.array(HTTPRoute.nullable()).optional(),
  tls: z.array(TLSRoute).optional(),
  tcp: z.array(TCPRoute).optional(),
  exportTo: z.array(str).optional(),
});
export type VirtualServiceSpec = z.infer<typeof VirtualServiceSpec>;

// ---------------------------------------------------------------- DestinationRule

/** istio `LoadBalancerSettings.ConsistentHashLB`. */
export const ConsistentHashLB = z.strictObject({
  httpHeaderName: str.optional(),
  httpCookie: z
    .strictObject({
      name: str.optional(),
      path: str.optional(),
      ttl: duration.optional(),
      attributes: z.array(z.strictObject({ name: str.optional(), value: str.optional() })).optional(),
    })
    .optional(),
  useSourceIp: bool.optional(),
  httpQueryParameterName: str.optional(),
  ringHash: z.strictObject({ minimumRingSize: int.optional() }).optional(),
  maglev: z.strictObject({ tableSize: int.optional() }).optional(),
  minimumRingSize: int.optional(),
});
export type ConsistentHashLB = z.infer<typeof ConsistentHashLB>;

/** istio `LocalityLoadBalancerSetting`. */
export const LocalityLbSetting = z.strictObject({
  distribute: z.array(z.strictObject({ from: str.optional(), to: z.record(z.string(), int).optional() })).optional(),
  failover: z.array(z.strictObject({ from: str.optional(), to: str.optional() })).optional(),
  failoverPriority: z.array(str).optional(),
  enabled: bool.optional(),
});
export type LocalityLbSetting = z.infer<typeof LocalityLbSetting>;

/** istio `ZoneAwareLoadBalancerSetting` (Istio master, after 1.30). Accepted, not applied (docs/compatibility.md). */
export const ZoneAwareLbSetting = z.strictObject({
  enabled: bool.optional(),
  failover: z.array(z.strictObject({ from: str.optional(), to: str.optional() })).optional(),
  failoverPriority: z.array(str).optional(),
  minClusterSize: int.optional(),
});

/**
 * istio `LoadBalancerSettings.BackendUtilizationLB` (Istio master, after 1.30: endpoints weighted by their ORCA load
 * reports). Accepted, not applied (docs/compatibility.md).
 */
export const BackendUtilizationLB = z.strictObject({
  errorUtilizationPenaltyPercent: int.optional(),
  metricNamesForComputingUtilization: z.array(str).optional(),
  weightExpirationPeriod: duration.optional(),
  weightStabilizationPeriod: duration.optional(),
  weightUpdatePeriod: duration.optional(),
});

/** istio `LoadBalancerSettings`. */
export const LoadBalancerSettings = z.strictObject({
  simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
  consistentHash: ConsistentHashLB.optional(),
  backendUtilization: BackendUtilizationLB.optional(),
  localityLbSetting: LocalityLbSetting.optional(),
  zoneAwareLbSetting: ZoneAwareLbSetting.optional(),
  warmupDurationSecs: duration.optional(),
  warmup: z
    .strictObject({ duration: duration.optional(), minimumPercent: num.optional(), aggression: num.optional() })
    .optional(),
});
export type LoadBalancerSettings = z.infer<typeof LoadBalancerSettings>;

/** istio `ConnectionPoolSettings` (Envoy circuit breakers). */
export const ConnectionPoolSettings = z.strictObject({
  tcp: z
    .strictObject({
      maxConnections: int.optional(),
      connectTimeout: duration.optional(),
      tcpKeepalive: z
        .strictObject({ probes: int.optional(), time: duration.optional(), interval: duration.optional() })
        .optional(),
      maxConnectionDuration: duration.optional(),
      idleTimeout: duration.optional(),
    })
    .optional(),
  http: z
    .strictObject({
      http1MaxPendingRequests: int.optional(),
      http2MaxRequests: int.optional(),
      maxRequestsPerConnection: int.optional(),
      maxRetries: int.optional(),
      idleTimeout: duration.optional(),
      h2UpgradePolicy: z.enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).optional(),
      useClientProtocol: bool.optional(),
      maxConcurrentStreams: int.optional(),
      /** Istio master (after 1.30): HTTP/2 PING keepalive; weir speaks HTTP/1.1 upstream, so it has no effect. */
      http2KeepAlive: z.strictObject({ interval: duration.optional(), timeout: duration.optional() }).optional(),
    })
    .optional(),
});
export type ConnectionPoolSettings = z.infer<typeof ConnectionPoolSettings>;

/** istio `OutlierDetection`. */
export const OutlierDetection = z.strictObject({
  splitExternalLocalOriginErrors: bool.optional(),
  consecutiveLocalOriginFailures: int.optional(),
  consecutiveGatewayErrors: int.optional(),
  consecutive5xxErrors: int.optional(),
  consecutiveErrors: int.optional(),
  interval: duration.optional(),
  baseEjectionTime: duration.optional(),
  maxEjectionPercent: int.optional(),
  minHealthPercent: int.optional(),
  /** Istio master (after 1.30): the HTTP statuses that count as errors. Accepted, not applied (5xx count). */
  outlierDetectionHttpErrorCodes: z.array(int).optional(),
});
export type OutlierDetection = z.infer<typeof OutlierDetection>;

/** istio `ClientTLSSettings`. */
export const ClientTLSSettings = z.strictObject({
  mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
  clientCertificate: str.optional(),
  privateKey: str.optional(),
  caCertificates: str.optional(),
  credentialName: str.optional(),
  subjectAltNames: z.array(str).optional(),
  sni: str.optional(),
  insecureSkipVerify: bool.optional(),
  caCrl: str.optional(),
});

/** istio `TrafficPolicy.PortTrafficPolicy`. */
export const PortTrafficPolicy = z.strictObject({
  port: PortSelector.optional(),
  loadBalancer: LoadBalancerSettings.optional(),
  connectionPool: ConnectionPoolSettings.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTLSSettings.optional(),
});
export type PortTrafficPolicy = z.infer<typeof PortTrafficPolicy>;

/** istio `TrafficPolicy`. */
export const TrafficPolicy = z.strictObject({
  loadBalancer: LoadBalancerSettings.optional(),
  connectionPool: ConnectionPoolSettings.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTLSSettings.optional(),
  portLevelSettings: z.array(PortTrafficPolicy).optional(),
  tunnel: z
    .strictObject({ protocol: str.optional(), targetHost: str.optional(), targetPort: int.optional() })
    .optional(),
  proxyProtocol: z.strictObject({ version: z.enum(['V1', 'V2']).optional() }).optional(),
  retryBudget: z
    .strictObject({
      /** A plain number in [0, 100] (protobuf `DoubleValue`), not a `Percent` object. */
      percent: num.optional(),
      minRetryConcurrency: int.optional(),
      budgetInterval: duration.optional(),
    })
    .optional(),
});
export type TrafficPolicy = z.infer<typeof TrafficPolicy>;

/** istio `Subset`: a named set of endpoints selected by labels, with an optional policy override. */
export const Subset = z.strictObject({
  name: str.optional(),
  labels: strMap.optional(),
  trafficPolicy: TrafficPolicy.optional(),
});
export type Subset = z.infer<typeof Subset>;

/** istio `DestinationRule.spec`. */
export const DestinationRuleSpec = z.strictObject({
  host: str.optional(),
  trafficPolicy: TrafficPolicy.optional(),
  subsets: z.array(Subset).optional(),
  exportTo: z.array(str).optional(),
  workloadSelector: z.strictObject({ matchLabels: strMap.optional() }).optional(),
});
export type DestinationRuleSpec = z.infer<typeof DestinationRuleSpec>;

// ---------------------------------------------------------------- Registry kinds

/** istio `WorkloadEntry.spec` (also the shape of a ServiceEntry endpoint). */
export const WorkloadEntrySpec = z.strictObject({
  address: str.optional(),
  ports: z.record(z.string(), int).optional(),
  labels: strMap.optional(),
  network: str.optional(),
  locality: str.optional(),
  weight: int.optional(),
  serviceAccount: str.optional(),
});
export type WorkloadEntrySpec = z.infer<typeof WorkloadEntrySpec>;

/** istio `ServicePort`. */
export const ServicePort = z.strictObject({
  number: int.optional(),
  protocol: str.optional(),
  name: str.optional(),
  targetPort: int.optional(),
});

/** istio `ServiceEntry.spec`. */
export const ServiceEntrySpec = z.strictObject({
  hosts: z.array(str).optional(),
  addresses: z.array(str).optional(),
  ports: z.array(ServicePort).optional(),
  location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
  /** `DYNAMIC_DNS` is Istio master's (after 1.30): wildcard hosts resolved per request by Envoy's dynamic forward proxy. */
  resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).optional(),
  endpoints: z.array(WorkloadEntrySpec).optional(),
  workloadSelector: z.strictObject({ labels: strMap.optional() }).optional(),
  exportTo: z.array(str).optional(),
  subjectAltNames: z.array(str).optional(),
});
export type ServiceEntrySpec = z.infer<typeof ServiceEntrySpec>;

const TLS_VERSION = z.enum(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']);

/** istio `ServerTLSSettings` (weir serves plaintext: checked, never applied). */
export const ServerTLSSettings = z.strictObject({
  httpsRedirect: bool.optional(),
  mode: z.enum(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']).optional(),
  serverCertificate: str.optional(),
  privateKey: str.optional(),
  caCertificates: str.optional(),
  caCrl: str.optional(),
  credentialName: str.optional(),
  credentialNames: z.array(str).optional(),
  caCertCredentialName: str.optional(),
  tlsCertificates: z
    .array(
      z.strictObject({ serverCertificate: str.optional(), privateKey: str.optional(), caCertificates: str.optional() }),
    )
    .optional(),
  subjectAltNames: z.array(str).optional(),
  verifyCertificateSpki: z.array(str).optional(),
  verifyCertificateHash: z.array(str).optional(),
  minProtocolVersion: TLS_VERSION.optional(),
  maxProtocolVersion: TLS_VERSION.optional(),
  cipherSuites: z.array(str).optional(),
  ecdhCurves: z.array(str).optional(),
  insecureSkipVerify: bool.optional(),
});

/** istio `Gateway.spec` (enough to resolve `gateways` references and server hosts). */
export const GatewaySpec = z.strictObject({
  selector: strMap.optional(),
  servers: z
    .array(
      z.strictObject({
        port: z
          .strictObject({
            number: int.optional(),
            protocol: str.optional(),
            name: str.optional(),
            targetPort: int.optional(),
          })
          .optional(),
        bind: str.optional(),
        hosts: z.array(str).optional(),
        tls: ServerTLSSettings.optional(),
        defaultEndpoint: str.optional(),
        name: str.optional(),
      }),
    )
    .optional(),
});
export type GatewaySpec = z.infer<typeof GatewaySpec>;

// ---------------------------------------------------------------- Kubernetes kinds (loose: only what weir reads)

const intOrString = z.union([int, str]);

/** Kubernetes `Service.spec` (v1): ports, targetPort and selector. */
export const K8sServiceSpec = z.looseObject({
  selector: strMap.optional(),
  ports: z
    .array(
      z.looseObject({
        name: str.optional(),
        port: int,
        targetPort: intOrString.optional(),
        protocol: str.optional(),
        appProtocol: str.optional(),
      }),
    )
    .optional(),
  clusterIP: str.optional(),
  type: str.optional(),
});
export type K8sServiceSpec = z.infer<typeof K8sServiceSpec>;

/** Kubernetes `Pod` fields weir reads: labels (metadata), container ports (spec) and `status.podIP`. */
export const K8sPodSpec = z.looseObject({
  containers: z
    .array(z.looseObject({ ports: z.array(z.looseObject({ name: str.optional(), containerPort: int })).optional() }))
    .optional(),
  nodeName: str.optional(),
});
export const K8sPodStatus = z.looseObject({
  podIP: str.optional(),
  podIPs: z.array(z.looseObject({ ip: str })).optional(),
});

/** Kubernetes `EndpointSlice` (discovery.k8s.io/v1). */
export const K8sEndpointSlice = z.looseObject({
  addressType: str.optional(),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(str),
        conditions: z
          .looseObject({
            ready: bool.nullable().optional(),
            serving: bool.nullable().optional(),
            terminating: bool.nullable().optional(),
          })
          .optional(),
        targetRef: z.looseObject({ kind: str.optional(), name: str.optional(), namespace: str.optional() }).optional(),
        zone: str.optional(),
      }),
    )
    .nullable()
    .optional(),
  ports: z
    .array(
      z.looseObject({ name: str.nullable().optional(), port: int.nullable().optional(), protocol: str.optional() }),
    )
    .nullable()
    .optional(),
});

/** The pod template of a Deployment, StatefulSet or DaemonSet (labels only, for analysis). */
export const K8sWorkloadSpec = z.looseObject({
  template: z.looseObject({ metadata: z.looseObject({ labels: strMap.optional() }).optional() }).optional(),
});

/** Kubernetes `ObjectMeta`, loose. */
export const ObjectMeta = z.looseObject({
  name: str.optional(),
  namespace: str.optional(),
  labels: strMap.optional(),
  annotations: strMap.optional(),
  creationTimestamp: z.union([str, z.date()]).optional(),
});
