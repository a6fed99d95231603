/**
 * Test doubles for the rollout controller's state-machine tests (issue 8 asks for "the state machine with an injected
 * clock"): a manual clock, an in-memory traffic router, a webhook gate, and a provider that synthesises seeded traffic
 * from the router's current state. The end-to-end tests use the real file router, providers and `weir serve`.
 */

import type { Clock, TrafficRouter, TrafficState, WebhookGate, WebhookType } from '../../src/rollout/controller.ts';
import type {
  CountsReading,
  MetricsProvider,
  ProviderState,
  RolloutSelector,
} from '../../src/rollout/providers/types.ts';
import { createRolloutCounts, recordEvents, statisticsBucketEdgesMs } from '../../src/rollout/stats/index.ts';
import { createSeededRng, type Rng } from '../../src/util/random.ts';

/** A clock that only moves when the controller sleeps (or the test advances it). */
export class ManualClock implements Clock {
  constructor(public t = Date.UTC(2026, 10, 29, 12)) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

/** Keeps the traffic state in memory and records every change. */
export class MemoryRouter implements TrafficRouter {
  readonly description = 'memory';
  readonly history: TrafficState[] = [];
  /** The next `failures` applies throw (a file that cannot be written). */
  failures = 0;
  /**
   * Routes the rollout does not manage that send users to the canary (as the file router names them): reported by a
   * primary-only apply, and gone once a state asks for `unmanagedToPrimary`.
   */
  unmanaged: string[] = [];
  constructor(public state: TrafficState = { canaryWeight: 0, match: null, mirrorPercent: null, sticky: false }) {}
  async read(): Promise<TrafficState> {
    return this.state;
  }
  async apply(state: TrafficState): Promise<{ changed: boolean; unmanagedToCanary?: string[] }> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('EPERM: operation not permitted, rename');
    }
    const { unmanagedToPrimary, ...routed } = state;
    const released = unmanagedToPrimary === true && this.unmanaged.length > 0;
    if (released) this.unmanaged = [];
    const changed = released || JSON.stringify(routed) !== JSON.stringify(this.state);
    if (changed) this.history.push(routed);
    this.state = routed;
    const primaryOnly = state.canaryWeight === 0 && state.match === null && state.mirrorPercent === null;
    return primaryOnly ? { changed, unmanagedToCanary: [...this.unmanaged] } : { changed };
  }
}

/** Answers webhooks from a table: `answers[type]` decides ok (default: no hooks of that type). */
export class TableWebhooks implements WebhookGate {
  readonly calls: { type: WebhookType; phase: string }[] = [];
  constructor(public answers: Partial<Record<WebhookType, () => boolean>> = {}) {}
  /** Types whose hooks never answer (a hung receiver). */
  hang = new Set<WebhookType>();
  async run(type: WebhookType, phase: string): Promise<{ ok: boolean; count: number; detail: string }> {
    this.calls.push({ type, phase });
    if (this.hang.has(type)) return new Promise(() => {});
    const f = this.answers[type];
    if (!f) return { ok: true, count: 0, detail: 'no hooks' };
    const ok = f();
    return { ok, count: 1, detail: ok ? '200' : '500' };
  }
}

/** Per-version traffic model: error probability and latency (ms) sampler. */
export interface VersionTraffic {
  readonly errorRate: number;
  readonly latencyMs: (rng: Rng) => number;
}

/**
 * A provider that, on every read, synthesises the requests of the elapsed time: `rps` requests per second in total,
 * each routed to the canary with the router's current weight (header phase: `headerShare` of requests to the canary
 * at w = 1; mirror phase: the mirror percentage copied), errors and latencies from the version models, seeded.
 */
export class SimulatedProvider implements MetricsProvider {
  readonly kind = 'simulated';
  readonly description = 'simulated traffic';
  private readonly rng: Rng;
  private last: number | null = null;
  /** While true, reads report the source as failing and return the last counts. */
  failing = false;
  /** How much primary-only traffic happened before the first read (ms of `rps`); set before the run starts. */
  historyMs = 60_000;
  private lastReading: CountsReading | null = null;
  private readonly edges = statisticsBucketEdgesMs();
  /** All requests since the provider was created, as raw events. */
  private readonly events: { w: number; canary: boolean; error: boolean; latencyMs: number; mirror: boolean }[] = [];
  /** The primary's histogram over all its routed requests. */
  private readonly primaryHist: number[];
  private cache: {
    key: string;
    cursor: number;
    counts: ReturnType<typeof createRolloutCounts>;
    mirror: { requests: number; errors: number; exceed: number[] };
  } | null = null;
  constructor(
    private readonly clock: Clock,
    private readonly router: MemoryRouter,
    public rps: number,
    public primary: VersionTraffic,
    public canary: VersionTraffic,
    seed = 1,
    private readonly headerShare = 0.05,
  ) {
    this.rng = createSeededRng(seed);
    this.primaryHist = new Array<number>(this.edges.length + 1).fill(0);
  }

