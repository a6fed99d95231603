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

import { appendFile, mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Canary } from '../../config/resources.ts';
import type { RouteRef } from '../../config/weir/canary-routes.ts';
import {
  type Clock,
  flaggerPhase,
  PROMOTED_STATE,
  ROLLED_BACK_STATE,
  RolloutController,
  RolloutStartError,
  SYSTEM_CLOCK,
  specHashOf,
  type TrafficRouter,
  type WebhookGate,
  type WebhookType,
} from '../../rollout/controller.ts';
import { statusJudgementCounts, statusPolicy } from '../../rollout/judgement.ts';
import { planRollout, type RolloutPlan, RolloutPlanError } from '../../rollout/plan.ts';
import { AdminProvider } from '../../rollout/providers/admin.ts';
import { PrometheusProvider } from '../../rollout/providers/prometheus.ts';
import type { MetricsProvider } from '../../rollout/providers/types.ts';
import { FileTrafficRouter } from '../../rollout/router/file-router.ts';
import { evaluateEvidence } from '../../rollout/stats/index.ts';
import {
  acquireLock,
  controllerAlive,
  type FileLock,
  loadStatus,
  lockPathFor,
  type RolloutPaths,
  type RolloutPhase,
  type RolloutStatus,
  refreshLock,
  releaseLock,
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
  namespace?: string;
}

/** Options of `weir rollout promote` and `abort`. */
export interface RolloutActOptions {
  filename: string;
  config?: string[];
  reason?: string;
  namespace?: string;
  /** Act on a rollout that already ended. */
  force?: boolean;
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

async function load(file: string, namespace?: string): Promise<Loaded> {
  const canary = await readCanary(file, namespace);
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
  managed: readonly RouteRef[] | null = null,
): Promise<TrafficRouter & { file: string }> {
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
        routes: l.plan.routes,
        managed,
      },
    );
    return asTrafficRouter(file);
  } catch (err) {
    const where =
      o.config && o.config.length > 0
        ? ''
        : ` (the VirtualService is looked up in the Canary's folder ${dirname(o.filename)}; name other files or folders with --config)`;
    throw usage(`${(err as Error).message}${where}`);
  }
}

/** `http://host:port` from `host:port` (as `weir serve --admin` takes it) or a URL; a usage error otherwise. */
export function adminUrlOf(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw usage(
      `--admin: expected a weir serve admin address such as 127.0.0.1:15000 or http://127.0.0.1:15000, got ${JSON.stringify(text)}`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw usage(`--admin: expected an http(s) address, got ${JSON.stringify(text)}`);
  }
  return withScheme;
}

