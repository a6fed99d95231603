/** Test support for the lb tests: a seeded RNG, endpoint builders and statistical bounds. */
import type { LbEndpoint } from '../../../../../src/dataplane/cluster/lb/types.ts';
import { createSeededRng } from '../../../../../src/util/random.ts';

/** A deterministic RNG (mulberry32, shared with the backend and benchmarks). */
export const seededRng = createSeededRng;

/** An RNG that replays `values` in order (throws when exhausted, to catch unexpected draws). */
export function scriptedRng(values: readonly number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('scripted rng exhausted');
    return values[i++]!;
  };
}

/** Endpoints `127.0.0.1:<port>` with the given weights (default 1), as Envoy's tests build them. */
export function localEndpoints(ports: readonly number[], weights?: readonly number[]): LbEndpoint[] {
  return ports.map((port, i) => ({
    key: `127.0.0.1:${port}`,
    address: '127.0.0.1',
    port,
    weight: weights?.[i] ?? 1,
    handle: i,
  }));
}

/** Endpoints whose hash key is an arbitrary string (Envoy tests with `use_hostname_for_hashing`). */
export function keyedEndpoints(keys: readonly string[], weights?: readonly number[]): LbEndpoint[] {
  return keys.map((key, i) => ({ key, address: '127.0.0.1', port: 80 + i, weight: weights?.[i] ?? 1, handle: i }));
}

/** 5-sigma half-width of a binomial proportion estimate: 5·sqrt(p(1−p)/n). */
export function fiveSigma(p: number, n: number): number {
  return 5 * Math.sqrt((p * (1 - p)) / n);
}
