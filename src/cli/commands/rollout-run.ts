/**
 * `weir rollout run | status | promote | abort | resume` (issue 8): run a Canary to the end against live proxies, or
 * act on a running or persisted rollout.
 *
 * - `run -f canary.yaml [--config PATH…] [--admin URL…] [--prometheus URL] [--tick D] [--plain] [--restart]`: runs it
 *   (resuming a persisted, unfinished run of the same spec); exit 0 promoted, 3 rolled back or aborted, 4
 *   inconclusive (paused included), 64 bad usage, 1 internal error.
 * - `status -f canary.yaml [--json]`: the persisted status with its statistics recomputed from the stored counts.
 * - `promote | abort -f canary.yaml [--config PATH…] [--reason TEXT]`: through the control file when a controller runs,
 *   else applied directly to the VirtualService and the status.
 * - `resume -f canary.yaml …run options`: a paused run goes on (through the control file when its controller still
 *   runs, else in the foreground like `run`).
 */

import { dirname } from 'node:path';
import type { Canary } from '../../config/resources.ts';
import {
  type Clock,
  flaggerPhase,
  judgementCounts,
  PROMOTED_STATE,
  ROLLED_BACK_STATE,
  RolloutController,
  SYSTEM_CLOCK,
  specHashOf,
  type TrafficRouter,
  type WebhookGate,
  type WebhookType,
} from '../../rollout/controller.ts';
import { planRollout, type RolloutPlan, RolloutPlanError } from '../../rollout/plan.ts';
import { AdminProvider } from '../../rollout/providers/admin.ts';
import { PrometheusProvider } from '../../rollout/providers/prometheus.ts';
import type { MetricsProvider } from '../../rollout/providers/types.ts';
import { FileTrafficRouter } from '../../rollout/router/file-router.ts';
import { evaluateEvidence, type SequentialPolicy } from '../../rollout/stats/index.ts';
import {
  controllerAlive,
  loadStatus,
  type RolloutPaths,
  type RolloutPhase,
  type RolloutStatus,
  rolloutPaths,
  saveStatus,
  TERMINAL_PHASES,
  writeControl,
} from '../../rollout/status.ts';
import { RolloutView, statusLines } from '../../rollout/view.ts';
import { type CanaryPhase, payloadPhase, runHooks, webhookPayload } from '../../rollout/webhooks.ts';
import { parseDurationMs } from '../../util/duration.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readCanary } from './rollout.ts';

/** Options of `weir rollout run` and `resume`. */
export interface RolloutRunOptions {
  filename: string;
  config?: string[];
  admin?: string[];
  prometheus?: string;
  tick?: string;
  plain?: boolean;
  restart?: boolean;
  namespace?: string;
}

/** Options of `weir rollout status`. */
export interface RolloutStatusOptions {
  filename: string;
  json?: boolean;
}

/** Options of `weir rollout promote` and `abort`. */
export interface RolloutActOptions {
  filename: string;
  config?: string[];
  reason?: string;
  namespace?: string;
}

/** Default weir admin endpoint (`weir serve --admin`). */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:15000';

const usage = (m: string): CliError => new CliError(m, EXIT.USAGE);

/** Exit code of a final phase: 0 promoted, 3 rolled back or aborted, 4 inconclusive or paused. */
export function exitCodeOf(phase: RolloutPhase): number {
  switch (phase) {
    case 'Promoted':
      return EXIT.OK;
    case 'RolledBack':
    case 'Aborted':
      return EXIT.ROLLED_BACK;
    case 'Inconclusive':
    case 'Paused':
      return EXIT.INCONCLUSIVE;
    default:
      return EXIT.INTERNAL;
  }
}

interface Loaded {
  canary: Canary;
  plan: RolloutPlan;
  paths: RolloutPaths;
  specHash: string;
}

async function load(file: string): Promise<Loaded> {
  const canary = await readCanary(file);
  let plan: RolloutPlan;
  try {
    plan = planRollout(canary);
  } catch (err) {
    if (err instanceof RolloutPlanError) throw usage(err.message);
    throw err;
  }
  return { canary, plan, paths: rolloutPaths(file, plan.namespace, plan.name), specHash: specHashOf(canary.spec) };
}

async function routerFor(
  l: Loaded,
  o: { filename: string; config?: string[]; namespace?: string },
): Promise<TrafficRouter> {
  const paths = o.config && o.config.length > 0 ? o.config : [dirname(o.filename)];
  try {
    const file = await FileTrafficRouter.locate(
      paths,
      {
        namespace: l.plan.virtualService.namespace,
        name: l.plan.virtualService.name,
        host: l.plan.host,
        primarySubset: l.plan.primarySubset,
        canarySubset: l.plan.canarySubset,
      },
      {
        ...(o.namespace ? { defaultNamespace: o.namespace } : {}),
        mirror: l.plan.steps.some((s) => s.kind === 'mirror'),
      },
    );
    return asTrafficRouter(file);
  } catch (err) {
    throw usage((err as Error).message);
  }
}