function providerFor(o: RolloutRunOptions): MetricsProvider {
  if (o.prometheus && o.admin && o.admin.length > 0) throw usage('--prometheus and --admin exclude each other');
  try {
    if (o.prometheus) return new PrometheusProvider(adminUrlOf(o.prometheus).replace(/\/$/, ''));
    return new AdminProvider((o.admin && o.admin.length > 0 ? o.admin : [DEFAULT_ADMIN_URL]).map(adminUrlOf));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw usage((err as Error).message);
  }
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
function asTrafficRouter(r: FileTrafficRouter): TrafficRouter & { file: string } {
  return {
    description: `file ${r.file}`,
    file: r.file,
    managedRoutes: r.managedRoutes,
    read: () => r.read(),
    apply: (s) => r.apply(s),
  };
}

/** `weir rollout run` (and `resume` without a live controller). */
export async function runRolloutRun(o: RolloutRunOptions, mode: 'run' | 'resume' = 'run'): Promise<number> {
  const tickMs = o.tick !== undefined ? parseDurationMs(o.tick) : 1000;
  if (tickMs === null || !(tickMs >= 10)) throw usage(`--tick: expected a duration of at least 10ms, got ${o.tick}`);
  const l = await load(o.filename, o.namespace);
  const existing = await loadStatus(l.paths).catch((err: Error) => {
    throw usage(err.message);
  });
  const clock: Clock = SYSTEM_CLOCK;
  let resume: RolloutStatus | null = null;
  const notes: string[] = [];
  if (existing && existing.pid !== process.pid && controllerAlive(existing, clock.now())) {
    // Never two controllers on one rollout, --restart included.
    throw usage(`another controller (pid ${existing.pid}) runs this rollout; use weir rollout status/promote/abort`);
  }
  if (existing && !TERMINAL_PHASES.includes(existing.phase) && !o.restart) {
    if (existing.specHash !== l.specHash) {
      notes.push(`the Canary's spec changed since run ${existing.runId.slice(0, 8)}: starting a new test (§6)`);
    } else if (existing.phase === 'Paused' && mode === 'run') {
      process.stdout.write(
        'the rollout is paused (INCONCLUSIVE); weir rollout resume continues it, --restart starts a new one\n',
      );
      return EXIT.INCONCLUSIVE;
    } else resume = existing;
  } else if (mode === 'resume') {
    throw usage(
      existing
        ? `nothing to resume: the rollout is ${existing.phase}`
        : `nothing to resume: no rollout status at ${l.paths.status}`,
    );
  } else if (existing && existing.phase === 'Promoted' && !o.restart) {
    // A new run would start by routing traffic back to the primary subset, which no longer is what production runs.
    throw usage(
      `the last run promoted ${l.plan.canarySubset} (${new Date(existing.lastTransition.at).toISOString()}): the VirtualService ` +
        `already routes 100 % to it. Point the Canary at the next version, or pass --restart to run again from ${l.plan.primarySubset}`,
    );
  }
  // A resumed run keeps the routes it chose when it started; a new one chooses them from the file as it is now.
  const router = await routerFor(l, o, resume?.managedRoutes ?? null);
  const provider = providerFor(o);
  // One controller per VirtualService file, whichever Canary and path it came from.
  const lockPath = lockPathFor(router.file);
  const lockInfo = (): FileLock => ({
    pid: process.pid,
    canary: `${l.plan.namespace}/${l.plan.name}`,
    canaryFile: o.filename,
    at: Date.now(),
  });
  const lock = await acquireLock(lockPath, lockInfo());
  if (!lock.ok) {
    throw usage(
      `${router.file} is being rolled out by another controller (pid ${lock.holder.pid}, Canary ${lock.holder.canary} in ${lock.holder.canaryFile})`,
    );
  }
  // A closed pipe (| head) must not kill a controller that holds production traffic: stop printing, keep going.
  const onOutputError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') process.stderr.write(`weir: output: ${err.message}\n`);
  };
  process.stdout.on('error', onOutputError);
  const live = !o.plain && process.stdout.isTTY === true;
  const view = new RolloutView(process.stdout, live);
  let lastLockRefresh = 0;
  /** The heartbeat write in flight (awaited before the lock is released, or it would write the lock back). */
  let refreshing: Promise<void> = Promise.resolve();
  const unlock = async (): Promise<void> => {
    await refreshing;
    await releaseLock(lockPath);
  };
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
      onTick: (v) => {
        if (!process.stdout.writableEnded && !process.stdout.destroyed) view.update(v);
        if (Date.now() - lastLockRefresh >= 2000) {
          lastLockRefresh = Date.now();
          refreshing = refreshLock(lockPath, lockInfo()).catch(() => undefined);
        }
      },
    },
    resume,
  );
  process.stdout.write(
    `weir rollout ${l.plan.namespace}/${l.plan.name}: ${l.plan.host} ${l.plan.primarySubset} → ${l.plan.canarySubset} ` +
      `via ${router.description}; metrics from ${provider.description}; status ${l.paths.status}\n`,
  );
  for (const n of notes) process.stdout.write(`${n}\n`);
  let signal: 'SIGINT' | 'SIGTERM' | null = null;
  const onSigint = (): void => {
    signal = 'SIGINT';
    controller.stop();
  };
  const onSigterm = (): void => {
    signal = 'SIGTERM';
    controller.stop();
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  let phase: RolloutPhase;
  try {
    if (resume && resume.phase === 'Paused') await controller.resumePaused([]);
    phase = await controller.run();
  } catch (err) {
    if (err instanceof RolloutStartError) {
      // Nothing moved: leave the status as it was before this command (no run that never started stays behind).
      await unlock();
      await restoreStatus(l.paths, existing);
      throw usage(`${err.message}; nothing was changed`);
    }
    throw new CliError(
      `rollout stopped: ${(err as Error).message} (the status is kept; weir rollout run resumes, weir rollout abort routes back to ${l.plan.primarySubset})`,
      EXIT.INTERNAL,
    );
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await unlock();
  }
  const s = controller.current;
  if (!TERMINAL_PHASES.includes(phase) && phase !== 'Paused') {
    process.stdout.write(`stopped at ${s.phase}, step ${s.stepIndex + 1}; weir rollout run -f ${o.filename} resumes\n`);
    // 128 + the signal number, as shells report it; INCONCLUSIVE (4) is kept for a run that actually ended so.
    return signal === 'SIGTERM' ? 143 : 130;
  }
  process.stdout.write(`${phase}: ${s.lastTransition.reason}\n`);
  return exitCodeOf(phase);
}

/** Puts back the status found before a run that could not start: the earlier one, or none (an empty `.weir/` goes too). */
async function restoreStatus(paths: RolloutPaths, before: RolloutStatus | null): Promise<void> {
  if (before) {
    await saveStatus(paths, before);
    return;
  }
  await rm(paths.status, { force: true });
  await rmdir(paths.dir).catch(() => undefined);
}

