/**
 * The decision of the phases that are not weight steps (header-only, mirror; `sequential-canary.md` §3.1 in the
 * same order of rules as `stats/decision.ts` `decide`), and the compact evidence summary of the decision log (§3.7).
 * Pure.
 */
import type { RolloutStep } from './plan.ts';
import {
  type Decision,
  type Evidence,
  evaluateEvidence,
  type RolloutCounts,
  type SequentialPolicy,
} from './stats/index.ts';

/**
 * One tick of the phases that are not weight steps (header-only, mirror) — the same order of rules as `decide`
 * (§3.1): ROLLBACK on any rollback e-process; INCONCLUSIVE at maxDuration; HOLD for the dwell and the minimum canary
 * requests; then ADVANCE to the next phase, or — when this is the last phase (A/B testing without weight steps) —
 * PROMOTE once every metric is not worse (only the canary-only routes can move here), else HOLD.
 */
export function decidePhase(
  counts: RolloutCounts,
  step: RolloutStep,
  next: RolloutStep | null,
  nextIndex: number,
  p: { runElapsedMs: number; stepElapsedMs: number; canaryRequestsInStep: number },
  policy: SequentialPolicy,
): Decision {
  const evidence = evaluateEvidence(counts, policy);
  const crossed = evidence.rollback.filter((t) => t.crossed);
  if (crossed.length > 0) {
    return {
      action: 'ROLLBACK',
      triggeredBy: crossed.map((t) => t.test),
      reason: crossed.map((t) => `${t.test}: ln E = ${t.logE.toFixed(3)} ≥ ${t.logThreshold.toFixed(3)}`).join('; '),
      evidence,
    };
  }
  if (p.runElapsedMs >= policy.maxDurationMs) {
    return {
      action: 'INCONCLUSIVE',
      onInconclusive: policy.onInconclusive,
      reason: `maxDuration ${formatMinutes(policy.maxDurationMs)} reached without a decision; onInconclusive: ${policy.onInconclusive}`,
      evidence,
    };
  }
  const what = step.kind === 'header' ? 'header-only phase' : 'mirror phase';
  if (p.stepElapsedMs < step.dwellMs) {
    return {
      action: 'HOLD',
      hold: 'dwell',
      reason: `dwell: ${Math.floor(p.stepElapsedMs / 1000)} s of ${step.dwellMs / 1000} s in the ${what}`,
      evidence,
    };
  }
  if (p.canaryRequestsInStep < policy.minRequestsPerStep) {
    return {
      action: 'HOLD',
      hold: 'min-requests',
      reason: `${p.canaryRequestsInStep} of ${policy.minRequestsPerStep} canary requests in the ${what}`,
      evidence,
    };
  }
  if (next !== null) {
    return {
      action: 'ADVANCE',
      toStep: nextIndex,
      toWeight: next.weight / 100,
      reason: `${what} done (${p.canaryRequestsInStep} canary requests); no rollback evidence`,
      evidence,
    };
  }
  const missing = evidence.notWorse.filter((m) => !m.notWorse);
  if (missing.length > 0) {
    return {
      action: 'HOLD',
      hold: 'not-worse',
      reason: `insufficient evidence that the canary is not worse: ${missing
        .map(
          (m) =>
            `${m.metric} (${m.routes.map((r) => `${r.test} ln E = ${r.logE.toFixed(3)}`).join(', ')}${m.blocked ? `; blocked: ${m.blocked}` : ''})`,
        )
        .join('; ')}`,
      evidence,
    };
  }
  return { action: 'PROMOTE', reason: `${what} done; every metric not worse`, evidence };
}

/** A compact summary of evidence for the decision log and the status. */
export function evidenceSummary(e: Evidence): Record<string, unknown> {
  return {
    requests: { canary: e.canaryRequests, primary: e.primaryRequests },
    errors: { canary: e.canaryErrors, primary: e.primaryErrors },
    rollback: e.rollback.map((t) => ({
      test: t.test,
      lnE: round(t.logE),
      threshold: round(t.logThreshold),
      ...(t.perThreshold
        ? { perThreshold: t.perThreshold.map((x) => ({ ms: x.thresholdMs, lnE: round(x.logE) })) }
        : {}),
    })),
    notWorse: e.notWorse.map((m) => ({
      metric: m.metric,
      notWorse: m.notWorse,
      routes: m.routes.map((r) => ({ test: r.test, lnE: round(r.logE), threshold: round(r.logThreshold) })),
    })),
  };
}

/** `12.5 min`, `45 s`. */
function formatMinutes(ms: number): string {
  return ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${Math.round(ms / 1000)} s`;
}

function round(x: number): number | string {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : String(x);
}