  /** Simulates the requests since the last call. */
  private advance(): void {
    const now = this.clock.now();
    if (this.last === null) this.last = now - this.historyMs; // primary history before the run (default 1 min)
    const ms = now - this.last;
    if (ms < 1 && this.events.length > 0) return;
    const seconds = this.events.length === 0 ? ms / 1000 : Math.floor(ms / 1000);
    if (seconds <= 0) return;
    this.last += seconds * 1000;
    const n = Math.round(this.rps * seconds);
    const s = this.router.state;
    for (let i = 0; i < n; i++) {
      const header = s.match !== null && this.rng() < this.headerShare;
      const w = header ? 1 : s.canaryWeight / 100;
      const toCanary = header || this.rng() < w;
      const m = toCanary ? this.canary : this.primary;
      const latencyMs = m.latencyMs(this.rng);
      this.events.push({ w, canary: toCanary, error: this.rng() < m.errorRate, latencyMs, mirror: false });
      if (!toCanary) {
        let k = 0;
        while (k < this.edges.length && latencyMs > this.edges[k]!) k++;
        this.primaryHist[k]!++;
      }
      if (!toCanary && s.mirrorPercent !== null && this.rng() < s.mirrorPercent / 100) {
        const c = this.canary;
        this.events.push({
          w: 0,
          canary: true,
          error: this.rng() < c.errorRate,
          latencyMs: c.latencyMs(this.rng),
          mirror: true,
        });
      }
    }
  }

  async start(_selector: RolloutSelector): Promise<ProviderState> {
    this.advance();
    return { kind: this.kind, baseline: this.events.length };
  }

  async read(
    _selector: RolloutSelector,
    state: ProviderState,
    thresholdsMs: readonly number[],
  ): Promise<{ reading: CountsReading; state: ProviderState }> {
    if (this.failing && this.lastReading) {
      return {
        reading: { ...this.lastReading, sources: { ok: 0, failed: 1, problems: ['http://proxy: ECONNREFUSED'] } },
        state,
      };
    }
    this.advance();
    const from = typeof state.baseline === 'number' ? state.baseline : this.events.length;
    const key = `${from}:${thresholdsMs.join(',')}`;
    if (this.cache?.key !== key) {
      this.cache = {
        key,
        cursor: from,
        counts: createRolloutCounts(thresholdsMs),
        mirror: { requests: 0, errors: 0, exceed: thresholdsMs.map(() => 0) },
      };
    }
    const c = this.cache;
    for (; c.cursor < this.events.length; c.cursor++) {
      const e = this.events[c.cursor]!;
      if (e.mirror) {
        c.mirror.requests++;
        if (e.error) c.mirror.errors++;
        thresholdsMs.forEach((t, j) => {
          if (e.latencyMs > t) c.mirror.exceed[j]!++;
        });
        continue;
      }
      const k = e.canary ? 1 : 0;
      recordEvents(c.counts.requests, e.w, k, 1 - k);
      if (e.error) recordEvents(c.counts.errors, e.w, k, 1 - k);
      for (const l of c.counts.latency) if (e.latencyMs > l.thresholdMs) recordEvents(l.exceedances, e.w, k, 1 - k);
    }
    const clone = structuredClone(c.counts);
    const result = {
      reading: {
        counts: clone,
        mirror: {
          requests: c.mirror.requests,
          errors: c.mirror.errors,
          exceedances: thresholdsMs.map((thresholdMs, j) => ({ thresholdMs, count: c.mirror.exceed[j]! })),
        },
        primaryHistogram: { edges: [...this.edges, Number.POSITIVE_INFINITY], counts: [...this.primaryHist] },
        edgesMs: this.edges,
        sources: { ok: 1, failed: 0, problems: [] },
      },
      state,
    };
    this.lastReading = result.reading;
    return result;
  }
}

/** Lognormal latency with the given median (ms) and σ. */
export function lognormalMs(medianMs: number, sigma = 0.6): (rng: Rng) => number {
  return (rng) => {
    const u1 = Math.max(rng(), 1e-12);
    const u2 = rng();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return medianMs * Math.exp(sigma * z);
  };
}
