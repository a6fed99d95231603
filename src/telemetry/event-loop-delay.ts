/**
 * Event-loop delay of the serving thread (`weir_event_loop_delay_seconds`, `weir_event_loop_delay_max_seconds`):
 * how long work that was ready to run had to wait because the thread was busy with something else (a config reload,
 * a large scrape, a long synchronous task). Every request in flight waits that long too, so operators see stalls.
 *
 * Measured by a timer: every `intervalMs` a timer is due; how late it fires is one observation. A stall of `B` ms
 * during which the timer was due is observed as between `B − intervalMs` and `B`; a stall shorter than `intervalMs`
 * is seen only when the timer falls due during it (probability ≈ B / intervalMs), and then under-reported. This is
 * the method of Node's `perf_hooks.monitorEventLoopDelay` (default resolution 10 ms), done in JavaScript so every
 * observation lands in an exact Prometheus bucket at once: the native monitor keeps an HDR histogram whose exact
 * bucket counts cost ~30 µs per percentile look-up to extract, and its `reset()` drops the interval in progress, so
 * a stall followed by a scrape before the monitor's next tick would be lost. Cost: one timer callback per
 * `intervalMs`; measured in `docs/metrics.md`.
 */
import { setTimeout as realSetTimeout } from 'node:timers';
import type { Metric, MetricObjectWithValues, MetricValue } from 'prom-client';

/** Upper bounds of the histogram buckets, seconds (+Inf implied). 0.02 is the 20 ms "long task" line. */
export const EVENT_LOOP_DELAY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
]);

/** Default sampling interval, ms (as `monitorEventLoopDelay`'s default resolution). */
export const EVENT_LOOP_DELAY_INTERVAL_MS = 10;

/** Samples the event-loop delay of the thread it runs on into a fixed-bucket histogram. */
export class EventLoopDelaySampler {
  /** Non-cumulative observation counts per bucket of {@link EVENT_LOOP_DELAY_BUCKETS_SECONDS}, +Inf last. */
  readonly counts = new Float64Array(EVENT_LOOP_DELAY_BUCKETS_SECONDS.length + 1);
  /** Sum of the observed delays, seconds. */
  sumSeconds = 0;
  /** Observations (timer firings). */
  count = 0;
  /** The largest delay observed since {@link start}, seconds. */
  maxSeconds = 0;
  private timer: NodeJS.Timeout | null = null;

  /** @param intervalMs how often the timer is due, ms (≥ 1). @throws RangeError otherwise. */
  constructor(readonly intervalMs = EVENT_LOOP_DELAY_INTERVAL_MS) {
    if (!(intervalMs >= 1)) throw new RangeError(`intervalMs must be ≥ 1, got ${intervalMs}`);
  }

  /** Starts sampling (idempotent). The timer is unref'd: it never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.arm();
  }

  /** Stops sampling; the recorded values stay. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Records one delay, seconds (negative values count as 0). */
  observe(seconds: number): void {
    const v = Math.max(seconds, 0);
    let i = 0;
    while (i < EVENT_LOOP_DELAY_BUCKETS_SECONDS.length && v > EVENT_LOOP_DELAY_BUCKETS_SECONDS[i]!) i++;
    this.counts[i]!++;
    this.sumSeconds += v;
    this.count++;
    if (v > this.maxSeconds) this.maxSeconds = v;
  }

  private arm(): void {
    const due = performance.now() + this.intervalMs;
    // node:timers' own setTimeout, so a test's fake timers (which patch the global) do not stop the sampling.
    this.timer = realSetTimeout(() => {
      this.observe((performance.now() - due) / 1000);
      this.arm();
    }, this.intervalMs);
    this.timer.unref();
  }
}

let shared: EventLoopDelaySampler | null = null;

/**
 * The sampler of this thread (the event loop is per thread, so one is enough for every proxy in it), started on the
 * first call and never stopped.
 */
export function threadEventLoopDelaySampler(): EventLoopDelaySampler {
  if (shared === null) {
    shared = new EventLoopDelaySampler();
    shared.start();
  }
  return shared;
}

/**
 * The sampler's histogram as a prom-client metric family (`<name>_bucket{le}` cumulative, `_sum`, `_count`, in
 * seconds), rendered from the sampler at scrape time.
 */
export function eventLoopDelayHistogram(name: string, help: string, sampler: EventLoopDelaySampler): Metric {
  const family = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
      const values: (MetricValue<string> & { metricName: string })[] = [];
      let acc = 0;
      EVENT_LOOP_DELAY_BUCKETS_SECONDS.forEach((le, i) => {
        acc += sampler.counts[i]!;
        values.push({ labels: { le }, value: acc, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: '+Inf' }, value: sampler.count, metricName: `${name}_bucket` });
      values.push({ labels: {}, value: sampler.sumSeconds, metricName: `${name}_sum` });
      values.push({ labels: {}, value: sampler.count, metricName: `${name}_count` });
      return { name, help, type: 'histogram', aggregator: 'sum', values } as never;
    },
    reset(): void {},
  };
  return family as unknown as Metric;
}
