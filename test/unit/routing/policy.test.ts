/**
 * Route policies: DestinationRule composition (§8.2), retries (§4.1, §4.3), mirrors (§3), faults (§6), redirect
 * Location (§7.2), rewritePath (§7.1) and header precedence (§7.4).
 */
import { describe, expect, it } from 'vitest';
import { splitAuthority } from '../../../src/config/hosts.ts';
import { redirectTarget, rewritePath } from '../../../src/routing/decide.ts';
import { createFacts, type FactsInit } from '../../../src/routing/facts.ts';
import { UNLIMITED } from '../../../src/routing/traffic-policy.ts';
import type { CompiledRoute, HeaderOps } from '../../../src/routing/types.ts';
import { decideOne, service, snapshot, subsets, tableOf, to, vs } from './fixtures.ts';

const H = 'p.test';

/** The first route of the host's table after compiling `rule`. */
function routeOf(rule: Record<string, unknown>, extra: string[] = [], ports = [80]): CompiledRoute {
  const s = snapshot(service(H, ports), subsets(H), ...extra, vs('v', { hosts: [H], http: [rule] }));
  return tableOf(s).virtualHost(H)!.routes[0]!;
}

describe('DestinationRule policy composition (§8.2)', () => {
  const dr = subsets(H, {
    trafficPolicy: {
      connectionPool: { tcp: { maxConnections: 10 }, http: { http2MaxRequests: 100 } },
      loadBalancer: { simple: 'ROUND_ROBIN' },
      outlierDetection: { consecutive5xxErrors: 3 },
      portLevelSettings: [{ port: { number: 8080 }, loadBalancer: { simple: 'RANDOM' } }],
    },
  }).replace(
    '"subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]',
    JSON.stringify({
      subsets: [
        {
          name: 'v1',
          labels: { version: 'v1' },
          trafficPolicy: { connectionPool: { http: { http2MaxRequests: 5 } } },
        },
        {
          name: 'v2',
          labels: { version: 'v2' },
          trafficPolicy: {
            portLevelSettings: [{ port: { number: 8080 }, outlierDetection: { consecutive5xxErrors: 7 } }],
          },
        },
      ],
    }).slice(1, -1),
  );
  const t = tableOf(snapshot(service(H, [80, 8080]), dr));
  const policy = (subset: string | null, port: number) => t.cluster(H, subset, port, port)!.policy;

  it.each([
    [
      'no subset, port 80: the top-level policy without portLevelSettings',
      null,
      80,
      {
        connectionPool: { tcp: { maxConnections: 10 }, http: { http2MaxRequests: 100 } },
        loadBalancer: { simple: 'ROUND_ROBIN' },
        outlierDetection: { consecutive5xxErrors: 3 },
      },
    ],
    [
      'no subset, port 8080: the port-level entry replaces the policy wholesale',
      null,
      8080,
      { loadBalancer: { simple: 'RANDOM' } },
    ],
    [
      'subset v1: its connectionPool replaces the whole block (tcp gone), other blocks kept',
      'v1',
      80,
      {
        connectionPool: { http: { http2MaxRequests: 5 } },
        loadBalancer: { simple: 'ROUND_ROBIN' },
        outlierDetection: { consecutive5xxErrors: 3 },
      },
    ],
    [
      'subset v2 at 8080: a subset port-level entry replaces all four blocks, even with nil',
      'v2',
      8080,
      { outlierDetection: { consecutive5xxErrors: 7 } },
    ],
    [
      'subset v2 at 80: no subset entry for this port → the base policy',
      'v2',
      80,
      {
        connectionPool: { tcp: { maxConnections: 10 }, http: { http2MaxRequests: 100 } },
        loadBalancer: { simple: 'ROUND_ROBIN' },
        outlierDetection: { consecutive5xxErrors: 3 },
      },
    ],
  ] as const)('%s', (_n, subset, port, want) => {
    expect(policy(subset, port).trafficPolicy).toEqual(want);
  });

  it('resolves the data-plane settings with Istio defaults', () => {
    const p = policy('v1', 80);
    expect(p.lb).toEqual({ type: 'ROUND_ROBIN' });
    expect(p.connectionPool).toMatchObject({
      http2MaxRequests: 5,
      maxConnections: UNLIMITED,
      connectTimeoutMs: 10_000,
    });
    expect(p.outlierDetection).toMatchObject({ consecutive5xxErrors: 3, intervalMs: 10_000, maxEjectionPercent: 10 });
    const none = tableOf(snapshot(service(H))).cluster(H, null, 80, 80)!.policy;
    expect(none.trafficPolicy).toBeNull();
    expect(none.lb).toEqual({ type: 'LEAST_REQUEST' });
    expect(none.outlierDetection).toBeNull();
    expect(none.connectionPool.retryBudget).toBeNull();
  });

  it('resolves retryBudget with Envoy defaults (20 %, 3); a port-level policy drops it (§8.2)', () => {
    const budget = (tp: Record<string, unknown>, port = 80) =>
      tableOf(snapshot(service(H, [80, 8080]), subsets(H, { trafficPolicy: tp }))).cluster(H, null, port, port)!.policy
        .connectionPool.retryBudget;
    expect(budget({ retryBudget: {} })).toEqual({ percent: 20, minRetryConcurrency: 3 });
    expect(budget({ retryBudget: { percent: 50, minRetryConcurrency: 1 } })).toEqual({
      percent: 50,
      minRetryConcurrency: 1,
    });
    const withPort = {
      retryBudget: { percent: 50 },
      portLevelSettings: [{ port: { number: 8080 }, connectionPool: { http: { maxRetries: 2 } } }],
    };
    expect(budget(withPort, 80)).toEqual({ percent: 50, minRetryConcurrency: 3 });
    expect(budget(withPort, 8080)).toBeNull();
  });
});

