/**
 * Host names as Istio resolves them: short names expand with the namespace of the resource that wrote them,
 * dotted names stay as written, wildcards are allowed in the first label only, and comparisons are
 * case-insensitive. Sources: istio/istio `pilot/pkg/model/config.go` (`ResolveShortnameToFQDN`),
 * `pkg/config/host/name.go` (`Matches`, `SubsetOf`).
 */
import { isIP } from 'node:net';

/** The cluster DNS domain (`--cluster-domain` in Istio; `cluster.local` by default). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/**
 * Resolves a host as written in a VirtualService, DestinationRule or Destination to the name Istio uses:
 * `reviews` in namespace `prod` → `reviews.prod.svc.cluster.local`; `reviews.prod` stays `reviews.prod`;
 * `*`, `*.foo.com` and IP addresses are kept. The result is lower-cased.
 */
export function resolveHost(host: string, namespace: string, clusterDomain = DEFAULT_CLUSTER_DOMAIN): string {
  const h = host.toLowerCase();
  if (h === '*' || h.includes('.') || isIP(h) !== 0) return h;
  // A short wildcard such as `*` is kept; `*foo` is invalid and left as it is for the validator to report.
  if (h.startsWith('*')) return h;
  return `${h}.${namespace}.svc.${clusterDomain}`;
}

/** True when `host` (a concrete name or a wildcard) is a wildcard pattern (`*` or `*.suffix`). */
export function isWildcard(host: string): boolean {
  return host.startsWith('*');
}

/**
 * True when `pattern` matches the concrete `host`. `*` matches everything; `*.foo.com` matches `a.foo.com` and
 * `a.b.foo.com` but not `foo.com`; any other pattern matches only itself (case-insensitive).
 */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return h.length > p.length - 1 && h.endsWith(p.slice(1));
  if (p.startsWith('*')) return h.endsWith(p.slice(1));
  return p === h;
}

/**
 * True when two host patterns can match a common name (Istio `host.Name.Matches` both ways), used for the
 * overlap checks: `*.foo.com` overlaps `a.foo.com` and `*.com`.
 */
export function hostsOverlap(a: string, b: string): boolean {
  return (
    hostMatches(a, b) ||
    hostMatches(b, a) ||
    (isWildcard(a) && isWildcard(b) && (a.endsWith(b.slice(1)) || b.endsWith(a.slice(1))))
  );
}

/**
 * Specificity of a host pattern for "most specific wins": exact names rank above every wildcard; among
 * wildcards, the longer suffix wins; `*` ranks last. Higher is more specific.
 */
export function hostSpecificity(pattern: string): number {
  if (pattern === '*') return 0;
  if (isWildcard(pattern)) return pattern.length;
  return 1_000_000 + pattern.length;
}

/**
 * Splits an authority (`Host` header or `:authority`) into host and port. Handles IPv6 literals in brackets.
 * The host keeps its letter case; callers lower-case it for matching.
 */
export function splitAuthority(authority: string): { host: string; port: number | null } {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end > 0) {
      const rest = authority.slice(end + 1);
      const port = rest.startsWith(':') ? parsePort(rest.slice(1)) : null;
      return { host: authority.slice(0, end + 1), port };
    }
  }
  const i = authority.lastIndexOf(':');
  if (i > 0 && authority.indexOf(':') === i) {
    const port = parsePort(authority.slice(i + 1));
    if (port !== null) return { host: authority.slice(0, i), port };
  }
  return { host: authority, port: null };
}

function parsePort(s: string): number | null {
  if (!/^\d{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n >= 0 && n <= 65535 ? n : null;
}
