/**
 * What `weir rollout run` prints (issue 8): on a TTY a live block redrawn every tick — phase, step and weight, a
 * progress bar for the step's dwell, counts per version, every e-value against its threshold, the θ confidence
 * sequence, time left — with events (transitions, webhook results) scrolling above it; otherwise plain timestamped
 * lines: every event, and one status line per interval.
 */

import type { TickView } from './controller.ts';
import type { RolloutStep } from './plan.ts';
import { relativeRiskConfidenceSequence, type TestEvidence, totalCounts } from './stats/index.ts';

const fmtE = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : x > 0 ? '∞' : '−∞');

/** `1h02m`, `3m05s`, `42s`. */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** A text progress bar of `width` cells for a fraction in [0, 1]. */
export function bar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/** The step in words: `step 2/5 weight 10 %`, `step 1/5 header-only`, `step 2/5 mirror 20 %`. */
export function describeStep(steps: readonly RolloutStep[], index: number): string {
  const s = steps[index];
  const at = `step ${index + 1}/${steps.length}`;
  if (!s) return at;
  if (s.kind === 'header') return `${at} header-only`;
  if (s.kind === 'mirror') return `${at} mirror ${s.mirrorPercent} %`;
  return `${at} weight ${s.weight} %`;
}

const pctOf = (k: number, n: number): string => (n > 0 ? `${((100 * k) / n).toFixed(2)} %` : '–');

function testLine(t: TestEvidence): string {
  return `${t.test} ${fmtE(t.logE)}/${fmtE(t.logThreshold)}${t.crossed ? ' ✓' : ''}`;
}

/** The live block's lines for one tick (also used by `weir rollout status`). */
export function statusLines(v: Pick<TickView, 'status' | 'plan' | 'decision'>, now: number): string[] {
  const { status: s, plan } = v;
  const out: string[] = [];
  const elapsed = now - s.startedAt;
  const left = s.deadline - now;
  out.push(
    `${plan.namespace}/${plan.name} · ${s.phase} · ${describeStep(plan.steps, s.stepIndex)} · elapsed ${formatSpan(elapsed)}` +
      (s.phase === 'Progressing' ? ` · ${formatSpan(left)} left of maxDuration` : ''),
  );
  if (s.phase === 'Progressing') {
    const dwell = s.step.dwellMs;
    const inStep = now - s.stepStartedAt;
    const canaryNow = s.counts ? totalCounts(s.counts.requests).canary + (s.mirror?.requests ?? 0) : 0;
    const inStepReq = Math.max(0, canaryNow - s.stepStartCanaryRequests);
    out.push(
      `${bar(dwell > 0 ? inStep / dwell : 1)} dwell ${formatSpan(Math.min(inStep, dwell))}/${formatSpan(dwell)} · ` +
        `canary requests this step ${inStepReq}/${plan.policy.minRequestsPerStep}`,
    );
  }
  if (s.counts) {
    const r = totalCounts(s.counts.requests);
    const e = totalCounts(s.counts.errors);
    out.push(
      `requests: canary ${r.canary} (errors ${e.canary}, ${pctOf(e.canary, r.canary)}) · ` +
        `primary ${r.primary} (errors ${e.primary}, ${pctOf(e.primary, r.primary)})` +
        (s.mirror && s.mirror.requests > 0 ? ` · mirrored ${s.mirror.requests} (errors ${s.mirror.errors})` : ''),
    );
    const cs = relativeRiskConfidenceSequence(s.counts.errors, plan.policy.alphaRollback);
    out.push(
      `θ errors canary/primary ∈ [${fmtE(cs.lower)}, ${fmtE(cs.upper)}] (${Math.round((1 - plan.policy.alphaRollback) * 100)} %, anytime-valid)`,
    );
  }
  const d = v.decision;
  if (d) {
    out.push(`rollback (ln E / threshold): ${d.evidence.rollback.map(testLine).join(' · ')}`);
    for (const m of d.evidence.notWorse) {
      out.push(
        `not worse, ${m.metric}${m.notWorse ? ' ✓' : ''}: ${m.routes.map(testLine).join(' · ')}${m.blocked ? ` · blocked: ${m.blocked}` : ''}`,
      );
    }
  }
  if (s.lastDecision) out.push(`decision: ${s.lastDecision.action} — ${s.lastDecision.reason}`);
  return out;
}

/** Renders ticks to a stream: a redrawn block on a TTY, plain lines otherwise. */
export class RolloutView {
  private drawn = 0;
  private lastPlain = 0;
  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly live: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called after each tick. */
  update(v: TickView): void {
    const now = this.now();
    const stamp = new Date(now).toISOString().slice(11, 19);
    if (this.live) {
      const width = Math.max(40, (this.out.columns ?? 120) - 1);
      let text = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : '';
      for (const e of v.events) text += `${stamp} ${e}\n`;
      const lines = statusLines(v, now).map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
      text += `${lines.join('\n')}\n`;
      this.drawn = lines.length;
      this.out.write(text);
      return;
    }
    let text = '';
    for (const e of v.events) text += `${stamp} ${e}\n`;
    const s = v.status;
    if (now - this.lastPlain >= v.plan.intervalMs || v.events.length > 0) {
      this.lastPlain = now;
      const c = s.counts;
      const r = c ? totalCounts(c.requests) : { canary: 0, primary: 0 };
      const e = c ? totalCounts(c.errors) : { canary: 0, primary: 0 };
      text +=
        `${stamp} ${s.phase} ${describeStep(v.plan.steps, s.stepIndex)}; canary ${r.canary} req ${e.canary} err; ` +
        `primary ${r.primary} req ${e.primary} err; ${s.lastDecision ? `${s.lastDecision.action}: ${s.lastDecision.reason}` : ''}\n`;
    }
    if (text) this.out.write(text);
  }
}