function providerFor(o: RolloutRunOptions): MetricsProvider {
  if (o.prometheus && o.admin && o.admin.length > 0) throw usage('--prometheus and --admin exclude each other');
  if (o.prometheus) return new PrometheusProvider(o.prometheus);
  return new AdminProvider(o.admin && o.admin.length > 0 ? o.admin : [DEFAULT_ADMIN_URL]);
}

/** The Canary's webhooks as the controller's gate, with Flagger's payload (`webhooks.ts`). */
export function webhookGate(plan: RolloutPlan, specHash: string): WebhookGate {
  return {
    async run(type: WebhookType, phase: string, eventMessage?: string) {
      const hooks = plan.webhooks.filter((h) => (h.type ?? 'rollout') === type);
      if (hooks.length === 0) return { ok: true, count: 0, detail: 'no hooks' };
      const current = phase as CanaryPhase;
      const payload = webhookPayload(
        {
          name: plan.name,
          namespace: plan.namespace,
          phase: payloadPhase(type, current, current === 'Failed' ? 'rolled-back' : 'promoted'),
          checksum: specHash,
        },
        eventMessage !== undefined
          ? { message: eventMessage, type: current === 'Failed' ? 'Warning' : 'Normal' }
          : undefined,
      );
      const r = await runHooks(plan.webhooks, type, payload);
      const detail = r.results
        .map((x) => `${x.name}: ${x.ok ? `HTTP ${x.status}` : (x.error ?? `HTTP ${x.status}`)}`)
        .join(', ');
      // A rollback hook answering 2xx requests the rollback (Flagger); every other type passes when all pass.
      return { ok: type === 'rollback' ? r.anyOk : r.ok, count: hooks.length, detail };
    },
  };
}

/** The file router as the controller's {@link TrafficRouter}. */
function asTrafficRouter(r: FileTrafficRouter): TrafficRouter {
  return { description: `file ${r.file}`, read: () => r.read(), apply: (s) => r.apply(s) };
}

