/**
 * One row of `npm run bench:scale`: generate the mesh of one size, then `weir validate`, `weir serve` start, the
 * endpoint and weight changes, the reload series, and the load stream with and without churn. Every step is bounded by
 * its own timeout and by the run's remaining budget; what could not be measured says why.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds } from '../lib/sys.ts';
import { get, pollUntil } from './http.ts';
import { type LoadJob, type LoadResult, runLoad } from './load.ts';
import {
  type ChangeResult,
  type EffectCheck,
  endpointCheck,
  loadWithChurn,
  measureChange,
  splitCheck,
} from './measure.ts';
import { type BackendPorts, Mesh, type MeshLayout, PROBE_HEADER, PROBE_HOST, serviceName } from './mesh.ts';
import { fmtMs } from './report.ts';
import {
  eventLoopDelayBetween,
  rssMb,
  runValidate,
  scrape,
  startServe,
  stopServe,
  type ValidateResult,
  type WeirRuntime,
} from './weir.ts';

/** The run's time budget: every wait is capped by what is left of it. */
export class Budget {
  private readonly deadline: number;
  constructor(totalMs: number) {
    this.deadline = performance.now() + totalMs;
  }
  /** Milliseconds left. */
  left(): number {
    return Math.max(0, this.deadline - performance.now());
  }
  /** `stepMs` capped by what is left. */
  cap(stepMs: number): number {
    return Math.min(stepMs, this.left());
  }
}

/** Settings of one run (see run.ts for the defaults). */
export interface Settings {
  layout: MeshLayout;
  validateTimeoutMs: number;
  readyTimeoutMs: number;
  changeTimeoutMs: number;
  reloads: number;
  reloadBudgetMs: number;
  loadSeconds: number;
  loadWarmupSeconds: number;
  /** A load stream through weir before the measured ones (discarded), seconds. */
  proxyWarmupSeconds: number;
  rate: number;
  churnPerSecond: number;
  seed: number;
}

/** The reload series (alternating two weights of service 0). */
export interface ReloadSeries {
  done: number;
  target: number;
  stoppedBy: 'done' | 'budget' | 'timeout';
  /** In-effect time per reload, ms. */
  medianMs: number | null;
  maxMs: number | null;
  rssAfterMb: number | null;
  /** Largest event-loop delay bucket that grew during the series, ms. */
  eventLoopDelayMaxMs: number | null;
}

/** The load stream through weir, without or with churn, and what weir did meanwhile. */
export interface LoadPhase {
  result: LoadResult;
  /** Applied reloads (config version delta), null when unknown. */
  reloads: number | null;
  /** Largest `weir_event_loop_delay_seconds` bucket that grew, ms (≤ value), null when absent. */
  eventLoopDelayMaxMs: number | null;
  /** weir's CPU time / wall time over the phase (1 = one core busy). */
  weirCpuShare: number;
}

/** The load stream: direct to the backend, through weir, and through weir with endpoint churn. */
export interface LoadRow {
  direct: LoadResult | null;
  proxy: LoadPhase | null;
  churn: LoadPhase | null;
  churnWrites: number;
}

