/**
 * Config-time selectors (istio-semantics §1.4; istio `TranslateRoute`, `sourceMatchHTTP`,
 * `buildSidecarVirtualHostsForVirtualService`, `BuildSidecarVirtualHostWrapper`): `sourceLabels`,
 * `sourceNamespace` and `match.port` decide which match blocks exist for a client, not whether a request matches. A
 * VirtualService with no block left for the client is not applied: the next VirtualService for the host, or the
 * registry service's default route, serves it — never 404 NR because of a selector.
 */
import { describe, expect, it } from 'vitest';
import type { RouteTable } from '../../../src/routing/compile.ts';
import type { FactsInit } from '../../../src/routing/facts.ts';
import type { TraceStep } from '../../../src/routing/types.ts';
import { decideOne, outcome, service, snapshot, subsets, tableOf, to, vs } from './fixtures.ts';

const H = 's.test';
const QA = { labels: { app: 'qa' }, namespace: 'default', workload: 'qa', ip: null };
const OTHER = { labels: { app: 'web' }, namespace: 'default', workload: 'web', ip: null };

/** The VirtualService serving the decision (`-` for the default route or no virtual host) and the outcome. */
function served(t: RouteTable, init: FactsInit): string {
  const d = decideOne(t, init);
  const vsName = d.action === 'notFound' ? '-' : (d.vhost?.virtualService?.name ?? '-');
  return `${vsName} ${outcome(d)}`;
}

describe('a VirtualService whose only routes select other sources is not applied', () => {
  const s = snapshot(
    service(H),
    subsets(H),
    vs('canary', {
      hosts: [H],
      http: [{ name: 'qa', match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] }],
    }),
  );
  const t = tableOf(s);

  it('the selected source gets the VirtualService; any other gets the default route (all endpoints), not 404', () => {
    expect(served(t, { authority: H, source: QA })).toBe('canary v2');
    expect(served(t, { authority: H, source: OTHER })).toBe(`- ${H}:80`);
    expect(served(t, { authority: H })).toBe(`- ${H}:80`); // unknown client (no workload has its IP)
    const d = decideOne(t, { authority: H, source: OTHER });
    expect(d.action === 'route' && d.cluster.endpoints.length).toBe(2);
  });

  it('explain: the trace says why the VirtualService was skipped', () => {
    const trace: TraceStep[] = [];
    decideOne(t, { authority: H, source: OTHER }, 0, trace);
    const vsStep = trace.find((x) => x.step === 'virtualService');
    expect(vsStep?.message).toMatch(/VirtualService default\/canary not applied for source web/);
    const left = trace.find((x) => x.step === 'selector');
    expect(left).toMatchObject({ route: { name: 'qa', index: 0 }, matchIndex: 0, matched: false });
    expect(left?.message).toContain('sourceLabels app=qa: not a label of the source workload');
    expect(trace.find((x) => x.step === 'host')?.message).toContain("no VirtualService, Istio's default route");
  });

  it('sourceNamespace selects too', () => {
    const s2 = snapshot(
      service(H),
      subsets(H),
      vs('ns', { hosts: [H], http: [{ match: [{ sourceNamespace: 'qa' }], route: [to(H, 'v2')] }] }),
    );
    const t2 = tableOf(s2);
    expect(served(t2, { authority: H, source: { namespace: 'qa' } })).toBe('ns v2');
    expect(served(t2, { authority: H, source: { namespace: 'prod' } })).toBe(`- ${H}:80`);
  });
});

