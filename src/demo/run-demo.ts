/**
 * `weir demo`: starts checkout-service v1 and v2, the proxy on `examples/`, and drives real HTTP traffic through it
 * to show each pattern of the article working, with a live per-subset table and a ✓/✗ summary. Owns everything it
 * starts and closes it (also on Ctrl-C); only loopback addresses are used, and every load loop is bounded.
 */
import { relative } from 'node:path';
import { loadSnapshot } from '../config/snapshot.ts';
import { type DemoEnvironment, defaultExamplesDir, EXAMPLE_PORTS, startEnvironment } from './environment.ts';
import { QA_TOOLS_ADDRESS } from './http-client.ts';
import { LiveView, type ViewStream } from './live-view.ts';
import { PATTERNS } from './patterns/index.ts';
import type { DemoContext, PatternName, PatternResult } from './types.ts';
import { PATTERN_NAMES, serviceHost } from './types.ts';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Traffic time per pattern, ms (default 3000). */
  durationMs: number;
  /** Requests per second per pattern (default 200). */
  rps: number;
  /** One pattern or all of them. */
  pattern: PatternName | 'all';
  /** Keep proxy and backends running after the run, until SIGINT/SIGTERM. */
  keep: boolean;
  /** Fixed `host:port` for the proxy listener / admin; null = 127.0.0.1:15001 / :15000 if free, else ephemeral. */
  listen: string | null;
  admin: string | null;
  /** Where to write (default stdout). */
  out?: ViewStream;
  /** The examples folder (default: the one shipped with weir). */
  examplesDir?: string;
  /** Most requests in flight per request class (default 64). */
  concurrency?: number;
}

/** Exit codes of the demo. */
export const DEMO_EXIT = {
  /** Every check passed (skipped patterns aside). */
  OK: 0,
  /** At least one check failed. */
  CHECK_FAILED: 1,
  /** Interrupted with Ctrl-C before the end. */
  INTERRUPTED: 130,
} as const;

const TITLE = 'Advanced Istio Traffic Shaping for Production Canary Deployments';

function display(path: string): string {
  const r = relative(process.cwd(), path);
  return r === '' ? '.' : r.startsWith('..') ? path : r;
}

/** Ready-to-paste commands for `--keep`. */
export function curlCommands(env: DemoEnvironment): string[] {
  const p = env.proxyUrl;
  const h = (ns: string): string => `-H 'Host: ${serviceHost(ns)}'`;
  const v2 = env.backends.v2.url;
  const lines = [
    `# 1 composite: the header sends you to v2, without it 95/5`,
    `curl -sw '\\n' ${h('composite')} -H 'x-canary-user: true' ${p}/`,
    `curl -sw '\\n' ${h('composite')} ${p}/`,
    `# 1 source labels: from the qa-tools address you get v2, from 127.0.0.1 v1`,
    `curl -sw '\\n' --interface ${QA_TOOLS_ADDRESS} ${h('source-labels')} ${p}/`,
    `curl -sw '\\n' ${h('source-labels')} ${p}/`,
    `# 2 mirroring: always v1; then see what v2 received (the -shadow Host)`,
    `curl -sw '\\n' ${h('mirroring')} ${p}/`,
    `curl -s '${v2}/__weir_backend/stats?recent=0'; echo`,
    `# 3A affinity: same session-id, yet v1 and v2 alternate (WEIR0010)`,
    `curl -sw '\\n' ${h('affinity')} -H 'session-id: alice' ${p}/`,
    `# 3B per-group: slow v2 down to 1.5 s, then a beta tester gets 504 after 1 s`,
    `curl -s -XPOST ${v2}/__weir_backend/configure -d '{"latencyMs":1500}'; echo`,
    `curl -sw '\\n' ${h('per-group')} -H 'user-group: beta-testers' ${p}/`,
    `curl -s -XPOST ${v2}/__weir_backend/configure -d '{"latencyMs":0}'; echo`,
    `# 3B the mistake: route[1] is never used`,
    `curl -sw '\\n' ${h('common-mistake')} ${p}/`,
    `# resilience: 30 % of these get the proxy's own 500 (FI); jason waits 1 s (DI); slow v2 → 504 UT after 0.5 s`,
    `curl -sw '\\n' ${h('resilience')} -H 'x-step: faults' ${p}/`,
    `curl -sw '\\n' ${h('resilience')} -H 'end-user: jason' ${p}/`,
    `curl -s -XPOST ${v2}/__weir_backend/configure -d '{"latencyMs":2000}'; echo`,
    `curl -sw '\\n' ${h('resilience')} -H 'x-step: timeout' ${p}/`,
    `curl -s -XPOST ${v2}/__weir_backend/configure -d '{"latencyMs":0}'; echo`,
  ];
  if (env.adminUrl) {
    lines.push(
      `# the proxy's admin port: Istio's metrics (the article's dashboards query these)`,
      `curl -s ${env.adminUrl}/stats/prometheus | grep '^istio_requests_total'`,
      `curl -s ${env.adminUrl}/clusters`,
    );
  }
  return lines;
}

