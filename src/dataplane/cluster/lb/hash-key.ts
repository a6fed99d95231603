/**
 * The request hash for RING_HASH / MAGLEV: Istio's DestinationRule `consistentHash` key → Envoy route `hash_policy`
 * (Istio `ConsistentHashToHashPolicy`) → a 64-bit hash per Envoy `Http::HashPolicyImpl` (source/common/http/
 * hash_policy.cc). Pure: reads a minimal request view, returns the hash and, when Envoy would, a `Set-Cookie` value.
 */
import { parseDurationMs } from '../../../util/duration.ts';
import { xxhash64 } from './xxhash.ts';

/** A cookie attribute appended to a generated `Set-Cookie` (Istio `httpCookie.attributes[]`). */
export interface CookieAttribute {
  readonly name: string;
  /** Empty or absent → the bare attribute name (e.g. `Secure`). */
  readonly value?: string;
}

/**
 * One Envoy `RouteAction.HashPolicy`. `terminal` (Envoy: stop after the first policy that yields a hash) is never set
 * by Istio but is supported.
 */
export type HashPolicy =
  | {
      readonly type: 'header';
      /** Header name; matched case-insensitively (Envoy lowercases it). */
      readonly headerName: string;
      readonly terminal?: boolean;
    }
  | {
      readonly type: 'cookie';
      readonly name: string;
      /** `Path` of a generated cookie; empty/absent → no `Path` attribute. */
      readonly path?: string;
      /**
       * Lifetime of a generated cookie in whole seconds. Absent → Envoy never generates a cookie (no cookie → no
       * hash). 0 → a session cookie (no `Max-Age`).
       */
      readonly ttlSeconds?: number;
      readonly attributes?: readonly CookieAttribute[];
      readonly terminal?: boolean;
    }
  | { readonly type: 'sourceIp'; readonly terminal?: boolean }
  | {
      readonly type: 'queryParameter';
      /** Parameter name; case-sensitive, compared with the raw (not percent-decoded) name. */
      readonly name: string;
      readonly terminal?: boolean;
    };

/** The Istio `LoadBalancerSettings.ConsistentHashLB` fields this module reads (structurally compatible). */
export interface IstioConsistentHashKey {
  readonly httpHeaderName?: string;
  readonly httpCookie?: {
    readonly name?: string;
    readonly path?: string;
    /** Go-style duration text as written in the DestinationRule (`"0s"`, `"1h"`, `"1.5s"`). */
    readonly ttl?: string;
    readonly attributes?: readonly { readonly name?: string; readonly value?: string }[];
  };
  readonly useSourceIp?: boolean;
  readonly httpQueryParameterName?: string;
}

/**
 * Istio `ConsistentHashToHashPolicy`: the one hash key of a `consistentHash` block as an Envoy hash policy, or null
 * when none is set. The cookie `ttl` is passed only when set and Envoy keeps its whole seconds
 * (`Duration.seconds`), so `"1.5s"` → 1 and `"500ms"` → 0 (a session cookie). An unparsable ttl (rejected by
 * validation upstream of here) is treated as unset.
 */
export function hashPolicyFromConsistentHash(key: IstioConsistentHashKey): HashPolicy | null {
  if (key.httpHeaderName !== undefined && key.httpHeaderName !== '') {
    return { type: 'header', headerName: key.httpHeaderName.toLowerCase() };
  }
  if (key.httpCookie !== undefined) {
    const c = key.httpCookie;
    const ttlMs = c.ttl === undefined ? null : parseDurationMs(c.ttl);
    return {
      type: 'cookie',
      name: c.name ?? '',
      path: c.path ?? '',
      ...(ttlMs !== null ? { ttlSeconds: Math.trunc(ttlMs / 1000) } : {}),
      attributes: (c.attributes ?? []).map((a) => ({ name: a.name ?? '', value: a.value ?? '' })),
    };
  }
  if (key.useSourceIp === true) return { type: 'sourceIp' };
  if (key.httpQueryParameterName !== undefined && key.httpQueryParameterName !== '') {
    return { type: 'queryParameter', name: key.httpQueryParameterName };
  }
  return null;
}

/** An IP endpoint of the downstream connection. */
export interface SocketAddress {
  /** IP text without brackets; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is treated as the IPv4 address. */
  readonly ip: string;
  readonly port: number;
}

