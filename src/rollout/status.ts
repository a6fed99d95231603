/**
 * The persisted state of a rollout (issue 8): status (phase, step, weight, frozen thresholds, provider baselines,
 * the last counts and decision, the last transition), the decision log (§3.7, one JSON line per evaluation that
 * changed something, plus one per interval), and the control file through which `weir rollout promote | abort |
 * resume` talk to a running controller. All live in a `.weir/` folder next to the Canary's file (hidden, so a config
 * folder loader skips it). Writes are atomic (temp file, fsync, rename, fsync of the folder), so a controller killed
 * at any moment leaves the last complete status, from which `weir rollout run` resumes (§1.8 "Controller restart").
 */

import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { RouteRef } from '../config/weir/canary-routes.ts';
import type { RolloutStep } from './plan.ts';
import type { MirrorCounts, ProviderState } from './providers/types.ts';
import type { CountTable, DecisionAction, RolloutCounts } from './stats/index.ts';

/** Format version of {@link RolloutStatus}. */
export const STATUS_VERSION = 1;

/**
 * Where a rollout is. `Initializing` until the baseline is taken and the first step applied; `Progressing` while
 * judged; `RollingBack` while a `rollback: stepped` rollout walks the weight down; `Paused` after an INCONCLUSIVE with `onInconclusive: pause` (resumable); the rest are terminal.
 */
export type RolloutPhase =
  | 'Initializing'
  | 'Progressing'
  | 'RollingBack'
  | 'Paused'
  | 'Promoted'
  | 'RolledBack'
  | 'Inconclusive'
  | 'Aborted';

/** Terminal phases: the run is over and `weir rollout run` starts a new one. */
export const TERMINAL_PHASES: readonly RolloutPhase[] = ['Promoted', 'RolledBack', 'Inconclusive', 'Aborted'];

/** A phase change. Times are epoch ms. */
export interface Transition {
  readonly at: number;
  readonly from: RolloutPhase | null;
  readonly to: RolloutPhase;
  /** Step index after the transition. */
  readonly stepIndex: number;
  readonly reason: string;
}

/** The last decision, as shown by `weir rollout status`. */
export interface LastDecision {
  readonly at: number;
  readonly action: DecisionAction | 'WEBHOOK' | 'MANUAL';
  readonly reason: string;
}

/** Everything `weir rollout run` needs to resume, and `weir rollout status` shows. Times are epoch ms. */
export interface RolloutStatus {
  readonly version: typeof STATUS_VERSION;
  readonly canary: { readonly namespace: string; readonly name: string; readonly file: string };
  /** Hash of the Canary's spec: a changed spec starts a new test (§6). */
  readonly specHash: string;
  /** Id of this run (a new one per new test). */
  readonly runId: string;
  readonly phase: RolloutPhase;
  readonly stepIndex: number;
  /** The step at `stepIndex`, for display. */
  readonly step: RolloutStep;
  /** Canary weight in force (percent). */
  readonly weight: number;
  readonly startedAt: number;
  readonly stepStartedAt: number;
  /** When the run becomes INCONCLUSIVE (startedAt + maxDuration; moved by a resume). */
  readonly deadline: number;
  /** Canary requests (routed + mirrored) counted when the current step started. */
  readonly stepStartCanaryRequests: number;
  /** τ_j (§2.2), ms: fixed at run start, or at the first tick where the primary has served enough requests. */
  readonly thresholdsMs: readonly number[];
  /** While the relative latency test waits for τ: why (`judgement.ts`); null or absent once τ is set. */
  readonly tauPending?: string | null;
  /** Where τ came from (`the primary's p50/p90/p99 over 412 requests …`), and when they were set (epoch ms). */
  readonly tauSource?: string;
  readonly tauSetAt?: number | null;
  /**
   * Exceedances at each τ counted before τ was set during the run (subtracted, so only later requests are judged at
   * τ); null or absent when τ was set at start.
   */
  readonly latencyBase?: readonly { readonly thresholdMs: number; readonly exceedances: CountTable }[] | null;
  /** The latency SLO threshold snapped to the provider's edges, ms, or null. */
  readonly latencySloMs: number | null;
  /**
   * The VirtualService routes this run manages (`config/weir/canary-routes.ts`), chosen when it started; a resumed run
   * keeps them. Absent in statuses written before weir chose them.
   */
  readonly managedRoutes?: readonly RouteRef[];
  /** The metric provider's kind and state (baselines). */
  readonly provider: ProviderState;
  /** The last reading since the baseline. */
  readonly counts: RolloutCounts | null;
  readonly mirror: MirrorCounts | null;
  readonly lastDecision: LastDecision | null;
  readonly lastTransition: Transition;
  /** `rollback: stepped`: the weights still to apply on the way down (percent, the last is 0); empty otherwise. */
  readonly rollbackWeights?: readonly number[];
  /** The §3.4 preflight estimate, made once after the first interval (null until then). */
  readonly preflight?: {
    readonly at: number;
    readonly rps: number;
    readonly errorRate: number;
    readonly estimatedMs: number | null;
    readonly feasible: boolean;
    readonly message: string;
  } | null;
  /** Since when a metrics source has not answered (epoch ms), or null/absent when all answer. */
  readonly metricsBlindSince?: number | null;
  /** Consecutive failed `pre-rollout` / `rollout` webhook rounds (Flagger's failed checks). */
  readonly webhookFailures: number;
  /** The pid of the controller that wrote this, and when (a live heartbeat means it is running). */
  readonly pid: number;
  readonly heartbeatAt: number;
}

