/**
 * Route-table construction: delegates (§1.6), several VirtualServices for one host (§1.7), wildcard hosts (§1.2),
 * the default route for a registry host without a VirtualService, weights and destination ports (§2).
 */
import { describe, expect, it } from 'vitest';
import { decideOne, outcome, res, service, snapshot, subsets, tableOf, to, vs } from './fixtures.ts';

const H = 'd.test';

describe('delegates (§1.6)', () => {
  const root = (http: unknown[], extra: Record<string, unknown> = {}) => vs('root', { hosts: [H], http, ...extra });
  const delegate = (name: string, http: unknown[], meta: { namespace?: string } = {}, exportTo?: string[]) =>
    vs(name, { http, ...(exportTo ? { exportTo } : {}) }, meta);

  it('splices one route per delegate route, root match merged with each', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      root([
        { name: 'api', match: [{ uri: { prefix: '/api' } }], delegate: { name: 'api-routes' } },
        { name: 'rest', route: [to(H, 'v1')] },
      ]),
      delegate('api-routes', [
        { name: 'v2', match: [{ uri: { prefix: '/api/v2' } }], route: [to(H, 'v2')] },
        { name: 'other', route: [to(H, 'v1')] },
      ]),
    );
    const t = tableOf(s);
    const cases = [
      ['/api/v2/x', 'api-v2'],
      ['/api/x', 'api-other'],
      ['/web', 'rest'],
    ] as const;
    for (const [path, name] of cases) {
      const d = decideOne(t, { authority: H, path });
      expect(d.action === 'route' && d.route.name, path).toBe(name);
    }
    const d = decideOne(t, { authority: H, path: '/api/v2' });
    expect(d.action === 'route' && d.route.delegateIndex).toBe(0);
    expect(d.action === 'route' && d.route.virtualService.name).toBe('api-routes');
  });

  it('inherits rewrite/timeout/retries/headers… from the root only when the delegate leaves them unset', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      root([
        {
          match: [{ uri: { prefix: '/' } }],
          delegate: { name: 'd' },
          timeout: '5s',
          retries: { attempts: 4 },
          headers: { request: { set: { 'x-root': '1' } } },
        },
      ]),
      delegate('d', [
        { match: [{ uri: { prefix: '/own' } }], route: [to(H, 'v2')], timeout: '1s' },
        { route: [to(H, 'v1')] },
      ]),
    );
    const t = tableOf(s);
    const own = decideOne(t, { authority: H, path: '/own' });
    const inh = decideOne(t, { authority: H, path: '/x' });
    expect(own.action === 'route' && [own.route.timeoutMs, own.route.retries?.attempts]).toEqual([1000, 4]);
    expect(inh.action === 'route' && [inh.route.timeoutMs, inh.route.headers?.request.set]).toEqual([
      5000,
      [['x-root', '1']],
    ]);
  });

  it('unions header maps (delegate wins on a clash) and takes unset scalars from the root', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      root([
        {
          match: [{ uri: { prefix: '/a' }, headers: { x: { exact: '1' }, y: { prefix: 'd' } } }],
          delegate: { name: 'd' },
        },
      ]),
      delegate('d', [{ match: [{ headers: { z: { exact: '3' }, y: { exact: 'del' } } }], route: [to(H, 'v2')] }]),
    );
    const t = tableOf(s);
    const all = { x: '1', y: 'del', z: '3' };
    expect(outcome(decideOne(t, { authority: H, path: '/a', headers: all }))).toBe('v2');
    expect(outcome(decideOne(t, { authority: H, path: '/b', headers: all }))).toBe('404'); // root uri kept
    expect(outcome(decideOne(t, { authority: H, path: '/a', headers: { ...all, y: 'dx' } }))).toBe('404');
    expect(outcome(decideOne(t, { authority: H, path: '/a', headers: { x: '1', y: 'del' } }))).toBe('404');
  });

  it.each([
    ['prefix outside the root prefix', { uri: { prefix: '/web' } }],
    ['regex on the delegate side', { uri: { regex: '/api/.*' } }],
    ['exact outside the root prefix', { uri: { exact: '/web' } }],
    ['ignoreUriCase differs', { uri: { prefix: '/api/x' }, ignoreUriCase: true }],
    ['different port', { port: 8080 }],
  ])('a conflicting delegate route is dropped: %s', (_n, dm) => {
    const s = snapshot(
      service(H, [80, 8080]),
      subsets(H),
      root([
        { match: [{ uri: { prefix: '/api' }, port: 80 }], delegate: { name: 'd' } },
        { name: 'rest', route: [to(H, 'v1')] },
      ]),
      delegate('d', [
        { name: 'conflicting', match: [dm], route: [to(H, 'v2')] },
        { name: 'fine', match: [{ uri: { prefix: '/api/ok' } }], route: [to(H, 'v2')] },
      ]),
    );
    const t = tableOf(s);
    const names = t.virtualHost(H)!.routes.map((r) => r.name);
    expect(names).toEqual(['fine', 'rest']);
  });

  it('a missing delegate drops only that root route', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      root([
        { match: [{ uri: { prefix: '/api' } }], delegate: { name: 'nope' } },
        { name: 'rest', route: [to(H, 'v1')] },
      ]),
    );
    const d = decideOne(tableOf(s), { authority: H, path: '/api' });
    expect(d.action === 'route' && d.route.name).toBe('rest');
  });

  it('an unexported delegate drops only that root route; the namespace defaults to the root', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      root([
        { match: [{ uri: { prefix: '/a' } }], delegate: { name: 'hidden', namespace: 'other' } },
        { match: [{ uri: { prefix: '/b' } }], delegate: { name: 'local' } },
        { name: 'rest', route: [to(H, 'v1')] },
      ]),
      delegate('hidden', [{ route: [to(H, 'v2')] }], { namespace: 'other' }, ['.']),
      delegate('local', [{ name: 'loc', route: [to(H, 'v2')] }]),
    );
    const t = tableOf(s);
    expect(decideOne(t, { authority: H, path: '/a' }).action === 'route').toBe(true);
    const a = decideOne(t, { authority: H, path: '/a' });
    expect(a.action === 'route' && a.route.name).toBe('rest');
    const b = decideOne(t, { authority: H, path: '/b' });
    expect(b.action === 'route' && b.route.name).toBe('loc');
  });
});

