/**
 * The rollout controller (issue 8; `sequential-canary.md` §3): one loop that reads the proxies' counts, asks the
 * sequential decision rule once per tick (every second by default; no α is spent on looks, §3.2), applies the
 * decision to the VirtualService through a {@link TrafficRouter}, calls Flagger-style webhooks, logs every decision
 * with the statistics behind it (§3.7) and persists its status so a restarted controller resumes at the same step.
 *
 * Phases, in one run: header-only (`analysis.match` → canary), mirroring (`analysis.mirror`), the weight steps (sticky,
 * monotone split), the 100 % step, then PROMOTED — or ROLLED BACK at once (100 % primary) as soon as a rollback
 * e-process crosses `K/α_R`, or INCONCLUSIVE at `maxDuration` with its policy (§3.5; `pause` drops back to the first
 * step). Time comes from an injected {@link Clock}, so the state machine is testable without waiting.
 */

import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import type { WEBHOOK_TYPES } from '../config/weir/canary.ts';
import { describeRouteRef } from '../config/weir/canary-routes.ts';
import { judgementCounts, latencyThresholdsFrom, statusJudgementCounts, statusPolicy } from './judgement.ts';
import { decidePhase, evidenceSummary } from './phase-decision.ts';
import type { RolloutPlan, RolloutStep } from './plan.ts';
import type { CountsReading, MetricsProvider, RolloutSelector } from './providers/types.ts';
import {
  createRolloutCounts,
  type Decision,
  decide,
  ENVOY_DEFAULT_BUCKETS_MS,
  evaluateEvidence,
  logPromotionThreshold,
  preflightEstimate,
  type RolloutCounts,
  relativeRiskConfidenceSequence,
  type SequentialPolicy,
  snapUpToEdge,
  totalCounts,
} from './stats/index.ts';
import {
  type ControlCommand,
  type LastDecision,
  loadStatus,
  type RolloutPaths,
  type RolloutPhase,
  type RolloutStatus,
  STATUS_VERSION,
  saveStatus,
  TERMINAL_PHASES,
  type Transition,
  takeControl,
} from './status.ts';
import {
  describeTraffic,
  PROMOTED_STATE,
  ROLLED_BACK_STATE,
  sameTrafficState,
  stateForStep,
  type TrafficRouter,
  type TrafficState,
} from './traffic-state.ts';

/** Flagger webhook types. */
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Runs the Canary's webhooks of one type (see `webhooks.ts`). */
export interface WebhookGate {
  /** Calls every hook of `type` with Flagger's payload for `phase`; ok when all answered 2xx (true when there are none). */
  run(type: WebhookType, phase: string, eventMessage?: string): Promise<{ ok: boolean; count: number; detail: string }>;
}

/** Thrown when a run cannot start (a metrics source that does not answer); nothing has been changed. */
export class RolloutStartError extends Error {
  override name = 'RolloutStartError';
}

/** Thrown by a traffic change when the run was ended outside this controller (see `endedElsewhere`). */
class EndedElsewhereError extends Error {
  override name = 'EndedElsewhereError';
}

/** Time, injectable for tests. */
export interface Clock {
  /** Epoch ms. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** What a view needs after each tick. */
export interface TickView {
  readonly status: RolloutStatus;
  readonly plan: RolloutPlan;
  readonly decision: Decision | null;
  /** Set when something happened this tick (a transition, a webhook result, a resume). */
  readonly events: readonly string[];
  readonly reading: CountsReading | null;
}

export { judgementCounts, MIN_PRIMARY_REQUESTS_FOR_THRESHOLDS } from './judgement.ts';
export { decidePhase, evidenceSummary } from './phase-decision.ts';
export {
  describeTraffic,
  PROMOTED_STATE,
  ROLLED_BACK_STATE,
  sameTrafficState,
  stateForStep,
  type TrafficRouter,
  type TrafficState,
} from './traffic-state.ts';

/** Options of {@link RolloutController}. */
export interface ControllerOptions {
  readonly plan: RolloutPlan;
  /** The Canary's file (for the status) and its `.weir/` paths. */
  readonly canaryFile: string;
  readonly paths: RolloutPaths;
  readonly provider: MetricsProvider;
  readonly router: TrafficRouter;
  readonly webhooks: WebhookGate;
  readonly clock?: Clock;
  /** Evaluation period, ms; default 1000 (§3.1). */
  readonly tickMs?: number;
  /** Called after every tick (the live view). */
  readonly onTick?: (v: TickView) => void;
  /** Hash of the Canary spec (a changed spec starts a new test). */
  readonly specHash: string;
}

/** The SHA-256 (hex, 16 chars) of a Canary spec, stable across key order. */
export function specHashOf(spec: unknown): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canon(spec)))
    .digest('hex')
    .slice(0, 16);
}

/** The phase Flagger would report (webhook payloads). */
export function flaggerPhase(phase: RolloutPhase): string {
  switch (phase) {
    case 'Initializing':
      return 'Initializing';
    case 'Progressing':
    case 'RollingBack':
      return 'Progressing';
    case 'Paused':
      return 'Waiting';
    case 'Promoted':
      return 'Succeeded';
    case 'RolledBack':
    case 'Inconclusive':
    case 'Aborted':
      return 'Failed';
  }
}

/** A message cut to 300 characters (HTML error pages from non-weir servers stay readable). */
function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 300 ? `${oneLine.slice(0, 299)}…` : oneLine;
}

