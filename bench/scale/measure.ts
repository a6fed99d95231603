/**
 * The per-change measurements of `npm run bench:scale`: write one file, poll from outside until the change is in
 * effect, and record the longest serving-thread stall seen meanwhile (stall probe + `weir_event_loop_delay_*`); the
 * steady load stream with and without endpoint churn.
 */
import { EventLoopDelaySampler } from '../../src/telemetry/event-loop-delay.ts';
import { createSeededRng } from '../../src/util/random.ts';
import { get, pollUntil, StallProbe } from './http.ts';
import { type LoadJob, type LoadResult, runLoad } from './load.ts';
import { type Mesh, PROBE_HEADER, PROBE_HOST, serviceName } from './mesh.ts';
import { eventLoopDelayBetween, type ServeProcess, scrape } from './weir.ts';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Probe interval of the stall probe and gap between polls, ms. */
export const PROBE_INTERVAL_MS = 2;
export const POLL_GAP_MS = 2;
/** How long the stall probe keeps running after the change is seen (work after the swap), ms. */
export const TAIL_MS = 300;

/** A check that a change is in effect, seen from outside. */
export interface EffectCheck {
  /** Reads whatever baseline the check needs, before the write. */
  prepare(): Promise<void>;
  /** One poll, its requests bounded by `timeoutMs`: true once the new state shows. Never throws. */
  poll(timeoutMs: number): Promise<boolean>;
}

/** Service 0's instrumented endpoint route answers `status` (200 with its v3 endpoint, 503 `UH` without). */
export function endpointCheck(s: ServeProcess, status: number): EffectCheck {
  const host = serviceName(0).host;
  return {
    prepare: async () => {},
    poll: async (timeoutMs) =>
      (await get(s.proxyUrl, { host, headers: { [PROBE_HEADER]: 'endpoint' }, timeoutMs })).status === status,
  };
}

/**
 * Service 0's split route dispatches under the split `v1 = w1 %, v2 = w2 %`: one request through the route, then
 * admin `/rollout/counts` for the VirtualService; true once that split's request count grew past its value before
 * the write (every request is counted under the split in force when it was dispatched).
 */
export function splitCheck(s: ServeProcess, weights: readonly [number, number]): EffectCheck {
  const { ns, name, host } = serviceName(0);
  const countsUrl = `${s.adminUrl}/rollout/counts?namespace=${ns}&virtualService=${name}`;
  /** Requests counted under the target split; null when the admin answer cannot be read. */
  const count = async (timeoutMs: number): Promise<number | null> => {
    const a = await get(countsUrl, { timeoutMs });
    if (a.status !== 200) return null;
    try {
      const snap = JSON.parse(a.body) as {
        routes: { splits: { destinations: { subset: string | null; probability: number; requests: number }[] }[] }[];
      };
      let n = 0;
      for (const r of snap.routes) {
        for (const sp of r.splits) {
          const p1 = sp.destinations.find((d) => d.subset === 'v1')?.probability;
          const p2 = sp.destinations.find((d) => d.subset === 'v2')?.probability;
          if (p1 === weights[0] / 100 && p2 === weights[1] / 100) {
            n += sp.destinations.reduce((acc, d) => acc + d.requests, 0);
          }
        }
      }
      return n;
    } catch {
      return null;
    }
  };
  // Without a baseline the check never passes (the change is then reported as not in effect).
  let baseline = Number.POSITIVE_INFINITY;
  return {
    prepare: async () => {
      baseline = (await count(30_000)) ?? Number.POSITIVE_INFINITY;
    },
    poll: async (timeoutMs) => {
      const t0 = performance.now();
      await get(s.proxyUrl, { host, timeoutMs });
      const n = await count(Math.max(1, timeoutMs - (performance.now() - t0)));
      return n !== null && n > baseline;
    },
  };
}

/** One change, measured. Times in ms. */
export interface ChangeResult {
  /** How long the change was given, ms (the step's timeout, capped by the run budget). */
  timeoutMs: number;
  /** From the write (rename) to the end of the first poll that saw the new state; null when it did not show. */
  inEffectMs: number | null;
  /** The change took effect within the last `resolutionMs` before `inEffectMs` (poll interval and round trip). */
  resolutionMs: number | null;
  timedOut: boolean;
  polls: number;
  /** The stall probe: longest delay of a request scheduled from the write to `TAIL_MS` after the effect. */
  probeMaxDelayMs: number;
  probeRequests: number;
  probeFailed: number;
  /** Largest `weir_event_loop_delay_seconds` bucket bound that grew meanwhile (≤ value), null when absent. */
  eventLoopDelayMaxMs: number | null;
  configVersion: number | null;
  /**
   * The harness's own event-loop delay during the window, ms: the probe's and the poller's times include it, so a
   * large value (a busy machine) makes `probeMaxDelayMs` and `inEffectMs` unreliable by that much.
   */
  harnessLagMs: number;
}

/**
 * Applies `write` (which returns the time of the rename) and measures it: stall probe running from 50 ms before to
 * `TAIL_MS` after the effect, admin scrapes before and after (outside the window). Never rejects.
 */
export async function measureChange(
  s: ServeProcess,
  check: EffectCheck,
  write: () => number,
  timeoutMs: number,
): Promise<ChangeResult> {
  const probe = new StallProbe(s.proxyUrl, PROBE_HOST, PROBE_INTERVAL_MS);
  await check.prepare();
  const before = await scrape(s.adminUrl, Math.min(30_000, timeoutMs));
  probe.start();
  // Lets the sampler record the scrape's own cost before the window, and the probe open its connections.
  await pause(50);
  const lag = new EventLoopDelaySampler(5);
  lag.start();
  const windowStart = performance.now();
  const t0 = write();
  const r = await pollUntil((ms) => check.poll(ms), t0 + timeoutMs, POLL_GAP_MS);
  await pause(TAIL_MS);
  const windowEnd = performance.now();
  lag.stop();
  probe.stop();
  await probe.settle(windowEnd, performance.now() + Math.min(30_000, timeoutMs));
  const w = probe.window(windowStart, windowEnd);
  const after = r.ok ? await scrape(s.adminUrl, Math.min(30_000, timeoutMs)) : null;
  return {
    timeoutMs,
    inEffectMs: r.ok ? r.atMs - t0 : null,
    resolutionMs: r.ok ? r.resolutionMs : null,
    timedOut: !r.ok,
    polls: r.polls,
    probeMaxDelayMs: w.maxDelayMs,
    probeRequests: w.requests,
    probeFailed: w.failed,
    eventLoopDelayMaxMs: after ? eventLoopDelayBetween(before, after) : null,
    configVersion: after?.configVersion ?? null,
    harnessLagMs: lag.maxSeconds * 1000,
  };
}

/** The load stream through the proxy while `perSecond` endpoint changes are written (seeded choice of service). */
export async function loadWithChurn(
  mesh: Mesh,
  job: LoadJob,
  perSecond: number,
  seed: number,
): Promise<{ load: LoadResult; writes: number }> {
  const rng = createSeededRng(seed);
  let writes = 0;
  const timer = setInterval(() => {
    // Any service but 0 (the one under load): toggle its fifth endpoint.
    const i = 1 + Math.floor(rng() * (mesh.services - 1));
    const st = mesh.states[i]!;
    mesh.update(i, { ...st, extraEndpoint: !st.extraEndpoint });
    writes++;
  }, 1000 / perSecond);
  try {
    return { load: await runLoad(job), writes };
  } finally {
    clearInterval(timer);
  }
}
