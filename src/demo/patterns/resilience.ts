/**
 * Resilience (`examples/07-resilience`, namespace `resilience`): Istio's resilience policies on real servers, one
 * step each, with what the proxy itself reports (status, Envoy response flags, admin `/clusters`).
 *
 * 1. request timeout: route `timeout: 0.5s` in front of v2 slowed to 2 s → 504 `UT` after ≈0.5 s;
 * 2. retries: `attempts: 3, retryOn: 5xx` against v2 failing twice → 200 on the third attempt (v2 sees
 *    `x-envoy-attempt-count` 1, 2, 3); v2 failing always → 503 `URX` after four attempts;
 * 3. fault injection: `end-user: jason` delayed 1 s (`DI`); 30 % of the others aborted with 500 (`FI`) by the proxy,
 *    never reaching v2;
 * 4. circuit breaking: v1's `maxConnections: 1`, `http1MaxPendingRequests: 1` against waves of 1, 4 and 16
 *    concurrent requests → the share of 503 `UO` grows with concurrency, none at 1;
 * 5. outlier detection: a temporary copy with three v1 pods, one answering 500, is hot-reloaded; after three
 *    consecutive 5xx the pod is ejected (admin `/clusters`: EJECTED), the two others take all traffic without a
 *    client-visible error, and after the 5 s ejection time it is back in service (it recovered meanwhile).
 */
import { type Backend, startBackend } from '../../backend/backend.ts';
import { copyWithEndpoints } from '../environment.ts';
import { type RequestOutcome, sendRequest } from '../http-client.ts';
import { driveLanes, failureCell, mark, PhaseProgress, settleProxy, withLiveFrame } from '../kit.ts';
import { formatTable } from '../live-view.ts';
import { runLoad } from '../load.ts';
import { binomialBand, formatBand, formatMs, formatPercent, isWithinBand } from '../stats.ts';
import { ClassTally } from '../tally.ts';
import type { Check, DemoContext, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

const NAMESPACE = 'resilience';
const HOST = serviceHost(NAMESPACE);
/** `http[]` indexes of the example's VirtualService. */
const ROUTE = { timeout: 0, retries: 1, delay: 2, abort: 3, default: 4 } as const;

/** Step 1: the route timeout and how slow v2 is made, ms. */
const TIMEOUT_MS = 500;
const SLOW_MS = 2000;
/** Step 1: traffic (requests per second for 1 s). */
const TIMEOUT_RPS = 20;
/** Step 3: the injected delay, the abort share, and jason's rate (requests per second). */
const FAULT_DELAY_MS = 1000;
const ABORT_SHARE = 0.3;
const JASON_RPS = 5;
/** Step 4: client concurrency levels, waves per level, and v1's latency (so a second request has to wait). */
const CB_LEVELS = [1, 4, 16] as const;
const CB_WAVES = 20;
const CB_LATENCY_MS = 25;
/** Step 4: the example's connection pool: requests admitted at once (1 connection + 1 pending). */
const CB_ADMITTED = 2;
/** Step 5: the example's outlier detection. */
const OD = { consecutive5xx: 3, intervalMs: 1000, ejectionMs: 5000 } as const;
/** Step 5: traffic rate, and how long to keep going once the pod is back. */
const OD_RPS = 100;
const OD_AFTER_RETURN_MS = 1500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `504 UT×20 200 -×3` for proxy outcomes (status order). */
function flagsCell(m: ReadonlyMap<string, number>): string {
  if (m.size === 0) return '–';
  return [...m.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
}

/** Proxy outcomes (`status flags` → n) of route `http[index]`, as a copy. */
function outcomes(ctx: DemoContext, index: number): Map<string, number> {
  return new Map(ctx.env.tap.route(HOST, index).byOutcome);
}

/** Counts in `after` minus those in `before`. */
function delta(after: ReadonlyMap<string, number>, before: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, n] of after) if (n - (before.get(k) ?? 0) > 0) out.set(k, n - (before.get(k) ?? 0));
  return out;
}

