import { beforeAll, describe, expect, it } from 'vitest';
import {
  computeRequestHash,
  firstQueryParameterValue,
  generateCookieValue,
  type HashPolicy,
  type HashRequestView,
  hashPolicyFromConsistentHash,
  makeSetCookieValue,
  parseCookieValue,
} from '../../../../../src/dataplane/cluster/lb/hash-key.ts';
import { initHashing, xxhash64 } from '../../../../../src/dataplane/cluster/lb/xxhash.ts';

beforeAll(async () => {
  await initHashing();
});

const MASK = (1n << 64n) - 1n;
const rotl1 = (h: bigint) => ((h << 1n) | (h >> 63n)) & MASK;

function view(init: Partial<HashRequestView> & { headers?: Record<string, string | string[]> } = {}): HashRequestView {
  const headers = init.headers ?? {};
  return {
    header: (name) => headers[name],
    path: init.path,
    sourceIp: init.sourceIp,
    ...(init.remoteAddress ? { remoteAddress: init.remoteAddress } : {}),
    ...(init.localAddress ? { localAddress: init.localAddress } : {}),
  };
}

describe('header policy', () => {
  const policy: HashPolicy[] = [{ type: 'header', headerName: 'X-User' }];
  it('hashes the value; missing header → no hash', () => {
    expect(computeRequestHash(policy, view({ headers: { 'x-user': 'alice' } })).hash).toBe(xxhash64('alice'));
    expect(computeRequestHash(policy, view()).hash).toBeNull();
  });
  it('several field lines are sorted and hashed as their concatenation (order-independent)', () => {
    const h1 = computeRequestHash(policy, view({ headers: { 'x-user': ['foo', 'bar'] } })).hash;
    const h2 = computeRequestHash(policy, view({ headers: { 'x-user': ['bar', 'foo'] } })).hash;
    expect(h1).toBe(xxhash64('barfoo'));
    expect(h2).toBe(h1);
  });
  it('hashes latin1 byte strings as bytes', () => {
    expect(computeRequestHash(policy, view({ headers: { 'x-user': 'caf\xe9' } })).hash).toBe(
      xxhash64(new Uint8Array([0x63, 0x61, 0x66, 0xe9])),
    );
  });
});

describe('cookie policy', () => {
  const addresses = { remoteAddress: { ip: '10.0.0.1', port: 51234 }, localAddress: { ip: '10.0.0.9', port: 8080 } };

  it('parses cookies as Envoy: first match across headers, leading spaces skipped, quotes stripped', () => {
    expect(parseCookieValue('a=1; session="xyz"; b=2', 'session')).toBe('xyz');
    expect(parseCookieValue(['a=1', 'session=one', 'session=two'], 'session')).toBe('one');
    expect(parseCookieValue('Session=x', 'session')).toBe('');
    expect(parseCookieValue('flag; session=v ', 'session')).toBe('v ');
    expect(parseCookieValue('session="', 'session')).toBe('"');
    expect(parseCookieValue(undefined, 'session')).toBe('');
  });

  it('hashes the cookie value; absent without ttl → no hash and no Set-Cookie', () => {
    const policy: HashPolicy[] = [{ type: 'cookie', name: 'user' }];
    const r = computeRequestHash(policy, view({ headers: { cookie: 'user=1234567890' } }));
    expect(r.hash).toBe(xxhash64('1234567890'));
    expect(r.setCookies).toEqual([]);
    expect(computeRequestHash(policy, view(addresses))).toEqual({ hash: null, setCookies: [] });
  });

  it('absent with a ttl → generates xxHash64(remote + local) as 16 hex digits, sets and hashes it', () => {
    const value = generateCookieValue(addresses.remoteAddress, addresses.localAddress);
    expect(value).toBe(xxhash64('10.0.0.1:5123410.0.0.9:8080').toString(16).padStart(16, '0'));
    expect(value).toMatch(/^[0-9a-f]{16}$/);
    const policy: HashPolicy[] = [
      {
        type: 'cookie',
        name: 'user',
        path: '/app',
        ttlSeconds: 3600,
        attributes: [{ name: 'SameSite', value: 'Lax' }],
      },
    ];
    const r = computeRequestHash(policy, view(addresses));
    expect(r.hash).toBe(xxhash64(value));
    expect(r.setCookies).toEqual([`user="${value}"; Max-Age=3600; Path=/app; SameSite=Lax; HttpOnly`]);
  });

  it('ttl 0 gives a session cookie (no Max-Age); no addresses → nothing generated, no hash', () => {
    const policy: HashPolicy[] = [{ type: 'cookie', name: 'user', ttlSeconds: 0 }];
    const r = computeRequestHash(policy, view(addresses));
    expect(r.setCookies[0]).toMatch(/^user="[0-9a-f]{16}"; HttpOnly$/);
    expect(computeRequestHash(policy, view())).toEqual({ hash: null, setCookies: [] });
  });

  it('formats IPv6 and IPv4-mapped addresses as Envoy asString()', () => {
    const v6 = generateCookieValue({ ip: 'fd00::1', port: 1 }, { ip: '::ffff:10.0.0.9', port: 80 });
    expect(v6).toBe(xxhash64('[fd00::1]:110.0.0.9:80').toString(16).padStart(16, '0'));
  });

  it('makeSetCookieValue follows Envoy’s layout', () => {
    expect(makeSetCookieValue('n', 'v', '', 0)).toBe('n="v"; HttpOnly');
    expect(makeSetCookieValue('n', 'v', '/', 10, [{ name: 'Secure' }, { name: 'SameSite', value: 'Strict' }])).toBe(
      'n="v"; Max-Age=10; Path=/; Secure; SameSite=Strict; HttpOnly',
    );
  });
});

