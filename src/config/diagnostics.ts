/**
 * Diagnostics are data, not exceptions: every problem weir finds in a user's configuration is a
 * {@link Diagnostic} with a code from the catalog below, a level, and the position in the user's file.
 * Codes follow istioctl's message catalog (`IST0101`…, istio/istio `pkg/config/analysis/msg/messages.yaml`)
 * where Istio has one; codes of our own start with `WEIR`. See docs/diagnostics.md for the catalog with examples.
 */

/** Severity, in istioctl's order: an `error` is what istiod would reject or what cannot work. */
export type Level = 'error' | 'warning' | 'info';

/** The numeric rank of a level, for `--fail-on` comparisons (higher is more severe). */
export const LEVEL_RANK: Readonly<Record<Level, number>> = { info: 0, warning: 1, error: 2 };

/** A position in a source file; `line` and `column` are 1-based. `file` is `-` for stdin. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** Identifies the resource a diagnostic is about. */
export interface ResourceRef {
  kind: string;
  name: string;
  namespace: string;
}

/** One problem found in the configuration. */
export interface Diagnostic {
  level: Level;
  /** Catalog code: `IST0106`, `IST0101`, `WEIR0001`, … */
  code: string;
  message: string;
  /** The resource, or null for file-level problems such as unparsable YAML. */
  resource: ResourceRef | null;
  /** Field path in kubectl's JSONPath-like notation, e.g. `spec.http[1].route[0].weight`; empty for the whole resource. */
  field: string;
  /** Where in the user's file; null only when the input had no file (built in code). */
  position: SourcePosition | null;
}

/** A catalog entry: a stable code, its name (Istio's where Istio has one) and its default level. */
export interface CodeInfo {
  code: string;
  name: string;
  level: Level;
  summary: string;
}