/** The request as the hash policies see it. */
export interface HashRequestView {
  /**
   * Values of a request header by lowercase name: one string per header field line (Node's `headersDistinct`), or a
   * single string, or undefined when absent. Strings are byte strings as Node's HTTP parser yields them (latin1).
   */
  header(name: string): string | readonly string[] | undefined;
  /** The raw request target / `:path` including `?query` (not percent-decoded); undefined when unknown. */
  readonly path: string | undefined;
  /** Downstream peer IP without port (Envoy `downstream_addr->ip()->addressAsString()`); undefined when unknown. */
  readonly sourceIp: string | undefined;
  /** Downstream peer address; needed to generate a cookie. */
  readonly remoteAddress?: SocketAddress;
  /** Local (listener-side) address of the downstream connection; needed to generate a cookie. */
  readonly localAddress?: SocketAddress;
}

/** Result of {@link computeRequestHash}. */
export interface RequestHash {
  /** The combined uint64 hash, or null when no policy produced one (the hashing LB then picks at random). */
  readonly hash: bigint | null;
  /**
   * `Set-Cookie` header values the response must carry: one per cookie policy that generated a cookie (cookie absent
   * and a ttl configured). Empty when nothing was generated.
   */
  readonly setCookies: readonly string[];
}

const MASK_64 = (1n << 64n) - 1n;
const ASCII = /^[\x00-\x7f]*$/;
const LATIN1 = /^[\x00-\xff]*$/;
const MAPPED_V4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** The bytes Envoy would see for a header-derived string: latin1 for byte strings, else UTF-8. */
function wireBytes(s: string): Uint8Array {
  return Buffer.from(s, LATIN1.test(s) ? 'latin1' : 'utf8');
}

/** xxHash64 of a header-derived string's wire bytes. */
function hashWire(s: string): bigint {
  return ASCII.test(s) ? xxhash64(s) : xxhash64(wireBytes(s));
}

function normalizeIp(ip: string): string {
  const m = MAPPED_V4.exec(ip);
  return m ? m[1]! : ip;
}

/** Envoy `Address::Instance::asString()`: `ip:port`, or `[ip]:port` for IPv6. */
export function addressAsString(a: SocketAddress): string {
  const ip = normalizeIp(a.ip);
  return ip.includes(':') ? `[${ip}]:${a.port}` : `${ip}:${a.port}`;
}

/**
 * Envoy `Utility::parseCookieValue`: the value of the first cookie named `name` (case-sensitive) across all `cookie`
 * header values in order. Each value is split on `;`; leading spaces of a pair are skipped, pairs without `=` are
 * ignored, the value runs to the end of the pair (not trimmed) and one pair of surrounding double quotes is removed.
 * @returns the value, or `''` when absent (Envoy treats an empty value as absent).
 */
export function parseCookieValue(cookieHeader: string | readonly string[] | undefined, name: string): string {
  if (cookieHeader === undefined) return '';
  const headers = typeof cookieHeader === 'string' ? [cookieHeader] : cookieHeader;
  for (const header of headers) {
    for (const pair of header.split(';')) {
      if (pair.length === 0) continue;
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      let start = 0;
      while (start < pair.length && pair[start] === ' ') start++;
      if (pair.slice(start, eq) !== name) continue;
      let v = pair.slice(eq + 1);
      if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') v = v.slice(1, -1);
      return v;
    }
  }
  return '';
}

/**
 * Envoy `QueryParamsMulti::parseQueryString(path).getFirstValue(name)`: the query starts after the first `?`, pairs are
 * split on `&`, a pair without `=` has value `''`; names and values are compared and returned raw (no percent-decoding,
 * no `+` → space, the fragment is not stripped).
 * @returns the first value, or null when the parameter is absent.
 */
export function firstQueryParameterValue(path: string | undefined, name: string): string | null {
  if (path === undefined) return null;
  const q = path.indexOf('?');
  if (q === -1) return null;
  let start = q + 1;
  while (start < path.length) {
    let end = path.indexOf('&', start);
    if (end === -1) end = path.length;
    const eq = path.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      if (path.slice(start, eq) === name) return path.slice(eq + 1, end);
    } else if (path.slice(start, end) === name) {
      return '';
    }
    start = end + 1;
  }
  return null;
}