describe('source IP and query parameter policies', () => {
  it('source IP: the IP text without port; IPv4-mapped reduces to IPv4; unknown → no hash', () => {
    const p: HashPolicy[] = [{ type: 'sourceIp' }];
    expect(computeRequestHash(p, view({ sourceIp: '192.168.1.7' })).hash).toBe(xxhash64('192.168.1.7'));
    expect(computeRequestHash(p, view({ sourceIp: '::ffff:192.168.1.7' })).hash).toBe(xxhash64('192.168.1.7'));
    expect(computeRequestHash(p, view({ sourceIp: 'fd00::7' })).hash).toBe(xxhash64('fd00::7'));
    expect(computeRequestHash(p, view()).hash).toBeNull();
  });

  it('query parameter: first value, case-sensitive, raw; `?a` hashes ""', () => {
    expect(firstQueryParameterValue('/p?a=1&b=2&a=3', 'a')).toBe('1');
    expect(firstQueryParameterValue('/p?A=1', 'a')).toBeNull();
    expect(firstQueryParameterValue('/p?a', 'a')).toBe('');
    expect(firstQueryParameterValue('/p?x=a%20b&a=c%2Fd', 'a')).toBe('c%2Fd');
    expect(firstQueryParameterValue('/p?b=1=2', 'b')).toBe('1=2');
    expect(firstQueryParameterValue('/p', 'a')).toBeNull();
    const p: HashPolicy[] = [{ type: 'queryParameter', name: 'user' }];
    expect(computeRequestHash(p, view({ path: '/x?user=bob' })).hash).toBe(xxhash64('bob'));
    expect(computeRequestHash(p, view({ path: '/x?user' })).hash).toBe(xxhash64(''));
    expect(computeRequestHash(p, view({ path: '/x' })).hash).toBeNull();
  });
});

describe('policy chain', () => {
  const req = view({ headers: { 'x-a': 'a' }, sourceIp: '1.2.3.4' });
  it('combines hashes as rotl64(h, 1) XOR h_i and skips policies without a hash', () => {
    const chain: HashPolicy[] = [
      { type: 'header', headerName: 'x-a' },
      { type: 'header', headerName: 'x-missing' },
      { type: 'sourceIp' },
    ];
    expect(computeRequestHash(chain, req).hash).toBe(rotl1(xxhash64('a')) ^ xxhash64('1.2.3.4'));
  });
  it('the same policy twice does not cancel out', () => {
    const twice: HashPolicy[] = [{ type: 'sourceIp' }, { type: 'sourceIp' }];
    const h = xxhash64('1.2.3.4');
    expect(computeRequestHash(twice, req).hash).toBe(rotl1(h) ^ h);
  });
  it('a terminal policy that produced a hash stops the chain', () => {
    const chain: HashPolicy[] = [{ type: 'header', headerName: 'x-a', terminal: true }, { type: 'sourceIp' }];
    expect(computeRequestHash(chain, req).hash).toBe(xxhash64('a'));
    const missing: HashPolicy[] = [{ type: 'header', headerName: 'x-b', terminal: true }, { type: 'sourceIp' }];
    expect(computeRequestHash(missing, req).hash).toBe(xxhash64('1.2.3.4'));
    expect(computeRequestHash([], req)).toEqual({ hash: null, setCookies: [] });
  });
});

describe('hashPolicyFromConsistentHash (Istio ConsistentHashToHashPolicy)', () => {
  it('maps each key kind', () => {
    expect(hashPolicyFromConsistentHash({ httpHeaderName: 'X-User' })).toEqual({
      type: 'header',
      headerName: 'x-user',
    });
    expect(hashPolicyFromConsistentHash({ useSourceIp: true })).toEqual({ type: 'sourceIp' });
    expect(hashPolicyFromConsistentHash({ httpQueryParameterName: 'u' })).toEqual({
      type: 'queryParameter',
      name: 'u',
    });
    expect(hashPolicyFromConsistentHash({})).toBeNull();
  });
  it('cookie ttl: passed only when set, truncated to whole seconds', () => {
    expect(hashPolicyFromConsistentHash({ httpCookie: { name: 'c' } })).toEqual({
      type: 'cookie',
      name: 'c',
      path: '',
      attributes: [],
    });
    const withTtl = (ttl: string) => hashPolicyFromConsistentHash({ httpCookie: { name: 'c', ttl } });
    expect(withTtl('0s')).toMatchObject({ ttlSeconds: 0 });
    expect(withTtl('1.5s')).toMatchObject({ ttlSeconds: 1 });
    expect(withTtl('500ms')).toMatchObject({ ttlSeconds: 0 });
    expect(withTtl('1h')).toMatchObject({ ttlSeconds: 3600 });
    expect(
      hashPolicyFromConsistentHash({
        httpCookie: { name: 'c', path: '/', ttl: '10s', attributes: [{ name: 'Secure' }] },
      }),
    ).toEqual({ type: 'cookie', name: 'c', path: '/', ttlSeconds: 10, attributes: [{ name: 'Secure', value: '' }] });
  });
});
