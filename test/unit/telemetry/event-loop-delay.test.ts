/**
 * The event-loop delay metric: a 200 ms synchronous block of the thread is seen by the sampler (one observation
 * above 100 ms, max ≥ 150 ms) and exported on the proxy's registry as `weir_event_loop_delay_seconds` (histogram)
 * and `weir_event_loop_delay_max_seconds` (gauge).
 */
import { describe, expect, it } from 'vitest';
import {
  EVENT_LOOP_DELAY_BUCKETS_SECONDS,
  EventLoopDelaySampler,
  threadEventLoopDelaySampler,
} from '../../../src/telemetry/event-loop-delay.ts';
import { METRIC_CATALOG, ProxyMetrics } from '../../../src/telemetry/metrics.ts';
import { parseExposition, select } from './fixtures.ts';

/** Keeps the thread busy for `ms` (no await: nothing else can run). */
function blockFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

/** Resolves once the sampler has made `n` more observations (the timer fired again after a block). */
async function nextObservations(s: EventLoopDelaySampler, n: number): Promise<void> {
  const target = s.count + n;
  while (s.count < target) await new Promise((r) => setTimeout(r, 5));
}

/** Observations above `seconds` (bucket bounds are upper bounds). */
const above = (s: EventLoopDelaySampler, seconds: number): number =>
  EVENT_LOOP_DELAY_BUCKETS_SECONDS.reduce((acc, le, i) => (le > seconds ? acc + s.counts[i]! : acc), 0) +
  s.counts[EVENT_LOOP_DELAY_BUCKETS_SECONDS.length]!;

describe('EventLoopDelaySampler', () => {
  it('a 200 ms block is an observation above 100 ms; the max is ≥ 150 ms', async () => {
    const s = new EventLoopDelaySampler(10);
    s.start();
    try {
      await nextObservations(s, 2);
      const before = above(s, 0.1);
      blockFor(200);
      await nextObservations(s, 1);
      // The timer was due during the block: it fired between 190 and 200 ms late (later on a loaded machine).
      expect(above(s, 0.1) - before).toBeGreaterThanOrEqual(1);
      expect(s.maxSeconds).toBeGreaterThanOrEqual(0.15);
      expect(s.sumSeconds).toBeGreaterThanOrEqual(0.15);
    } finally {
      s.stop();
    }
  });

  it('buckets are upper bounds; stop() stops the timer', async () => {
    const s = new EventLoopDelaySampler(1);
    s.observe(0.02);
    s.observe(0.0200001);
    s.observe(-1);
    s.observe(100);
    const i20 = EVENT_LOOP_DELAY_BUCKETS_SECONDS.indexOf(0.02);
    expect(s.counts[i20]).toBe(1);
    expect(s.counts[i20 + 1]).toBe(1);
    expect(s.counts[0]).toBe(1);
    expect(s.counts[EVENT_LOOP_DELAY_BUCKETS_SECONDS.length]).toBe(1);
    expect(s.maxSeconds).toBe(100);
    s.start();
    await nextObservations(s, 1);
    s.stop();
    const n = s.count;
    await new Promise((r) => setTimeout(r, 30));
    expect(s.count).toBe(n);
    expect(() => new EventLoopDelaySampler(0)).toThrow(RangeError);
  });
});

describe('weir_event_loop_delay_* on the proxy registry', () => {
  it('a 200 ms block shows in the histogram and the max gauge', async () => {
    const m = new ProxyMetrics();
    const s = threadEventLoopDelaySampler();
    await nextObservations(s, 2);
    blockFor(200);
    await nextObservations(s, 1);
    const samples = parseExposition(await m.render());
    const max = select(samples, 'weir_event_loop_delay_max_seconds');
    expect(max).toHaveLength(1);
    expect(max[0]!.value).toBeGreaterThanOrEqual(0.15);
    const bucket = (le: string) => select(samples, 'weir_event_loop_delay_seconds_bucket', { le })[0]!.value;
    const count = select(samples, 'weir_event_loop_delay_seconds_count')[0]!.value;
    expect(count).toBeGreaterThanOrEqual(3);
    expect(bucket('+Inf')).toBe(count);
    expect(bucket('0.1')).toBeLessThan(count);
    // Cumulative buckets never decrease.
    const les = [...EVENT_LOOP_DELAY_BUCKETS_SECONDS.map(String), '+Inf'];
    for (let i = 1; i < les.length; i++) expect(bucket(les[i]!)).toBeGreaterThanOrEqual(bucket(les[i - 1]!));
    expect(select(samples, 'weir_event_loop_delay_seconds_sum')[0]!.value).toBeGreaterThanOrEqual(0.15);
    const names = new Set(METRIC_CATALOG.map((d) => d.name));
    expect(names.has('weir_event_loop_delay_seconds')).toBe(true);
    expect(names.has('weir_event_loop_delay_max_seconds')).toBe(true);
  });
});
