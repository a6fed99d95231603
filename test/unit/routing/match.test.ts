/**
 * HTTPMatchRequest semantics (istio-semantics §1.1, §1.3–§1.5), table-driven: each case is one match block, one
 * request, and whether the block accepts it.
 */
import { describe, expect, it } from 'vitest';
import type { StringMatch } from '../../../src/config/istio/schemas.ts';
import type { FactsInit } from '../../../src/routing/facts.ts';
import { compileStringMatch } from '../../../src/routing/string-match.ts';
import type { TraceStep } from '../../../src/routing/types.ts';
import { decideOne, outcome, service, snapshot, subsets, tableOf, to, vs } from './fixtures.ts';

const H = 'm.test';

interface Case {
  name: string;
  match: Record<string, unknown>;
  req: Partial<FactsInit>;
  /**
   * Whether the block accepts the request; `'left out'`: a config-time selector (port, sourceLabels,
   * sourceNamespace, gateways) drops the block for this client, so the one-route VirtualService is not applied and
   * the host's default route serves (not 404).
   */
  want: boolean | 'left out';
}

const cases: Case[] = [
  // uri: exact / prefix / regex (RE2 full match), query stripped, ignoreUriCase for exact and prefix only
  { name: 'uri exact equal', match: { uri: { exact: '/v1' } }, req: { path: '/v1' }, want: true },
  { name: 'uri exact trailing slash', match: { uri: { exact: '/v1' } }, req: { path: '/v1/' }, want: false },
  { name: 'uri exact ignores query', match: { uri: { exact: '/v1' } }, req: { path: '/v1?x=1' }, want: true },
  { name: 'uri exact is case-sensitive', match: { uri: { exact: '/v1' } }, req: { path: '/V1' }, want: false },
  { name: 'uri prefix is a raw prefix', match: { uri: { prefix: '/api' } }, req: { path: '/apis' }, want: true },
  { name: 'uri prefix longer than path', match: { uri: { prefix: '/api' } }, req: { path: '/ap' }, want: false },
  { name: 'uri empty prefix matches all', match: { uri: { prefix: '' } }, req: { path: '/x' }, want: true },
  { name: 'uri regex full match: v1 ≠ v1.2', match: { uri: { regex: '/v1' } }, req: { path: '/v1.2' }, want: false },
  { name: 'uri regex unanchored is anchored', match: { uri: { regex: 'v1' } }, req: { path: '/v1' }, want: false },
  { name: 'uri regex .*', match: { uri: { regex: '/v1.*' } }, req: { path: '/v1.2' }, want: true },
  { name: 'uri regex ignores query', match: { uri: { regex: '/a' } }, req: { path: '/a?b=1' }, want: true },
  { name: 'uri regex (?i)', match: { uri: { regex: '(?i)/abc' } }, req: { path: '/ABC' }, want: true },
  {
    name: 'ignoreUriCase exact',
    match: { uri: { exact: '/Foo' }, ignoreUriCase: true },
    req: { path: '/fOO' },
    want: true,
  },
  {
    name: 'ignoreUriCase prefix',
    match: { uri: { prefix: '/API' }, ignoreUriCase: true },
    req: { path: '/api/x' },
    want: true,
  },
  {
    name: 'ignoreUriCase does not apply to regex',
    match: { uri: { regex: '/foo' }, ignoreUriCase: true },
    req: { path: '/FOO' },
    want: false,
  },
  // headers: names case-insensitive, values case-sensitive, presence forms, full-match regex
  {
    name: 'header name upper in config',
    match: { headers: { 'X-Canary': { exact: 'true' } } },
    req: { headers: { 'x-canary': 'true' } },
    want: true,
  },
  {
    name: 'header name upper in request',
    match: { headers: { 'x-canary': { exact: 'true' } } },
    req: { headers: { 'X-CANARY': 'true' } },
    want: true,
  },
  {
    name: 'header value case-sensitive',
    match: { headers: { 'x-canary': { exact: 'true' } } },
    req: { headers: { 'x-canary': 'True' } },
    want: false,
  },
  {
    name: 'header absent',
    match: { headers: { 'x-canary': { exact: 'true' } } },
    req: {},
    want: false,
  },
  {
    name: 'header prefix',
    match: { headers: { 'user-agent': { prefix: 'curl/' } } },
    req: { headers: { 'user-agent': 'curl/8.0' } },
    want: true,
  },
  {
    name: 'header regex is a full match',
    match: { headers: { x: { regex: 'ab' } } },
    req: { headers: { x: 'abc' } },
    want: false,
  },
  { name: 'header presence {}', match: { headers: { x: {} } }, req: { headers: { x: '' } }, want: true },
  { name: 'header presence {} absent', match: { headers: { x: {} } }, req: {}, want: false },
  {
    name: 'header exact "" and present empty',
    match: { headers: { x: { exact: '' } } },
    req: { headers: { x: '' } },
    want: true,
  },
  { name: 'header exact "" and absent', match: { headers: { x: { exact: '' } } }, req: {}, want: false },
  {
    name: 'repeated header values joined with ,',
    match: { headers: { x: { exact: 'a,b' } } },
    req: {
      headers: [
        ['x', 'a'],
        ['X', 'b'],
      ],
    },
    want: true,
  },
  {
    name: 'headers key "uri" is ignored',
    match: { headers: { uri: { exact: '/nope' } } },
    req: { path: '/x' },
    want: true,
  },
  // withoutHeaders: inverted; a missing header compared as "" (non-presence), presence inverted
  {
    name: 'withoutHeaders exact, header absent',
    match: { withoutHeaders: { x: { exact: 'a' } } },
    req: {},
    want: true,
  },
  {
    name: 'withoutHeaders exact, header equal',
    match: { withoutHeaders: { x: { exact: 'a' } } },
    req: { headers: { x: 'a' } },
    want: false,
  },
  {
    name: 'withoutHeaders exact, header other',
    match: { withoutHeaders: { x: { exact: 'a' } } },
    req: { headers: { x: 'b' } },
    want: true,
  },
  {
    name: 'withoutHeaders exact "", header absent (missing = "")',
    match: { withoutHeaders: { x: { exact: '' } } },
    req: {},
    want: false,
  },
  { name: 'withoutHeaders presence, absent', match: { withoutHeaders: { x: {} } }, req: {}, want: true },
  {
    name: 'withoutHeaders presence, present',
    match: { withoutHeaders: { x: {} } },
    req: { headers: { x: '1' } },
    want: false,
  },
  {
    name: 'withoutHeaders regex *, present',
    match: { withoutHeaders: { x: { regex: '*' } } },
    req: { headers: { x: '1' } },
    want: false,
  },
  {
    name: 'withoutHeaders prefix, missing = "" does not start with p',
    match: { withoutHeaders: { x: { prefix: 'p' } } },
    req: {},
    want: true,
  },
  // queryParams: names case-sensitive, first value, `?key` = exact "", presence, full-match regex
  { name: 'query exact', match: { queryParams: { a: { exact: 'b' } } }, req: { path: '/?a=b' }, want: true },
  { name: 'query exact mismatch', match: { queryParams: { a: { exact: 'b' } } }, req: { path: '/?a=bc' }, want: false },
  {
    name: 'query name case-sensitive',
    match: { queryParams: { a: { exact: 'b' } } },
    req: { path: '/?A=b' },
    want: false,
  },
  {
    name: 'query first value wins',
    match: { queryParams: { a: { exact: 'b' } } },
    req: { path: '/?a=c&a=b' },
    want: false,
  },
  {
    name: 'query among others',
    match: { queryParams: { a: { exact: 'b' } } },
    req: { path: '/p?x=1&a=b' },
    want: true,
  },
  {
    name: 'query ?key = exact ""',
    match: { queryParams: { debug: { exact: '' } } },
    req: { path: '/?debug' },
    want: true,
  },
  { name: 'query presence {}', match: { queryParams: { a: {} } }, req: { path: '/?a=1' }, want: true },
  { name: 'query presence {} absent', match: { queryParams: { a: {} } }, req: { path: '/?b=1' }, want: false },
  {
    name: 'query regex full',
    match: { queryParams: { id: { regex: '\\d+' } } },
    req: { path: '/?id=123' },
    want: true,
  },
  {
    name: 'query regex full, trailing letter',
    match: { queryParams: { id: { regex: '\\d+' } } },
    req: { path: '/?id=123a' },
    want: false,
  },
  {
    name: 'query absent (no query string)',
    match: { queryParams: { a: { exact: '' } } },
    req: { path: '/' },
    want: false,
  },
  // scheme, method, authority (port included; case-sensitive value)
  { name: 'scheme exact', match: { scheme: { exact: 'https' } }, req: { scheme: 'https' }, want: true },
  { name: 'scheme mismatch', match: { scheme: { exact: 'https' } }, req: { scheme: 'http' }, want: false },
  { name: 'method exact', match: { method: { exact: 'GET' } }, req: { method: 'POST' }, want: false },
  { name: 'method regex', match: { method: { regex: 'GET|HEAD' } }, req: { method: 'HEAD' }, want: true },
  {
    name: 'authority includes the port',
    match: { authority: { exact: H } },
    req: { authority: `${H}:8080` },
    want: false,
  },
  {
    name: 'authority prefix with port',
    match: { authority: { prefix: H } },
    req: { authority: `${H}:8080` },
    want: true,
  },
  {
    name: 'authority exact with port',
    match: { authority: { exact: `${H}:8080` } },
    req: { authority: `${H}:8080` },
    want: true,
  },
  {
    name: 'authority value is case-sensitive',
    match: { authority: { exact: H } },
    req: { authority: H.toUpperCase() },
    want: false,
  },
  // port (build-time selector against the listener port)
  { name: 'port equal', match: { port: 8080 }, req: { port: 8080 }, want: true },
  { name: 'port differs', match: { port: 8080 }, req: { port: 80 }, want: 'left out' },
  // sourceLabels (subset of the client's labels), sourceNamespace
  {
    name: 'sourceLabels subset',
    match: { sourceLabels: { app: 'a' } },
    req: { source: { labels: { app: 'a', version: '1' } } },
    want: true,
  },
  {
    name: 'sourceLabels mismatch',
    match: { sourceLabels: { app: 'a' } },
    req: { source: { labels: { app: 'b' } } },
    want: 'left out',
  },
  { name: 'sourceLabels, unknown source', match: { sourceLabels: { app: 'a' } }, req: {}, want: 'left out' },
  {
    name: 'sourceNamespace equal',
    match: { sourceNamespace: 'prod' },
    req: { source: { namespace: 'prod' } },
    want: true,
  },
  { name: 'sourceNamespace unknown source', match: { sourceNamespace: 'prod' }, req: {}, want: 'left out' },
  // match.gateways: overrides the VS gateways and skips source checks
  {
    name: 'match.gateways [mesh] skips sourceLabels',
    match: { gateways: ['mesh'], sourceLabels: { app: 'a' } },
    req: {},
    want: true,
  },
  {
    name: 'match.gateways [mesh] skips sourceNamespace',
    match: { gateways: ['mesh'], sourceNamespace: 'prod' },
    req: { source: { namespace: 'dev' } },
    want: true,
  },
  { name: 'match.gateways excludes mesh', match: { gateways: ['default/gw'] }, req: {}, want: 'left out' },
  // AND of fields
  {
    name: 'AND: uri and header both hold',
    match: { uri: { prefix: '/a' }, headers: { x: { exact: '1' } } },
    req: { path: '/a', headers: { x: '1' } },
    want: true,
  },
  {
    name: 'AND: uri holds, header does not',
    match: { uri: { prefix: '/a' }, headers: { x: { exact: '1' } } },
    req: { path: '/a', headers: { x: '2' } },
    want: false,
  },
  {
    name: 'AND: two headers, one missing',
    match: { headers: { x: { exact: '1' }, y: { exact: '2' } } },
    req: { headers: { x: '1' } },
    want: false,
  },
];