/** ✓/✗ once a step (or row) is `done`; `…` while it runs, when client and proxy counters may not agree yet. */
function judged(done: boolean, ok: boolean, n: number): string {
  return done ? mark(ok, n) : '…';
}

/** A live frame without a progress bar (for steps bounded by count rather than time). */
async function frame<T>(ctx: DemoContext, render: () => string[], progress: () => string, fn: () => Promise<T>) {
  const live = ctx.view.start(render, progress);
  try {
    return await fn();
  } finally {
    live.stop(render());
  }
}

function stepHeading(ctx: DemoContext, n: number, title: string, config: string, setup: string): void {
  ctx.view.print('', `  ${n}. ${title}`, ctx.view.dim(`     ${config}`), ctx.view.dim(`     ${setup}`), '');
}

const indent = (lines: string[]): string[] => lines.map((l) => `  ${l}`);

/** Step 1: route timeout in front of a slow v2. */
async function requestTimeout(ctx: DemoContext): Promise<Check[]> {
  stepHeading(
    ctx,
    1,
    'Request timeout',
    `http[0] x-step: timeout → v2, timeout: ${TIMEOUT_MS / 1000}s`,
    `v2 slowed to ${SLOW_MS / 1000} s`,
  );
  const { v2 } = ctx.env.backends;
  const t = new ClassTally('x-step: timeout');
  let done = false;
  let flags = new Map<string, number>();
  const ok = (): boolean => {
    const ut = flags.get('504 UT') ?? 0;
    const min = t.latency(0);
    const p95 = t.latency(0.95);
    return (
      t.requests > 0 &&
      t.status(504) === t.requests &&
      ut === t.requests &&
      min !== null &&
      min >= TIMEOUT_MS - 10 &&
      p95 !== null &&
      p95 < SLOW_MS / 2
    );
  };
  const render = (): string[] => {
    flags = outcomes(ctx, ROUTE.timeout);
    return indent(
      formatTable(
        ['', 'request class', 'requests', 'client saw', 'proxy (status flags)', 'fastest', 'p95', 'expected'],
        [
          [
            judged(done, ok(), t.requests),
            t.label,
            String(t.requests),
            t.statusSummary() || '–',
            flagsCell(flags),
            formatMs(t.latency(0)),
            formatMs(t.latency(0.95)),
            `504 UT after ≈${TIMEOUT_MS / 1000} s`,
          ],
        ],
        ['left', 'left', 'right', 'left', 'left', 'right', 'right', 'left'],
      ),
    );
  };
  const progress = new PhaseProgress();
  v2.configure({ latencyMs: SLOW_MS });
  try {
    await withLiveFrame(
      ctx,
      {
        render,
        progress: () => `${t.requests} requests: ${t.statusSummary() || '–'}; p50 ${formatMs(t.latency(0.5))}`,
      },
      progress,
      () =>
        driveLanes(
          { ...ctx, load: { ...ctx.load, rps: TIMEOUT_RPS } },
          [
            {
              tally: t,
              dispatcher: ctx.env.clients.local,
              share: 1,
              headers: () => ({ host: HOST, 'x-step': 'timeout' }),
            },
          ],
          1000,
          { progress, label: 'timeout' },
        ).then(() => {
          done = true;
        }),
    );
  } finally {
    v2.configure({ latencyMs: 0 });
  }
  flags = outcomes(ctx, ROUTE.timeout);
  return [
    {
      label: `timeout ${TIMEOUT_MS / 1000}s before a ${SLOW_MS / 1000} s v2: 504 UT after ≈${TIMEOUT_MS / 1000} s`,
      ok: ok(),
      observed: `${t.status(504)}/${t.requests} got 504, proxy flagged UT on ${flags.get('504 UT') ?? 0}; latency ${formatMs(t.latency(0))}–${formatMs(t.latency(1))}`,
    },
  ];
}

/** One retried request: what the client, the backend and the proxy saw. */
interface RetryProbe {
  label: string;
  expected: { status: number; attempts: string[]; flags: string };
  outcome: RequestOutcome | null;
  attempts: string[];
  flags: Map<string, number>;
}

