/**
 * Shared vocabulary of `weir demo`: the article patterns, the checks each one makes, and the context a pattern runs
 * in (the proxy, the two backends, the HTTP clients, the live view). Data only; no I/O here.
 */
import type { Diagnostic } from '../config/diagnostics.ts';
import type { DemoEnvironment } from './environment.ts';
import type { LiveView } from './live-view.ts';

/** The article patterns, in the order the demo runs them. */
export const PATTERN_NAMES = [
  'composite',
  'source-labels',
  'mirroring',
  'affinity',
  'per-group',
  'common-mistake',
  'resilience',
  'rollout',
] as const;

/** One article pattern (also its namespace in `examples/`). */
export type PatternName = (typeof PATTERN_NAMES)[number];

/** One verified statement about what the proxy did. */
export interface Check {
  /** What was expected, in a few words (`x-canary-user: true → v2 100 %`). */
  label: string;
  ok: boolean;
  /** What was observed (`200/200 on v2`). */
  observed: string;
}

/** What a pattern found. `skipped` (with the reason) when it could not run on this machine; skips do not fail. */
export interface PatternResult {
  pattern: PatternName;
  title: string;
  checks: Check[];
  skipped: string | null;
  /** Wall-clock time the pattern took, ms. */
  elapsedMs: number;
}

/** Load settings for one pattern. */
export interface LoadSettings {
  /** Traffic time per pattern, ms (multi-phase patterns split it, at least 1 s per phase). */
  durationMs: number;
  /** Requests per second, summed over a pattern's request classes. */
  rps: number;
  /** Most requests in flight per request class. */
  concurrency: number;
}

/** Everything a pattern needs; owned by the demo run, which closes it. */
export interface DemoContext {
  /** Proxy, backends, clients and tap. */
  env: DemoEnvironment;
  view: LiveView;
  load: LoadSettings;
  /** The examples folder the user sees (for messages); the proxy may read a temporary copy (`env.configDir`). */
  examplesDir: string;
  /** What `weir validate examples/` reports (the same `loadSnapshot` pipeline). */
  diagnostics: readonly Diagnostic[];
  /** Aborted on Ctrl-C: load loops stop issuing requests. */
  signal: AbortSignal;
}

/** One article pattern as the demo runs it. */
export interface PatternSpec {
  name: PatternName;
  /** Short title (`Composite routing`). */
  title: string;
  /** Folder under `examples/`. */
  folder: string;
  /** One line: what the configuration says. */
  summary: string;
  /** Drives traffic and returns the checks, or a reason to skip. */
  run(ctx: DemoContext): Promise<{ checks: Check[]; skipped?: string }>;
}

/** The FQDN of checkout-service in a pattern's namespace. */
export function serviceHost(namespace: string): string {
  return `checkout-service.${namespace}.svc.cluster.local`;
}
