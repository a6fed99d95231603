/**
 * Building blocks shared by the webhook-rule validators: the checks istiod applies to hosts, ports, durations,
 * string matches, header names and values, labels, percentages and exportTo lists, with istiod's messages. Pure
 * functions: each either returns an error message (`null` when fine) or reports through a {@link Report}.
 * Mirrors istio/istio `pkg/config/validation/validation.go`, `pkg/config/validation/agent/validation.go`,
 * `pkg/config/validation/header_value_validator.go` and `pkg/config/labels/instance.go`.
 */
import { isIP } from 'node:net';
import { RE2JS } from 're2js';
import { parseDurationMs } from '../../util/duration.ts';
import type { Report } from './report.ts';

/** A field path relative to the resource root, as {@link Report} takes it. */
export type Path = readonly (string | number)[];

/** Longest DNS-1123 label (istio `labels.DNS1123LabelMaxLength`). */
export const DNS1123_LABEL_MAX_LENGTH = 63;

/** Longest regex istiod accepts (it approximates Envoy's RE2 program size by the length). */
export const MAX_REGEX_LENGTH = 1024;

const DNS1123_LABEL_FMT = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?';
const DNS1123_LABEL = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const WILDCARD_LABEL = new RegExp(`^(\\*|(\\*|\\*-)?${DNS1123_LABEL_FMT})$`);
const QUALIFIED_NAME_FMT = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const DNS_NAME_PREFIX_FMT = `${DNS1123_LABEL_FMT}(?:\\.${DNS1123_LABEL_FMT})*/`;
const TAG_KEY = new RegExp(`^(${DNS_NAME_PREFIX_FMT})?(${QUALIFIED_NAME_FMT})$`);
const LABEL_VALUE = new RegExp(`^(${QUALIFIED_NAME_FMT})?$`);

// RFC 7230 token characters, written as istiod writes them: `+-.` is a range, so `,` is accepted too.
const HEADER_NAME = /^[!#$%&'*+-.^_`|~A-Za-z0-9]+$/;
const HEADER_VALUE_ALLOWED = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;

const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);

// ---------------------------------------------------------------- names and addresses

/** True when `value` is a DNS-1123 label (istio `labels.IsDNS1123Label`). */
export function isDNS1123Label(value: string): boolean {
  return value.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL.test(value);
}

/** True for a DNS-1123 label that may start with `*` or `*-` (istio `labels.IsWildcardDNS1123Label`). */
export function isWildcardDNS1123Label(value: string): boolean {
  return value.length <= DNS1123_LABEL_MAX_LENGTH && WILDCARD_LABEL.test(value);
}

function dns1123Preconditions(name: string): string | null {
  if (name.length > 255) return `domain name ${q(name)} too long (max 255)`;
  if (name.length === 0) return 'empty domain name not allowed';
  return null;
}

function dns1123Labels(domain: string): string | null {
  const parts = domain.split('.');
  const tld = parts[parts.length - 1]!;
  if (/^[+-]?\d+$/.test(tld))
    return `domain name ${q(domain)} invalid (top level domain ${q(tld)} cannot be all-numeric)`;
  for (let i = 0; i < parts.length; i++) {
    const label = parts[i]!;
    if (i === parts.length - 1 && label === '') return null; // `istio.io.` is allowed
    if (!isDNS1123Label(label)) return `domain name ${q(domain)} invalid (label ${q(label)} invalid)`;
  }
  return null;
}

/** Checks a fully-qualified domain name (istio `agent.ValidateFQDN`). */
export function validateFQDN(fqdn: string): string | null {
  return dns1123Preconditions(fqdn) ?? dns1123Labels(fqdn);
}

/** Checks a domain that may have a wildcard first label, as `*.foo.com` (istio `agent.ValidateWildcardDomain`). */
export function validateWildcardDomain(domain: string): string | null {
  const pre = dns1123Preconditions(domain);
  if (pre) return pre;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (!isWildcardDNS1123Label(first)) return `domain name ${q(domain)} invalid (label ${q(first)} invalid)`;
  return dot < 0 ? null : dns1123Labels(domain.slice(dot + 1));
}

/** Rejects a wildcard anywhere but as a whole first label (istio `agent.ValidatePartialWildCard`). */
export function validatePartialWildcard(host: string): string | null {
  if (host.includes('*') && host.length !== 1 && !host.startsWith('*.'))
    return `partial wildcard ${q(host)} not allowed`;
  return null;
}

/** True for an IPv4 or IPv6 address (Go `netip.ParseAddr`; istio `netutil.IsValidIPAddress`). */
export function isIPAddress(addr: string): boolean {
  return isIP(addr) !== 0;
}