describe('several VirtualServices for one host (§1.7)', () => {
  const older = vs(
    'older',
    {
      hosts: [H],
      gateways: ['gw', 'mesh'],
      http: [{ name: 'older-catch-all', route: [to(H, 'v1')] }],
    },
    { created: '2024-01-01T00:00:00Z' },
  );
  const newer = vs(
    'newer',
    {
      hosts: [H],
      gateways: ['gw', 'mesh'],
      http: [{ name: 'newer-header', match: [{ headers: { x: { exact: '1' } } }], route: [to(H, 'v2')] }],
    },
    { created: '2025-01-01T00:00:00Z' },
  );

  it('sidecar: the oldest VirtualService wins by creationTimestamp, whatever the file order', () => {
    const s = snapshot(service(H), subsets(H), newer, older);
    const d = decideOne(tableOf(s), { authority: H, headers: { x: '1' } });
    expect(d.action === 'route' && d.route.name).toBe('older-catch-all');
    expect(tableOf(s).virtualHost(H)!.virtualService!.name).toBe('older');
  });

  it('gateway: routes are concatenated and catch-alls moved last', () => {
    const s = snapshot(service(H), subsets(H), newer, older);
    const t = tableOf(s, { gateway: 'default/gw' });
    expect(t.virtualHost(H)!.routes.map((r) => r.name)).toEqual(['newer-header', 'older-catch-all']);
    expect(outcome(decideOne(t, { authority: H, headers: { x: '1' } }))).toBe('v2');
    expect(outcome(decideOne(t, { authority: H }))).toBe('v1');
  });

  it('gateway: a catch-all match block (prefix /) counts as catch-all; routes after it in its VS are dropped', () => {
    const a = vs(
      'a',
      {
        hosts: [H],
        gateways: ['gw'],
        http: [
          { name: 'a-all', match: [{ uri: { prefix: '/' } }], route: [to(H, 'v1')] },
          { name: 'a-unreachable', match: [{ headers: { y: { exact: '1' } } }], route: [to(H, 'v1')] },
        ],
      },
      { created: '2024-01-01T00:00:00Z' },
    );
    const b = vs(
      'b',
      {
        hosts: [H],
        gateways: ['gw'],
        http: [{ name: 'b-header', match: [{ headers: { x: { exact: '1' } } }], route: [to(H, 'v2')] }],
      },
      { created: '2025-01-01T00:00:00Z' },
    );
    const t = tableOf(snapshot(service(H), subsets(H), a, b), { gateway: 'default/gw' });
    expect(t.virtualHost(H)!.routes.map((r) => r.name)).toEqual(['b-header', 'a-all']);
    expect(outcome(decideOne(t, { authority: H, headers: { x: '1' } }))).toBe('v2');
  });
});