describe('HTTPMatchRequest fields (§1.4–§1.5)', () => {
  it.each(cases)('$name', ({ match, req, want }) => {
    const s = snapshot(
      service(H, [80, 8080]),
      subsets(H),
      vs('v', { hosts: [H], http: [{ name: 'hit', match: [match], route: [to(H, 'v2')] }] }),
    );
    const t = tableOf(s);
    const trace: TraceStep[] = [];
    const d = decideOne(t, { authority: H, ...req }, 0, trace);
    expect(outcome(d), JSON.stringify(trace)).toBe(want === 'left out' ? `${H}:80` : want ? 'v2' : '404');
    // The trace names the first failing condition for a miss.
    const step = trace.find((x) => x.step === 'match');
    if (want === 'left out') {
      // The VirtualService is not applied: the default route serves, and the trace says why.
      expect(d.action === 'route' && d.vhost.virtualService).toBeNull();
      expect(step?.route?.name).toBe('default');
    } else if (want) expect(step?.matched).toBe(true);
    else {
      expect(step?.matched).toBe(false);
      expect(step?.message).toMatch(/^match\[0\]: .+/);
    }
  });
});

describe('presence forms compile to present_match (§1.5)', () => {
  // The webhook rejects regex "*" under `headers` (not RE2) but accepts it under withoutHeaders; the translation
  // itself turns {}, null and regex "*" into presence for headers and query parameters alike.
  it.each([
    [{}, 'present'],
    [null, 'present'],
    [{ regex: '*' }, 'present'],
    [{ exact: '' }, 'exact'],
    [{ regex: '.*' }, 'regex'],
  ] as const)('%j → %s', (m, kind) => {
    const c = compileStringMatch(m as StringMatch | null, { allowPresence: true });
    expect(c.kind).toBe(kind);
    if (kind === 'present') expect(c.test('anything')).toBe(true);
  });
  it('regex * under withoutHeaders passes validation and means "absent"', () => {
    const s = snapshot(
      service(H),
      vs('v', { hosts: [H], http: [{ match: [{ withoutHeaders: { x: { regex: '*' } } }], route: [to(H)] }] }),
    );
    expect(outcome(decideOne(tableOf(s), { authority: H }))).not.toBe('404');
    expect(outcome(decideOne(tableOf(s), { authority: H, headers: { x: 'y' } }))).toBe('404');
  });
});