function probeOk(p: RetryProbe): boolean {
  return (
    p.outcome !== null &&
    p.outcome.status === p.expected.status &&
    p.attempts.join(',') === p.expected.attempts.join(',') &&
    p.flags.size === 1 &&
    p.flags.has(p.expected.flags)
  );
}

/** Step 2: retries hide two failures, then run out. */
async function retries(ctx: DemoContext): Promise<Check[]> {
  stepHeading(
    ctx,
    2,
    'Retries',
    'http[1] x-step: retries → v2, retries: {attempts: 3, retryOn: 5xx} (4 tries at most)',
    'first request: v2 answers 503 twice, then 200; second request: v2 answers 503 every time',
  );
  const { v2 } = ctx.env.backends;
  const probes: RetryProbe[] = [
    {
      label: 'v2 fails twice, then succeeds',
      expected: { status: 200, attempts: ['1', '2', '3'], flags: '200 -' },
      outcome: null,
      attempts: [],
      flags: new Map(),
    },
    {
      label: 'v2 always fails',
      expected: { status: 503, attempts: ['1', '2', '3', '4'], flags: '503 URX' },
      outcome: null,
      attempts: [],
      flags: new Map(),
    },
  ];
  const render = (): string[] =>
    indent(
      formatTable(
        ['', 'request', 'client saw', 'v2 saw x-envoy-attempt-count', 'proxy (status flags)', 'expected'],
        probes.map((p) => [
          mark(probeOk(p), p.outcome ? 1 : 0),
          p.label,
          p.outcome ? String(p.outcome.status || p.outcome.error) : '…',
          p.attempts.join(', ') || '–',
          flagsCell(p.flags),
          `${p.expected.status}${p.expected.flags.endsWith('URX') ? ' URX' : ''} after ${p.expected.attempts.length} attempts`,
        ]),
        ['left', 'left', 'right', 'left', 'left', 'left'],
      ),
    );
  const send = async (p: RetryProbe): Promise<void> => {
    v2.reset();
    const before = outcomes(ctx, ROUTE.retries);
    const outcome = await sendRequest(ctx.env.clients.local, ctx.env.proxyUrl, { host: HOST, 'x-step': 'retries' });
    await settleProxy(ctx);
    p.attempts = v2.stats().recent.map((r) => String(r.headers['x-envoy-attempt-count'] ?? '?'));
    p.flags = delta(outcomes(ctx, ROUTE.retries), before);
    p.outcome = outcome;
  };
  try {
    await frame(
      ctx,
      render,
      () => probes.map((p) => `${p.label}: ${p.outcome?.status ?? '…'}`).join(' | '),
      async () => {
        v2.configure({ failFirstN: 2, errorStatus: 503 });
        await send(probes[0]!);
        v2.configure({ failFirstN: 0, errorRate: 1, errorStatus: 503 });
        await send(probes[1]!);
      },
    );
  } finally {
    v2.configure({ failFirstN: 0, errorRate: 0, errorStatus: 500 });
  }
  const [a, b] = probes as [RetryProbe, RetryProbe];
  const seen = (p: RetryProbe): string =>
    `client ${p.outcome?.status ?? 'nothing'}, v2 saw attempts ${p.attempts.join(', ') || 'none'}, proxy ${flagsCell(p.flags)}`;
  return [
    { label: 'retries: v2 failing twice → 200 on attempt 3', ok: probeOk(a), observed: seen(a) },
    { label: 'retries exhausted → 503 with flag URX', ok: probeOk(b), observed: seen(b) },
  ];
}