describe('hosts (§1.2)', () => {
  it('wildcards: exact beats wildcard; the most specific wildcard wins', () => {
    const s = snapshot(
      service('a.b.example.com', [80], 1),
      service('c.example.com', [80], 2),
      service('exact.b.example.com', [80], 3),
      vs('wide', { hosts: ['*.example.com'], http: [{ name: 'wide', route: [to('c.example.com')] }] }),
      vs('narrow', { hosts: ['*.b.example.com'], http: [{ name: 'narrow', route: [to('a.b.example.com')] }] }),
      vs('exact', { hosts: ['exact.b.example.com'], http: [{ name: 'exact', route: [to('exact.b.example.com')] }] }),
    );
    const t = tableOf(s);
    const name = (authority: string) => {
      const d = decideOne(t, { authority });
      return d.action === 'route' ? d.route.name : d.action;
    };
    expect(name('a.b.example.com')).toBe('narrow');
    expect(name('c.example.com')).toBe('wide');
    expect(name('exact.b.example.com')).toBe('exact');
  });

  it('a registry host without a VirtualService gets the default route (all endpoints, default retries)', () => {
    const s = snapshot(service(H));
    const d = decideOne(tableOf(s), { authority: `${H}:80` });
    expect(d.action).toBe('route');
    if (d.action !== 'route') return;
    expect(d.cluster.name).toBe(`outbound|80||${H}`);
    expect(d.cluster.endpoints.map((e) => e.key)).toEqual(['10.0.0.1:10080', '10.0.0.2:10080']);
    expect(d.route.timeoutMs).toBeNull();
    expect(d.route.retries).toMatchObject({ attempts: 2, isDefault: true, retryIgnorePreviousHosts: true });
    expect(d.vhost.virtualService).toBeNull();
  });

  it('a VS host with no registry service is served on port 80 only (sidecar)', () => {
    const s = snapshot(service(H), vs('ext', { hosts: ['ext.example.com'], http: [{ route: [to(H)] }] }));
    const t = tableOf(s);
    expect(decideOne(t, { authority: 'ext.example.com', port: 80 }).action).toBe('route');
    expect(decideOne(t, { authority: 'ext.example.com', port: 8080 }).action).toBe('notFound');
  });

  it('an unknown host is 404 NR', () => {
    const d = decideOne(tableOf(snapshot(service(H))), { authority: 'nope.test' });
    expect(d).toMatchObject({ action: 'notFound', status: 404, responseFlags: 'NR' });
  });
});

describe('weights (§2)', () => {
  const split = (weights: (number | undefined)[]) =>
    tableOf(
      snapshot(
        service(H),
        subsets(H),
        vs('v', {
          hosts: [H],
          http: [{ route: weights.map((w, i) => to(H, i % 2 === 0 ? 'v1' : 'v2', w)) }],
        }),
      ),
    );

  it('zero-weight destinations are dropped', () => {
    const t = split([0, 100]);
    const r = t.virtualHost(H)!.routes[0]!;
    expect(r.action.type === 'route' && r.action.destinations.map((d) => d.subset)).toEqual(['v2']);
    for (const x of [0, 0.5, 0.999]) expect(outcome(decideOne(t, { authority: H }, x))).toBe('v2');
  });

  it('a single destination ignores its weight', () => {
    const t = split([25]);
    for (const x of [0, 0.5, 0.999]) expect(outcome(decideOne(t, { authority: H }, x))).toBe('v1');
  });

  it('weights need not sum to 100: 1 and 3 → 25 % / 75 % over cumulative intervals', () => {
    const t = split([1, 3]);
    expect(outcome(decideOne(t, { authority: H }, 0.2499))).toBe('v1');
    expect(outcome(decideOne(t, { authority: H }, 0.25))).toBe('v2');
    expect(outcome(decideOne(t, { authority: H }, 0.9999))).toBe('v2');
  });

  it('95/5 in declaration order', () => {
    const t = split([95, 5]);
    expect(outcome(decideOne(t, { authority: H }, 0.9499))).toBe('v1');
    expect(outcome(decideOne(t, { authority: H }, 0.95))).toBe('v2');
  });
});

