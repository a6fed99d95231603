/**
 * Building blocks shared by the patterns: run request classes ("lanes") in parallel under one live frame, format
 * per-subset cells, and turn observed counts into checks (exact routing, or a share inside its 5-sigma band).
 */
import type { Agent } from 'undici';
import { type RequestOutcome, sendRequest } from './http-client.ts';
import { progressBar } from './live-view.ts';
import { runLoad } from './load.ts';
import { binomialBand, formatBand, formatPercent, isWithinBand } from './stats.ts';
import type { ClassTally } from './tally.ts';
import type { Check, DemoContext } from './types.ts';

/** One request class driven at a share of the pattern's rate. */
export interface Lane {
  tally: ClassTally;
  dispatcher: Agent;
  /** Request headers (Host included) for request number `seq`. */
  headers(seq: number): Record<string, string>;
  /** Fraction of the pattern's rps for this lane. */
  share: number;
  /** Called with every outcome (after the tally counted it). */
  onOutcome?(seq: number, o: RequestOutcome, headers: Record<string, string>): void;
}

/** How a pattern shows its progress. */
export interface FrameSpec {
  /** The table (and notes) as lines; called ten times a second on a TTY and once at the end. */
  render(): string[];
  /** One plain line for non-TTY progress output. */
  progress(): string;
}

/** The progress bar of the phase being driven: `▕████░░░░▏ 1.2 s / 3.0 s  812 requests`. */
export class PhaseProgress {
  private t0 = 0;
  private durationMs = 0;
  private running = false;
  private endedAt = 0;
  private label = '';
  private sent: () => number = () => 0;

  /** Starts a phase of `durationMs`; `sent` counts its requests so far. */
  begin(label: string, durationMs: number, sent: () => number): void {
    this.t0 = performance.now();
    this.durationMs = durationMs;
    this.label = label;
    this.sent = sent;
    this.running = true;
  }

  /** Marks the phase done (the bar stops where it was: full unless interrupted). */
  end(): void {
    this.running = false;
    this.endedAt = performance.now();
  }

  /** The line to show under the table. */
  line(): string {
    const since = performance.now() - this.t0;
    const elapsed = Math.min(this.durationMs, this.running ? since : this.endedAt - this.t0);
    const extra = this.running && since > this.durationMs ? '  waiting for the requests in flight' : '';
    const label = this.label ? `${this.label}  ` : '';
    return `  ${label}${progressBar(elapsed, this.durationMs)}  ${this.sent()} requests${extra}`;
  }
}

/** Runs `fn` under one live frame showing `spec.render()` (and, on a TTY, the progress line). */
export async function withLiveFrame<T>(
  ctx: DemoContext,
  spec: FrameSpec,
  progress: PhaseProgress,
  fn: () => Promise<T>,
): Promise<T> {
  const live = ctx.view.start(
    () => [...spec.render(), '', progress.line()],
    () => spec.progress(),
  );
  try {
    return await fn();
  } finally {
    live.stop([...spec.render(), '', progress.line()]);
  }
}

/**
 * Drives every lane for `durationMs` (in parallel, each at its share of the rate), then waits (≤ 2 s) for the
 * proxy to report the last requests, so proxy-side counters are complete when the checks run; then `settle`.
 */
export async function driveLanes(
  ctx: DemoContext,
  lanes: readonly Lane[],
  durationMs: number,
  opts: { progress?: PhaseProgress; label?: string; settle?: () => Promise<void> } = {},
): Promise<void> {
  opts.progress?.begin(opts.label ?? '', durationMs, () => lanes.reduce((s, l) => s + l.tally.requests, 0));
  try {
    await Promise.all(
      lanes.map((lane) =>
        runLoad(
          {
            durationMs,
            rps: Math.max(1, ctx.load.rps * lane.share),
            concurrency: ctx.load.concurrency,
            signal: ctx.signal,
          },
          async (seq) => {
            const headers = lane.headers(seq);
            const o = await sendRequest(lane.dispatcher, ctx.env.proxyUrl, headers);
            lane.tally.add(o);
            lane.onOutcome?.(seq, o, headers);
          },
        ),
      ),
    );
    await settleProxy(ctx);
    await opts.settle?.();
  } finally {
    opts.progress?.end();
  }
}