/** A request to a running controller (or, when none runs, carried out by the command itself). */
export interface ControlCommand {
  readonly action: 'promote' | 'abort' | 'resume';
  readonly at: number;
  readonly reason?: string;
}

/** The files of one rollout. */
export interface RolloutPaths {
  readonly dir: string;
  readonly status: string;
  readonly control: string;
  readonly decisions: string;
}

/** The `.weir/` paths of the Canary `namespace/name` defined in `canaryFile`. */
export function rolloutPaths(canaryFile: string, namespace: string, name: string): RolloutPaths {
  const dir = join(dirname(canaryFile), '.weir');
  const stem = `${namespace}.${name}`;
  return {
    dir,
    status: join(dir, `${stem}.status.json`),
    control: join(dir, `${stem}.control.json`),
    decisions: join(dir, `${stem}.decisions.jsonl`),
  };
}

/** Writes `text` to `path` atomically: temp file in the same folder, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  } finally {
    await d.close();
  }
}

/** Reads a status; null when there is none. Throws an Error naming the file when it is unreadable or of another version. */
export async function loadStatus(paths: RolloutPaths): Promise<RolloutStatus | null> {
  let text: string;
  try {
    text = await readFile(paths.status, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${paths.status}: not valid JSON (${(err as Error).message}); remove it to start a new rollout`);
  }
  const s = parsed as Partial<RolloutStatus>;
  if (s.version !== STATUS_VERSION) {
    throw new Error(`${paths.status}: status version ${String(s.version)}, this weir reads ${STATUS_VERSION}`);
  }
  return s as RolloutStatus;
}

/** Saves a status atomically. */
export async function saveStatus(paths: RolloutPaths, status: RolloutStatus): Promise<void> {
  await writeFileAtomic(paths.status, `${JSON.stringify(status, null, 2)}\n`);
}

/** Leaves a command for the running controller (replacing an unread one). */
export async function writeControl(paths: RolloutPaths, cmd: ControlCommand): Promise<void> {
  await writeFileAtomic(paths.control, `${JSON.stringify(cmd)}\n`);
}

/** Takes the pending command, if any (read and removed; a malformed file is removed and ignored). */
export async function takeControl(paths: RolloutPaths): Promise<ControlCommand | null> {
  const claimed = `${paths.control}.${process.pid}.taken`;
  try {
    await rename(paths.control, claimed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const cmd = JSON.parse(await readFile(claimed, 'utf8')) as ControlCommand;
    return cmd.action === 'promote' || cmd.action === 'abort' || cmd.action === 'resume' ? cmd : null;
  } catch {
    return null;
  } finally {
    await rm(claimed, { force: true });
  }
}

/** Whether the controller that wrote `status` still runs: its pid is alive and its heartbeat is recent. */
export function controllerAlive(status: RolloutStatus, now: number, staleAfterMs = 15_000): boolean {
  // A paused or finished run has no controller; a missing or old heartbeat means it died (its pid may be reused).
  if (status.phase === 'Paused' || TERMINAL_PHASES.includes(status.phase)) return false;
  if (!Number.isFinite(status.heartbeatAt) || !(now - status.heartbeatAt <= staleAfterMs)) return false;
  if (!Number.isInteger(status.pid) || status.pid <= 0) return false;
  return pidAlive(status.pid);
}

/** Who holds a VirtualService file: one controller per file, whatever the Canary (two Canaries must not race). */
export interface FileLock {
  readonly pid: number;
  /** `namespace/name` of the Canary. */
  readonly canary: string;
  readonly canaryFile: string;
  /** Heartbeat, epoch ms. */
  readonly at: number;
}

/** The lock file of a VirtualService file: `.weir/<file name>.lock` beside it. */
export function lockPathFor(virtualServiceFile: string): string {
  return join(dirname(virtualServiceFile), '.weir', `${basename(virtualServiceFile)}.lock`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of `path` for `info`, or returns the live holder. A lock whose heartbeat is older than
 * `staleAfterMs` or whose pid is gone is taken over (a killed controller leaves its lock behind).
 */
export async function acquireLock(
  path: string,
  info: FileLock,
  staleAfterMs = 15_000,
): Promise<{ ok: true } | { ok: false; holder: FileLock }> {
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${JSON.stringify(info)}\n`);
      } finally {
        await fh.close();
      }
      return { ok: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: FileLock | null = null;
    try {
      holder = JSON.parse(await readFile(path, 'utf8')) as FileLock;
    } catch {
      holder = null; // unreadable: treat as stale
    }
    if (holder && holder.pid !== process.pid && info.at - holder.at <= staleAfterMs && pidAlive(holder.pid)) {
      return { ok: false, holder };
    }
    await rm(path, { force: true });
  }
  return { ok: false, holder: info };
}

/** Refreshes the heartbeat of a lock this process holds. */
export async function refreshLock(path: string, info: FileLock): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(info)}\n`);
}

/** Releases the lock if this process holds it. */
export async function releaseLock(path: string): Promise<void> {
  try {
    const holder = JSON.parse(await readFile(path, 'utf8')) as FileLock;
    if (holder.pid === process.pid) await rm(path, { force: true });
  } catch {
    // gone already
  }
}
