/**
 * Client-side counters for one request class (e.g. "x-canary-user: true"): how many requests, which version
 * answered, which statuses came back and how long they took. Bounded: latencies keep at most 20 000 samples.
 */
import type { RequestOutcome } from './http-client.ts';
import { quantile } from './stats.ts';

const MAX_LATENCY_SAMPLES = 20_000;

/** Counters of one request class. */
export class ClassTally {
  requests = 0;
  /** Answers per `x-backend-version` (`v1`, `v2`). */
  readonly byVersion = new Map<string, number>();
  /** Answers per status (`200`, `504`, `0` for no response). */
  readonly byStatus = new Map<number, number>();
  /** Requests with a 2xx answer. */
  ok = 0;
  private readonly latencies: number[] = [];

  constructor(readonly label: string) {}

  /** Records one outcome. */
  add(o: RequestOutcome): void {
    this.requests++;
    if (o.version !== null) this.byVersion.set(o.version, (this.byVersion.get(o.version) ?? 0) + 1);
    this.byStatus.set(o.status, (this.byStatus.get(o.status) ?? 0) + 1);
    if (o.status >= 200 && o.status < 300) this.ok++;
    if (this.latencies.length < MAX_LATENCY_SAMPLES) this.latencies.push(o.latencyMs);
  }

  /** Answers from `version` (any status). */
  version(version: string): number {
    return this.byVersion.get(version) ?? 0;
  }

  /** Requests answered with `status`. */
  status(status: number): number {
    return this.byStatus.get(status) ?? 0;
  }

  /** Requests that did not get a 2xx answer. */
  get failed(): number {
    return this.requests - this.ok;
  }

  /** Latency quantile in ms (0..1), null before the first answer. */
  latency(q: number): number | null {
    return quantile(this.latencies, q);
  }

  /** `200×40 504×3` in status order. */
  statusSummary(): string {
    return [...this.byStatus.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s === 0 ? 'no response' : s}×${n}`)
      .join(' ');
  }
}