/** `weir rollout run` (and `resume` without a live controller). */
export async function runRolloutRun(o: RolloutRunOptions, mode: 'run' | 'resume' = 'run'): Promise<number> {
  const tickMs = o.tick !== undefined ? parseDurationMs(o.tick) : 1000;
  if (tickMs === null || !(tickMs >= 10)) throw usage(`--tick: expected a duration of at least 10ms, got ${o.tick}`);
  const l = await load(o.filename);
  const existing = await loadStatus(l.paths).catch((err: Error) => {
    throw usage(err.message);
  });
  const clock: Clock = SYSTEM_CLOCK;
  let resume: RolloutStatus | null = null;
  const notes: string[] = [];
  if (existing && !TERMINAL_PHASES.includes(existing.phase) && !o.restart) {
    if (existing.pid !== process.pid && controllerAlive(existing, clock.now())) {
      if (mode === 'resume' && existing.phase === 'Paused') {
        await writeControl(l.paths, { action: 'resume', at: clock.now() });
        process.stdout.write(`asked the running controller (pid ${existing.pid}) to resume\n`);
        return EXIT.OK;
      }
      throw usage(`another controller (pid ${existing.pid}) runs this rollout; use weir rollout status/promote/abort`);
    }
    if (existing.specHash !== l.specHash) {
      notes.push(`the Canary's spec changed since run ${existing.runId.slice(0, 8)}: starting a new test (§6)`);
    } else if (existing.phase === 'Paused' && mode === 'run') {
      notes.push('the rollout is paused (INCONCLUSIVE); weir rollout resume continues it');
      process.stdout.write(`${notes.join('\n')}\n`);
      return EXIT.INCONCLUSIVE;
    } else resume = existing;
  } else if (mode === 'resume') {
    throw usage(
      existing
        ? `nothing to resume: the rollout is ${existing.phase}`
        : `nothing to resume: no rollout status at ${l.paths.status}`,
    );
  }
  const router = await routerFor(l, o);
  const provider = providerFor(o);
  const live = !o.plain && process.stdout.isTTY === true;
  const view = new RolloutView(process.stdout, live);
  const controller = new RolloutController(
    {
      plan: l.plan,
      canaryFile: o.filename,
      paths: l.paths,
      provider,
      router,
      webhooks: webhookGate(l.plan, l.specHash),
      clock,
      tickMs,
      specHash: l.specHash,
      onTick: (v) => view.update(v),
    },
    resume,
  );
  process.stdout.write(
    `weir rollout ${l.plan.namespace}/${l.plan.name}: ${l.plan.host} ${l.plan.primarySubset} → ${l.plan.canarySubset} ` +
      `via ${router.description}; metrics from ${provider.description}; status ${l.paths.status}\n`,
  );
  for (const n of notes) process.stdout.write(`${n}\n`);
  if (resume && resume.phase === 'Paused') await controller.resumePaused([]);
  const stop = (): void => controller.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let phase: RolloutPhase;
  try {
    phase = await controller.run();
  } catch (err) {
    throw new CliError(
      `rollout stopped: ${(err as Error).message} (the status is kept; resume with weir rollout run)`,
      1,
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  const s = controller.current;
  if (!TERMINAL_PHASES.includes(phase) && phase !== 'Paused') {
    process.stdout.write(`stopped at ${s.phase}, step ${s.stepIndex + 1}; weir rollout run -f ${o.filename} resumes\n`);
    return EXIT.INCONCLUSIVE;
  }
  process.stdout.write(`${phase}: ${s.lastTransition.reason}\n`);
  return exitCodeOf(phase);
}

function policyOf(plan: RolloutPlan, s: RolloutStatus): SequentialPolicy {
  const p = plan.policy;
  return p.latency
    ? { ...p, latency: { ...p.latency, thresholdsMs: s.thresholdsMs, sloThresholdMs: s.latencySloMs } }
    : p;
}

/** `weir rollout status`. */
export async function runRolloutStatus(o: RolloutStatusOptions): Promise<number> {
  const l = await load(o.filename);
  const s = await loadStatus(l.paths).catch((err: Error) => {
    throw usage(err.message);
  });
  if (!s) throw usage(`no rollout of ${l.plan.namespace}/${l.plan.name} yet (no ${l.paths.status})`);
  const now = Date.now();
  const alive = controllerAlive(s, now);
  const evidence = s.counts ? evaluateEvidence(judgementCounts(s.counts, s.mirror), policyOf(l.plan, s)) : null;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ ...s, controllerRunning: alive, flaggerPhase: flaggerPhase(s.phase), evidence }, null, 2)}\n`,
    );
    return EXIT.OK;
  }
  const decision = evidence
    ? ({ action: 'HOLD', hold: 'dwell', reason: '', evidence } as const satisfies Parameters<
        typeof statusLines
      >[0]['decision'])
    : null;
  const lines = statusLines({ status: s, plan: l.plan, decision }, alive ? now : s.heartbeatAt);
  lines.push(
    `controller: ${alive ? `running (pid ${s.pid})` : `not running (last seen ${new Date(s.heartbeatAt).toISOString()})`}; ` +
      `last transition ${new Date(s.lastTransition.at).toISOString()} ${s.lastTransition.from ?? '–'} → ${s.lastTransition.to}: ${s.lastTransition.reason}`,
  );
  lines.push(`decision log: ${l.paths.decisions}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.OK;
}

/** `weir rollout promote` / `abort`. */
export async function runRolloutAct(action: 'promote' | 'abort', o: RolloutActOptions): Promise<number> {
  const l = await load(o.filename);
  const s = await loadStatus(l.paths).catch((err: Error) => {
    throw usage(err.message);
  });
  const now = Date.now();
  if (s && !TERMINAL_PHASES.includes(s.phase) && controllerAlive(s, now) && s.pid !== process.pid) {
    await writeControl(l.paths, { action, at: now, ...(o.reason ? { reason: o.reason } : {}) });
    // Wait (bounded) for the controller to act, so the command's exit says what happened.
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const after = await loadStatus(l.paths);
      if (after && TERMINAL_PHASES.includes(after.phase)) {
        process.stdout.write(`${after.phase}: ${after.lastTransition.reason}\n`);
        return EXIT.OK;
      }
    }
    throw new CliError(`asked the controller (pid ${s.pid}) to ${action}, but it has not acted within 10 s`, 1);
  }
  const router: TrafficRouter = await routerFor(l, o);
  await router.apply(action === 'promote' ? PROMOTED_STATE : ROLLED_BACK_STATE);
  const to: RolloutPhase = action === 'promote' ? 'Promoted' : 'Aborted';
  const reason = `${action === 'promote' ? 'promoted' : 'aborted'} by weir rollout ${action}${o.reason ? `: ${o.reason}` : ''}`;
  if (s) {
    await saveStatus(l.paths, {
      ...s,
      phase: to,
      weight: action === 'promote' ? 100 : 0,
      lastDecision: { at: now, action: 'MANUAL', reason },
      lastTransition: { at: now, from: s.phase, to, stepIndex: s.stepIndex, reason },
    });
  }
  const hooks = webhookGate(l.plan, l.specHash);
  await hooks.run('post-rollout', action === 'promote' ? 'Succeeded' : 'Failed');
  process.stdout.write(`${to}: ${reason} (${router.description})\n`);
  return EXIT.OK;
}
