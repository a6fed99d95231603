import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initHashing, isHashingReady, xxhash64 } from '../../../../../src/dataplane/cluster/lb/xxhash.ts';

beforeAll(async () => {
  await initHashing();
});

describe('xxhash64', () => {
  it('matches the reference XXH64 vectors (seed 0)', () => {
    expect(xxhash64('')).toBe(0xef46db3751d8e999n);
    expect(xxhash64('a')).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxhash64('abc')).toBe(0x44bc2cf5ad770999n);
    expect(xxhash64(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
  });

  it('matches a ring point published in Envoy ring_hash_lb_test.cc (Basic: :90 at 16117243373044804889)', () => {
    expect(xxhash64('127.0.0.1:90_0')).toBe(16117243373044804889n);
  });

  it('hashes strings as UTF-8 and byte arrays as bytes', () => {
    expect(xxhash64('é')).toBe(xxhash64(new Uint8Array([0xc3, 0xa9])));
    expect(xxhash64('abc', 1n)).not.toBe(xxhash64('abc'));
    expect(xxhash64('abc', 1n)).toBe(xxhash64(new TextEncoder().encode('abc'), 1n));
  });

  it('is ready after init and initHashing is idempotent', async () => {
    expect(isHashingReady()).toBe(true);
    await initHashing();
    expect(xxhash64('')).toBe(0xef46db3751d8e999n);
  });

  it('throws before initHashing has resolved', async () => {
    vi.resetModules();
    const fresh = await import('../../../../../src/dataplane/cluster/lb/xxhash.ts');
    expect(fresh.isHashingReady()).toBe(false);
    expect(() => fresh.xxhash64('x')).toThrow(/initHashing/);
  });
});
