/**
 * Istio's default route (a registry host without a VirtualService) carries the DestinationRule's consistent-hash
 * key as its hash policy (istio `buildSidecarVirtualHostForService`, `hashForService`: "if this host has no
 * virtualservice, the consistentHash on its destinationRule will be useless"): the port-level `consistentHash` of
 * the route's port, else the top-level one; subsets never apply.
 */
import { describe, expect, it } from 'vitest';
import type { HashPolicy } from '../../../src/routing/types.ts';
import { decideOne, res, service, snapshot, subsets, tableOf, to, vs } from './fixtures.ts';

const H = 'h.test';

const dr = (trafficPolicy: Record<string, unknown> | null, extra: Record<string, unknown> = {}) =>
  res('DestinationRule', 'h-dr', { host: H, ...(trafficPolicy ? { trafficPolicy } : {}), ...extra });

/** The hash policy list the decision for a request carries, with the cluster's LB type. */
function hashOf(texts: string[], port = 80): { hash: readonly HashPolicy[]; lb: string; retryPrev: boolean } {
  const d = decideOne(tableOf(snapshot(...texts)), { authority: port === 80 ? H : `${H}:${port}`, port });
  if (d.action !== 'route') throw new Error(`not routed: ${d.action}`);
  return { hash: d.hashPolicies, lb: d.cluster.policy.lb.type, retryPrev: d.route.retries!.retryIgnorePreviousHosts };
}

describe('DestinationRule consistentHash on the default route', () => {
  it.each([
    ['httpHeaderName', { httpHeaderName: 'X-User' }, { type: 'header', name: 'x-user' }],
    [
      'httpCookie with ttl',
      { httpCookie: { name: 'session', path: '/', ttl: '60s' } },
      { type: 'cookie', name: 'session', path: '/', ttlMs: 60_000, attributes: [] },
    ],
    ['useSourceIp', { useSourceIp: true }, { type: 'sourceIp' }],
    ['httpQueryParameterName', { httpQueryParameterName: 'user' }, { type: 'queryParameter', name: 'user' }],
  ])('%s becomes the route hash policy (RING_HASH cluster)', (_n, consistentHash, want) => {
    const got = hashOf([service(H), dr({ loadBalancer: { consistentHash } })]);
    expect(got.hash).toEqual([want]);
    expect(got.lb).toBe('RING_HASH');
    // Istio's default route keeps the previous_hosts retry predicate even with a hash (ConvertPolicy(…, false)).
    expect(got.retryPrev).toBe(true);
  });

  it('the port-level consistentHash of the route port replaces the top-level one; other ports keep the top level', () => {
    const texts = [
      service(H, [80, 8080]),
      dr({
        loadBalancer: { consistentHash: { httpHeaderName: 'x-top' } },
        portLevelSettings: [{ port: { number: 8080 }, loadBalancer: { consistentHash: { httpHeaderName: 'x-port' } } }],
      }),
    ];
    expect(hashOf(texts, 80).hash).toEqual([{ type: 'header', name: 'x-top' }]);
    expect(hashOf(texts, 8080).hash).toEqual([{ type: 'header', name: 'x-port' }]);
  });

  it('a port-level entry without consistentHash keeps the top-level key on the route (its LB is not a hash LB)', () => {
    const got = hashOf(
      [
        service(H, [80, 8080]),
        dr({
          loadBalancer: { consistentHash: { httpHeaderName: 'x-top' } },
          portLevelSettings: [{ port: { number: 8080 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
        }),
      ],
      8080,
    );
    expect(got).toMatchObject({ hash: [{ type: 'header', name: 'x-top' }], lb: 'ROUND_ROBIN' });
  });

  it("a subset's consistentHash does not apply to the default route (it has no subset)", () => {
    const got = hashOf([
      service(H),
      dr(null, {
        subsets: [
          {
            name: 'v1',
            labels: { version: 'v1' },
            trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } },
          },
        ],
      }),
    ]);
    expect(got.hash).toEqual([]);
  });

  it('no DestinationRule, or one without consistentHash: no hash policy', () => {
    expect(hashOf([service(H)]).hash).toEqual([]);
    expect(hashOf([service(H), dr({ loadBalancer: { simple: 'RANDOM' } })]).hash).toEqual([]);
  });

  it('a VirtualService route keeps its own hash policies (per destination)', () => {
    const t = tableOf(
      snapshot(
        service(H),
        subsets(H, { trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-vs' } } } }),
        vs('v', { hosts: [H], http: [{ route: [to(H, 'v1')] }] }),
      ),
    );
    const d = decideOne(t, { authority: H });
    expect(d.action === 'route' && d.hashPolicies).toEqual([{ type: 'header', name: 'x-vs' }]);
    expect(d.action === 'route' && d.hashPolicies).toBe(d.action === 'route' && d.route.hashPolicies);
  });
});