/** Step 3: a delay for jason, an abort share for the others. */
async function faults(ctx: DemoContext): Promise<Check[]> {
  stepHeading(
    ctx,
    3,
    'Fault injection',
    `http[2] end-user: jason → delay ${FAULT_DELAY_MS / 1000}s (100 %); http[3] x-step: faults → abort 500 (${ABORT_SHARE * 100} %)`,
    'both → v2, which answers at once',
  );
  const { v2 } = ctx.env.backends;
  v2.reset();
  const jason = new ClassTally('end-user: jason');
  const others = new ClassTally('x-step: faults');
  let done = false;
  const durationMs = Math.max(1000, ctx.load.durationMs / 2);
  let delayFlags = new Map<string, number>();
  let abortFlags = new Map<string, number>();
  const jasonOk = (): boolean => {
    const min = jason.latency(0);
    return (
      jason.requests > 0 &&
      jason.version('v2') === jason.requests &&
      jason.failed === 0 &&
      min !== null &&
      min >= FAULT_DELAY_MS - 10 &&
      (delayFlags.get('200 DI') ?? 0) === jason.requests
    );
  };
  const aborted = (): number => others.status(500);
  const othersOk = (): boolean =>
    others.requests > 0 &&
    isWithinBand(aborted(), others.requests, ABORT_SHARE) &&
    (abortFlags.get('500 FI') ?? 0) === aborted() &&
    others.status(200) + aborted() === others.requests &&
    others.version('v2') === others.status(200);
  const render = (): string[] => {
    delayFlags = outcomes(ctx, ROUTE.delay);
    abortFlags = outcomes(ctx, ROUTE.abort);
    const reached = v2.stats().totalRequests;
    return [
      ...indent(
        formatTable(
          [
            '',
            'request class',
            'requests',
            '200 from v2',
            '500 (aborted)',
            'proxy (status flags)',
            'fastest',
            'expected',
          ],
          [
            [
              judged(done, jasonOk(), jason.requests),
              jason.label,
              String(jason.requests),
              String(jason.version('v2')),
              failureCell(jason),
              flagsCell(delayFlags),
              formatMs(jason.latency(0)),
              `200 after ≥ ${FAULT_DELAY_MS / 1000} s (DI)`,
            ],
            [
              judged(done, othersOk(), others.requests),
              others.label,
              String(others.requests),
              String(others.version('v2')),
              `${aborted()}  ${formatPercent(aborted(), others.requests).padStart(7)}`,
              flagsCell(abortFlags),
              formatMs(others.latency(0)),
              `${ABORT_SHARE * 100} % 500 FI (5σ ${others.requests ? formatBand(binomialBand(others.requests, ABORT_SHARE)) : '–'})`,
            ],
          ],
          ['left', 'left', 'right', 'right', 'right', 'left', 'right', 'left'],
        ),
      ),
      '',
      ctx.view.dim(
        `  v2 received ${reached} requests; the clients got ${jason.version('v2') + others.version('v2')} answers from v2 and ${aborted()} aborts`,
      ),
    ];
  };
  const progress = new PhaseProgress();
  await withLiveFrame(
    ctx,
    {
      render,
      progress: () =>
        `jason ${jason.requests}: ${jason.statusSummary() || '–'} | others ${others.requests}: aborted ${formatPercent(aborted(), others.requests)}`,
    },
    progress,
    () => {
      const jasonShare = Math.min(0.5, JASON_RPS / ctx.load.rps);
      return driveLanes(
        ctx,
        [
          {
            tally: jason,
            dispatcher: ctx.env.clients.local,
            share: jasonShare,
            headers: () => ({ host: HOST, 'end-user': 'jason' }),
          },
          {
            tally: others,
            dispatcher: ctx.env.clients.local,
            share: 1 - jasonShare,
            headers: () => ({ host: HOST, 'x-step': 'faults' }),
          },
        ],
        durationMs,
        { progress, label: 'faults' },
      ).then(() => {
        done = true;
      });
    },
  );
  delayFlags = outcomes(ctx, ROUTE.delay);
  abortFlags = outcomes(ctx, ROUTE.abort);
  const reached = v2.stats().totalRequests;
  const served = jason.version('v2') + others.version('v2');
  return [
    {
      label: `delay: jason gets v2’s 200 after ≥ ${FAULT_DELAY_MS / 1000} s (DI)`,
      ok: jasonOk(),
      observed: `${jason.version('v2')}/${jason.requests} 200 from v2${jason.failed ? `, ${failureCell(jason)}` : ''}, fastest ${formatMs(jason.latency(0))}, proxy ${flagsCell(delayFlags)}`,
    },
    {
      label: `abort: ≈ ${ABORT_SHARE * 100} % get 500 from the proxy (FI)`,
      ok: othersOk(),
      observed: `${aborted()}/${others.requests} = ${formatPercent(aborted(), others.requests)} (5σ band ${formatBand(binomialBand(others.requests, ABORT_SHARE))}), proxy ${flagsCell(abortFlags)}`,
    },
    {
      label: 'aborted requests never reach v2',
      ok: others.requests > 0 && reached === served,
      observed: `v2 received ${reached} = the ${served} answers it gave; ${aborted()} aborts not among them`,
    },
  ];
}

