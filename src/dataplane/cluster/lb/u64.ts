/**
 * Allocation-free helpers for unsigned 64-bit hashes held as two uint32 halves, so lookups on the request path never
 * create BigInts. Internal to the lb folder.
 */

const scratch = new DataView(new ArrayBuffer(8));
const TWO_32 = 4294967296;

/** Loads `h` (taken modulo 2^64) into the scratch word; read it back with {@link hi32} / {@link lo32}. */
export function loadU64(h: bigint): void {
  scratch.setBigUint64(0, h);
}

/** High 32 bits of the value last passed to {@link loadU64}. */
export function hi32(): number {
  return scratch.getUint32(0);
}

/** Low 32 bits of the value last passed to {@link loadU64}. */
export function lo32(): number {
  return scratch.getUint32(4);
}

/**
 * Loads a random 64-bit value built from one `rng()` draw (53 bits of entropy; the low bits of the low word are 0),
 * standing in for Envoy's `random_.random()` when a hashing LB has no request hash.
 */
export function loadRandomU64(rng: () => number): void {
  const x = rng() * TWO_32;
  const hi = Math.floor(x);
  scratch.setUint32(0, hi >>> 0);
  scratch.setUint32(4, Math.floor((x - hi) * TWO_32) >>> 0);
}

/** `(hi·2^32 + lo) mod m` for 1 ≤ m < 2^26 without precision loss (`twoPow32ModM` = 2^32 mod m, precomputed). */
export function modU64(hi: number, lo: number, m: number, twoPow32ModM: number): number {
  return ((hi % m) * twoPow32ModM + lo) % m;
}

/** Splits a bigint hash (mod 2^64) into `[hi, lo]` uint32 halves. Allocates; for build-time code only. */
export function splitU64(h: bigint): [number, number] {
  loadU64(h);
  return [hi32(), lo32()];
}