describe('destination port and cluster (§2)', () => {
  it.each([
    ['explicit port', [80, 8080], 8080, 80, 8080],
    ["the service's only port", [9090], undefined, 80, 9090],
    ['the request port (several ports)', [80, 8080], undefined, 8080, 8080],
  ] as const)('%s', (_n, ports, explicit, requestPort, want) => {
    const s = snapshot(
      service(H, [...ports]),
      vs('v', { hosts: [H], http: [{ route: [to(H, undefined, undefined, explicit)] }] }),
    );
    const d = decideOne(tableOf(s), { authority: H, port: requestPort });
    expect(d.action === 'route' && d.cluster.name).toBe(`outbound|${want}||${H}`);
    expect(d.action === 'route' && d.cluster.endpoints[0]?.port).toBe(want + 10000);
  });

  it('an unknown subset is 503 NC', () => {
    const s = snapshot(service(H), subsets(H), vs('v', { hosts: [H], http: [{ route: [to(H, 'v3')] }] }));
    const d = decideOne(tableOf(s), { authority: H });
    expect(d).toMatchObject({
      action: 'clusterNotFound',
      status: 503,
      responseFlags: 'NC',
      clusterName: `outbound|80|v3|${H}`,
    });
  });

  it('an unknown destination host is 503 NC', () => {
    const s = snapshot(service(H), vs('v', { hosts: [H], http: [{ route: [to('ghost.test')] }] }));
    expect(decideOne(tableOf(s), { authority: H })).toMatchObject({ action: 'clusterNotFound', status: 503 });
  });

  it('subset clusters hold only the endpoints whose labels match', () => {
    const s = snapshot(service(H), subsets(H), vs('v', { hosts: [H], http: [{ route: [to(H, 'v2')] }] }));
    const d = decideOne(tableOf(s), { authority: H });
    expect(d.action === 'route' && d.cluster.endpoints.map((e) => e.address)).toEqual(['10.0.0.2']);
  });
});

describe('gateway mode: the Gateway server hosts limit the VirtualService hosts served', () => {
  const gateway = res('Gateway', 'gw', {
    selector: { istio: 'ingressgateway' },
    servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['default/d.test', '*/*.shop.test'] }],
  });
  const both = vs('both', {
    hosts: [H, 'other.test', 'cart.shop.test'],
    gateways: ['gw'],
    http: [{ name: 'r', route: [to(H, 'v1')] }],
  });

  it('serves only hosts that match a server host, and honours the namespace part', () => {
    const t = tableOf(snapshot(service(H), subsets(H), gateway, both), { gateway: 'default/gw' });
    expect(decideOne(t, { authority: H }).action).toBe('route');
    expect(decideOne(t, { authority: 'cart.shop.test' }).action).toBe('route');
    expect(decideOne(t, { authority: 'other.test' })).toMatchObject({ action: 'notFound', responseFlags: 'NR' });
    const elsewhere = vs(
      'x',
      { hosts: ['d.test'], gateways: ['default/gw'], http: [{ name: 'r', route: [to(H, 'v1')] }] },
      { namespace: 'team' },
    );
    const t2 = tableOf(snapshot(service(H), subsets(H), gateway, elsewhere), { gateway: 'default/gw' });
    expect(decideOne(t2, { authority: H }).action).toBe('notFound');
  });

  it('without the Gateway resource, every host of the bound VirtualServices is served', () => {
    const t = tableOf(snapshot(service(H), subsets(H), both), { gateway: 'default/gw' });
    expect(decideOne(t, { authority: 'other.test' }).action).not.toBe('notFound');
  });
});

describe('destination ports that the service does not have', () => {
  it('have no cluster: 503 NC, as Istio builds clusters per service port only', () => {
    const s = snapshot(
      service(H, [80]),
      subsets(H),
      vs('v', { hosts: [H], http: [{ route: [{ destination: { host: H, subset: 'v1', port: { number: 9080 } } }] }] }),
    );
    expect(decideOne(tableOf(s), { authority: H })).toMatchObject({
      action: 'clusterNotFound',
      status: 503,
      responseFlags: 'NC',
      clusterName: `outbound|9080|v1|${H}`,
    });
  });
});