/** One live frame around one driven phase: the common case. */
export async function runPhase(
  ctx: DemoContext,
  lanes: readonly Lane[],
  durationMs: number,
  spec: FrameSpec & { settle?: () => Promise<void> },
): Promise<void> {
  const progress = new PhaseProgress();
  await withLiveFrame(ctx, spec, progress, () =>
    driveLanes(ctx, lanes, durationMs, { progress, ...(spec.settle ? { settle: spec.settle } : {}) }),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the proxy has no request in flight (its records are then complete), at most `limitMs`. */
export async function settleProxy(ctx: DemoContext, limitMs = 2000): Promise<void> {
  const end = performance.now() + limitMs;
  while (ctx.env.serve.proxy.activeRequests() > 0 && performance.now() < end) await sleep(10);
  await sleep(20);
}

/** `455  94.8 %` for answers of `version` in a class. */
export function subsetCell(t: ClassTally, version: string): string {
  const n = t.version(version);
  return `${n}  ${formatPercent(n, t.requests).padStart(7)}`;
}

/** Non-2xx answers of a class (`0`, or `504×12`). */
export function failureCell(t: ClassTally): string {
  if (t.failed === 0) return '0';
  return [...t.byStatus.entries()]
    .filter(([s]) => s < 200 || s >= 300)
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s === 0 ? 'none' : s}×${n}`)
    .join(' ');
}

/** ✓, ✗, or … while nothing has been observed yet. */
export function mark(ok: boolean, n: number): string {
  return n === 0 ? '…' : ok ? '✓' : '✗';
}

/**
 * Checks that every request of `t` got a 2xx answer from `version` (what a 100 % route promises).
 */
export function allOnCheck(label: string, t: ClassTally, version: string): Check {
  const n = t.version(version);
  const ok = t.requests > 0 && n === t.requests && t.failed === 0;
  const fails = t.failed > 0 ? `, ${failureCell(t)}` : '';
  return { label, ok, observed: `${n}/${t.requests} answered by ${version}${fails}` };
}

/**
 * Checks that the share of `t` answered by `version` lies in the 5-sigma band of `p` and that every request got
 * a 2xx answer.
 */
export function shareCheck(label: string, t: ClassTally, version: string, p: number): Check {
  const n = t.version(version);
  const band = binomialBand(t.requests, p);
  const ok = isWithinBand(n, t.requests, p) && t.failed === 0;
  const fails = t.failed > 0 ? `, ${failureCell(t)}` : '';
  return {
    label,
    ok,
    observed: `${version} ${formatPercent(n, t.requests)} of ${t.requests} (5σ band ${formatBand(band)})${fails}`,
  };
}

/** Columns of the per-subset table every routing pattern shows (the ✓ first, so a narrow terminal keeps it). */
export const SUBSET_HEAD = ['', 'request class', 'requests', 'v1', 'v2', 'errors', 'expected v2', '5σ band'];
/** Their alignment. */
export const SUBSET_ALIGN = ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'] as const;

/** One per-subset table row for a class expected to send a share `pV2` to v2 (0 or 1 for exact routing). */
export function subsetRow(t: ClassTally, pV2: number): string[] {
  const check = pV2 === 1 || pV2 === 0 ? allOnCheck('', t, pV2 === 1 ? 'v2' : 'v1') : shareCheck('', t, 'v2', pV2);
  const band = t.requests > 0 ? formatBand(binomialBand(t.requests, pV2)) : '–';
  return [
    mark(check.ok, t.requests),
    t.label,
    String(t.requests),
    subsetCell(t, 'v1'),
    subsetCell(t, 'v2'),
    failureCell(t),
    `${Math.round(pV2 * 100)} %`,
    band,
  ];
}

/** `label n → v1 x % v2 y %` for non-TTY progress lines. */
export function progressOf(t: ClassTally): string {
  return `${t.label}: ${t.requests} → v1 ${formatPercent(t.version('v1'), t.requests)}, v2 ${formatPercent(t.version('v2'), t.requests)}${t.failed ? `, errors ${t.failed}` : ''}`;
}