describe('retries (§4.1, §4.3)', () => {
  const hashDr = subsets(H, { trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } });
  it.each([
    [
      "no retries → Istio's default policy",
      { route: [to(H)] },
      [],
      {
        attempts: 2,
        retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
        retriableStatusCodes: [],
        isDefault: true,
        retryIgnorePreviousHosts: true,
      },
    ],
    ['attempts 0 → no retry policy', { route: [to(H)], retries: { attempts: 0 } }, [], null],
    [
      'numeric codes → retriable_status_codes, token added once, tokens trimmed',
      { route: [to(H)], retries: { attempts: 3, retryOn: '5xx,503,gateway-error,retriable-status-codes' } },
      [],
      {
        attempts: 3,
        retryOn: ['5xx', 'gateway-error', 'retriable-status-codes'],
        retriableStatusCodes: [503],
        isDefault: false,
      },
    ],
    [
      'attempts without retryOn → the default retryOn',
      { route: [to(H)], retries: { attempts: 1, perTryTimeout: '500ms' } },
      [],
      {
        attempts: 1,
        retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
        perTryTimeoutMs: 500,
        backoffBaseMs: 25,
      },
    ],
    [
      'single destination with consistentHash → default policy without previous_hosts',
      { route: [to(H, 'v1')] },
      [hashDr],
      { isDefault: true, retryIgnorePreviousHosts: false },
    ],
    [
      'single hashed destination, user retries → no predicate unless asked',
      { route: [to(H, 'v1')], retries: { attempts: 2 } },
      [hashDr],
      { retryIgnorePreviousHosts: false },
    ],
    [
      'single hashed destination, retryIgnorePreviousHosts: true',
      { route: [to(H, 'v1')], retries: { attempts: 2, retryIgnorePreviousHosts: true } },
      [hashDr],
      { retryIgnorePreviousHosts: true },
    ],
    [
      'weighted hashed destinations always get the predicate',
      { route: [to(H, 'v1', 50), to(H, 'v2', 50)] },
      [hashDr],
      { retryIgnorePreviousHosts: true, isDefault: true },
    ],
    [
      'retryIgnorePreviousHosts: false removes it',
      { route: [to(H)], retries: { attempts: 2, retryIgnorePreviousHosts: false } },
      [],
      { retryIgnorePreviousHosts: false },
    ],
  ])('%s', (_n, rule, extra, want) => {
    const s = snapshot(service(H), ...(extra.length ? extra : [subsets(H)]), vs('v', { hosts: [H], http: [rule] }));
    const r = tableOf(s).virtualHost(H)!.routes[0]!;
    if (want === null) expect(r.retries).toBeNull();
    else expect(r.retries).toMatchObject(want);
  });
});