/** Checks an IP address (istio `agent.ValidateIPAddress`). */
export function validateIPAddress(addr: string): string | null {
  return isIPAddress(addr) ? null : `${addr} is not a valid IP`;
}

/** Checks an address or CIDR block such as `10.0.0.0/8` (istio `agent.ValidateIPSubnet`). */
export function validateIPSubnet(subnet: string): string | null {
  if (subnet.split('/').length === 2) {
    const [addr, bits] = subnet.split('/') as [string, string];
    const family = addr.includes('%') ? 0 : isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || !/^(0|[1-9]\d{0,2})$/.test(bits) || Number(bits) > max)
      return `${subnet} is not a valid CIDR block`;
    return null;
  }
  return validateIPAddress(subnet);
}

/** Checks a unix domain socket path (istio `ValidateUnixAddress`). */
export function validateUnixAddress(addr: string): string | null {
  if (addr.length === 0) return 'unix address must not be empty';
  if (addr.startsWith('@')) return null;
  if (!addr.startsWith('/') || addr.endsWith('/')) return `${addr} is not an absolute path to a file`;
  return null;
}

/** Checks a port number (istio `agent.ValidatePort`): 1..65535. */
export function validatePort(port: number): string | null {
  return port >= 1 && port <= 65535 ? null : `port number ${port} must be in the range 1..65535`;
}

/** Checks a subset name (istio `validateSubsetName`): a non-empty DNS-1123 label. */
export function validateSubsetName(name: string): string | null {
  if (name.length === 0) return 'subset name cannot be empty';
  if (!isDNS1123Label(name)) return `subset name is invalid: ${name}`;
  return null;
}

/**
 * True when two hosts overlap: equal, or one wildcard covers the other (`*.foo.com` and `*.com`, `*.com` and
 * `a.com`). Mirrors istio `host.Name.Matches`, used for "duplicate hosts".
 */
export function hostsOverlap(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

// ---------------------------------------------------------------- durations and numbers

/**
 * Checks a duration the way istiod does (istio `agent.ValidateDuration`): at least 1 ms and a whole number of
 * milliseconds. Returns null for a valid duration. With `allowZero`, `0s` is accepted (connectionPool
 * `tcp.idleTimeout`, where 0 disables the timeout).
 */
export function durationError(text: string, opts: { allowZero?: boolean } = {}): string | null {
  const ms = parseDurationMs(text);
  if (ms === null) return `invalid duration ${q(text)}`;
  // Go durations are whole nanoseconds; rounding also removes binary floating-point noise ("0.007s").
  const ns = Math.round(ms * 1e6);
  // istiod skips the check when the value truncates to 0 whole milliseconds.
  if (opts.allowZero && Math.trunc(ns / 1e6) === 0) return null;
  if (ns < 1e6) return 'duration must be greater than 1ms';
  if (ns % 1e6 !== 0) return 'only durations to ms precision are supported';
  return null;
}

/** Reports {@link durationError} at `path` when `text` is set. */
export function checkDuration(
  report: Report,
  path: Path,
  text: string | undefined,
  opts: { allowZero?: boolean } = {},
): void {
  if (text === undefined) return;
  const err = durationError(text, opts);
  if (err) report(path, err);
}

/** The duration in whole nanoseconds, or null when unparsable. */
export function durationNanos(text: string): number | null {
  const ms = parseDurationMs(text);
  return ms === null ? null : Math.round(ms * 1e6);
}

/** Checks an integer percentage 0..100 (istio `ValidatePercent`). */
export function percentError(value: number): string | null {
  return value < 0 || value > 100 ? `percentage ${value} is not in range 0..100` : null;
}

/**
 * Checks a fractional percentage for faults (istio `validatePercentage`): 0, or within [0.0001, 100].
 */
export function fractionalPercentError(value: number): string | null {
  if (value < 0 || value > 100 || (value > 0 && value < 0.0001)) {
    return `percentage ${value} is neither 0.0, nor in range [0.0001, 100.0]`;
  }
  return null;
}

/** Checks an HTTP status as istiod does for faults and directResponse (istio `validateHTTPStatus`): 200..600. */
export function httpStatusError(status: number): string | null {
  // istiod's bound is `status < 200 || status > 600`, so 600 passes despite the message.
  return status < 200 || status > 600 ? `HTTP status ${status} is not in range 200-599` : null;
}

// ---------------------------------------------------------------- string matches and regexes

/** Checks a regex: ≤ 1024 characters and valid RE2 syntax (istio `validateStringRegexp`). */
export function regexError(re: string, where: string): string | null {
  if (re.length > MAX_REGEX_LENGTH) return `${q(where)}: regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`;
  try {
    RE2JS.compile(re);
    return null;
  } catch (err) {
    return `${q(where)}: ${(err as Error).message}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`;
  }
}

/** The StringMatch shape (`exact` | `prefix` | `regex`). */
export interface StringMatchLike {
  exact?: string | undefined;
  prefix?: string | undefined;
  regex?: string | undefined;
}

/**
 * Checks a StringMatch (istio `validateStringMatch`, and `validateStringMatchRegexp` when `allowEmptyPrefix`, the
 * rule for `uri`): an empty prefix is rejected unless allowed, an empty regex always, and a regex must compile with
 * RE2 within 1024 characters. Setting more than one of `exact`, `prefix` and `regex` breaks the proto `oneof`.
 */
export function checkStringMatch(
  report: Report,
  path: Path,
  sm: StringMatchLike | null | undefined,
  where: string,
  opts: { allowEmptyPrefix?: boolean } = {},
): void {
  if (!sm) return;
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => sm[k] !== undefined);
  if (set.length > 1) {
    report(path, `${q(where)}: only one of exact, prefix or regex may be set (got ${set.join(', ')})`);
    return;
  }
  if (sm.prefix !== undefined && sm.prefix === '' && !opts.allowEmptyPrefix) {
    report([...path, 'prefix'], `${q(where)}: prefix string match should not be empty`);
  }
  if (sm.regex !== undefined) {
    if (sm.regex === '') report([...path, 'regex'], `${q(where)}: regex string match should not be empty`);
    else {
      const err = regexError(sm.regex, where);
      if (err) report([...path, 'regex'], err);
    }
  }
}