/**
 * The value of a cookie Envoy generates for a connection (router `addDownstreamSetCookie`): 16 lowercase hex digits of
 * `xxHash64(remote.asString() + local.asString())`, e.g. `xxHash64("10.0.0.1:51234" + "10.0.0.9:8080")`. Stable per
 * connection, so concurrent requests on one connection get the same cookie.
 */
export function generateCookieValue(remote: SocketAddress, local: SocketAddress): string {
  return xxhash64(addressAsString(remote) + addressAsString(local))
    .toString(16)
    .padStart(16, '0');
}

/**
 * Envoy `Http::Utility::makeSetCookieValue(name, value, path, maxAge, httpOnly = true, attributes)`:
 * `name="value"`, then `; Max-Age=<s>` unless `maxAgeSeconds` is 0 (session cookie; Envoy never emits `Expires`),
 * `; Path=<path>` unless empty, each attribute as `; name` or `; name=value`, and finally `; HttpOnly`.
 */
export function makeSetCookieValue(
  name: string,
  value: string,
  path: string,
  maxAgeSeconds: number,
  attributes: readonly CookieAttribute[] = [],
  httpOnly = true,
): string {
  let out = `${name}="${value}"`;
  if (maxAgeSeconds !== 0) out += `; Max-Age=${maxAgeSeconds}`;
  if (path !== '') out += `; Path=${path}`;
  for (const a of attributes) out += a.value ? `; ${a.name}=${a.value}` : `; ${a.name}`;
  if (httpOnly) out += '; HttpOnly';
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Header policy: all values sorted bytewise, hashed as their concatenation (Envoy's multi-span xxHash64). */
function hashHeader(values: string | readonly string[] | undefined): bigint | null {
  if (values === undefined) return null;
  if (typeof values === 'string') return hashWire(values);
  if (values.length === 0) return null;
  if (values.length === 1) return hashWire(values[0]!);
  const parts = values.map(wireBytes).sort(compareBytes);
  return xxhash64(Buffer.concat(parts));
}

/**
 * Envoy `HashPolicyImpl::generateHash` over `policies` in order: each policy that yields a hash h_i is folded in as
 * `h = rotl64(h, 1) XOR h_i` (the first as `0 XOR h_1`); a terminal policy that has produced a hash stops the chain.
 *
 * - header: missing → no hash; several field lines → sorted, concatenated (no separator), hashed.
 * - cookie: xxHash64 of the cookie value. Absent/empty with a ttl → a cookie is generated
 *   ({@link generateCookieValue}), its `Set-Cookie` is returned and the generated value is hashed; without
 *   `remoteAddress`/`localAddress` no cookie can be generated and the policy yields no hash. Absent without ttl → no
 *   hash.
 * - sourceIp: xxHash64 of the peer IP text (no port); unknown/empty → no hash.
 * - queryParameter: xxHash64 of the first value (`?a` hashes `""`); absent → no hash.
 */
export function computeRequestHash(policies: readonly HashPolicy[], req: HashRequestView): RequestHash {
  let hash: bigint | null = null;
  const setCookies: string[] = [];
  for (const policy of policies) {
    let h: bigint | null = null;
    switch (policy.type) {
      case 'header':
        h = hashHeader(req.header(policy.headerName.toLowerCase()));
        break;
      case 'cookie': {
        const value = parseCookieValue(req.header('cookie'), policy.name);
        if (value !== '') {
          h = hashWire(value);
        } else if (policy.ttlSeconds !== undefined && req.remoteAddress && req.localAddress) {
          const generated = generateCookieValue(req.remoteAddress, req.localAddress);
          setCookies.push(
            makeSetCookieValue(policy.name, generated, policy.path ?? '', policy.ttlSeconds, policy.attributes ?? []),
          );
          h = xxhash64(generated);
        }
        break;
      }
      case 'sourceIp':
        if (req.sourceIp !== undefined && req.sourceIp !== '') h = xxhash64(normalizeIp(req.sourceIp));
        break;
      case 'queryParameter': {
        const v = firstQueryParameterValue(req.path, policy.name);
        if (v !== null) h = hashWire(v);
        break;
      }
    }
    if (h !== null) {
      const old: bigint = hash === null ? 0n : ((hash << 1n) | (hash >> 63n)) & MASK_64;
      hash = old ^ h;
    }
    if (policy.terminal === true && hash !== null) break;
  }
  return { hash, setCookies };
}