describe('a VirtualService with a route left for the client applies, and its other routes are request matches', () => {
  const s = snapshot(
    service(H),
    subsets(H),
    vs('mixed', {
      hosts: [H],
      http: [
        { name: 'qa', match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] },
        { name: 'beta', match: [{ headers: { 'x-beta': { exact: '1' } } }], route: [to(H, 'v2')] },
      ],
    }),
  );
  const t = tableOf(s);

  it('another source without the header: the VirtualService applies and nothing matches → 404 NR', () => {
    expect(served(t, { authority: H, source: OTHER })).toBe('- 404');
    expect(decideOne(t, { authority: H, source: OTHER }).vhost?.virtualService?.name).toBe('mixed');
    expect(served(t, { authority: H, source: OTHER, headers: { 'x-beta': '1' } })).toBe('mixed v2');
  });

  it('a block with sourceLabels and a header: the header is the request match for the selected source', () => {
    const s2 = snapshot(
      service(H),
      subsets(H),
      vs('both', {
        hosts: [H],
        http: [
          {
            match: [{ sourceLabels: { app: 'qa' }, headers: { 'x-trigger': { exact: 'yes' } } }],
            route: [to(H, 'v2')],
          },
        ],
      }),
    );
    const t2 = tableOf(s2);
    expect(served(t2, { authority: H, source: QA, headers: { 'x-trigger': 'yes' } })).toBe('both v2');
    expect(served(t2, { authority: H, source: QA })).toBe('- 404'); // installed for qa; the header is missing
    expect(served(t2, { authority: H, source: OTHER })).toBe(`- ${H}:80`); // not installed for web
  });

  it('a block left with only sourceLabels is a catch-all for the selected source: later routes are cut', () => {
    const s3 = snapshot(
      service(H),
      subsets(H),
      vs('cut', {
        hosts: [H],
        http: [
          { name: 'qa', match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] },
          { name: 'after', match: [{ headers: { x: { exact: '1' } } }], route: [to(H, 'v1')] },
        ],
      }),
    );
    const t3 = tableOf(s3);
    expect(t3.virtualHost(H, { source: QA, port: 80 })?.routes.map((r) => r.name)).toEqual(['qa']);
    expect(t3.virtualHost(H, { source: OTHER, port: 80 })?.routes.map((r) => r.name)).toEqual(['after']);
  });
});

describe('several VirtualServices for one host (sidecar): the oldest one with a route left for the client wins', () => {
  const s = snapshot(
    service(H),
    subsets(H),
    vs(
      'older-qa-only',
      { hosts: [H], http: [{ match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] }] },
      { created: '2024-01-01T00:00:00Z' },
    ),
    vs('newer', { hosts: [H], http: [{ route: [to(H, 'v1')] }] }, { created: '2025-01-01T00:00:00Z' }),
  );
  it('qa gets the older VirtualService, others the newer one', () => {
    const t = tableOf(s);
    expect(served(t, { authority: H, source: QA })).toBe('older-qa-only v2');
    expect(served(t, { authority: H, source: OTHER })).toBe('newer v1');
  });

  it('a VirtualService none of whose blocks is for this proxy (match.gateways) gives way too, and explain says so', () => {
    const s2 = snapshot(
      service(H),
      subsets(H),
      vs(
        'gw-only',
        { hosts: [H], gateways: ['gw', 'mesh'], http: [{ match: [{ gateways: ['gw'] }], route: [to(H, 'v2')] }] },
        { created: '2024-01-01T00:00:00Z' },
      ),
    );
    const trace: TraceStep[] = [];
    expect(outcome(decideOne(tableOf(s2), { authority: H }, 0, trace))).toBe(`${H}:80`);
    expect(trace[0]).toMatchObject({ step: 'virtualService' });
    expect(trace[0]?.message).toContain('VirtualService default/gw-only not applied');
    // The gateway still gets it.
    expect(outcome(decideOne(tableOf(s2, { gateway: 'default/gw' }), { authority: H }))).toBe('v2');
  });
});

describe('a VirtualService with no route left at compile time is not applied either', () => {
  it('a root whose only route delegates to a missing VirtualService: the default route serves', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      vs('root', { hosts: [H], http: [{ match: [{ uri: { prefix: '/' } }], delegate: { name: 'missing' } }] }),
    );
    const trace: TraceStep[] = [];
    expect(served(tableOf(s), { authority: H })).toBe(`- ${H}:80`);
    decideOne(tableOf(s), { authority: H }, 0, trace);
    expect(trace[0]?.message).toContain('VirtualService default/root not applied');
  });
});

describe('hosts that are not registry services, and wildcards', () => {
  it('a non-registry host whose VirtualService is not applied has no virtual host (404 NR)', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      vs('ext', {
        hosts: ['ext.example.com'],
        http: [{ match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] }],
      }),
    );
    const t = tableOf(s);
    expect(served(t, { authority: 'ext.example.com', source: QA })).toBe('ext v2');
    const trace: TraceStep[] = [];
    const d = decideOne(t, { authority: 'ext.example.com', source: OTHER }, 0, trace);
    expect(d).toMatchObject({ action: 'notFound', vhost: null, responseFlags: 'NR' });
    expect(trace.map((x) => x.message).join('\n')).toMatch(/not a registry service: no virtual host/);
  });

  it('a registry service under a wildcard VirtualService not applied for the client gets its default route', () => {
    const svc = 'a.wild.test';
    const s = snapshot(
      service(svc),
      subsets(svc),
      vs('wild', {
        hosts: ['*.wild.test'],
        http: [{ match: [{ sourceLabels: { app: 'qa' } }], route: [to(svc, 'v2')] }],
      }),
    );
    const t = tableOf(s);
    expect(served(t, { authority: svc, source: QA })).toBe('wild v2');
    expect(served(t, { authority: svc, source: OTHER })).toBe(`- ${svc}:80`);
  });
});