describe('match blocks and route order (§1.1)', () => {
  const s = snapshot(
    service(H),
    subsets(H),
    vs('v', {
      hosts: [H],
      http: [
        {
          name: 'either',
          match: [{ headers: { x: { exact: '1' } } }, { uri: { prefix: '/y' } }],
          route: [to(H, 'v2')],
        },
        { name: 'also-matches-x', match: [{ headers: { x: { exact: '1' } } }], route: [to(H, 'v1')] },
        { name: 'rest', route: [to(H, 'v1')] },
      ],
    }),
  );
  const t = tableOf(s);
  it.each([
    ['first block', { headers: { x: '1' } }, 'either', 0],
    ['second block (OR)', { path: '/y/z' }, 'either', 1],
    ['neither → next route', { path: '/z' }, 'rest', null],
  ] as const)('%s', (_n, req, routeName, matchIndex) => {
    const d = decideOne(t, { authority: H, ...req });
    expect(d.action).toBe('route');
    if (d.action !== 'route') return;
    expect(d.route.name).toBe(routeName);
    const m = d.route.matches[d.matchIndex]!;
    expect(m.index === -1 ? null : m.index).toBe(matchIndex);
  });

  it('first match wins even when a later route also matches', () => {
    const d = decideOne(t, { authority: H, headers: { x: '1' } });
    expect(d.action === 'route' && d.route.name).toBe('either');
  });

  it('named match blocks give Envoy route names http.name.match.name', () => {
    const s2 = snapshot(
      service(H),
      vs('v', {
        hosts: [H],
        http: [{ name: 'r', match: [{ name: 'm', uri: { prefix: '/' } }], route: [to(H)] }],
      }),
    );
    const d = decideOne(tableOf(s2), { authority: H });
    expect(d.action === 'route' && d.route.matches[d.matchIndex]!.name).toBe('m');
  });
});

