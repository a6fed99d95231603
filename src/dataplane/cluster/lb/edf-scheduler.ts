/**
 * Envoy's earliest-deadline-first scheduler (source/common/upstream/edf_scheduler.h), the engine of weighted
 * ROUND_ROBIN and weighted LEAST_REQUEST. Fixed capacity (one queue entry per endpoint), typed-array binary heap,
 * no allocation per pick. Internal to the lb folder.
 */

/** Envoy caps the emulated initial picks at UINT32_MAX / 10 (`picks % 429496729`). */
export const EDF_MAX_INITIAL_PICKS = 429496729;

/**
 * Min-queue of endpoints ordered by (deadline, insertion order). Each pick pops the earliest deadline, advances the
 * scheduler clock to it and re-inserts the endpoint at `clock + 1 / weight`, with the weight read at that moment
 * (Envoy `pickAndAdd`): weights may change between picks (LEAST_REQUEST's active-request scaling).
 */
export class EdfScheduler {
  private readonly deadline: Float64Array;
  private readonly order: Float64Array;
  private readonly host: Int32Array;
  private length = 0;
  private currentTime = 0;
  private orderOffset = 0;

  private constructor(capacity: number) {
    this.deadline = new Float64Array(capacity);
    this.order = new Float64Array(capacity);
    this.host = new Int32Array(capacity);
  }

  /**
   * Envoy `EdfScheduler::createWithPicks`: a scheduler over endpoints `0..count-1` in the state it would reach after
   * `picks` picks (mod 429496729) from an empty scheduler filled in index order, so that balancers seeded differently
   * start at different points of the weighted rotation. Each endpoint first gets ⌊P·w_i/W⌋ emulated picks computed
   * with weights `w_i + 1e-13` (Envoy's guard against weights that are multiples of each other), then the remaining
   * picks run one by one.
   *
   * @param weightOf weight of endpoint i (> 0), read now and on every later pick.
   * @param picks non-negative integer; Envoy passes its 64-bit `seed_` truncated to uint32 — pass `seed mod 2^32`.
   */
  static createWithPicks(count: number, weightOf: (i: number) => number, picks: number): EdfScheduler {
    const s = new EdfScheduler(count);
    picks %= EDF_MAX_INITIAL_PICKS;
    if (count === 0) return s;
    const aug = new Float64Array(count);
    let weightsSum = 0.0;
    for (let i = 0; i < count; i++) {
      aug[i] = weightOf(i) + 1e-13;
      weightsSum += aug[i]!;
    }
    let picksSoFar = 0;
    let maxPickTime = 0.0;
    for (let i = 0; i < count; i++) {
      const w = aug[i]!;
      let floorPicks = Math.trunc((w * picks) / weightsSum) >>> 0;
      if (floorPicks > 0 && floorPicks / w >= picks / weightsSum) floorPicks--;
      maxPickTime = Math.max(maxPickTime, floorPicks / w);
      s.push((floorPicks + 1) / w, i, i);
      picksSoFar += floorPicks;
    }
    s.currentTime = maxPickTime;
    s.orderOffset = count;
    while (picksSoFar < picks) {
      s.pickAndAdd(weightOf);
      picksSoFar++;
    }
    return s;
  }

  /** Pops the endpoint with the earliest deadline and re-queues it with `weightOf(endpoint)`; -1 when empty. */
  pickAndAdd(weightOf: (i: number) => number): number {
    if (this.length === 0) return -1;
    const h = this.host[0]!;
    this.currentTime = this.deadline[0]!;
    // Replace the root in place (pop + push of the same endpoint) and restore the heap.
    this.deadline[0] = this.currentTime + 1.0 / weightOf(h);
    this.order[0] = this.orderOffset++;
    this.siftDown(0);
    return h;
  }

  private push(deadline: number, order: number, host: number): void {
    let i = this.length++;
    this.deadline[i] = deadline;
    this.order[i] = order;
    this.host[i] = host;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.before(r, l) ? r : l;
      if (!this.before(c, i)) return;
      this.swap(i, c);
      i = c;
    }
  }

  private before(a: number, b: number): boolean {
    const da = this.deadline[a]!;
    const db = this.deadline[b]!;
    return da < db || (da === db && this.order[a]! < this.order[b]!);
  }

  private swap(a: number, b: number): void {
    const d = this.deadline[a]!;
    this.deadline[a] = this.deadline[b]!;
    this.deadline[b] = d;
    const o = this.order[a]!;
    this.order[a] = this.order[b]!;
    this.order[b] = o;
    const h = this.host[a]!;
    this.host[a] = this.host[b]!;
    this.host[b] = h;
  }
}
