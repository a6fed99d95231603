/**
 * `weir demo`: the article's canary patterns, live, on an embedded configuration (`examples/`) with real backends,
 * the real proxy and real HTTP traffic. Exit 0 when every check passes, 1 when one fails, 130 on Ctrl-C.
 */
import { DEMO_EXIT, runDemo } from '../../demo/run-demo.ts';
import { PATTERN_NAMES, type PatternName } from '../../demo/types.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { parseHostPort } from './serve.ts';

/** Options of `weir demo` as commander gives them. */
export interface DemoCommandOptions {
  duration: string;
  rps: string;
  pattern: string;
  keep: boolean;
  listen?: string;
  admin?: string;
}

/** Longest `--duration`, seconds (keeps every load loop bounded). */
export const MAX_DURATION_S = 60;
/** Highest `--rps`. */
export const MAX_RPS = 2000;

/** Validates the flags. @throws CliError (exit 64). */
export function parseDemoOptions(o: DemoCommandOptions): {
  durationMs: number;
  rps: number;
  pattern: PatternName | 'all';
  keep: boolean;
  listen: string | null;
  admin: string | null;
} {
  const duration = Number(o.duration);
  if (!Number.isFinite(duration) || duration < 0.2 || duration > MAX_DURATION_S)
    throw new CliError(`--duration: expected seconds in 0.2..${MAX_DURATION_S}, got "${o.duration}"`, EXIT.USAGE);
  const rps = Number(o.rps);
  if (!Number.isInteger(rps) || rps < 1 || rps > MAX_RPS)
    throw new CliError(`--rps: expected an integer in 1..${MAX_RPS}, got "${o.rps}"`, EXIT.USAGE);
  if (o.pattern !== 'all' && !(PATTERN_NAMES as readonly string[]).includes(o.pattern))
    throw new CliError(`--pattern: expected one of ${PATTERN_NAMES.join(', ')}, all; got "${o.pattern}"`, EXIT.USAGE);
  for (const [flag, v] of [
    ['--listen', o.listen],
    ['--admin', o.admin],
  ] as const) {
    if (v === undefined) continue;
    const { host } = parseHostPort(v, flag);
    if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host))
      throw new CliError(`${flag}: the demo only uses loopback addresses, got "${v}"`, EXIT.USAGE);
  }
  return {
    durationMs: Math.round(duration * 1000),
    rps,
    pattern: o.pattern as PatternName | 'all',
    keep: o.keep,
    listen: o.listen ?? null,
    admin: o.admin ?? null,
  };
}

/** Runs `weir demo`; returns the exit code. */
export async function runDemoCommand(o: DemoCommandOptions): Promise<number> {
  const code = await runDemo(parseDemoOptions(o));
  return code === DEMO_EXIT.OK ? EXIT.OK : code;
}
