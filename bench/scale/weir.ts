/**
 * weir as a child process for `npm run bench:scale`: `weir validate` timed to its exit, `weir serve` timed from spawn
 * to the admin `/ready` answering 200, RSS from /proc, and the few metrics the harness reads from
 * `/stats/prometheus`. Every wait has a deadline; a process that misses it is killed and reported as timed out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { freePort, stopPid } from '../lib/sys.ts';
import { get } from './http.ts';

/** How to run weir: which node binary, the bundle, and an optional CPU to pin it to (taskset). */
export interface WeirRuntime {
  node: string;
  /** Flags for that node binary (e.g. `--max-old-space-size=256`). */
  nodeFlags: string[];
  bundle: string;
  cpu: number | null;
  /** Working directory and a log file for the child's stdout/stderr. */
  cwd: string;
  logFile: string;
}

function spawnWeir(rt: WeirRuntime, args: string[], stdout: 'pipe' | 'log'): ChildProcess {
  const log = openSync(rt.logFile, 'a');
  const [cmd, argv] =
    rt.cpu === null
      ? [rt.node, [...rt.nodeFlags, rt.bundle, ...args]]
      : ['taskset', ['-c', String(rt.cpu), rt.node, ...rt.nodeFlags, rt.bundle, ...args]];
  const child = spawn(cmd, argv, {
    cwd: rt.cwd,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', stdout === 'pipe' ? 'pipe' : log, log],
  });
  child.on('error', () => {});
  return child;
}

/** The outcome of `weir validate -o json <dir>`. */
export interface ValidateResult {
  /** Spawn to exit, ms (or the timeout). */
  wallMs: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** `resources` of the JSON report, null when it could not be read. */
  resources: number | null;
  /** Diagnostics in the report (0 expected). */
  diagnostics: number | null;
}

/** Runs `weir validate -o json <dir>`; kills it after `timeoutMs`. Never rejects. */
export function runValidate(rt: WeirRuntime, dir: string, timeoutMs: number): Promise<ValidateResult> {
  const t0 = performance.now();
  const child = spawnWeir(rt, ['validate', '-o', 'json', dir], 'pipe');
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
  });
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stopPid(child.pid!, 2000);
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      let resources: number | null = null;
      let diagnostics: number | null = null;
      try {
        const report = JSON.parse(out) as { resources: number; diagnostics: unknown[] };
        resources = report.resources;
        diagnostics = report.diagnostics.length;
      } catch {}
      resolve({
        wallMs: timedOut ? timeoutMs : performance.now() - t0,
        exitCode: code,
        signal,
        timedOut,
        resources,
        diagnostics,
      });
    });
  });
}

/** A running `weir serve`. */
export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  proxyUrl: string;
  adminUrl: string;
  /** Spawn to the first 200 from admin `/ready`, ms; null when it did not become ready. */
  readyMs: number | null;
  /** Why it is not ready: `timeout`, or the exit code / signal. */
  failure: string | null;
}

/**
 * Spawns `weir serve -f <dir> --log-format off` on free loopback ports and polls admin `/ready` every 10 ms until it
 * answers 200, the process exits, or `timeoutMs` passes (then the process is stopped). Never rejects.
 */
export async function startServe(rt: WeirRuntime, dir: string, timeoutMs: number): Promise<ServeProcess> {
  const [listen, admin] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const child = spawnWeir(
    rt,
    ['serve', '-f', dir, '--listen', `127.0.0.1:${listen}`, '--admin', `127.0.0.1:${admin}`, '--log-format', 'off'],
    'log',
  );
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = signal ? `killed by ${signal}` : `exited with ${code}`;
  });
  const handle: ServeProcess = {
    child,
    pid: child.pid!,
    proxyUrl: `http://127.0.0.1:${listen}`,
    adminUrl: `http://127.0.0.1:${admin}`,
    readyMs: null,
    failure: null,
  };
  const deadline = t0 + timeoutMs;
  while (performance.now() < deadline) {
    if (exited) {
      handle.failure = exited;
      return handle;
    }
    const a = await get(`${handle.adminUrl}/ready`, { timeoutMs: Math.max(1, deadline - performance.now()) });
    if (a.status === 200) {
      handle.readyMs = a.endMs - t0;
      return handle;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  handle.failure = 'timeout';
  await stopServe(handle);
  return handle;
}

/** SIGTERM the serve process (exactly its pid), SIGKILL after 10 s. */
export async function stopServe(s: ServeProcess): Promise<void> {
  await stopPid(s.pid, 10_000);
}

/** VmRSS of a process in MB (null when it is gone). */
export function rssMb(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** The metrics the harness reads (each null when the exposition lacks it). */
export interface WeirMetrics {
  configVersion: number | null;
  reloadsOk: number | null;
  reloadsFailed: number | null;
  /** `weir_event_loop_delay_max_seconds` (max since start), seconds. */
  eventLoopDelayMaxS: number | null;
  /** `weir_event_loop_delay_seconds_bucket`: cumulative count per `le` (+Inf as Infinity), ascending. */
  eventLoopDelayBuckets: { le: number; count: number }[] | null;
  /** How long the scrape took, ms. */
  scrapeMs: number;
}

function sample(text: string, name: string, labels = ''): number | null {
  const re = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} ([^\\s]+)`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

/** Scrapes `/stats/prometheus` once (never rejects; all null on failure). */
export async function scrape(adminUrl: string, timeoutMs: number): Promise<WeirMetrics> {
  const t0 = performance.now();
  const a = await get(`${adminUrl}/stats/prometheus`, { timeoutMs });
  const text = a.status === 200 ? a.body : '';
  const buckets: { le: number; count: number }[] = [];
  for (const m of text.matchAll(/^weir_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) {
    buckets.push({ le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), count: Number(m[2]) });
  }
  buckets.sort((x, y) => x.le - y.le);
  return {
    configVersion: sample(text, 'weir_config_version'),
    reloadsOk: sample(text, 'weir_config_reloads_total', 'result="success"'),
    reloadsFailed: sample(text, 'weir_config_reloads_total', 'result="failure"'),
    eventLoopDelayMaxS: sample(text, 'weir_event_loop_delay_max_seconds'),
    eventLoopDelayBuckets: buckets.length > 0 ? buckets : null,
    scrapeMs: a.endMs - t0,
  };
}

/**
 * The largest event-loop delay recorded between two scrapes, from the histogram: the upper bound (`le`) of the
 * highest bucket whose count grew, in ms (0 when nothing was recorded, null when the metric is absent). A bucket
 * bound, so "≤ value".
 */
export function eventLoopDelayBetween(before: WeirMetrics, after: WeirMetrics): number | null {
  const a = before.eventLoopDelayBuckets;
  const b = after.eventLoopDelayBuckets;
  if (!a || !b || a.length !== b.length) return null;
  let top = 0;
  let prevA = 0;
  let prevB = 0;
  for (let i = 0; i < b.length; i++) {
    // Per-bucket (non-cumulative) growth.
    const grew = b[i]!.count - prevB - (a[i]!.count - prevA);
    if (grew > 0) top = b[i]!.le;
    prevA = a[i]!.count;
    prevB = b[i]!.count;
  }
  return top * 1000;
}