/** Every code weir can emit. Istio's codes keep Istio's names and levels. */
export const CODES = {
  IST0101: {
    code: 'IST0101',
    name: 'ReferencedResourceNotFound',
    level: 'error',
    summary: 'A referenced host, subset or gateway does not exist',
  },
  IST0106: {
    code: 'IST0106',
    name: 'SchemaValidationError',
    level: 'error',
    summary: "istiod's admission webhook would reject the resource",
  },
  IST0109: {
    code: 'IST0109',
    name: 'ConflictingMeshGatewayVirtualServiceHosts',
    level: 'error',
    summary: 'Several mesh VirtualServices define the same host',
  },
  IST0112: {
    code: 'IST0112',
    name: 'VirtualServiceDestinationPortSelectorRequired',
    level: 'error',
    summary: 'The destination service has several ports and no destination port is set',
  },
  IST0130: {
    code: 'IST0130',
    name: 'VirtualServiceUnreachableRule',
    level: 'warning',
    summary: 'An HTTP route can never be reached',
  },
  IST0131: {
    code: 'IST0131',
    name: 'VirtualServiceIneffectiveMatch',
    level: 'info',
    summary: 'A match is covered by an earlier one',
  },
  IST0173: {
    code: 'IST0173',
    name: 'DestinationRuleSubsetNotSelectPods',
    level: 'error',
    summary: 'A subset selects no endpoint',
  },
  IST0174: {
    code: 'IST0174',
    name: 'UnknownDestinationRuleHost',
    level: 'warning',
    summary: 'The DestinationRule host matches no service',
  },
  IST0118: {
    code: 'IST0118',
    name: 'PortNameIsNotUnderNamingConvention',
    level: 'info',
    summary: 'A Service port name gives no protocol (Istio then sniffs the protocol)',
  },
  IST0128: {
    code: 'IST0128',
    name: 'NoServerCertificateVerificationDestinationLevel',
    level: 'warning',
    summary: 'DestinationRule TLS SIMPLE/MUTUAL without caCertificates: the server certificate is not verified',
  },
  IST0129: {
    code: 'IST0129',
    name: 'NoServerCertificateVerificationPortLevel',
    level: 'warning',
    summary: 'Port-level TLS SIMPLE/MUTUAL without caCertificates: the server certificate is not verified',
  },
  IST0132: {
    code: 'IST0132',
    name: 'VirtualServiceHostNotFoundInGateway',
    level: 'warning',
    summary: 'No host of the VirtualService is served by a Gateway it binds to',
  },
  IST0134: {
    code: 'IST0134',
    name: 'ServiceEntryAddressesRequired',
    level: 'warning',
    summary: 'A ServiceEntry with a TCP (or unset) protocol port has no addresses',
  },
  IST0140: {
    code: 'IST0140',
    name: 'IngressRouteRulesNotAffected',
    level: 'warning',
    summary: 'Subsets of a mesh VirtualService do not apply to requests routed by a gateway VirtualService',
  },
  IST0145: {
    code: 'IST0145',
    name: 'ConflictingGateways',
    level: 'error',
    summary: 'Gateways with the same workload selector and port define the same host',
  },
  IST0162: {
    code: 'IST0162',
    name: 'GatewayPortNotDefinedOnService',
    level: 'warning',
    summary: "A Gateway port is not exposed by the Service of the gateway's workload",
  },
  IST0165: {
    code: 'IST0165',
    name: 'ReferencedInternalGateway',
    level: 'warning',
    summary: 'A VirtualService names an implementation-generated internal Gateway',
  },
  IST0177: {
    code: 'IST0177',
    name: 'ConflictingServiceEntryProtocol',
    level: 'warning',
    summary: 'ServiceEntries define the same host and port with different protocols',
  },
  IST0002: { code: 'IST0002', name: 'Deprecated', level: 'warning', summary: 'A deprecated field is used' },
  WEIR0001: {
    code: 'WEIR0001',
    name: 'YamlSyntaxError',
    level: 'error',
    summary: 'The file is not valid YAML or JSON',
  },
  WEIR0002: {
    code: 'WEIR0002',
    name: 'UnknownField',
    level: 'error',
    summary:
      "A field the resource kind does not have: the API server's strict decoding refuses it (a warning with --validate=warn)",
  },
  WEIR0003: {
    code: 'WEIR0003',
    name: 'UnreadableInput',
    level: 'error',
    summary: 'A file could not be read or is not text',
  },
  WEIR0004: {
    code: 'WEIR0004',
    name: 'MissingIdentity',
    level: 'error',
    summary: 'A resource lacks apiVersion, kind or metadata.name',
  },
  WEIR0005: {
    code: 'WEIR0005',
    name: 'DuplicateResource',
    level: 'error',
    summary: 'The same kind, namespace and name is defined twice',
  },
  WEIR0006: {
    code: 'WEIR0006',
    name: 'NoResources',
    level: 'warning',
    summary: 'The input holds no resource of a kind weir reads (an empty folder or file)',
  },
  WEIR0010: {
    code: 'WEIR0010',
    name: 'ConsistentHashNotStickyAcrossSubsets',
    level: 'warning',
    summary: 'consistentHash does not keep a user on one subset of a weighted split',
  },
  WEIR0011: {
    code: 'WEIR0011',
    name: 'SkippedResource',
    level: 'info',
    summary: 'A resource kind weir does not use was skipped',
  },
  WEIR0012: {
    code: 'WEIR0012',
    name: 'RoundRobinWithWeightedEndpoints',
    level: 'info',
    summary: 'ROUND_ROBIN with weighted endpoints',
  },
  WEIR0020: {
    code: 'WEIR0020',
    name: 'InvalidCanary',
    level: 'error',
    summary: 'A Canary (weir.dev/v1alpha1) breaks a rule of its analysis, targets or webhooks',
  },
} as const satisfies Record<string, CodeInfo>;

/** A code of the catalog. */
export type Code = keyof typeof CODES;

/** Sorts diagnostics by file, line, column, then code, for stable output. Returns a new array. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => {
    const fa = a.position?.file ?? '';
    const fb = b.position?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    const la = a.position?.line ?? 0;
    const lb = b.position?.line ?? 0;
    if (la !== lb) return la - lb;
    const ca = a.position?.column ?? 0;
    const cb = b.position?.column ?? 0;
    if (ca !== cb) return ca - cb;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}

/** Formats a field path array (`['spec','http',1,'route']`) as `spec.http[1].route`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * Codes whose errors mean a resource (or file) would be refused outright — by the YAML parser, the API server's
 * schema and strict field validation, or istiod's admission webhook — as opposed to analyzer findings that Istio accepts and serves anyway.
 * `weir serve` refuses to start (and a reload is rejected) when any of these is an error.
 */
export const REJECTING_CODES: ReadonlySet<string> = new Set([
  'IST0106',
  'WEIR0001',
  'WEIR0002',
  'WEIR0003',
  'WEIR0004',
  'WEIR0005',
]);

/** True when the diagnostic means the configuration would be refused (see {@link REJECTING_CODES}). */
export function isRejection(d: Diagnostic): boolean {
  return d.level === 'error' && REJECTING_CODES.has(d.code);
}