describe('mirrors (§3)', () => {
  const m = { host: H, subset: 'v2', port: null };
  it.each([
    ['mirror without percentage → 100 %', { mirror: { host: H, subset: 'v2' } }, [{ ...m, percent: 100 }]],
    ['mirrorPercentage 0 → none', { mirror: { host: H, subset: 'v2' }, mirrorPercentage: { value: 0 } }, []],
    ['mirrorPercentage {} (value 0) → none', { mirror: { host: H, subset: 'v2' }, mirrorPercentage: {} }, []],
    ['mirrorPercent fallback', { mirror: { host: H, subset: 'v2' }, mirrorPercent: 30 }, [{ ...m, percent: 30 }]],
    [
      'mirrorPercentage wins over mirrorPercent',
      { mirror: { host: H, subset: 'v2' }, mirrorPercent: 30, mirrorPercentage: { value: 12.5 } },
      [{ ...m, percent: 12.5 }],
    ],
    ['mirrorPercent 0 → none', { mirror: { host: H, subset: 'v2' }, mirrorPercent: 0 }, []],
    [
      'mirrors[]: default 100 %, 0 dropped, {} dropped',
      {
        mirrors: [
          { destination: { host: H, subset: 'v2' } },
          { destination: { host: H, subset: 'v1' }, percentage: { value: 0 } },
          { destination: { host: H, subset: 'v1' }, percentage: {} },
          { destination: { host: H, subset: 'v1', port: { number: 80 } }, percentage: { value: 5 } },
        ],
      },
      [
        { ...m, percent: 100 },
        { host: H, subset: 'v1', port: 80, percent: 5 },
      ],
    ],
  ])('%s', (_n, fields, want) => {
    expect(routeOf({ route: [to(H, 'v1')], ...fields }).mirrors).toEqual(want);
  });
});

describe('faults (§6)', () => {
  it.each([
    ['delay without percentage → nothing', { delay: { fixedDelay: '1s' } }, null],
    [
      'delay with percentage',
      { delay: { fixedDelay: '1.5s', percentage: { value: 50 } } },
      { delay: { fixedDelayMs: 1500, percent: 50 }, abort: null },
    ],
    [
      'delay with deprecated percent',
      { delay: { fixedDelay: '100ms', percent: 20 } },
      { delay: { fixedDelayMs: 100, percent: 20 }, abort: null },
    ],
    ['abort without percentage → nothing', { abort: { httpStatus: 503 } }, null],
    [
      'abort 100 %',
      { abort: { httpStatus: 503, percentage: { value: 100 } } },
      { delay: null, abort: { httpStatus: 503, grpcStatus: null, percent: 100 } },
    ],
    [
      'gRPC abort',
      { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 10 } } },
      { delay: null, abort: { httpStatus: null, grpcStatus: 'UNAVAILABLE', percent: 10 } },
    ],
  ])('%s', (_n, fault, want) => {
    expect(routeOf({ route: [to(H)], fault }).fault).toEqual(want);
  });
});