async function runPattern(ctx: DemoContext, name: PatternName, index: number, total: number): Promise<PatternResult> {
  const spec = PATTERNS[name];
  const { view } = ctx;
  view.heading(`${index}/${total} ${spec.title} · namespace ${name}`);
  view.print(view.dim(`  ${display(ctx.examplesDir)}/${spec.folder}: ${spec.summary}`), '');
  ctx.env.backends.v1.reset();
  ctx.env.backends.v2.reset();
  ctx.env.tap.resetHost(serviceHost(name));
  const t0 = performance.now();
  let result: PatternResult;
  try {
    const r = await spec.run(ctx);
    result = {
      pattern: name,
      title: spec.title,
      checks: r.checks,
      skipped: r.skipped ?? null,
      elapsedMs: performance.now() - t0,
    };
  } catch (err) {
    result = {
      pattern: name,
      title: spec.title,
      checks: [{ label: 'the pattern ran', ok: false, observed: (err as Error).message }],
      skipped: null,
      elapsedMs: performance.now() - t0,
    };
  }
  view.print('');
  if (result.skipped) view.print(`  ⚠ skipped: ${result.skipped}`);
  for (const c of result.checks) view.print(`  ${c.ok ? '✓' : '✗'} ${c.label}  ${view.dim(`— ${c.observed}`)}`);
  return result;
}

function isPassed(r: PatternResult): boolean {
  return r.skipped === null && r.checks.length > 0 && r.checks.every((c) => c.ok);
}

/** Prints the summary; returns true when no pattern failed. */
function printSummary(
  view: LiveView,
  results: readonly PatternResult[],
  elapsedMs: number,
  interrupted: boolean,
): boolean {
  view.heading('Summary');
  const width = Math.max(...results.map((r) => r.pattern.length));
  for (const r of results) {
    const passed = r.checks.filter((c) => c.ok).length;
    const markText = r.skipped ? '⚠' : isPassed(r) ? '✓' : '✗';
    const state = r.skipped ? `skipped: ${r.skipped}` : `${passed}/${r.checks.length} checks passed`;
    view.print(
      `  ${markText} ${r.pattern.padEnd(width)}  ${r.title.padEnd(20)} ${state}  ${view.dim(`(${(r.elapsedMs / 1000).toFixed(1)} s)`)}`,
    );
    for (const c of r.checks) if (!c.ok) view.print(`      ✗ ${c.label}: ${c.observed}`);
  }
  const failed = results.filter((r) => !r.skipped && !isPassed(r)).length;
  const skipped = results.filter((r) => r.skipped).length;
  const ran = results.length - skipped;
  const secs = `${(elapsedMs / 1000).toFixed(1)} s`;
  view.print('');
  if (interrupted) view.print(`  interrupted after ${secs}`);
  else if (failed === 0)
    view.print(`  ✓ ${ran}/${ran} patterns passed in ${secs}${skipped ? ` (${skipped} skipped)` : ''}`);
  else view.print(`  ✗ ${failed} of ${ran} patterns failed (${secs})`);
  return failed === 0;
}

/** Runs the demo; resolves with the exit code ({@link DEMO_EXIT}). */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const view = new LiveView(out);
  const examplesDir = opts.examplesDir ?? defaultExamplesDir();
  const names = opts.pattern === 'all' ? [...PATTERN_NAMES] : [opts.pattern];
  const abort = new AbortController();
  const t0 = performance.now();
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    abort.abort();
    view.showCursor();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const restoreCursor = (): void => view.showCursor();
  process.once('exit', restoreCursor);
  let env: DemoEnvironment | null = null;
  try {
    view.print(view.bold(`weir demo · the patterns of “${TITLE}”, with real traffic`));
    const validation = await loadSnapshot([examplesDir], { defaultNamespace: 'default' });
    env = await startEnvironment({ examplesDir, listen: opts.listen, admin: opts.admin, watch: opts.keep });
    const { v1, v2 } = env.backends;
    view.print(
      `  backends  checkout-service v1 ${v1.url}  ·  v2 ${v2.url}`,
      `  proxy     ${env.proxyUrl}${env.adminUrl ? `  (admin ${env.adminUrl})` : ''}, reading ${display(examplesDir)}/ (${validation.resourceCount} resources)`,
      `  traffic   ${opts.rps} req/s for ${(opts.durationMs / 1000).toFixed(1)} s per pattern; ✓ = as the article says (shares within 5σ)`,
    );
    if (env.portsSubstituted) {
      const busy = [
        v1.port !== EXAMPLE_PORTS.v1 ? EXAMPLE_PORTS.v1 : null,
        v2.port !== EXAMPLE_PORTS.v2 ? EXAMPLE_PORTS.v2 : null,
      ]
        .filter((p) => p !== null)
        .join(' and ');
      view.print(
        `  ⚠ port ${busy} taken: the proxy reads a copy of the examples with the ports above (${env.configDir})`,
      );
    }
    const ctx: DemoContext = {
      env,
      view,
      load: { durationMs: opts.durationMs, rps: opts.rps, concurrency: opts.concurrency ?? 64 },
      examplesDir,
      diagnostics: validation.diagnostics,
      signal: abort.signal,
    };
    const results: PatternResult[] = [];
    for (const [i, name] of names.entries()) {
      if (abort.signal.aborted) break;
      results.push(await runPattern(ctx, name, i + 1, names.length));
    }
    const ok = printSummary(view, results, performance.now() - t0, interrupted);
    if (opts.keep && !interrupted) {
      view.heading('Still running (--keep): Ctrl-C to stop');
      view.print(...curlCommands(env).map((l) => (l.startsWith('#') ? view.dim(`  ${l}`) : `  ${l}`)));
      view.print('', view.dim('  access log (Istio default format) follows:'));
      env.accessLogToStdout = true;
      await new Promise<void>((resolve) => {
        if (abort.signal.aborted) resolve();
        abort.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      return ok ? DEMO_EXIT.OK : DEMO_EXIT.CHECK_FAILED;
    }
    if (interrupted) return DEMO_EXIT.INTERRUPTED;
    return ok ? DEMO_EXIT.OK : DEMO_EXIT.CHECK_FAILED;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', restoreCursor);
    view.showCursor();
    await env?.close();
  }
}
