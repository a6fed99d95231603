/**
 * Every response weir makes itself (no upstream response to relay): status, Envoy response flag and Envoy's body
 * text, so that clients, access logs and metrics see what they would see from Envoy (istio-semantics §10;
 * envoyproxy/envoy `docs/root/configuration/observability/access_log/usage.rst`).
 */

/** Envoy response flags weir sets (short names as in access logs and Istio's `response_flags` label). */
export type ResponseFlag =
  | 'NR'
  | 'NC'
  | 'UH'
  | 'UF'
  | 'UO'
  | 'UT'
  | 'URX'
  | 'UC'
  | 'UR'
  | 'DC'
  | 'DI'
  | 'FI'
  | 'DPE'
  | 'UPE'
  | 'LR'
  | 'SI';

/** A local reply kind with its status, flag and body (Envoy's wording). */
export interface LocalReply {
  status: number;
  flag: ResponseFlag | null;
  body: string;
  /** Envoy `%RESPONSE_CODE_DETAILS%`. */
  details: string;
}

/** The local replies of the data plane. */
export const LOCAL_REPLIES = {
  routeNotFound: { status: 404, flag: 'NR', body: '', details: 'route_not_found' },
  clusterNotFound: { status: 503, flag: 'NC', body: '', details: 'cluster_not_found' },
  noHealthyUpstream: { status: 503, flag: 'UH', body: 'no healthy upstream', details: 'no_healthy_upstream' },
  connectFailure: {
    status: 503,
    flag: 'UF',
    body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
    details: 'upstream_reset_before_response_started{connection_failure}',
  },
  connectionTermination: {
    status: 503,
    flag: 'UC',
    body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
    details: 'upstream_reset_before_response_started{connection_termination}',
  },
  overflow: {
    status: 503,
    flag: 'UO',
    body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
    details: 'upstream_reset_before_response_started{overflow}',
  },
  pendingOverflow: {
    status: 503,
    flag: 'UO',
    body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
    details: 'overflow',
  },
  timeout: { status: 504, flag: 'UT', body: 'upstream request timeout', details: 'upstream_response_timeout' },
  perTryTimeout: { status: 504, flag: 'UT', body: 'upstream request timeout', details: 'upstream_per_try_timeout' },
  faultAbort: { status: 0, flag: 'FI', body: 'fault filter abort', details: 'fault_filter_abort' },
  badRequest: { status: 400, flag: 'DPE', body: 'Bad Request', details: 'http1.codec_error' },
  headersTooLarge: {
    status: 431,
    flag: 'DPE',
    body: 'Request Header Fields Too Large',
    details: 'http1.headers_too_large',
  },
  payloadTooLarge: { status: 413, flag: null, body: 'Payload Too Large', details: 'request_payload_too_large' },
  upstreamProtocolError: {
    status: 502,
    flag: 'UPE',
    body: 'upstream connect error or disconnect/reset before headers. reset reason: protocol error',
    details: 'upstream_reset_before_response_started{protocol_error}',
  },
} as const satisfies Record<string, LocalReply>;

/** Envoy's order of response flags in `%RESPONSE_FLAGS%` (the bit order of `CoreResponseFlag`). */
const FLAG_ORDER = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'URX',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'IH',
  'SI',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO',
];

/** Joins flags in Envoy's order (`UF,URX`), or `-` when there are none. */
export function formatFlags(flags: readonly string[]): string {
  if (flags.length === 0) return '-';
  if (flags.length === 1) return flags[0]!;
  return [...flags].sort((a, b) => FLAG_ORDER.indexOf(a) - FLAG_ORDER.indexOf(b)).join(',');
}