describe('redirect Location (§7.2, Envoy RouteEntryImplBase::newUri)', () => {
  const loc = (redirect: Record<string, unknown>, req: Partial<FactsInit> = {}, match?: unknown) => {
    const r = routeOf({ ...(match ? { match: [match] } : {}), redirect });
    const facts = createFacts({ authority: H, path: '/old?x=1', ...req });
    return redirectTarget(r, 0, facts);
  };
  it.each([
    ['uri replaces the path, query kept', { uri: '/new' }, {}, 301, 'http://p.test/new?x=1'],
    ['uri with its own query replaces the query', { uri: '/new?y=2' }, {}, 301, 'http://p.test/new?y=2'],
    ['authority', { authority: 'other.test' }, {}, 301, 'http://other.test/old?x=1'],
    ['scheme https, no port in Host', { scheme: 'https' }, {}, 301, 'https://p.test/old?x=1'],
    [
      'scheme change drops the old default port :80',
      { scheme: 'https' },
      { authority: `${H}:80` },
      301,
      'https://p.test/old?x=1',
    ],
    [
      'scheme change keeps a non-default port',
      { scheme: 'https' },
      { authority: `${H}:8080` },
      301,
      'https://p.test:8080/old?x=1',
    ],
    ['no change keeps the Host port', { uri: '/n' }, { authority: `${H}:8080` }, 301, 'http://p.test:8080/n?x=1'],
    ['explicit port', { port: 8443 }, {}, 301, 'http://p.test:8443/old?x=1'],
    [
      'explicit port replaces the Host port',
      { port: 9000 },
      { authority: `${H}:8080` },
      301,
      'http://p.test:9000/old?x=1',
    ],
    [
      'explicit default port of the scheme is dropped',
      { port: 80 },
      { authority: `${H}:8080` },
      301,
      'http://p.test/old?x=1',
    ],
    ['https + 443 dropped', { scheme: 'https', port: 443 }, {}, 301, 'https://p.test/old?x=1'],
    [
      'derivePort FROM_REQUEST_PORT',
      { derivePort: 'FROM_REQUEST_PORT' },
      { port: 8080 },
      301,
      'http://p.test:8080/old?x=1',
    ],
    ['redirectCode 302', { uri: '/n', redirectCode: 302 }, {}, 302, 'http://p.test/n?x=1'],
    ['redirectCode 308', { uri: '/n', redirectCode: 308 }, {}, 308, 'http://p.test/n?x=1'],
  ] as const)('%s', (_n, redirect, req, status, location) => {
    expect(loc(redirect, req)).toEqual({ status, location });
  });

  it('decide returns the redirect with its status', () => {
    const s = snapshot(service(H), vs('v', { hosts: [H], http: [{ redirect: { uri: '/n', redirectCode: 307 } }] }));
    expect(decideOne(tableOf(s), { authority: H, path: '/o' })).toMatchObject({
      action: 'redirect',
      status: 307,
      location: 'http://p.test/n',
    });
  });
  it('prefixRewrite replaces the matched prefix and keeps the query', () => {
    expect(loc({ prefixRewrite: '/v2/' }, { path: '/v1/cart?x=1' }, { uri: { prefix: '/v1/' } })).toEqual({
      status: 301,
      location: 'http://p.test/v2/cart?x=1',
    });
  });
});