/** One concurrency level of step 4. */
interface CbLevel {
  concurrency: number;
  t: ClassTally;
  /** Requests the proxy flagged 503 UO. */
  uo: number;
  /** All its waves were sent and answered. */
  done: boolean;
}

/** Step 4: waves of concurrent requests against v1's circuit breaker. */
async function circuitBreaking(ctx: DemoContext): Promise<Check[]> {
  stepHeading(
    ctx,
    4,
    'Circuit breaking',
    'http[4] → v1, DestinationRule subset v1: connectionPool {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}',
    `v1 takes ${CB_LATENCY_MS} ms; ${CB_WAVES} waves of 1, 4 and 16 requests sent at once (1 in flight + 1 waiting fit; the rest should get 503 UO)`,
  );
  const { v1 } = ctx.env.backends;
  const levels: CbLevel[] = [];
  const shareOf = (l: CbLevel): number => (l.t.requests ? l.uo / l.t.requests : 0);
  const levelOk = (l: CbLevel, i: number): boolean => {
    const clean = l.t.status(200) + l.t.status(503) === l.t.requests && l.t.status(503) === l.uo;
    if (i === 0) return clean && l.uo === 0;
    return clean && l.uo > 0 && shareOf(l) > shareOf(levels[i - 1]!);
  };
  const render = (): string[] =>
    indent(
      formatTable(
        ['', 'concurrency', 'requests', '200', '503 UO (proxy)', 'UO share', 'expected ≈'],
        levels.map((l, i) => [
          judged(l.done, levelOk(l, i), l.t.requests),
          String(l.concurrency),
          String(l.t.requests),
          String(l.t.status(200)),
          String(l.uo),
          formatPercent(l.uo, l.t.requests),
          i === 0 ? 'none' : `${((100 * Math.max(0, l.concurrency - CB_ADMITTED)) / l.concurrency).toFixed(1)} %`,
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
      ),
    );
  v1.configure({ latencyMs: CB_LATENCY_MS });
  try {
    await frame(
      ctx,
      render,
      () => levels.map((l) => `c=${l.concurrency}: ${l.uo}/${l.t.requests} UO`).join(' | '),
      async () => {
        for (const concurrency of CB_LEVELS) {
          const level: CbLevel = { concurrency, t: new ClassTally(`concurrency ${concurrency}`), uo: 0, done: false };
          levels.push(level);
          const deadline = performance.now() + 5000;
          for (let w = 0; w < CB_WAVES && !ctx.signal.aborted && performance.now() < deadline; w++) {
            const before = outcomes(ctx, ROUTE.default).get('503 UO') ?? 0;
            await Promise.all(
              Array.from({ length: concurrency }, async () => {
                level.t.add(await sendRequest(ctx.env.clients.local, ctx.env.proxyUrl, { host: HOST }));
              }),
            );
            await settleProxy(ctx, 500);
            level.uo += (outcomes(ctx, ROUTE.default).get('503 UO') ?? 0) - before;
          }
          level.done = true;
        }
      },
    );
  } finally {
    v1.configure({ latencyMs: 0 });
  }
  const [c1, ...rest] = levels;
  return [
    {
      label: 'circuit breaker: no 503 UO at concurrency 1',
      ok: c1 !== undefined && levelOk(c1, 0) && c1.t.status(200) === c1.t.requests,
      observed: c1 ? `${c1.t.status(200)}/${c1.t.requests} 200, ${c1.uo} UO` : 'not run',
    },
    {
      label: 'circuit breaker: the share of 503 UO grows with concurrency',
      ok: rest.length === CB_LEVELS.length - 1 && rest.every((l, i) => levelOk(l, i + 1)),
      observed: levels.map((l) => `${l.concurrency} → ${formatPercent(l.uo, l.t.requests)}`).join(', '),
    },
  ];
}

type OdPhase = 'before' | 'ejected' | 'returned';

/** Admin `/clusters` (or the proxy's runtimes when there is no admin port): health per endpoint of v1's cluster. */
async function v1Health(ctx: DemoContext): Promise<Map<string, { health: string; ejectedForMs: number }>> {
  const out = new Map<string, { health: string; ejectedForMs: number }>();
  const isV1 = (name: string): boolean => name.endsWith(`|v1|${HOST}`);
  if (ctx.env.adminUrl) {
    try {
      const res = await fetch(`${ctx.env.adminUrl}/clusters`, { signal: AbortSignal.timeout(1000) });
      const clusters = (await res.json()) as {
        name: string;
        endpoints: { address: string; health: string; ejectedForMs: number }[];
      }[];
      for (const c of clusters)
        if (isV1(c.name))
          for (const e of c.endpoints) out.set(e.address, { health: e.health, ejectedForMs: e.ejectedForMs });
    } catch {
      // a missed poll: the next one answers
    }
    return out;
  }
  for (const c of ctx.env.serve.proxy.clusterRuntimes())
    if (isV1(c.name))
      c.endpoints.forEach((e, i) =>
        out.set(e.key, { health: c.isEjected(i) ? 'EJECTED' : 'HEALTHY', ejectedForMs: 0 }),
      );
  return out;
}

/** Step 5: three v1 pods, one failing. */
async function outlierDetection(ctx: DemoContext): Promise<Check[]> {
  stepHeading(
    ctx,
    5,
    'Outlier detection',
    `http[4] → v1, subset v1: outlierDetection {consecutive5xxErrors: ${OD.consecutive5xx}, interval: ${OD.intervalMs / 1000}s, baseEjectionTime: ${OD.ejectionMs / 1000}s, maxEjectionPercent: 100}`,
    `three v1 pods; pod-2 answers 500 until it is ejected, then recovers; ${OD_RPS} req/s, one at a time`,
  );
  const pods: Backend[] = [];
  try {
    for (const i of [1, 2, 3]) {
      pods.push(
        await startBackend({
          host: '127.0.0.1',
          port: 0,
          name: `pod-${i}`,
          version: 'v1',
          ...(i === 2 ? { errorRate: 1, errorStatus: 500 } : {}),
        }),
      );
    }
    const bad = pods[1]!;
    const dir = await copyWithEndpoints(
      ctx.env.configDir,
      NAMESPACE,
      'v1',
      pods.map((p) => ({ address: '127.0.0.1', port: p.port, labels: { app: 'checkout-service', version: 'v1' } })),
    );
    ctx.env.own(dir);
    await ctx.env.applyConfig(dir);
    ctx.view.print(
      `  ↻ hot-reloaded a copy with three v1 pods (${pods.map((p) => `pod-${pods.indexOf(p) + 1} :${p.port}`).join(', ')}) (config v${ctx.env.serve.proxy.configVersion})`,
      '',
    );

    const phases: OdPhase[] = ['before', 'ejected', 'returned'];
    const counts = new Map<OdPhase, Map<string, { ok: number; err: number }>>(phases.map((p) => [p, new Map()]));
    const clientErrors = new Map<OdPhase, number>(phases.map((p) => [p, 0]));
    let phase: OdPhase = 'before';
    let ejectedAt: number | null = null; // client clock: the last error before the ejection
    let lastErrorAt: number | null = null;
    let firstEjectedForMs = 0;
    let returnedAt: number | null = null; // first answer from the bad pod after the ejection
    let healthySeenAt: number | null = null; // admin /clusters first showed it HEALTHY again
    let health = new Map<string, { health: string; ejectedForMs: number }>();
    const stop = new AbortController();
    const requests = { n: 0 };

    const record = (p: OdPhase, o: RequestOutcome): void => {
      // The pod comes back at the interval tick; a request it answers may arrive before the next /clusters poll
      // shows it HEALTHY. Its answer is itself the sign of the return.
      if (p === 'ejected' && o.backend === 'pod-2') {
        p = 'returned';
        if (phase === 'ejected') {
          phase = 'returned';
          healthySeenAt ??= performance.now();
          setTimeout(() => stop.abort(), OD_AFTER_RETURN_MS).unref();
        }
      }
      requests.n++;
      const pod = o.backend ?? (o.status === 0 ? `none (${o.error})` : 'proxy');
      const m = counts.get(p)!;
      const c = m.get(pod) ?? { ok: 0, err: 0 };
      const ok = o.status >= 200 && o.status < 300;
      if (ok) c.ok++;
      else c.err++;
      m.set(pod, c);
      if (!ok) {
        clientErrors.set(p, clientErrors.get(p)! + 1);
        lastErrorAt = performance.now();
      }
      if (p !== 'before' && o.backend === 'pod-2' && returnedAt === null) returnedAt = performance.now();
    };
    const cell = (p: OdPhase, pod: string): string => {
      const c = counts.get(p)!.get(pod);
      if (!c) return '0';
      return c.err ? `${c.ok + c.err} (${c.err}×5xx)` : String(c.ok);
    };
    const render = (): string[] => {
      const rows = pods.map((p, i) => {
        const name = `pod-${i + 1}`;
        const h = health.get(p.address);
        const hText = h
          ? h.health === 'EJECTED'
            ? `EJECTED (${(h.ejectedForMs / 1000).toFixed(1)} s left)`
            : h.health
          : '…';
        return [
          name,
          p.address,
          i === 1 ? 'answers 500' : 'healthy',
          cell('before', name),
          cell('ejected', name),
          cell('returned', name),
          hText,
        ];
      });
      const errs = phases.map((p) => clientErrors.get(p)!);
      const state =
        phase === 'before'
          ? 'waiting for the ejection'
          : phase === 'ejected'
            ? `pod-2 ejected ${((performance.now() - (ejectedAt ?? performance.now())) / 1000).toFixed(1)} s ago`
            : `pod-2 back ${returnedAt !== null && ejectedAt !== null ? `${((returnedAt - ejectedAt) / 1000).toFixed(1)} s after its ejection` : '(in /clusters; no request yet)'}`;
      return [
        ...indent(
          formatTable(
            ['pod', 'address', 'behaviour', 'before ejection', 'while ejected', 'after return', 'admin /clusters'],
            rows,
            ['left', 'left', 'left', 'right', 'right', 'right', 'left'],
          ),
        ),
        '',
        `  ${requests.n} requests, client errors ${errs[0]} / ${errs[1]} / ${errs[2]} (before / while ejected / after return); ${state}`,
      ];
    };
    const poll = async (): Promise<void> => {
      while (!stop.signal.aborted) {
        health = await v1Health(ctx);
        const h = health.get(bad.address);
        const now = performance.now();
        if (phase === 'before' && h?.health === 'EJECTED') {
          phase = 'ejected';
          ejectedAt = lastErrorAt ?? now;
          firstEjectedForMs = h.ejectedForMs;
          bad.configure({ errorRate: 0 }); // the pod recovers while it is out of service
        } else if (phase === 'ejected' && h?.health === 'HEALTHY') {
          phase = 'returned';
          healthySeenAt = now;
          setTimeout(() => stop.abort(), OD_AFTER_RETURN_MS).unref();
        }
        await sleep(100);
      }
    };
    const maxMs = OD.ejectionMs + 2 * OD.intervalMs + 4000;
    const progress = new PhaseProgress();
    const signal = AbortSignal.any([ctx.signal, stop.signal]);
    await withLiveFrame(ctx, { render, progress: () => render().at(-1)!.trim() }, progress, async () => {
      progress.begin('outlier', maxMs, () => requests.n);
      const poller = poll();
      try {
        await runLoad({ durationMs: maxMs, rps: OD_RPS, concurrency: 1, signal }, async () => {
          const p = phase;
          record(p, await sendRequest(ctx.env.clients.local, ctx.env.proxyUrl, { host: HOST }));
        });
      } finally {
        stop.abort();
        await poller;
        progress.end();
      }
    });
    const before = counts.get('before')!;
    const during = counts.get('ejected')!;
    const after = counts.get('returned')!;
    const badBefore = before.get('pod-2') ?? { ok: 0, err: 0 };
    const total = (m: Map<string, { ok: number; err: number }>): number =>
      [...m.values()].reduce((s, c) => s + c.ok + c.err, 0);
    const backAfterMs = returnedAt !== null && ejectedAt !== null ? returnedAt - ejectedAt : null;
    const afterBad = after.get('pod-2') ?? { ok: 0, err: 0 };
    return [
      {
        label: `outlier detection ejects pod-2 after ${OD.consecutive5xx} consecutive 5xx (admin /clusters: EJECTED)`,
        ok:
          ejectedAt !== null &&
          badBefore.err === OD.consecutive5xx &&
          clientErrors.get('before') === OD.consecutive5xx &&
          firstEjectedForMs > OD.ejectionMs - 1000,
        observed:
          ejectedAt === null
            ? `never shown EJECTED; pod-2 answered ${badBefore.err} errors`
            : `pod-2 answered 500 ×${badBefore.err} (client errors ${clientErrors.get('before')}), then /clusters showed it EJECTED for ${formatMs(firstEjectedForMs)}`,
      },
      {
        label: 'while ejected, pods 1 and 3 take all traffic, no client errors',
        ok:
          total(during) > 0 &&
          (during.get('pod-2')?.ok ?? 0) + (during.get('pod-2')?.err ?? 0) === 0 &&
          clientErrors.get('ejected') === 0,
        observed: `${total(during)} requests: pod-1 ${cell('ejected', 'pod-1')}, pod-2 ${cell('ejected', 'pod-2')}, pod-3 ${cell('ejected', 'pod-3')}; client errors ${clientErrors.get('ejected')}`,
      },
      {
        label: `pod-2 is back after the ${OD.ejectionMs / 1000} s ejection time`,
        ok:
          backAfterMs !== null &&
          backAfterMs >= OD.ejectionMs - 100 &&
          backAfterMs <= OD.ejectionMs + 2 * OD.intervalMs &&
          afterBad.ok > 0 &&
          clientErrors.get('returned') === 0,
        observed:
          backAfterMs === null
            ? 'pod-2 got no request after its ejection'
            : `/clusters HEALTHY again after ${healthySeenAt !== null && ejectedAt !== null ? formatMs(healthySeenAt - ejectedAt) : '–'}, first request to pod-2 ${formatMs(backAfterMs)} after its ejection; afterwards ${total(after)} requests, pod-2 ${cell('returned', 'pod-2')}, client errors ${clientErrors.get('returned')}`,
      },
    ];
  } finally {
    const restored = await ctx.env.serve.reload();
    ctx.view.print(
      '',
      `  ↻ ${restored ? 'reloaded' : 'could NOT reload'} the original examples (config v${ctx.env.serve.proxy.configVersion})`,
    );
    await Promise.all(pods.map((p) => p.close()));
  }
}

/** The resilience pattern. */
export const resiliencePattern: PatternSpec = {
  name: 'resilience',
  title: 'Resilience',
  folder: '07-resilience',
  summary: 'timeout, retries, fault injection (VirtualService); circuit breaker, outlier detection (DestinationRule)',
  async run(ctx) {
    const checks: Check[] = [];
    const { v1, v2 } = ctx.env.backends;
    try {
      for (const step of [requestTimeout, retries, faults, circuitBreaking, outlierDetection]) {
        if (ctx.signal.aborted) break;
        checks.push(...(await step(ctx)));
      }
    } finally {
      for (const b of [v1, v2]) b.configure({ latencyMs: 0, errorRate: 0, errorStatus: 500, failFirstN: 0 });
    }
    return { checks };
  },
};
