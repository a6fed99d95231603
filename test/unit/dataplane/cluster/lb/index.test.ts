import { beforeAll, describe, expect, it } from 'vitest';
import {
  createLoadBalancer,
  endpointKey,
  initHashing,
  LeastRequestLoadBalancer,
  lbPolicyFromIstio,
  type MaglevLoadBalancer,
  RandomLoadBalancer,
  type RingHashLoadBalancer,
  RoundRobinLoadBalancer,
} from '../../../../../src/dataplane/cluster/lb/index.ts';
import { localEndpoints } from './support.ts';

beforeAll(async () => {
  await initHashing();
});

describe('createLoadBalancer', () => {
  const eps = localEndpoints([1, 2, 3]);
  it('builds each policy', () => {
    expect(createLoadBalancer({ type: 'LEAST_REQUEST' }, eps)).toBeInstanceOf(LeastRequestLoadBalancer);
    expect(createLoadBalancer({ type: 'ROUND_ROBIN' }, eps, { seed: 4 })).toBeInstanceOf(RoundRobinLoadBalancer);
    expect(createLoadBalancer({ type: 'RANDOM' }, eps)).toBeInstanceOf(RandomLoadBalancer);
    const ring = createLoadBalancer({ type: 'RING_HASH', minimumRingSize: 12 }, eps) as RingHashLoadBalancer;
    expect(ring.ringSize).toBe(12);
    const maglev = createLoadBalancer({ type: 'MAGLEV', tableSize: 7 }, eps) as MaglevLoadBalancer;
    expect(maglev.tableSize).toBe(7);
    expect((createLoadBalancer({ type: 'MAGLEV' }, eps) as MaglevLoadBalancer).tableSize).toBe(65537);
    expect((createLoadBalancer({ type: 'RING_HASH' }, eps) as RingHashLoadBalancer).ringSize).toBe(1026);
    expect(createLoadBalancer({ type: 'ROUND_ROBIN' }, eps).size).toBe(3);
  });
});

describe('lbPolicyFromIstio', () => {
  it('maps Istio loadBalancer settings as Istio’s cluster builder does', () => {
    expect(lbPolicyFromIstio(undefined)).toEqual({ type: 'LEAST_REQUEST' });
    expect(lbPolicyFromIstio({ simple: 'UNSPECIFIED' })).toEqual({ type: 'LEAST_REQUEST' });
    expect(lbPolicyFromIstio({ simple: 'LEAST_CONN' })).toEqual({ type: 'LEAST_REQUEST' });
    expect(lbPolicyFromIstio({ simple: 'ROUND_ROBIN' })).toEqual({ type: 'ROUND_ROBIN' });
    expect(lbPolicyFromIstio({ simple: 'RANDOM' })).toEqual({ type: 'RANDOM' });
    expect(lbPolicyFromIstio({ simple: 'PASSTHROUGH' })).toBeNull();
    expect(lbPolicyFromIstio({ consistentHash: {} })).toEqual({ type: 'RING_HASH', minimumRingSize: 1024 });
    expect(lbPolicyFromIstio({ consistentHash: { ringHash: { minimumRingSize: 64 } } })).toEqual({
      type: 'RING_HASH',
      minimumRingSize: 64,
    });
    expect(lbPolicyFromIstio({ consistentHash: { minimumRingSize: 32 } })).toEqual({
      type: 'RING_HASH',
      minimumRingSize: 32,
    });
    expect(lbPolicyFromIstio({ consistentHash: { maglev: { tableSize: 1031 } } })).toEqual({
      type: 'MAGLEV',
      tableSize: 1031,
    });
  });
});

describe('endpointKey', () => {
  it('is Envoy’s Address::asString()', () => {
    expect(endpointKey('10.0.0.7', 8080)).toBe('10.0.0.7:8080');
    expect(endpointKey('fd00::7', 8080)).toBe('[fd00::7]:8080');
  });
});
