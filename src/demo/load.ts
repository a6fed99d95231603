/**
 * The traffic driver: issues requests at a steady rate with bounded concurrency, bounded in count and in time.
 * Open-loop pacing (request `i` is due at `start + i/rps`) until the duration ends; when `concurrency` requests are
 * in flight it waits for one to finish, so a slow upstream lowers the rate instead of piling up sockets.
 */

/** One load run. */
export interface LoadPlan {
  /** How long to keep issuing requests, ms. Requests in flight at the end are awaited (they have deadlines). */
  durationMs: number;
  /** Target rate, requests per second (> 0). */
  rps: number;
  /** Most requests in flight (≥ 1). */
  concurrency: number;
  /** Hard cap on requests; default `ceil(rps · durationMs / 1000)`. */
  maxRequests?: number;
  /** Stops issuing when aborted (in-flight requests are still awaited). */
  signal?: AbortSignal;
}

/** What a load run did. */
export interface LoadResult {
  sent: number;
  elapsedMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Runs `send(seq)` for seq = 0, 1, 2… per `plan`. `send` must not throw (a rejection is swallowed, so one bad
 * request cannot stop the run). Resolves when every request issued has settled.
 */
export async function runLoad(plan: LoadPlan, send: (seq: number) => Promise<void>): Promise<LoadResult> {
  const rps = Math.max(0.001, plan.rps);
  const concurrency = Math.max(1, Math.floor(plan.concurrency));
  const maxRequests = plan.maxRequests ?? Math.ceil((rps * plan.durationMs) / 1000);
  const start = performance.now();
  const deadline = start + plan.durationMs;
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  while (seq < maxRequests && !plan.signal?.aborted) {
    const due = start + (seq * 1000) / rps;
    const now = performance.now();
    if (now >= deadline) break;
    if (due > now) await sleep(Math.min(due, deadline) - now);
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (performance.now() >= deadline || plan.signal?.aborted) break;
    const p: Promise<void> = send(seq)
      .catch(() => {})
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    seq++;
  }
  await Promise.all(inFlight);
  return { sent: seq, elapsedMs: performance.now() - start };
}
