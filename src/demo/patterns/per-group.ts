/**
 * Pattern 3B, corrected (`examples/06-per-group-policy`, namespace `per-group`): beta testers (`user-group:
 * beta-testers`) go to v2 under a strict policy (timeout 2s, perTryTimeout 1s), everyone else to v1 under a lenient
 * one (timeout 10s, perTryTimeout 3s). Both backends are slowed step by step; the same latency gives beta testers
 * 504 `UT` and everyone else a 200. Note what Envoy does with these numbers: the 1 s perTryTimeout fires before the
 * 2 s route timeout, and Istio's default retryOn does not retry a per-try timeout, so beta testers get their 504
 * after about 1 s.
 */
import { driveLanes, failureCell, mark, PhaseProgress, subsetCell, withLiveFrame } from '../kit.ts';
import { formatTable } from '../live-view.ts';
import { formatMs, formatPercent } from '../stats.ts';
import { ClassTally } from '../tally.ts';
import type { Check, DemoContext, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

/** Backend latency steps (ms), applied to v1 and v2 alike. */
const LATENCY_STEPS_MS = [500, 1500, 2500] as const;
/** The beta testers' perTryTimeout and timeout in the example, ms. */
const BETA_PER_TRY_MS = 1000;
const BETA_TIMEOUT_MS = 2000;

interface Step {
  latencyMs: number;
  beta: ClassTally;
  others: ClassTally;
  /** Proxy-side outcomes of route[0] (beta testers), e.g. `504 UT` → n. */
  betaOutcomes: Map<string, number>;
}

/** What a beta tester should get at `latencyMs`. */
function betaExpectation(latencyMs: number): { timeout: boolean; text: string } {
  return latencyMs < BETA_PER_TRY_MS
    ? { timeout: false, text: 'v2 200' }
    : { timeout: true, text: `504 UT after ≈${BETA_PER_TRY_MS / 1000} s` };
}

function stepChecks(s: Step): { beta: Check; others: Check } {
  const exp = betaExpectation(s.latencyMs);
  const ut = s.betaOutcomes.get('504 UT') ?? 0;
  const p50 = s.beta.latency(0.5);
  let beta: Check;
  if (exp.timeout) {
    const ok =
      s.beta.requests > 0 &&
      s.beta.status(504) === s.beta.requests &&
      ut === s.beta.requests &&
      p50 !== null &&
      p50 < BETA_TIMEOUT_MS;
    beta = {
      label: `${s.latencyMs} ms: beta testers get 504 UT (perTryTimeout 1s)`,
      ok,
      observed: `${s.beta.status(504)}/${s.beta.requests} got 504, proxy flagged UT on ${ut}; median ${formatMs(p50)}`,
    };
  } else {
    const ok = s.beta.requests > 0 && s.beta.version('v2') === s.beta.requests && s.beta.failed === 0;
    beta = {
      label: `${s.latencyMs} ms: beta testers served by v2`,
      ok,
      observed: `${s.beta.version('v2')}/${s.beta.requests} 200 from v2${s.beta.failed ? `, ${failureCell(s.beta)}` : ''}; median ${formatMs(p50)}`,
    };
  }
  const othersOk = s.others.requests > 0 && s.others.version('v1') === s.others.requests && s.others.failed === 0;
  const others: Check = {
    label: `${s.latencyMs} ms: everyone else served by v1 (timeout 10s)`,
    ok: othersOk,
    observed: `${s.others.version('v1')}/${s.others.requests} 200 from v1${s.others.failed ? `, ${failureCell(s.others)}` : ''}; median ${formatMs(s.others.latency(0.5))}`,
  };
  return { beta, others };
}

function outcomesCell(m: Map<string, number>): string {
  const parts = [...m.entries()].filter(([k]) => !k.startsWith('2')).map(([k, n]) => `${k}×${n}`);
  return parts.length === 0 ? '–' : parts.join(' ');
}

function render(steps: readonly Step[]): string[] {
  const rows: string[][] = [];
  for (const s of steps) {
    const c = stepChecks(s);
    rows.push([
      mark(c.beta.ok, s.beta.requests),
      `${s.latencyMs} ms`,
      s.beta.label,
      String(s.beta.requests),
      `v2 ${subsetCell(s.beta, 'v2')}`,
      outcomesCell(s.betaOutcomes),
      formatMs(s.beta.latency(0.5)),
      betaExpectation(s.latencyMs).text,
    ]);
    rows.push([
      mark(c.others.ok, s.others.requests),
      '',
      s.others.label,
      String(s.others.requests),
      `v1 ${subsetCell(s.others, 'v1')}`,
      failureCell(s.others) === '0' ? '–' : failureCell(s.others),
      formatMs(s.others.latency(0.5)),
      'v1 200',
    ]);
  }
  return formatTable(['', 'latency', 'group', 'requests', 'answered 200', 'errors', 'median', 'expected'], rows, [
    'left',
    'left',
    'left',
    'right',
    'right',
    'left',
    'right',
    'left',
  ]).map((l) => `  ${l}`);
}

async function runStep(ctx: DemoContext, step: Step, durationMs: number, progress: PhaseProgress): Promise<void> {
  const host = serviceHost('per-group');
  const { v1, v2 } = ctx.env.backends;
  v1.configure({ latencyMs: step.latencyMs });
  v2.configure({ latencyMs: step.latencyMs });
  ctx.env.tap.resetHost(host);
  // The live view reads the proxy's route[0] outcomes of the running step.
  step.betaOutcomes = ctx.env.tap.route(host, 0).byOutcome;
  const poll = setInterval(() => {
    step.betaOutcomes = ctx.env.tap.route(host, 0).byOutcome;
  }, 100);
  try {
    await driveLanes(
      ctx,
      [
        {
          tally: step.beta,
          dispatcher: ctx.env.clients.local,
          share: 0.5,
          headers: () => ({ host, 'user-group': 'beta-testers' }),
        },
        { tally: step.others, dispatcher: ctx.env.clients.local, share: 0.5, headers: () => ({ host }) },
      ],
      durationMs,
      { progress, label: `${step.latencyMs} ms` },
    );
  } finally {
    clearInterval(poll);
    step.betaOutcomes = new Map(ctx.env.tap.route(host, 0).byOutcome);
  }
}

/** The per-group policy pattern. */
export const perGroupPattern: PatternSpec = {
  name: 'per-group',
  title: 'Per-group timeouts',
  folder: '06-per-group-policy',
  summary: 'beta-testers → v2 (timeout 2s, perTryTimeout 1s); others → v1 (10s, 3s)',
  async run(ctx) {
    const stepMs = Math.max(1000, ctx.load.durationMs / LATENCY_STEPS_MS.length);
    ctx.view.print(
      ctx.view.dim('  both backends slowed step by step; each step ends when its slowest request has finished'),
      '',
    );
    const steps: Step[] = [];
    const { v1, v2 } = ctx.env.backends;
    const progress = new PhaseProgress();
    const current = (): Step | undefined => steps[steps.length - 1];
    const progressLine = (): string => {
      const s = current();
      if (!s) return '';
      return `latency ${s.latencyMs} ms | beta-testers ${s.beta.requests}: ${s.beta.statusSummary() || '–'} | everyone else ${s.others.requests}: ${s.others.statusSummary() || '–'} (v1 ${formatPercent(s.others.version('v1'), s.others.requests)})`;
    };
    try {
      await withLiveFrame(ctx, { render: () => render(steps), progress: progressLine }, progress, async () => {
        for (const latencyMs of LATENCY_STEPS_MS) {
          if (ctx.signal.aborted) break;
          const step: Step = {
            latencyMs,
            beta: new ClassTally('beta-testers'),
            others: new ClassTally('everyone else'),
            betaOutcomes: new Map(),
          };
          steps.push(step);
          await runStep(ctx, step, stepMs, progress);
        }
      });
    } finally {
      v1.configure({ latencyMs: 0 });
      v2.configure({ latencyMs: 0 });
    }
    const checks: Check[] = [];
    for (const s of steps) {
      const c = stepChecks(s);
      checks.push(c.beta, c.others);
    }
    return { checks };
  },
};
