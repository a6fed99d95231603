/**
 * xxHash64, the hash Envoy uses everywhere in load balancing (`HashUtil::xxHash64`, source/common/common/hash.h):
 * ring-hash entries, Maglev offset/skip and every request hash policy. Backed by the `xxhash-wasm` package, which
 * must be initialised once (asynchronously) before any load balancer is built. No I/O beyond loading the WASM module.
 */
import xxhashWasm from 'xxhash-wasm';

type XXHashApi = Awaited<ReturnType<typeof xxhashWasm>>;

let api: XXHashApi | null = null;
let pending: Promise<void> | null = null;

/**
 * Loads the xxHash WebAssembly module. Idempotent and safe to call concurrently; resolves once {@link xxhash64} is
 * usable. Call it at start-up (before building RING_HASH / MAGLEV balancers or computing request hashes).
 */
export function initHashing(): Promise<void> {
  if (api !== null) return Promise.resolve();
  if (pending === null) {
    pending = xxhashWasm().then((loaded) => {
      api = loaded;
    });
  }
  return pending;
}

/** True once {@link initHashing} has resolved and {@link xxhash64} may be called synchronously. */
export function isHashingReady(): boolean {
  return api !== null;
}

/**
 * XXH64 of `input` with `seed` (default 0, as in Envoy's `HashUtil::xxHash64(input, seed = 0)`), as an unsigned 64-bit
 * bigint in [0, 2^64). A string is hashed as its UTF-8 bytes (identical to the wire bytes for ASCII); pass a
 * `Uint8Array` to hash exact bytes.
 *
 * @throws Error when called before {@link initHashing} has resolved (a start-up ordering bug).
 */
export function xxhash64(input: string | Uint8Array, seed = 0n): bigint {
  if (api === null) throw new Error('xxhash64: call and await initHashing() before hashing');
  return typeof input === 'string' ? api.h64(input, seed) : api.h64Raw(input, seed);
}
