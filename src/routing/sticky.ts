/**
 * The opt-in sticky weighted split (weir extension, `weir.dev/sticky-split: "true"` on the VirtualService): the
 * weighted destination is chosen from the route's consistent-hash key instead of at random, so a user stays on one
 * subset. Selection is weighted rendezvous hashing: each destination scores `-ln(u_i) / w_i` with `u_i` a uniform
 * hash of (key, destination) and the lowest score wins. This gives each destination `w_i / Σw` of the keys and is
 * monotone: raising one weight only moves keys *to* that destination, never between others or back. Envoy's own
 * `use_hash_policy` (`hash % Σw`) is not monotone when Σw changes; see docs/compatibility.md. Pure.
 */
import type { CompiledDestination, HashPolicy, RequestFacts } from './types.ts';

/** cyrb53-style 53-bit string hash (deterministic, fast, well mixed); returns an integer in [0, 2^53). */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A stable identity for a destination, so that reordering destinations does not move users. */
export function destinationSeed(d: CompiledDestination): number {
  return hash53(`${d.host}|${d.subset ?? ''}|${d.port ?? ''}`) % 2147483647;
}

/**
 * The key text of a request under a hash-policy list (Envoy semantics: header values sorted, cookie value, source
 * IP without port, first query value); null when no policy yields a key.
 */
export function stickyKey(
  policies: readonly HashPolicy[],
  facts: RequestFacts,
  queryParam: (name: string) => string | undefined,
  cookieOverride?: string,
): string | null {
  let key: string | null = null;
  for (const p of policies) {
    let part: string | undefined;
    switch (p.type) {
      case 'header': {
        const v = facts.header(p.name);
        part = v === undefined ? undefined : v.split(',').sort().join(',');
        break;
      }
      case 'cookie':
        part = cookieOverride ?? readCookie(facts.header('cookie'), p.name);
        break;
      case 'sourceIp':
        part = facts.source.ip ?? undefined;
        break;
      case 'queryParameter':
        part = queryParam(p.name);
        break;
    }
    if (part !== undefined) key = key === null ? part : `${key}\u0000${part}`;
  }
  return key;
}

/** Reads one cookie value from a `Cookie` header (first occurrence), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}

/** Picks a destination index by weighted rendezvous hashing of `key`. `seeds[i]` from {@link destinationSeed}. */
export function pickSticky(
  key: string,
  destinations: readonly CompiledDestination[],
  seeds: readonly number[],
): number {
  let best = 0;
  let bestScore = Number.POSITIVE_INFINITY;
  for (let i = 0; i < destinations.length; i++) {
    const u = (hash53(key, seeds[i]!) + 0.5) / 9007199254740992; // (0, 1)
    const score = -Math.log(u) / destinations[i]!.weight;
    if (score < bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}
