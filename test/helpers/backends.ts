/**
 * Test helpers around `startBackend`: start a named set of backends (e.g. v1 and v2 of checkout-service) with one
 * `closeAll()`, and find free ports for things that cannot bind port 0 themselves (sub-processes, CLI flags).
 */
import { createServer } from 'node:net';
import { type Backend, type BackendOptions, startBackend } from '../../src/backend/backend.ts';

/** Backends keyed as requested, plus one owner-style `closeAll()`. */
export type BackendSet<K extends string> = { readonly [P in K]: Backend } & {
  /** Closes every backend of the set (in parallel); safe to call twice. */
  closeAll(): Promise<void>;
};

/**
 * Starts one backend per key, in parallel, on 127.0.0.1 port 0. Each key is the default `version` (so
 * `{ v1: {}, v2: {} }` gives versions v1 and v2) and `name` defaults to `checkout-service`. If any start fails,
 * the ones already started are closed and the error is rethrown.
 */
export async function startBackends<K extends string>(
  specs: { readonly [P in K]: BackendOptions },
): Promise<BackendSet<K>> {
  const keys = Object.keys(specs) as K[];
  const settled = await Promise.allSettled(
    keys.map((k) => startBackend({ name: 'checkout-service', version: k, ...specs[k] })),
  );
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(started.map((b) => b.close()));
    throw failed.reason;
  }
  const set: Record<string, unknown> = {};
  keys.forEach((k, i) => {
    set[k] = (settled[i] as PromiseFulfilledResult<Backend>).value;
  });
  set.closeAll = async () => {
    await Promise.all(started.map((b) => b.close()));
  };
  return set as BackendSet<K>;
}

/**
 * Returns a port that was free a moment ago on `host` (binds port 0, reads it back, closes). Racy by nature:
 * prefer passing port 0 to anything that can report its bound port.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Binomial bound for statistical assertions: `[n·p − k·σ, n·p + k·σ]` with σ = √(n·p·(1−p)); k defaults to 5. */
export function binomialBounds(n: number, p: number, k = 5): { low: number; high: number } {
  const sigma = Math.sqrt(n * p * (1 - p));
  return { low: n * p - k * sigma, high: n * p + k * sigma };
}
