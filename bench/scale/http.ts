/**
 * HTTP helpers of `npm run bench:scale`: one keep-alive GET, a closed-loop poller ("until this state shows"), and the
 * open-loop stall probe (a request every `intervalMs`, each timed from its scheduled start).
 */
import http from 'node:http';

/** Keep-alive connections shared by the probes (the load stream has its own, in its worker). */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** The answer to one GET; `status` 0 on a connection error or timeout. */
export interface Answer {
  status: number;
  body: string;
  /** `performance.now()` when the response ended, ms. */
  endMs: number;
}

/** GET `url` with optional Host and headers; never rejects (status 0 on error or after `timeoutMs`). */
export function get(
  url: string,
  o: { host?: string; headers?: Record<string, string>; timeoutMs: number },
): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.host) headers.host = o.host;
    // At least 1 ms: node's `timeout: 0` would mean none.
    const req = http.get(url, { agent, headers, timeout: Math.max(1, o.timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, endMs: performance.now() }));
      res.on('error', () => resolve({ status: 0, body, endMs: performance.now() }));
    });
    req.on('error', () => resolve({ status: 0, body: '', endMs: performance.now() }));
    req.on('timeout', () => req.destroy());
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What {@link pollUntil} observed. */
export interface PollResult {
  /** True when `seen` returned true before the deadline. */
  ok: boolean;
  /** `performance.now()` when the first poll that saw the new state ended (or the deadline), ms. */
  atMs: number;
  /**
   * The uncertainty of `atMs`: from the start of the last poll that still saw the old state to `atMs`, ms. The
   * change took effect inside that interval.
   */
  resolutionMs: number;
  polls: number;
}

/**
 * Runs `poll(remainingMs)` back to back (`gapMs` after each answer) until it returns true or `deadlineMs` (a
 * `performance.now()` value) passes; `poll` bounds its requests by `remainingMs` and must not throw.
 */
export async function pollUntil(
  poll: (remainingMs: number) => Promise<boolean>,
  deadlineMs: number,
  gapMs = 2,
): Promise<PollResult> {
  let polls = 0;
  let lastOldStart = performance.now();
  while (performance.now() < deadlineMs) {
    const start = performance.now();
    polls++;
    if (await poll(Math.max(1, deadlineMs - start))) {
      const atMs = performance.now();
      return { ok: true, atMs, resolutionMs: atMs - lastOldStart, polls };
    }
    lastOldStart = start;
    await pause(gapMs);
  }
  return { ok: false, atMs: performance.now(), resolutionMs: Number.NaN, polls };
}

/** One probe request: its scheduled start and its answer time (NaN while pending), ms. */
interface ProbeSample {
  dueMs: number;
  doneMs: number;
  status: number;
}

/**
 * The stall probe: an open-loop stream of GETs, one every `intervalMs`, each timed from its scheduled start, so a
 * request that waits behind a blocked event loop shows the whole wait. {@link StallProbe.maxDelay} gives the longest
 * response delay among requests scheduled in a window (a request still pending counts until now).
 */
export class StallProbe {
  private readonly samples: ProbeSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private nextDue = 0;

  constructor(
    private readonly url: string,
    private readonly host: string,
    private readonly intervalMs = 2,
    private readonly timeoutMs = 120_000,
  ) {}

  /** Starts sending. */
  start(): void {
    this.nextDue = performance.now();
    // A 1 ms tick sends every request that is due (timers are late by up to ~1 ms; the schedule is kept).
    this.timer = setInterval(() => this.tick(), 1);
  }

  private tick(): void {
    const now = performance.now();
    // Bounded: at most 1000 catch-up sends per tick (the harness itself was blocked otherwise).
    for (let n = 0; this.nextDue <= now && n < 1000; n++) {
      const s: ProbeSample = { dueMs: this.nextDue, doneMs: Number.NaN, status: 0 };
      this.samples.push(s);
      void get(this.url, { host: this.host, timeoutMs: this.timeoutMs }).then((a) => {
        s.doneMs = a.endMs;
        s.status = a.status;
      });
      this.nextDue += this.intervalMs;
    }
  }

  /** Stops scheduling new requests (pending ones still complete). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Over the requests scheduled in [fromMs, toMs]: the longest delay from scheduled start to answer (pending ones:
   * to now), the request count and the non-200 answers, ms.
   */
  window(fromMs: number, toMs: number): { maxDelayMs: number; requests: number; failed: number } {
    const now = performance.now();
    let max = 0;
    let requests = 0;
    let failed = 0;
    for (const s of this.samples) {
      if (s.dueMs < fromMs || s.dueMs > toMs) continue;
      requests++;
      const done = Number.isNaN(s.doneMs) ? now : s.doneMs;
      if (!Number.isNaN(s.doneMs) && s.status !== 200) failed++;
      max = Math.max(max, done - s.dueMs);
    }
    return { maxDelayMs: max, requests, failed };
  }

  /** Waits until every request scheduled up to `toMs` has answered, or `deadlineMs` passes. */
  async settle(toMs: number, deadlineMs: number): Promise<void> {
    while (performance.now() < deadlineMs && this.samples.some((s) => s.dueMs <= toMs && Number.isNaN(s.doneMs))) {
      await pause(5);
    }
  }

  /** Forgets samples scheduled before `ms` (bounded memory over a long run). */
  forgetBefore(ms: number): void {
    let k = 0;
    while (k < this.samples.length && this.samples[k]!.dueMs < ms && !Number.isNaN(this.samples[k]!.doneMs)) k++;
    this.samples.splice(0, k);
  }
}
