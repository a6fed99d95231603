/**
 * Long computations that must not stall the event loop (building a snapshot or a route table at mesh scale while
 * the proxy serves) are written once, as generators that `yield` at unit boundaries — after a document, a service,
 * a VirtualService — and run by one of two drivers: {@link runToEnd} runs them synchronously (the CLI commands,
 * tests), {@link runInSlices} runs them in slices of about `sliceMs` and gives the event loop a turn in between.
 * A generator never decides when to pause: it offers a pause point, the driver takes it when the slice is spent.
 */

/** A computation with pause points; its return value is the result. */
export type Steps<T> = Generator<void, T, void>;

/** Runs every step at once and returns the result. */
export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Options for {@link runInSlices}. */
export interface SliceOptions {
  /** Longest run between two event-loop turns, in ms (default 8: with the work of one unit on top, under 20 ms). */
  sliceMs?: number;
  /** Called with each slice's duration in ms (for metrics and tests). */
  onSlice?: (ms: number) => void;
  /** Time source in ms (default `performance.now`). */
  now?: () => number;
}

/** Gives the event loop a turn: pending I/O callbacks and timers run before the next slice. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs the steps in slices of about `sliceMs`, yielding to the event loop between slices, and resolves with the
 * result. A step that throws rejects the promise.
 */
export async function runInSlices<T>(steps: Steps<T>, opts: SliceOptions = {}): Promise<T> {
  const sliceMs = opts.sliceMs ?? 8;
  const now = opts.now ?? (() => performance.now());
  for (;;) {
    const start = now();
    for (;;) {
      const r = steps.next();
      if (r.done) {
        opts.onSlice?.(now() - start);
        return r.value;
      }
      if (now() - start >= sliceMs) break;
    }
    opts.onSlice?.(now() - start);
    await yieldToEventLoop();
  }
}