/** `12.5 min`, `45 s`. */
function formatMinutes(ms: number): string {
  return ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${Math.round(ms / 1000)} s`;
}

/** `5, 6.17, 9.51` (τ in ms, 3 significant digits). */
function formatThresholds(ms: readonly number[]): string {
  return ms.map((t) => Number(t.toPrecision(3))).join(', ');
}

function round(x: number): number | string {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : String(x);
}

/** The controller. `run()` drives it to a terminal (or paused) phase; `tick()` is one evaluation. */
export class RolloutController {
  private readonly plan: RolloutPlan;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly selector: RolloutSelector;
  private status: RolloutStatus;
  private lastLoggedAt = 0;
  private lastHoldKey = '';
  private lastWebhookRound = 0;
  private stopping = false;
  /** The traffic state weir last wrote (null until the first write of this process). */
  private lastApplied: TrafficState | null = null;
  /** The background webhook round, while one runs. */
  private webhookRound: Promise<void> | null = null;
  /** Events from the background webhook round, shown at the next tick. */
  private readonly webhookEvents: string[] = [];
  /** Set when a `rollback` webhook answered 2xx (its detail). */
  private manualRollback: string | null = null;
  private lastWebhookDetail = '';
  /** Decision-log lines written by this process (a missing log file afterwards means someone removed it). */
  private logLines = 0;

  /**
   * @param existing a persisted status to resume (same spec hash, not terminal), or null to start a new run.
   */
  constructor(
    private readonly o: ControllerOptions,
    existing: RolloutStatus | null,
  ) {
    this.plan = o.plan;
    this.clock = o.clock ?? SYSTEM_CLOCK;
    this.tickMs = o.tickMs ?? 1000;
    this.selector = {
      namespace: o.plan.virtualService.namespace,
      virtualService: o.plan.virtualService.name,
      host: o.plan.host,
      primarySubset: o.plan.primarySubset,
      canarySubset: o.plan.canarySubset,
    };
    const now = this.clock.now();
    if (existing) {
      this.status = { ...existing, pid: process.pid, heartbeatAt: now };
    } else {
      this.status = {
        version: STATUS_VERSION,
        canary: { namespace: o.plan.namespace, name: o.plan.name, file: o.canaryFile },
        specHash: o.specHash,
        runId: randomUUID(),
        phase: 'Initializing',
        stepIndex: 0,
        step: o.plan.steps[0]!,
        weight: 0,
        startedAt: now,
        stepStartedAt: now,
        deadline: now + o.plan.policy.maxDurationMs,
        stepStartCanaryRequests: 0,
        thresholdsMs: [],
        latencySloMs: null,
        provider: { kind: o.provider.kind },
        counts: null,
        mirror: null,
        lastDecision: null,
        lastTransition: { at: now, from: null, to: 'Initializing', stepIndex: 0, reason: 'new rollout' },
        webhookFailures: 0,
        pid: process.pid,
        heartbeatAt: now,
      };
    }
  }

  /** The current status (a copy is not made; do not mutate). */
  get current(): RolloutStatus {
    return this.status;
  }

  /** Asks `run()` to return after the current tick, leaving the status resumable. */
  stop(): void {
    this.stopping = true;
  }

  /** Runs ticks until a terminal or paused phase (or {@link stop}); returns the final phase. */
  async run(): Promise<RolloutPhase> {
    const events: string[] = [];
    if (await this.endedElsewhere(events)) {
      await this.save();
      this.o.onTick?.({ status: this.status, plan: this.plan, decision: null, events, reading: null });
      return this.status.phase;
    }
    if (this.status.phase !== 'Initializing') {
      events.push(`resuming ${this.describeStep()} (phase ${this.status.phase}, run ${this.status.runId.slice(0, 8)})`);
      await this.log({ event: 'resume', phase: this.status.phase, stepIndex: this.status.stepIndex });
      if (this.status.phase === 'Progressing') {
        // What the dead controller last wrote: a hand edit since then is reported, not silently undone.
        this.lastApplied = stateForStep(this.plan, this.status.step);
        await this.applyTraffic(stateForStep(this.plan, this.status.step), events);
      }
    }
    await this.save();
    this.o.onTick?.({ status: this.status, plan: this.plan, decision: null, events, reading: null });
    while (!this.stopping) {
      const started = this.clock.now();
      await this.tick();
      if (TERMINAL_PHASES.includes(this.status.phase) || this.status.phase === 'Paused') return this.status.phase;
      const spent = this.clock.now() - started;
      await this.clock.sleep(Math.max(0, this.tickMs - spent));
    }
    return this.status.phase;
  }

  /** One evaluation: control commands, gates, counts, the decision, its application, the log, the status. */
  async tick(): Promise<void> {
    const events: string[] = [];
    const now = this.clock.now();
    if (await this.endedElsewhere(events)) return this.finishTick(null, null, events);
    const cmd = await takeControl(this.o.paths);
    if (cmd) {
      await this.handleCommand(cmd, events);
      if (this.isOver()) return this.finishTick(null, null, events);
    }
    if (this.status.phase === 'Initializing') {
      const ready = await this.initialize(events);
      if (!ready || this.isOver()) return this.finishTick(null, null, events);
    }
    if (this.status.phase === 'Paused') return this.finishTick(null, null, events);
    if (this.status.phase === 'RollingBack') {
      await this.stepDown(now, events);
      return this.finishTick(null, null, events);
    }

    const thresholds = this.countedThresholds();
    let read: Awaited<ReturnType<MetricsProvider['read']>>;
    try {
      read = await this.o.provider.read(this.selector, this.status.provider, thresholds);
    } catch (err) {
      events.push(`metrics: ${(err as Error).message}`);
      return this.blind(now, `metrics could not be read: ${(err as Error).message}`, events);
    }
    if (this.status.tauPending && read.reading.sources.failed === 0) {
      const set = await this.setPendingThresholds(read, now, events);
      if (set) read = set;
    }
    const { reading, state } = read;
    const counts = judgementCounts(reading.counts, reading.mirror, this.status.latencyBase ?? null);
    const canaryTotal = totalCounts(counts.requests).canary;
    this.status = { ...this.status, provider: state, counts: reading.counts, mirror: reading.mirror };
    for (const p of reading.sources.problems) events.push(`metrics source: ${shorten(p)}`);
    const blindSince = reading.sources.failed > 0 ? (this.status.metricsBlindSince ?? now) : null;
    this.status = { ...this.status, metricsBlindSince: blindSince };

    if (!this.status.preflight && this.status.phase === 'Progressing')
      await this.preflight(reading.counts, now, events);
    let decision = this.decideNow(counts, canaryTotal, now);
    // Never move traffic on counts that may be stale: a source that did not answer blocks ADVANCE and PROMOTE (a
    // rollback on the counts seen is still valid: they are a subset of the events). Too long blind: fail safe.
    if (blindSince !== null && decision.action !== 'ROLLBACK' && decision.action !== 'INCONCLUSIVE') {
      const blindMs = now - blindSince;
      const limitMs = this.blindLimitMs();
      decision =
        blindMs >= limitMs
          ? {
              action: 'ROLLBACK',
              triggeredBy: [],
              reason: `metrics unavailable for ${Math.round(blindMs / 1000)} s (${reading.sources.failed} of ${reading.sources.ok + reading.sources.failed} sources failing; limit threshold × interval = ${Math.round(limitMs / 1000)} s): ${shorten(reading.sources.problems.join('; '))}`,
              evidence: decision.evidence,
            }
          : {
              action: 'HOLD',
              hold: 'metrics',
              reason: `metrics unavailable (${reading.sources.failed} of ${reading.sources.ok + reading.sources.failed} sources failing for ${Math.round(blindMs / 1000)} s; rollback after ${Math.round(limitMs / 1000)} s): ${shorten(reading.sources.problems.join('; '))}`,
              evidence: decision.evidence,
            };
    }

    // Webhooks once per interval (Flagger runs them at each analysis tick), in the background: a slow hook must not
    // stop the once-a-second judgement, the control file or a signal. Their results apply from the next tick.
    if (decision.action !== 'ROLLBACK' && decision.action !== 'INCONCLUSIVE' && this.webhookRoundDue(now)) {
      if (this.webhookRound === null) {
        this.lastWebhookRound = now;
        this.webhookRound = this.webhookChecks().finally(() => {
          this.webhookRound = null;
        });
      }
    }
    events.push(...this.webhookEvents.splice(0));
    if (this.manualRollback !== null && decision.action !== 'ROLLBACK') {
      decision = {
        action: 'ROLLBACK',
        triggeredBy: [],
        reason: `rollback webhook answered 2xx (${this.manualRollback})`,
        evidence: decision.evidence,
      };
    } else if (this.status.webhookFailures >= this.plan.threshold && decision.action !== 'ROLLBACK') {
      decision = {
        action: 'ROLLBACK',
        triggeredBy: [],
        reason: `rollout webhook failed ${this.status.webhookFailures} times in a row (threshold ${this.plan.threshold}): ${this.lastWebhookDetail}`,
        evidence: decision.evidence,
      };
    }
    // A failing `rollout` check holds the step until a round passes (Flagger: a failed check halts the advance), and
    // traffic waits for a round in flight.
    if (decision.action === 'ADVANCE' || decision.action === 'PROMOTE') {
      if (this.status.webhookFailures > 0) {
        decision = {
          action: 'HOLD',
          hold: 'webhook',
          reason: `rollout webhook failing (${this.status.webhookFailures} of ${this.plan.threshold} before a rollback)`,
          evidence: decision.evidence,
        };
      } else if (this.webhookRound !== null && this.plan.webhooks.some((h) => (h.type ?? 'rollout') === 'rollout')) {
        decision = {
          action: 'HOLD',
          hold: 'webhook',
          reason: 'waiting for the rollout webhook of this interval',
          evidence: decision.evidence,
        };
      }
    }
    try {
      await this.apply(decision, canaryTotal, now, events);
    } catch (err) {
      if (err instanceof EndedElsewhereError) return this.finishTick(null, reading, events);
      // The VirtualService could not be written (a hand edit that does not parse, permissions…): keep judging and
      // try again next tick; the decision stands until it is applied.
      events.push(`could not change the VirtualService (${shorten((err as Error).message)}); retrying next tick`);
      await this.log({
        event: 'apply-failed',
        action: decision.action,
        reason: decision.reason,
        error: (err as Error).message,
      });
      this.status = {
        ...this.status,
        lastDecision: {
          at: now,
          action: decision.action,
          reason: `${decision.reason} — not applied yet: ${shorten((err as Error).message)}`,
        },
      };
    }
    return this.finishTick(decision, reading, events);
  }

  /**
   * Applies a traffic state, first checking that the file is still in the state weir last wrote: a hand edit in
   * between is reported (and logged) before weir's step overwrites it, never silently.
   */
  private async applyTraffic(state: TrafficState, events: string[]): ReturnType<TrafficRouter['apply']> {
    if (await this.endedElsewhere(events)) throw new EndedElsewhereError();
    if (this.lastApplied) {
      const found = await this.o.router.read().catch(() => null);
      if (found && !sameTrafficState(found, this.lastApplied)) {
        const msg = `the VirtualService was edited outside weir since its last write (found ${describeTraffic(found)}, weir wrote ${describeTraffic(this.lastApplied)}); this step overwrites it`;
        events.push(msg);
        await this.log({ event: 'hand-edit', found, expected: this.lastApplied });
      }
    }
    const r = await this.o.router.apply(state);
    this.lastApplied = state;
    return r;
  }

  /**
   * 100 % primary on the managed routes (a rollback, an abort, an INCONCLUSIVE rollback). Routes the rollout does not
   * manage are left alone (Argo Rollouts' model) unless the Canary opts in with `rollbackUnmanagedRoutes`; the ones
   * that still send users to the canary are named in a warning and the decision log.
   */
  private async rollBackTraffic(events: string[]): Promise<void> {
    const r = await this.applyTraffic(
      this.plan.rollbackUnmanagedRoutes ? { ...ROLLED_BACK_STATE, unmanagedToPrimary: true } : ROLLED_BACK_STATE,
      events,
    );
    const still = r.unmanagedToCanary ?? [];
    if (still.length === 0) return;
    events.push(
      `warning: routes this rollout does not manage still reach ${this.plan.canarySubset}: ${still.join('; ')} (set rollbackUnmanagedRoutes: true in the Canary to send them to ${this.plan.primarySubset} on a rollback too)`,
    );
    await this.log({ event: 'unmanaged-routes', reachingCanary: still });
  }

  /** One round of the `rollback` and `rollout` checks (run in the background by {@link tick}). */
  private async webhookChecks(): Promise<void> {
    try {
      const manual = await this.o.webhooks.run('rollback', 'Progressing');
      if (manual.count > 0 && manual.ok) {
        this.manualRollback = manual.detail;
        return;
      }
      const r = await this.o.webhooks.run('rollout', 'Progressing');
      if (r.count === 0) return;
      if (r.ok) {
        this.status = { ...this.status, webhookFailures: 0 };
        return;
      }
      const n = this.status.webhookFailures + 1;
      this.status = { ...this.status, webhookFailures: n };
      this.lastWebhookDetail = r.detail;
      this.webhookEvents.push(`rollout webhook failed (${n} of ${this.plan.threshold}): ${r.detail}`);
    } catch (err) {
      this.webhookEvents.push(`webhooks: ${(err as Error).message}`);
    }
  }

  /**
   * Whether the rollout was ended by someone else (a direct `weir rollout abort`/`promote` while this controller did
   * not answer): the status on disk is terminal for this run. The controller then adopts it and touches nothing.
   */
  private async endedElsewhere(events: string[]): Promise<boolean> {
    if (TERMINAL_PHASES.includes(this.status.phase)) return false;
    const disk = await loadStatus(this.o.paths).catch(() => null);
    if (!disk || disk.runId !== this.status.runId || !TERMINAL_PHASES.includes(disk.phase)) return false;
    this.status = disk;
    events.push(
      `ended outside this controller: ${disk.phase} (${disk.lastTransition.reason}); nothing more is changed`,
    );
    return true;
  }

  /** How long the counts may be unavailable before a fail-safe rollback: Flagger's `threshold × interval`. */
  private blindLimitMs(): number {
    return Math.max(1, this.plan.threshold) * this.plan.intervalMs;
  }

  /** A tick without any reading: HOLD, or the fail-safe rollback once blind for longer than {@link blindLimitMs}. */
  private async blind(now: number, why: string, events: string[]): Promise<void> {
    const since = this.status.metricsBlindSince ?? now;
    this.status = { ...this.status, metricsBlindSince: since };
    const evidence = evaluateEvidence(statusJudgementCounts(this.status) ?? createRolloutCounts(), this.policy());
    const d: Decision =
      now - since >= this.blindLimitMs()
        ? { action: 'ROLLBACK', triggeredBy: [], reason: `${why} for ${Math.round((now - since) / 1000)} s`, evidence }
        : { action: 'HOLD', hold: 'metrics', reason: why, evidence };
    try {
      await this.apply(d, 0, now, events);
    } catch (err) {
      events.push(`could not change the VirtualService (${shorten((err as Error).message)}); retrying next tick`);
    }
    return this.finishTick(d, null, events);
  }

  private isOver(): boolean {
    return TERMINAL_PHASES.includes(this.status.phase) || this.status.phase === 'Paused';
  }

  private webhookRoundDue(now: number): boolean {
    return now - this.lastWebhookRound >= this.plan.intervalMs;
  }

  private countedThresholds(): number[] {
    const all = new Set(this.status.thresholdsMs);
    if (this.status.latencySloMs !== null) all.add(this.status.latencySloMs);
    return [...all].sort((a, b) => a - b);
  }

  private policy(): SequentialPolicy {
    return statusPolicy(this.plan, this.status);
  }

  private describeStep(s: RolloutStep = this.status.step): string {
    const i = this.plan.steps.indexOf(s);
    const n = this.plan.steps.length;
    const at = `step ${(i >= 0 ? i : this.status.stepIndex) + 1}/${n}`;
    if (s.kind === 'header') return `${at} header-only`;
    if (s.kind === 'mirror') return `${at} mirror ${s.mirrorPercent} %`;
    return `${at} weight ${s.weight} %`;
  }

  private decideNow(counts: RolloutCounts, canaryTotal: number, now: number): Decision {
    const policy = this.policy();
    const s = this.status;
    const runElapsedMs = policy.maxDurationMs - (s.deadline - now);
    const stepElapsedMs = Math.max(0, now - s.stepStartedAt);
    const canaryRequestsInStep = Math.max(0, canaryTotal - s.stepStartCanaryRequests);
    const step = s.step;
    if (step.kind !== 'weight') {
      const nextIndex = s.stepIndex + 1;
      const next = this.plan.steps[nextIndex] ?? null;
      return decidePhase(counts, step, next, nextIndex, { runElapsedMs, stepElapsedMs, canaryRequestsInStep }, policy);
    }
    const first = this.plan.steps.findIndex((x) => x.kind === 'weight');
    const weights = this.plan.steps.slice(first).map((x) => x.weight / 100);
    const d = decide(
      counts,
      { weights, stepIndex: s.stepIndex - first, runElapsedMs, stepElapsedMs, canaryRequestsInStep },
      policy,
    );
    return d.action === 'ADVANCE' ? { ...d, toStep: d.toStep + first } : d;
  }

  /**
   * τ pending (§2.2; `judgement.ts`): once the primary's histogram holds enough requests, sets τ from it and takes the
   * exceedance counts at τ right now as the relative test's base — only requests after this point are judged at τ.
   * Returns the new reading (read at the new thresholds), or null while still pending or when that read failed.
   */
  private async setPendingThresholds(
    read: Awaited<ReturnType<MetricsProvider['read']>>,
    now: number,
    events: string[],
  ): Promise<Awaited<ReturnType<MetricsProvider['read']>> | null> {
    const tau = latencyThresholdsFrom(read.reading.primaryHistogram, read.reading.edgesMs, this.plan.latencyFloorMs);
    if (!tau.thresholds) {
      if (tau.pendingReason !== this.status.tauPending) this.status = { ...this.status, tauPending: tau.pendingReason };
      return null;
    }
    const thresholdsMs = tau.thresholds.thresholdsMs;
    const all = [
      ...new Set([...thresholdsMs, ...(this.status.latencySloMs !== null ? [this.status.latencySloMs] : [])]),
    ];
    const next = await this.o.provider.read(
      this.selector,
      read.state,
      all.sort((a, b) => a - b),
    );
    if (next.reading.sources.failed > 0) return null;
    const latencyBase = next.reading.counts.latency
      .filter((l) => thresholdsMs.includes(l.thresholdMs))
      .map((l) => ({ thresholdMs: l.thresholdMs, exceedances: l.exceedances }));
    const elapsedS = ((now - this.status.startedAt) / 1000).toFixed(1);
    const tauSource = `${tau.thresholds.source}, set ${elapsedS} s into the run (the relative latency test judges the requests after this point)`;
    this.status = { ...this.status, thresholdsMs, tauPending: null, tauSource, tauSetAt: now, latencyBase };
    events.push(`latency thresholds τ = ${formatThresholds(thresholdsMs)} ms from ${tauSource}`);
    await this.log({
      event: 'thresholds',
      thresholdsMs,
      tauSource,
      latencySloMs: this.status.latencySloMs,
      latencyBase,
    });
    return next;
  }

  /** confirm-rollout and pre-rollout gates, the baseline, τ, and the first step. Returns true when progressing. */
  private async initialize(events: string[]): Promise<boolean> {
    const now = this.clock.now();
    if (!this.webhookRoundDue(now) && this.lastWebhookRound !== 0) return false;
    this.lastWebhookRound = now;
    const confirm = await this.o.webhooks.run('confirm-rollout', 'Initializing');
    if (!confirm.ok) {
      this.status = {
        ...this.status,
        lastDecision: { at: now, action: 'WEBHOOK', reason: `waiting for confirm-rollout: ${confirm.detail}` },
      };
      events.push(`waiting for confirm-rollout (${confirm.detail})`);
      return false;
    }
    const pre = await this.o.webhooks.run('pre-rollout', 'Initializing');
    if (!pre.ok) {
      const n = this.status.webhookFailures + 1;
      this.status = { ...this.status, webhookFailures: n };
      events.push(`pre-rollout webhook failed (${n} of ${this.plan.threshold}): ${pre.detail}`);
      if (n >= this.plan.threshold) {
        await this.transition('RolledBack', `pre-rollout webhook failed ${n} times: ${pre.detail}`, events);
        await this.rollBackTraffic(events);
        await this.o.webhooks.run('post-rollout', 'Failed');
      }
      return false;
    }
    const notAnswering = (what: string): RolloutStartError =>
      new RolloutStartError(`metrics source not answering at start (${this.o.provider.description}): ${shorten(what)}`);
    const start = async (): Promise<Awaited<ReturnType<MetricsProvider['start']>>> => {
      try {
        return await this.o.provider.start(this.selector);
      } catch (err) {
        // No source answered at all (a wrong --admin address, Prometheus down): refuse before any traffic moves.
        throw notAnswering((err as Error).message);
      }
    };
    let provider = await start();
    // §2.2: τ from the primary's histogram before the canary starts.
    const first = await this.o.provider.read(this.selector, provider, []);
    if (first.reading.sources.failed > 0) {
      // Refuse before any traffic moves: a source that never answered is a wrong address, not an outage.
      throw new RolloutStartError(
        `metrics source${first.reading.sources.failed > 1 ? 's' : ''} not answering at start (${this.o.provider.description}): ${shorten(first.reading.sources.problems.join('; '))}`,
      );
    }
    const edges = first.reading.edgesMs;
    let thresholdsMs: number[] = [];
    let sloMs: number | null = null;
    let tauSource = '';
    let tauPending: string | null = null;
    if (this.plan.judgeLatency) {
      const tau = latencyThresholdsFrom(first.reading.primaryHistogram, edges, this.plan.latencyFloorMs);
      if (tau.thresholds) {
        thresholdsMs = tau.thresholds.thresholdsMs;
        tauSource = `${tau.thresholds.source} before the run`;
        // The baseline again, after the data τ was read from: the requests that set τ are never judged at τ.
        provider = await start();
      } else {
        tauPending = tau.pendingReason;
        tauSource = `pending: ${tau.pendingReason}; the relative latency test starts when it has, and the latency metric cannot pass the not-worse gate until then`;
      }
      if (this.plan.latencySloMs !== null) {
        const s = snapUpToEdge(this.plan.latencySloMs, edges.length > 0 ? edges : ENVOY_DEFAULT_BUCKETS_MS);
        sloMs = Number.isFinite(s) ? s : null;
      }
    }
    const t = this.clock.now();
    this.status = {
      ...this.status,
      provider,
      thresholdsMs,
      latencySloMs: sloMs,
      tauPending,
      tauSource,
      tauSetAt: thresholdsMs.length > 0 ? t : null,
      latencyBase: null,
      ...(this.o.router.managedRoutes ? { managedRoutes: [...this.o.router.managedRoutes] } : {}),
      startedAt: t,
      stepStartedAt: t,
      deadline: t + this.plan.policy.maxDurationMs,
      webhookFailures: 0,
    };
    if (this.plan.judgeLatency) {
      events.push(
        tauPending
          ? `latency thresholds τ pending: ${tauPending}; the relative latency test starts when it has (SLO p99 ≤ ${sloMs ?? '–'} ms meanwhile, and no latency promotion before it)`
          : `latency thresholds τ = ${formatThresholds(thresholdsMs)} ms from ${tauSource}; SLO p99 ≤ ${sloMs ?? '–'} ms`,
      );
    }
    if (this.o.router.managedRoutes) {
      events.push(
        `routes rolled out: ${this.o.router.managedRoutes.map(describeRouteRef).join(', ') || 'none'} (${this.plan.routes ? "the Canary's routes" : `those that send ${this.plan.host} to ${this.plan.primarySubset}`}); other routes are left alone`,
      );
    }
    if (this.plan.ignoredMetrics.length > 0) {
      events.push(`custom metrics not evaluated by weir: ${this.plan.ignoredMetrics.join(', ')}`);
    }
    if (this.plan.sticky && this.plan.steps.some((s) => s.kind === 'weight' && s.weight < 100)) {
      events.push(
        'sticky split: users are assigned by hash, so the relative tests read w as the configured share (§1.8 option b, an assumption, not a guarantee)',
      );
    }
    await this.log({
      event: 'start',
      thresholdsMs,
      latencySloMs: sloMs,
      tauSource,
      tauPending,
      policy: this.policy(),
      steps: this.plan.steps,
      provider: this.o.provider.description,
      router: this.o.router.description,
      managedRoutes: this.o.router.managedRoutes ?? null,
    });
    await this.applyTraffic(stateForStep(this.plan, this.plan.steps[0]!), events);
    this.status = { ...this.status, weight: this.plan.steps[0]!.weight };
    await this.transition('Progressing', `started at ${this.describeStep(this.plan.steps[0]!)}`, events);
    return true;
  }

  private async handleCommand(cmd: ControlCommand, events: string[]): Promise<void> {
    const why = cmd.reason ? `: ${cmd.reason}` : '';
    const now = this.clock.now();
    if (cmd.action === 'promote') {
      await this.applyTraffic(PROMOTED_STATE, events);
      this.status = { ...this.status, lastDecision: { at: now, action: 'MANUAL', reason: `promote${why}` } };
      await this.transition('Promoted', `promoted by weir rollout promote${why}`, events);
      await this.o.webhooks.run('post-rollout', 'Succeeded');
    } else if (cmd.action === 'abort') {
      await this.rollBackTraffic(events);
      this.status = { ...this.status, lastDecision: { at: now, action: 'MANUAL', reason: `abort${why}` } };
      await this.transition('Aborted', `aborted by weir rollout abort${why}`, events);
      await this.o.webhooks.run('post-rollout', 'Failed');
    } else if (cmd.action === 'resume') {
      if (this.status.phase === 'Paused') await this.resumePaused(events);
      else events.push(`resume ignored: the rollout is ${this.status.phase}`);
    }
  }

  /** Paused → Progressing at the step where it stopped; the deadline moves to now + maxDuration (§3.5). */
  async resumePaused(events: string[]): Promise<void> {
    const now = this.clock.now();
    const counts = statusJudgementCounts(this.status);
    this.status = {
      ...this.status,
      deadline: now + this.plan.policy.maxDurationMs,
      stepStartedAt: now,
      stepStartCanaryRequests: counts ? totalCounts(counts.requests).canary : this.status.stepStartCanaryRequests,
    };
    await this.applyTraffic(stateForStep(this.plan, this.status.step), events);
    await this.transition('Progressing', `resumed at ${this.describeStep()}`, events);
  }

  private async apply(d: Decision, canaryTotal: number, now: number, events: string[]): Promise<void> {
    const s = this.status;
    const last: LastDecision = { at: now, action: d.action, reason: d.reason };
    this.status = { ...s, lastDecision: last };
    switch (d.action) {
      case 'HOLD':
        break;
      case 'ADVANCE': {
        const next = this.plan.steps[d.toStep]!;
        const gate =
          next.kind === 'weight' && next.weight >= 100 ? 'confirm-promotion' : ('confirm-traffic-increase' as const);
        const g = await this.o.webhooks.run(gate, 'Progressing');
        if (!g.ok) {
          this.status = { ...this.status, lastDecision: { ...last, action: 'HOLD', reason: `waiting for ${gate}` } };
          events.push(`waiting for ${gate} (${g.detail})`);
          break;
        }
        await this.applyTraffic(stateForStep(this.plan, next), events);
        this.status = {
          ...this.status,
          stepIndex: d.toStep,
          step: next,
          weight: next.weight,
          stepStartedAt: now,
          stepStartCanaryRequests: canaryTotal,
        };
        events.push(`→ ${this.describeStep(next)}: ${d.reason}`);
        void this.o.webhooks
          .run('event', 'Progressing', `advanced to ${this.describeStep(next)}`)
          .catch(() => undefined);
        break;
      }
      case 'PROMOTE': {
        const g = await this.o.webhooks.run('confirm-promotion', 'Progressing');
        if (!g.ok) {
          events.push(`waiting for confirm-promotion (${g.detail})`);
          break;
        }
        await this.applyTraffic(PROMOTED_STATE, events);
        this.status = { ...this.status, weight: 100 };
        await this.transition('Promoted', d.reason, events);
        await this.o.webhooks.run('post-rollout', 'Succeeded');
        break;
      }
      case 'ROLLBACK': {
        const down = this.rollbackWeights();
        if (down.length > 1) {
          // `rollback: stepped`: walk down the ladder's lower weights, one interval each (the judgement is over).
          const [w, ...rest] = down as [number, ...number[]];
          await this.applyTraffic(
            { ...stateForStep(this.plan, this.status.step), canaryWeight: w, match: null },
            events,
          );
          this.status = { ...this.status, weight: w, stepStartedAt: now, rollbackWeights: rest };
          await this.transition('RollingBack', `${d.reason}; stepping down: ${down.join(' → ')} %`, events);
          break;
        }
        await this.rollBackTraffic(events);
        this.status = { ...this.status, weight: 0 };
        await this.transition('RolledBack', d.reason, events);
        await this.o.webhooks.run('post-rollout', 'Failed');
        break;
      }
      case 'INCONCLUSIVE': {
        if (d.onInconclusive === 'pause') {
          // §3.5: drop the canary back to the first step's weight while paused.
          const first = this.plan.steps[0]!;
          await this.applyTraffic(stateForStep(this.plan, first), events);
          this.status = { ...this.status, weight: first.weight };
          await this.transition('Paused', `${d.reason}; traffic back to ${this.describeStep(first)}`, events);
        } else if (d.onInconclusive === 'rollback') {
          await this.rollBackTraffic(events);
          this.status = { ...this.status, weight: 0 };
          await this.transition('Inconclusive', `${d.reason}; rolled back`, events);
          await this.o.webhooks.run('post-rollout', 'Failed');
        } else {
          await this.applyTraffic(PROMOTED_STATE, events);
          this.status = { ...this.status, weight: 100 };
          await this.transition('Inconclusive', `${d.reason}; promoted`, events);
          await this.o.webhooks.run('post-rollout', 'Succeeded');
        }
        break;
      }
    }
    await this.logDecision(d, now, events);
  }

  /**
   * §3.4 "Preflight", once the first interval has passed: from the traffic and the primary's error rate seen so far,
   * the estimated time until the error metric can pass the not-worse gate, with a warning when that exceeds
   * maxDuration (expect INCONCLUSIVE). Skipped without weight steps (there is no relative gate).
   */
  private async preflight(counts: RolloutCounts, now: number, events: string[]): Promise<void> {
    const elapsedMs = now - this.status.startedAt;
    const shared = this.plan.steps.filter((s) => s.kind === 'weight' && s.weight < 100);
    const policy = this.plan.policy;
    if (elapsedMs < this.plan.intervalMs || shared.length === 0 || !policy.errors) return;
    const req = totalCounts(counts.requests);
    const err = totalCounts(counts.errors);
    const rps = ((req.canary + req.primary) * 1000) / elapsedMs;
    const errorRate = req.primary > 0 ? err.primary / req.primary : 0;
    const gate = shared[shared.length - 1]!;
    const gateIndex = this.plan.steps.indexOf(gate);
    const msBeforeGate = this.plan.steps.slice(0, gateIndex).reduce((a, s) => a + s.dwellMs, 0);
    const routes = policy.errors.sloRate !== null && policy.promoteOnSLO ? 2 : 1;
    const e = preflightEstimate({
      rps,
      errorRate,
      gateWeight: gate.weight / 100,
      msBeforeGate,
      maxDurationMs: policy.maxDurationMs,
      margin: policy.margin,
      logPromotionThreshold: logPromotionThreshold(policy.alphaPromote, routes),
      sloRate: policy.promoteOnSLO ? policy.errors.sloRate : null,
    });
    const at = `at ${rps.toFixed(1)} req/s with ${(errorRate * 100).toFixed(2)} % primary errors`;
    const need = [
      Number.isFinite(e.relativeCanaryRequests) ? `${Math.round(e.relativeCanaryRequests)} (relative)` : null,
      Number.isFinite(e.sloCanaryRequests) ? `${Math.round(e.sloCanaryRequests)} (SLO)` : null,
    ].filter(Boolean);
    const limit = formatMinutes(policy.maxDurationMs);
    const message = e.feasible
      ? `preflight: ${at}, a canary as good as the primary passes the not-worse gate at ${gate.weight} % after ≈ ${formatMinutes(e.estimatedMs)} (${need.join(' or ')} canary requests); maxDuration ${limit}`
      : `warning: ${at} this canary cannot be shown not worse within ${limit} (estimate ${Number.isFinite(e.estimatedMs) ? `≈ ${formatMinutes(e.estimatedMs)}` : 'never'}${need.length ? `, ${need.join(' or ')} canary requests at ${gate.weight} %` : ''}); expect INCONCLUSIVE (onInconclusive: ${policy.onInconclusive}). Lengthen maxDuration, add load, or accept SLO-only judgement (§3.4)`;
    this.status = {
      ...this.status,
      preflight: {
        at: now,
        rps,
        errorRate,
        estimatedMs: Number.isFinite(e.estimatedMs) ? e.estimatedMs : null,
        feasible: e.feasible,
        message,
      },
    };
    events.push(message);
    await this.log({ event: 'preflight', rps, errorRate, ...e, message });
  }

  /** `rollback: stepped`: the ladder's weights below the current one, descending, then 0 ([0] when immediate). */
  private rollbackWeights(): number[] {
    const w = this.status.weight;
    if (this.plan.rollback !== 'stepped' || w <= 0) return [0];
    const lower = this.plan.steps
      .filter((s) => s.kind === 'weight' && s.weight < w)
      .map((s) => s.weight)
      .sort((a, b) => b - a);
    return [...lower, 0];
  }

  /** One tick of a stepped rollback: the next lower weight once the interval has passed; at 0, RolledBack. */
  private async stepDown(now: number, events: string[]): Promise<void> {
    if (now - this.status.stepStartedAt < this.plan.intervalMs) return;
    const [w, ...rest] = this.status.rollbackWeights ?? [0];
    if (w === undefined || w <= 0) {
      await this.rollBackTraffic(events);
      this.status = { ...this.status, weight: 0, rollbackWeights: [] };
      await this.transition('RolledBack', `stepped rollback done: ${this.status.lastDecision?.reason ?? ''}`, events);
      await this.o.webhooks.run('post-rollout', 'Failed');
      return;
    }
    await this.applyTraffic({ ...stateForStep(this.plan, this.status.step), canaryWeight: w, match: null }, events);
    this.status = { ...this.status, weight: w, stepStartedAt: now, rollbackWeights: rest };
    events.push(`rolling back: canary weight ${w} %`);
  }

  private async transition(to: RolloutPhase, reason: string, events: string[]): Promise<void> {
    const now = this.clock.now();
    const t: Transition = { at: now, from: this.status.phase, to, stepIndex: this.status.stepIndex, reason };
    this.status = { ...this.status, phase: to, lastTransition: t };
    events.push(`${t.from ?? '–'} → ${to}: ${reason}`);
    await this.log({ event: 'transition', from: t.from, to, stepIndex: t.stepIndex, reason });
    // Notifications only: never wait for them (a slow receiver must not stall the judgement).
    void this.o.webhooks.run('event', flaggerPhase(to), `${to}: ${reason}`).catch(() => undefined);
  }

  /** §3.7: logs every non-HOLD decision, a HOLD whose kind changed, and one line per interval. */
  private async logDecision(d: Decision, now: number, events: readonly string[]): Promise<void> {
    const key = d.action === 'HOLD' ? `HOLD:${d.hold}:${this.status.stepIndex}` : d.action;
    if (d.action === 'HOLD' && key === this.lastHoldKey && now - this.lastLoggedAt < this.plan.intervalMs) return;
    this.lastHoldKey = key;
    this.lastLoggedAt = now;
    const errs = this.status.counts?.errors;
    let thetaCS: { lower: number | string; upper: number | string } | null = null;
    if (errs) {
      const cs = relativeRiskConfidenceSequence(errs, this.plan.policy.alphaRollback);
      thetaCS = { lower: round(cs.lower), upper: round(cs.upper) };
    }
    await this.log({
      event: 'decision',
      stepIndex: this.status.stepIndex,
      weight: this.status.weight,
      action: d.action,
      reason: d.reason,
      ...(d.action === 'HOLD' ? { hold: d.hold } : {}),
      ...(d.action === 'ROLLBACK' ? { triggeredBy: d.triggeredBy } : {}),
      evidence: evidenceSummary(d.evidence),
      thetaCS,
      counts: this.status.counts,
      mirror: this.status.mirror,
      events,
    });
  }

  private async log(entry: Record<string, unknown>): Promise<void> {
    const t = new Date(this.clock.now()).toISOString();
    await mkdir(this.o.paths.dir, { recursive: true });
    if (this.logLines > 0 && !existsSync(this.o.paths.decisions)) {
      // Someone removed .weir/ (or the log) mid-run: say so in the new log instead of starting it mid-story.
      const note = {
        t,
        run: this.status.runId,
        event: 'log-restarted',
        message: 'the decision log was removed during the run; earlier lines are lost',
      };
      await appendFile(this.o.paths.decisions, `${JSON.stringify(note)}\n`);
    }
    await appendFile(this.o.paths.decisions, `${JSON.stringify({ t, run: this.status.runId, ...entry })}\n`);
    this.logLines++;
  }

  private async save(): Promise<void> {
    this.status = { ...this.status, pid: process.pid, heartbeatAt: this.clock.now() };
    await saveStatus(this.o.paths, this.status);
  }

  private async finishTick(d: Decision | null, reading: CountsReading | null, events: string[]): Promise<void> {
    await this.save();
    this.o.onTick?.({ status: this.status, plan: this.plan, decision: d, events, reading });
  }
}