// ---------------------------------------------------------------- headers

/** True for `@request.auth.claims.x` and `@request.auth.claims[x][y]` keys (istio `jwt.ToRoutingClaim(...).Match`). */
export function isJwtClaimRoute(name: string): boolean {
  const prefix = '@request.auth.claims';
  if (!name.toLowerCase().startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  if (rest.startsWith('.') && rest.length > 1) return true;
  return rest.startsWith('[') && rest.endsWith(']') && rest.length > 2;
}

/** Checks a header name used in a match (istio `ValidateHTTPHeaderNameOrJwtClaimRoute`). */
export function matchHeaderNameError(name: string): string | null {
  if (name === '') return 'header name cannot be empty';
  if (isJwtClaimRoute(name) || PSEUDO_HEADERS.has(name)) return null;
  return HEADER_NAME.test(name) ? null : `header name ${name} is not a valid header name`;
}

/** Checks a CORS header name: a token or `*` (istio `ValidateCORSHTTPHeaderName`). */
export function corsHeaderNameError(name: string): string | null {
  if (name === '') return 'header name cannot be empty';
  if (name === '*') return null;
  return HEADER_NAME.test(name) ? null : `header name ${name} is not a valid header name`;
}

function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

/** True for `:authority` and `host`, in any case (istio `isAuthorityHeader`). */
export function isAuthorityHeader(name: string): boolean {
  const l = name.toLowerCase();
  return l === ':authority' || l === 'host';
}

/**
 * Checks a header name of a request `set`/`add` (istio `ValidateHTTPHeaderWithAuthorityOperationName`): pseudo
 * headers are rejected except `:authority`; `host` and `:authority` become an authority rewrite.
 */
export function requestSetHeaderNameError(name: string): string | null {
  if (name === '') return 'header name cannot be empty';
  if (isInternalHeader(name) && !isAuthorityHeader(name))
    return `invalid header ${q(name)}: header cannot have ":" prefix`;
  return null;
}

/** Checks a header name of a request `remove` or any response operation (istio `ValidateHTTPHeaderOperationName`). */
export function headerOperationNameError(name: string): string | null {
  if (name === '') return 'header name cannot be empty';
  if (name.toLowerCase() === 'host') return `invalid header ${q(name)}: cannot set Host header`;
  if (isInternalHeader(name)) return `invalid header ${q(name)}: header cannot have ":" prefix`;
  return null;
}

/**
 * Checks a header value (istio `ValidateHTTPHeaderValue`): no control characters, and valid Envoy `%VAR%`
 * formatter syntax, where `%%` is a literal `%` (port of Envoy `header_parser.cc`).
 */
export function headerValueError(value: string): string | null {
  if (!HEADER_VALUE_ALLOWED.test(value)) return `header value configuration ${value} is invalid`;
  const err = formatterError(value);
  return err ? `header value configuration: ${err}` : null;
}

type ParserState =
  | 'literal'
  | 'var'
  | 'expectArray'
  | 'expectString'
  | 'string'
  | 'expectDelimOrEnd'
  | 'expectArgsEnd'
  | 'expectVarEnd';

function formatterError(v: string): string | null {
  let state: ParserState = 'literal';
  for (let pos = 0; pos < v.length; pos++) {
    const ch = v[pos]!;
    const hasNext = pos + 1 < v.length;
    switch (state) {
      case 'literal':
        if (ch !== '%') break;
        if (!hasNext) return 'invalid header configuration. Un-escaped %';
        if (v[pos + 1] === '%') {
          pos++;
          break;
        }
        state = 'var';
        break;
      case 'var':
        if (ch === '%') state = 'literal';
        else if (ch === '(') state = 'expectArray';
        break;
      case 'expectArray':
        if (ch === '[') state = 'expectString';
        else if (ch !== ' ') state = 'string';
        break;
      case 'expectDelimOrEnd':
        if (ch === ',') state = 'expectString';
        else if (ch === ']') state = 'expectArgsEnd';
        else if (ch !== ' ') return "invalid header configuration. Expecting ',', ']', or whitespace";
        break;
      case 'expectString':
        if (ch === '"') state = 'string';
        else if (ch !== ' ') return `invalid header configuration. Expecting '"'`;
        break;
      case 'string':
        if (ch === '\\') {
          if (!hasNext) return 'invalid header configuration. Un-terminated backslash in JSON string';
          pos++;
        } else if (ch === ')') state = 'expectVarEnd';
        else if (ch === '"') state = 'expectDelimOrEnd';
        break;
      case 'expectArgsEnd':
        if (ch === ')') state = 'expectVarEnd';
        else if (ch !== ' ') return "invalid header configuration. Expecting ')' or whitespace";
        break;
      case 'expectVarEnd':
        if (ch === '%') state = 'literal';
        else if (ch !== ' ') return "invalid header configuration. Expecting '%' or whitespace";
        break;
    }
  }
  return state === 'literal' ? null : `invalid header configuration. Un-terminated variable expression '${v}'`;
}

/** The Headers shape (`request`/`response` × `set`/`add`/`remove`). */
export interface HeadersLike {
  request?: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined;
  response?: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined;
}

/**
 * Checks header operations of a route or destination (the header loops of istio `validateHTTPRoute` and
 * `validateHTTPRouteDestinations`): names per operation kind, values per {@link headerValueError}.
 */
export function checkHeaderOperations(report: Report, path: Path, headers: HeadersLike | undefined): void {
  if (!headers) return;
  for (const side of ['request', 'response'] as const) {
    const ops = headers[side];
    if (!ops) continue;
    for (const op of ['add', 'set'] as const) {
      for (const [name, value] of Object.entries(ops[op] ?? {})) {
        const at = [...path, side, op, name];
        const nameErr = side === 'request' ? requestSetHeaderNameError(name) : headerOperationNameError(name);
        if (nameErr) report(at, nameErr, { key: true });
        const valueErr = headerValueError(value);
        if (valueErr) report(at, valueErr);
      }
    }
    (ops.remove ?? []).forEach((name, i) => {
      const err = headerOperationNameError(name);
      if (err) report([...path, side, 'remove', i], err);
    });
  }
}

// ---------------------------------------------------------------- labels, selectors, exportTo

/** Checks one label key (Kubernetes qualified name with optional DNS prefix; istio `labels.validateTagKey`). */
export function labelKeyError(key: string): string | null {
  const m = TAG_KEY.exec(key);
  if (!m) return `invalid tag key: ${q(key)}`;
  if (m[1] && m[1].length - 1 > 253) return `invalid tag key: ${q(key)} (DNS prefix is too long)`;
  if ((m[2] ?? '').length > DNS1123_LABEL_MAX_LENGTH) return `invalid tag key: ${q(key)} (name is too long)`;
  return null;
}

/** Checks one label value (istio `labels.Instance.Validate`; may be empty). */
export function labelValueError(value: string): string | null {
  return LABEL_VALUE.test(value) ? null : `invalid tag value: ${q(value)}`;
}

/** Reports invalid keys (at the key) and values (at the value) of a label map (istio `labels.Instance.Validate`). */
export function checkLabels(report: Report, path: Path, labels: Readonly<Record<string, string>> | undefined): void {
  if (!labels) return;
  for (const [k, v] of Object.entries(labels)) {
    const ke = labelKeyError(k);
    if (ke) report([...path, k], ke, { key: true });
    const ve = labelValueError(v);
    if (ve) report([...path, k], ve);
  }
}

/**
 * Checks a workload selector's labels (istio `validateWorkloadSelector`, `ValidateAlphaWorkloadSelector`): no empty
 * key, no `*`; an empty selector is a warning (`emptyWarning` is the message).
 */
export function checkSelectorLabels(
  report: Report,
  path: Path,
  labels: Readonly<Record<string, string>> | undefined,
  emptyWarning: string,
): void {
  const entries = Object.entries(labels ?? {});
  for (const [k, v] of entries) {
    if (k === '') report([...path, k], `empty key is not supported in selector: ${q(`${k}=${v}`)}`, { key: true });
    if (k.includes('*') || v.includes('*'))
      report([...path, k], `wildcard is not supported in selector: ${q(`${k}=${v}`)}`);
  }
  if (entries.length === 0) report(path, emptyWarning, { level: 'warning' });
}

/** Options of {@link checkExportTo}. */
export interface ExportToOptions {
  /** ServiceEntry allows `~` (visible to no one but its own proxies). */
  isServiceEntry?: boolean;
  /** A DestinationRule with a workloadSelector may only be exported to its own namespace. */
  isDestinationRuleWithSelector?: boolean;
}

/**
 * Checks `exportTo` (istio `validateExportTo`): entries are `.`, `*` or DNS-1123 namespaces (ServiceEntry also `~`);
 * no duplicates (`.` counts as the own namespace); `*` and `~` stand alone; a DestinationRule with a workload
 * selector stays in its namespace.
 */
export function checkExportTo(
  report: Report,
  path: Path,
  namespace: string,
  exportTo: readonly string[] | undefined,
  opts: ExportToOptions = {},
): void {
  if (!exportTo || exportTo.length === 0) return;
  const seen = new Set<string>();
  exportTo.forEach((e, i) => {
    const key = e === '.' ? namespace : e;
    if (seen.has(key)) {
      report(
        [...path, i],
        key !== e
          ? `duplicate entries in exportTo: . and current namespace ${namespace}`
          : `duplicate entries in exportTo for entry ${e}`,
      );
      return;
    }
    if (opts.isServiceEntry && e === '~') {
      seen.add(key);
      return;
    }
    const err = visibilityError(key);
    if (err) report([...path, i], err);
    else seen.add(key);
  });
  if (opts.isDestinationRuleWithSelector && seen.size > 0) {
    if (seen.has(namespace)) {
      if (seen.size > 1)
        report(path, 'destination rule with workload selector cannot have multiple entries in exportTo');
    } else {
      report(path, 'destination rule with workload selector cannot have exportTo beyond current namespace');
    }
  }
  if (seen.has('*') && exportTo.length > 1)
    report(path, 'cannot have both public (*) and non-public exportTo values for a resource');
  if (seen.has('~') && exportTo.length > 1) report(path, 'cannot export service entry to no one (~) and someone');
}

function visibilityError(v: string): string | null {
  if (v === '.' || v === '*') return null;
  if (v === '~') return 'exportTo ~ (none) is not allowed for Istio configuration objects';
  return isDNS1123Label(v) ? null : 'only .,*, or a valid DNS 1123 label is allowed as exportTo entry';
}

// ---------------------------------------------------------------- protocols

const PROTOCOLS = new Map<string, string>([
  ['tcp', 'TCP'],
  ['udp', 'UDP'],
  ['grpc', 'GRPC'],
  ['grpc-web', 'GRPC-Web'],
  ['http', 'HTTP'],
  ['http_proxy', 'HTTP_PROXY'],
  ['http2', 'HTTP2'],
  ['https', 'HTTPS'],
  ['tls', 'TLS'],
  ['mongo', 'Mongo'],
  ['redis', 'Redis'],
  ['mysql', 'MySQL'],
]);

/** Parses a port protocol name case-insensitively (istio `protocol.Parse`); null when unsupported. */
export function parseProtocol(name: string): string | null {
  return PROTOCOLS.get(name.toLowerCase()) ?? null;
}

/** True for protocols istio treats as HTTP (`protocol.Instance.IsHTTP`). */
export function isHTTPProtocol(p: string | null): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
}

/** True for protocols istio treats as TLS (`protocol.Instance.IsTLS`). */
export function isTLSProtocol(p: string | null): boolean {
  return p === 'HTTPS' || p === 'TLS';
}

/** True for protocols istio treats as TCP (`protocol.Instance.IsTCP`). */
export function isTCPProtocol(p: string | null): boolean {
  return p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'Mongo' || p === 'Redis' || p === 'MySQL';
}

// ---------------------------------------------------------------- misc

/** Go's `%q` for plain strings (close enough: JSON string syntax). */
export function q(s: string): string {
  return JSON.stringify(s);
}