describe('rewritePath (§7.1)', () => {
  it.each([
    ['prefix replaced, rest and query kept', { uri: { prefix: '/api' } }, { uri: '/v2' }, '/api/x?q=1', '/v2/x?q=1'],
    ['the trailing-slash trap', { uri: { prefix: '/foo' } }, { uri: '/' }, '/foo/x', '//x'],
    ['exact match: whole path replaced', { uri: { exact: '/a' } }, { uri: '/b' }, '/a?z', '/b?z'],
    ['regex match: whole path replaced', { uri: { regex: '/a/.*' } }, { uri: '/b' }, '/a/c', '/b'],
    ['no uri match: prefix / replaced', { headers: { x: {} } }, { uri: '/p' }, '/foo', '/pfoo'],
    [
      'uriRegexRewrite with \\1 \\2',
      { uri: { prefix: '/service' } },
      { uriRegexRewrite: { match: '^/service/([^/]+)(/.*)$', rewrite: '/customprefix\\2/\\1' } },
      '/service/foo/bar?q',
      '/customprefix/bar/foo?q',
    ],
    [
      'uriRegexRewrite replaces every match',
      { uri: { prefix: '/' } },
      { uriRegexRewrite: { match: 'a', rewrite: 'b' } },
      '/aXa',
      '/bXb',
    ],
    [
      'uriRegexRewrite keeps a literal $',
      { uri: { prefix: '/' } },
      { uriRegexRewrite: { match: '/x', rewrite: '/$1$' } },
      '/x',
      '/$1$',
    ],
  ])('%s', (_n, match, rewrite, path, want) => {
    const r = routeOf({ match: [match], route: [to(H)], rewrite });
    expect(rewritePath(r, 0, path)).toBe(want);
  });
});

/** Applies header op levels in order (remove, then set, then add per level), as Envoy does. */
function apply(levels: readonly HeaderOps[], start: Record<string, string[]> = {}): Record<string, string[]> {
  const h: Record<string, string[]> = { ...start };
  for (const l of levels) {
    for (const r of l.remove) delete h[r];
    for (const [k, v] of l.set) h[k] = [v];
    for (const [k, v] of l.add) h[k] = [...(h[k] ?? []), v];
  }
  return h;
}

describe('header precedence (§7.4)', () => {
  const headers = (v: string) => ({ request: { set: { 'x-who': v } }, response: { set: { 'x-who': v } } });
  it('single destination: destination-level set wins', () => {
    const r = routeOf({ route: [{ ...to(H), headers: headers('dest') }], headers: headers('route') });
    const d = r.action.type === 'route' ? r.action.destinations[0]! : null;
    expect(apply(d!.requestHeaders)['x-who']).toEqual(['dest']);
    expect(apply(d!.responseHeaders)['x-who']).toEqual(['dest']);
  });
  it('weighted destinations: route-level set wins', () => {
    const r = routeOf({
      route: [
        { ...to(H, 'v1', 50), headers: headers('dest') },
        { ...to(H, 'v2', 50), headers: headers('dest') },
      ],
      headers: headers('route'),
    });
    const d = r.action.type === 'route' ? r.action.destinations[1]! : null;
    expect(apply(d!.requestHeaders)['x-who']).toEqual(['route']);
  });
  it('add appends, remove drops, maps sorted by key as written (Istio), names lower-cased', () => {
    const r = routeOf({
      route: [to(H)],
      headers: { request: { add: { 'X-B': '2', 'x-a': '1' }, remove: ['X-Old'] } },
    });
    const d = r.action.type === 'route' ? r.action.destinations[0]! : null;
    expect(d!.requestHeaders[0]!.add).toEqual([
      ['x-b', '2'],
      ['x-a', '1'],
    ]);
    expect(apply(d!.requestHeaders, { 'x-old': ['1'], 'x-b': ['0'] })).toEqual({ 'x-a': ['1'], 'x-b': ['0', '2'] });
  });
  it('authority: route level wins over destination level', () => {
    const r = routeOf({
      route: [{ ...to(H, 'v1', 50), headers: { request: { set: { host: 'dest.test' } } } }, { ...to(H, 'v2', 50) }],
      headers: { request: { set: { ':authority': 'route.test' } } },
    });
    const ds = r.action.type === 'route' ? r.action.destinations : [];
    expect(ds.map((d) => d.authority)).toEqual(['route.test', 'route.test']);
    const r2 = routeOf({
      route: [{ ...to(H, 'v1', 50), headers: { request: { set: { host: 'dest.test' } } } }, to(H, 'v2', 50)],
    });
    expect(r2.action.type === 'route' && r2.action.destinations.map((d) => d.authority)).toEqual(['dest.test', null]);
    expect(splitAuthority('route.test').host).toBe('route.test');
  });
});