/** `weir rollout status`: exit 0 whether or not the Canary has run (a never-run one says so). */
export async function runRolloutStatus(o: RolloutStatusOptions): Promise<number> {
  const l = await load(o.filename, o.namespace);
  const s = await loadStatus(l.paths).catch((err: Error) => {
    throw usage(err.message);
  });
  if (!s) {
    if (o.json) {
      process.stdout.write(
        `${JSON.stringify({ canary: { namespace: l.plan.namespace, name: l.plan.name, file: o.filename }, phase: null }, null, 2)}\n`,
      );
    } else process.stdout.write(`no rollout of ${l.plan.namespace}/${l.plan.name} yet (no ${l.paths.status})\n`);
    return EXIT.OK;
  }
  const now = Date.now();
  const alive = controllerAlive(s, now);
  const counts = statusJudgementCounts(s);
  const evidence = counts ? evaluateEvidence(counts, statusPolicy(l.plan, s)) : null;
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

/**
 * `weir rollout promote` / `abort`. With a live controller the request goes through the control file; if the
 * controller does not act within 10 s the request is withdrawn (it must not run later) and an abort is carried out
 * directly, since routing back to the primary must always be possible. Without a controller the VirtualService and
 * the status are changed here. A finished rollout needs `--force` (promote after a rollback, abort after a promotion).
 */
export async function runRolloutAct(action: 'promote' | 'abort', o: RolloutActOptions): Promise<number> {
  const l = await load(o.filename, o.namespace);
  let s: RolloutStatus | null = null;
  let statusProblem: string | null = null;
  try {
    s = await loadStatus(l.paths);
  } catch (err) {
    // An unreadable status must not block the way back to the primary.
    statusProblem = (err as Error).message;
    if (action === 'promote') throw usage(`${statusProblem} (promote needs a readable status; abort works without)`);
    process.stderr.write(`weir: ${statusProblem}; aborting on the VirtualService alone\n`);
  }
  const now = Date.now();
  if (s && TERMINAL_PHASES.includes(s.phase) && !o.force) {
    throw usage(
      `the rollout already ended (${s.phase}, ${new Date(s.lastTransition.at).toISOString()}); ` +
        `${action} would route 100 % to ${action === 'promote' ? l.plan.canarySubset : l.plan.primarySubset} now — pass --force to do it`,
    );
  }
  if (s && controllerAlive(s, now) && s.pid !== process.pid) {
    await writeControl(l.paths, { action, at: now, ...(o.reason ? { reason: o.reason } : {}) });
    // Wait (bounded) for the controller to act, so the command's exit says what happened.
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const after = await loadStatus(l.paths).catch(() => null);
      if (after && TERMINAL_PHASES.includes(after.phase)) {
        process.stdout.write(`${after.phase}: ${after.lastTransition.reason}\n`);
        return EXIT.OK;
      }
    }
    await rm(l.paths.control, { force: true });
    if (action === 'promote') {
      throw new CliError(
        `the controller (pid ${s.pid}) did not act within 10 s; the promote request is withdrawn (nothing changed)`,
        EXIT.INTERNAL,
      );
    }
    process.stderr.write(`weir: the controller (pid ${s.pid}) did not act within 10 s; aborting directly\n`);
  }
  const router: TrafficRouter = await routerFor(l, o, s?.managedRoutes ?? null);
  const applied = await router.apply(
    action === 'promote'
      ? PROMOTED_STATE
      : { ...ROLLED_BACK_STATE, ...(l.plan.rollbackUnmanagedRoutes ? { unmanagedToPrimary: true } : {}) },
  );
  const still = applied.unmanagedToCanary ?? [];
  if (still.length > 0) {
    process.stderr.write(
      `weir: warning: routes this rollout does not manage still reach ${l.plan.canarySubset}: ${still.join('; ')} (set rollbackUnmanagedRoutes: true in the Canary to send them to ${l.plan.primarySubset} on an abort too)\n`,
    );
  }
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
  // The decision log records it even when no run ever started (or the status was unreadable).
  await mkdir(l.paths.dir, { recursive: true });
  await appendFile(
    l.paths.decisions,
    `${JSON.stringify({ t: new Date(now).toISOString(), run: s?.runId ?? null, event: 'manual', action, to, reason, ...(statusProblem ? { statusProblem } : {}), ...(still.length > 0 ? { unmanagedToCanary: still } : {}) })}\n`,
  );
  const hooks = webhookGate(l.plan, l.specHash);
  await hooks.run('post-rollout', action === 'promote' ? 'Succeeded' : 'Failed');
  process.stdout.write(`${to}: ${reason} (${router.description})\n`);
  return EXIT.OK;
}