describe('match.port is a config-time selector too (per listener port)', () => {
  const s = snapshot(
    service(H, [80, 8080]),
    subsets(H),
    vs('ports', { hosts: [H], http: [{ match: [{ port: 8080 }], route: [to(H, 'v2', undefined, 8080)] }] }),
  );
  it('port 8080 gets the VirtualService; port 80 the default route of port 80 (Istio builds routes per port)', () => {
    const t = tableOf(s);
    expect(served(t, { authority: `${H}:8080`, port: 8080 })).toBe('ports v2');
    const d = decideOne(t, { authority: H, port: 80 });
    expect(d.action === 'route' && [d.vhost.virtualService, d.cluster.name]).toEqual([null, `outbound|80||${H}`]);
  });
});

describe('gateway mode', () => {
  it('sourceLabels are not checked on a gateway (weir has no gateway pod labels); match.port is', () => {
    const s = snapshot(
      service(H),
      subsets(H),
      vs('gw', {
        hosts: [H],
        gateways: ['gw'],
        http: [
          { name: 'p', match: [{ port: 8443 }], route: [to(H, 'v1')] },
          { name: 'src', match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] },
        ],
      }),
    );
    const t = tableOf(s, { gateway: 'default/gw' });
    expect(served(t, { authority: H, source: OTHER })).toBe('gw v2');
    expect(served(t, { authority: `${H}:8443`, port: 8443, source: OTHER })).toBe('gw v1');
  });
});

describe('cost: the common case has no per-client work; views are built once per selector outcome', () => {
  it('a host with no selector compiles to one virtual host', () => {
    const t = tableOf(snapshot(service(H), subsets(H), vs('plain', { hosts: [H], http: [{ route: [to(H, 'v1')] }] })));
    expect(t.exact.get(H)?.selective).not.toBe(true);
  });

  it('two clients with the same selector outcome share one view; a different outcome gets another', () => {
    const t = tableOf(
      snapshot(
        service(H),
        subsets(H),
        vs('canary', { hosts: [H], http: [{ match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] }] }),
      ),
    );
    const e = t.exact.get(H);
    expect(e?.selective).toBe(true);
    if (e?.selective !== true) return;
    const a = e.resolve({ labels: { app: 'qa', pod: '1' }, namespace: 'x', workload: 'qa-1', ip: '10.0.0.1' }, 80);
    const b = e.resolve({ labels: { app: 'qa', pod: '2' }, namespace: 'y', workload: 'qa-2', ip: '10.0.0.2' }, 80);
    const c = e.resolve({ labels: { app: 'web' }, namespace: 'x', workload: 'web', ip: '10.0.0.3' }, 80);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(c?.virtualService).toBeNull();
    // Without a port selector the port is not part of the key.
    expect(e.resolve({ labels: { app: 'qa' }, namespace: null, workload: null, ip: null }, 8080)).toBe(a);
  });
});

describe('listings (config_dump, cluster pre-building) see every route a client may get', () => {
  it('a selective host lists each VirtualService uncut by a catch-all that has a selector, and the default route', () => {
    const t = tableOf(
      snapshot(
        service(H),
        subsets(H),
        vs('cut', {
          hosts: [H],
          http: [
            { name: 'qa', match: [{ sourceLabels: { app: 'qa' } }], route: [to(H, 'v2')] },
            { name: 'after', match: [{ headers: { x: { exact: '1' } } }], route: [to(H, 'v1')] },
          ],
        }),
      ),
    );
    const listed = t.virtualHosts().filter((v) => v.host === H);
    expect(listed.map((v) => [v.virtualService?.name ?? '-', v.routes.map((r) => r.name)])).toEqual([
      ['cut', ['qa', 'after']],
      ['-', ['default']],
    ]);
  });
});