/** Everything measured at one size. */
export interface SizeRow {
  services: number;
  resources: number;
  yamlMb: number;
  layout: MeshLayout;
  validate: ValidateResult | null;
  readyMs: number | null;
  serveFailure: string | null;
  rssAfterStartMb: number | null;
  endpointRemoved: ChangeResult | null;
  endpointAdded: ChangeResult | null;
  weight: ChangeResult | null;
  rssAfter1ReloadMb: number | null;
  reloads: ReloadSeries | null;
  load: LoadRow | null;
  notes: string[];
  /** The last lines weir wrote (on a failure). */
  weirLogTail: string[] | null;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number | null =>
  xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** RSS after a short settle (500 ms, so the swap's garbage had a chance to go). */
async function settledRss(pid: number): Promise<number | null> {
  await pause(500);
  return rssMb(pid);
}

/** Measures one size. Never rejects on weir's failures (they are reported in the row). */
export async function measureSize(
  n: number,
  o: Settings,
  rt: WeirRuntime,
  backend: BackendPorts,
  tmp: string,
  budget: Budget,
  progress: (line: string) => void,
): Promise<SizeRow> {
  const dir = join(tmp, `mesh-${n}`);
  const mesh = new Mesh(dir, n, o.layout, backend);
  const row: SizeRow = {
    services: n,
    resources: mesh.resourceCount,
    yamlMb: mesh.bytes / 1e6,
    layout: o.layout,
    validate: null,
    readyMs: null,
    serveFailure: null,
    rssAfterStartMb: null,
    endpointRemoved: null,
    endpointAdded: null,
    weight: null,
    rssAfter1ReloadMb: null,
    reloads: null,
    load: null,
    notes: [],
    weirLogTail: null,
  };
  const logTail = (): string[] => {
    try {
      return readFileSync(rt.logFile, 'utf8').trimEnd().split('\n').slice(-20);
    } catch {
      return [];
    }
  };
  try {
    if (budget.left() < 30_000) {
      row.notes.push('not measured: run budget exhausted');
      return row;
    }
    progress(`${n} services: weir validate…`);
    row.validate = await runValidate(rt, dir, budget.cap(o.validateTimeoutMs));
    if (row.validate.resources !== null && row.validate.resources !== mesh.resourceCount) {
      row.notes.push(`validate counted ${row.validate.resources} resources, expected ${mesh.resourceCount}`);
    }
    progress(`${n} services: weir serve start…`);
    const s = await startServe(rt, dir, budget.cap(o.readyTimeoutMs));
    row.readyMs = s.readyMs;
    row.serveFailure = s.failure;
    if (s.readyMs === null) {
      row.weirLogTail = logTail();
      return row;
    }
    try {
      row.rssAfterStartMb = rssMb(s.pid);
      await serveSteps(s, mesh, o, row, budget, progress);
    } finally {
      await stopServe(s);
      if (row.notes.some((x) => x.startsWith('timeout') || x.startsWith('failed'))) row.weirLogTail = logTail();
    }
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serveSteps(
  s: Awaited<ReturnType<typeof startServe>>,
  mesh: Mesh,
  o: Settings,
  row: SizeRow,
  budget: Budget,
  progress: (line: string) => void,
): Promise<void> {
  const svc0 = serviceName(0).host;
  // The routes answer as expected before anything is measured (connections warm).
  const probe = await get(s.proxyUrl, { host: PROBE_HOST, timeoutMs: 10_000 });
  const ep = await get(s.proxyUrl, { host: svc0, headers: { [PROBE_HEADER]: 'endpoint' }, timeoutMs: 10_000 });
  const split = await get(s.proxyUrl, { host: svc0, timeoutMs: 10_000 });
  if (probe.status !== 200 || ep.status !== 200 || split.status !== 200) {
    row.notes.push(`failed: routes answered probe ${probe.status}, endpoint ${ep.status}, split ${split.status}`);
    return;
  }
  const enough = (ms: number, what: string): boolean => {
    if (budget.left() >= ms) return true;
    row.notes.push(`${what}: skipped (run budget)`);
    return false;
  };
  const change = async (what: string, check: EffectCheck, write: () => number): Promise<ChangeResult | null> => {
    if (!enough(10_000, what)) return null;
    progress(`${mesh.services} services: ${what}…`);
    const r = await measureChange(s, check, write, budget.cap(o.changeTimeoutMs));
    if (r.harnessLagMs > 50) {
      row.notes.push(
        `${what}: the harness itself lagged ${fmtMs(r.harnessLagMs)} (busy machine): times unreliable by that much`,
      );
    }
    if (r.timedOut) row.notes.push(`timeout: ${what} not in effect within ${fmtMs(r.timeoutMs)}`);
    return r;
  };
  const st0 = () => mesh.states[0]!;
  row.endpointRemoved = await change('endpoint removed', endpointCheck(s, 503), () =>
    mesh.update(0, { ...st0(), extraEndpoint: false }),
  );
  if (row.endpointRemoved?.timedOut) return;
  row.endpointAdded = await change('endpoint added', endpointCheck(s, 200), () =>
    mesh.update(0, { ...st0(), extraEndpoint: true }),
  );
  if (row.endpointAdded?.timedOut) return;
  row.weight = await change('weight 95/5 → 90/10', splitCheck(s, [90, 10]), () =>
    mesh.update(0, { ...st0(), weights: [90, 10] }),
  );
  if (!row.weight || row.weight.timedOut) return;
  row.rssAfter1ReloadMb = await settledRss(s.pid);

  // The reload series: alternate 95/5 and 90/10, each waited for.
  progress(`${mesh.services} services: up to ${o.reloads} reloads…`);
  const before = await scrape(s.adminUrl, budget.cap(30_000));
  const series: ReloadSeries = {
    done: 0,
    target: o.reloads,
    stoppedBy: 'done',
    medianMs: null,
    maxMs: null,
    rssAfterMb: null,
    eventLoopDelayMaxMs: null,
  };
  const times: number[] = [];
  const seriesEnd = performance.now() + o.reloadBudgetMs;
  while (series.done < o.reloads) {
    if (performance.now() >= seriesEnd || budget.left() < 60_000) {
      series.stoppedBy = 'budget';
      break;
    }
    const w: [number, number] = series.done % 2 === 0 ? [95, 5] : [90, 10];
    const check = splitCheck(s, w);
    await check.prepare();
    const t0 = mesh.update(0, { ...st0(), weights: w });
    const r = await pollUntil((ms) => check.poll(ms), t0 + budget.cap(o.changeTimeoutMs));
    if (!r.ok) {
      series.stoppedBy = 'timeout';
      row.notes.push(`timeout: reload ${series.done + 1} of the series not in effect`);
      break;
    }
    times.push(r.atMs - t0);
    series.done++;
  }
  series.medianMs = median(times);
  series.maxMs = times.length ? Math.max(...times) : null;
  series.rssAfterMb = await settledRss(s.pid);
  series.eventLoopDelayMaxMs = eventLoopDelayBetween(before, await scrape(s.adminUrl, budget.cap(30_000)));
  row.reloads = series;
  if (series.stoppedBy === 'timeout') return;

  // The load stream: direct, through weir, through weir with endpoint churn.
  const loadMs = (o.loadSeconds + o.loadWarmupSeconds) * 1000;
  if (!enough(3 * loadMs + o.proxyWarmupSeconds * 1000 + 30_000, 'load')) return;
  const job = (url: string, host: string | null): LoadJob => ({
    url,
    host,
    rate: o.rate,
    seconds: o.loadSeconds,
    warmupSeconds: o.loadWarmupSeconds,
    connections: 32,
    timeoutMs: 60_000,
  });
  const load: LoadRow = { direct: null, proxy: null, churn: null, churnWrites: 0 };
  row.load = load;
  progress(
    `${mesh.services} services: load ${o.rate} req/s direct / through weir / with ${o.churnPerSecond} endpoint changes/s…`,
  );
  load.direct = await runLoad(job(`http://127.0.0.1:${mesh.backend.service[0]}/`, null));
  // Warm weir's request path first (a cold one is several times slower and builds a queue at this rate).
  await runLoad({ ...job(`${s.proxyUrl}/`, svc0), seconds: o.proxyWarmupSeconds, warmupSeconds: 0 });
  const phase = async (run: () => Promise<LoadResult>): Promise<LoadPhase> => {
    const m0 = await scrape(s.adminUrl, budget.cap(30_000));
    await pause(50);
    const c0 = cpuSeconds([s.pid]);
    const t0 = performance.now();
    const result = await run();
    const share = (cpuSeconds([s.pid]) - c0) / ((performance.now() - t0) / 1000);
    const m1 = await scrape(s.adminUrl, budget.cap(30_000));
    return {
      result,
      reloads: m0.configVersion !== null && m1.configVersion !== null ? m1.configVersion - m0.configVersion : null,
      eventLoopDelayMaxMs: eventLoopDelayBetween(m0, m1),
      weirCpuShare: share,
    };
  };
  load.proxy = await phase(() => runLoad(job(`${s.proxyUrl}/`, svc0)));
  load.churn = await phase(async () => {
    const c = await loadWithChurn(mesh, job(`${s.proxyUrl}/`, svc0), o.churnPerSecond, o.seed);
    load.churnWrites = c.writes;
    return c.load;
  });
  const applied = load.churn.reloads;
  if (applied !== null && applied < load.churnWrites / 10) {
    row.notes.push(
      `churn: weir applied ${applied} reload(s) for ${load.churnWrites} writes, so the churn figures say little about applying changes`,
    );
  }
}