describe('gateways (§1.3)', () => {
  const s = snapshot(
    service(H),
    subsets(H),
    vs('v', {
      hosts: [H],
      gateways: ['gw', 'mesh'],
      http: [
        { name: 'gw-only', match: [{ gateways: ['gw'], uri: { prefix: '/' } }], route: [to(H, 'v2')] },
        { name: 'mesh-qa', match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] },
        { name: 'rest', route: [to(H, 'v1')] },
      ],
    }),
  );
  it('the gateway gets the gw-only block; the sidecar does not', () => {
    const gw = decideOne(tableOf(s, { gateway: 'default/gw' }), { authority: H });
    expect(gw.action === 'route' && gw.route.name).toBe('gw-only');
    const mesh = decideOne(tableOf(s), { authority: H });
    expect(mesh.action === 'route' && mesh.route.name).toBe('rest');
  });
  it('sourceLabels apply on the sidecar', () => {
    const d = decideOne(tableOf(s), { authority: H, source: { labels: { app: 'qa' } } });
    expect(d.action === 'route' && d.route.name).toBe('mesh-qa');
  });
  it('a VS not bound to a gateway is invisible to it', () => {
    const s2 = snapshot(service(H), vs('v', { hosts: [H], http: [{ route: [to(H)] }] }));
    expect(decideOne(tableOf(s2, { gateway: 'default/gw' }), { authority: H }).action).toBe('notFound');
  });
});

describe('pseudo-headers in `headers` (Envoy header matchers on :authority, :method, :path, :scheme)', () => {
  it.each([
    [':authority', { exact: `${H}:8080` }, { authority: `${H}:8080` }, true],
    [':authority', { exact: H }, { authority: `${H}:8080` }, false],
    [':method', { exact: 'POST' }, { method: 'POST' }, true],
    [':path', { prefix: '/a' }, { path: '/a/b?x=1' }, true],
    [':scheme', { exact: 'https' }, {}, false],
    ['host', { exact: H }, {}, true],
  ] as const)('%s %j', (name, m, req, want) => {
    const s = snapshot(
      service(H, [80, 8080]),
      subsets(H),
      vs('v', { hosts: [H], http: [{ match: [{ headers: { [name]: m } }], route: [to(H, 'v2')] }] }),
    );
    expect(outcome(decideOne(tableOf(s), { authority: H, ...req }))).toBe(want ? 'v2' : '404');
  });
});
