/**
 * `weir rollout simulate -f canary.yaml --rps N --errors p1,p2 [--latency-ms p50,p50] [--runs N] [--seed N]
 * [--max-duration D]`: the Canary's analysis (ladder, interval, metrics, α, θ₀, maxDuration) judged by the sequential
 * rule of `sequential-canary.md` and by Flagger's fixed-threshold rule on the same synthetic traffic, many seeded
 * runs (`rollout/simulate.ts`). Prints time to decision, the error rate that matters for this traffic (false rollbacks
 * of a healthy canary, or missed regressions of a worse one), user exposure, and a preflight warning when the traffic
 * is too low to decide within maxDuration. Exit 0, or 64 for bad usage or an invalid Canary.
 */
import { stat } from 'node:fs/promises';
import type { Diagnostic } from '../../config/diagnostics.ts';
import { loadPaths } from '../../config/load.ts';
import { type Canary, toResources } from '../../config/resources.ts';
import { validateResource } from '../../config/validate/index.ts';
import type { CanaryAnalysis } from '../../config/weir/canary.ts';
import { canaryLadder, sequentialPolicyOf } from '../../rollout/plan.ts';
import {
  type FlaggerModel,
  primaryThresholdsMs,
  type RuleSummary,
  type Scenario,
  simulateCell,
  type VersionModel,
} from '../../rollout/simulate.ts';
import {
  DEFAULT_SEQUENTIAL_POLICY,
  defaultMaxDurationMs,
  type SequentialPolicy,
  validateSequentialPolicy,
} from '../../rollout/stats/index.ts';
import { formatDurationMs, parseDurationMs } from '../../util/duration.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { formatDiagnosticLine } from '../output.ts';

/** Options of `weir rollout simulate`, as typed on the command line. */
export interface RolloutSimulateOptions {
  filename: string;
  rps: string;
  errors: string;
  latencyMs?: string;
  runs?: string;
  seed?: string;
  maxDuration?: string;
}

/** The §4.1 latency shape: lognormal with σ = 0.6 around the given median. */
const LATENCY_SIGMA = 0.6;
/** Default seed: the design's (§4.1). */
const DEFAULT_SEED = 20240601;
/** Default runs at maxDuration ≤ 30 min (about 8 s at 1 rps, where every run lasts to the horizon). */
const DEFAULT_RUNS = 200;
/** The preflight warns when fewer runs than this share decide within maxDuration (the median run is inconclusive). */
const PREFLIGHT_DECIDED_SHARE = 0.5;

/** The Canary's analysis turned into simulator inputs. */
export interface SimulationPlan {
  /** Canary weights per step as fractions, ending at 1 (promotion). */
  ladder: number[];
  stepMs: number;
  maxDurationMs: number;
  policy: SequentialPolicy;
  flagger: FlaggerModel;
}

const usage = (message: string): CliError => new CliError(message, EXIT.USAGE);

function parseFraction(text: string, what: string): number {
  const v = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(v) || v < 0 || v >= 1) {
    throw usage(`${what}: expected a fraction in [0, 1), e.g. 0.005 for 0.5 %; got ${JSON.stringify(text)}`);
  }
  return v;
}

function parsePositive(text: string, what: string, integer: boolean): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw usage(`${what}: expected a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
  }
  return v;
}

function parsePair(text: string, what: string, parse: (s: string, w: string) => number): [number, number] {
  const parts = text.split(',');
  if (parts.length !== 2) throw usage(`${what}: expected two values "primary,canary", got ${JSON.stringify(text)}`);
  return [parse(parts[0]!, `${what} (primary)`), parse(parts[1]!, `${what} (canary)`)];
}

function parseDuration(text: string, what: string): number {
  const ms = parseDurationMs(text);
  if (ms === null || !(ms >= 1000)) throw usage(`${what}: expected a duration of at least 1s, e.g. 30m; got ${text}`);
  return ms;
}

/** The sequential policy and Flagger's model from a Canary's analysis, for a primary with `primary`'s latency. */
export function planFromCanary(
  a: CanaryAnalysis,
  primary: VersionModel,
  maxDurationOverrideMs?: number,
): SimulationPlan {
  const ladder = canaryLadder(a);
  if (ladder === null) {
    throw usage('the Canary has no weighted steps (stepWeight or stepWeights); simulate judges weight steps only');
  }
  const base = DEFAULT_SEQUENTIAL_POLICY;
  const stepMs = a.interval !== undefined ? (parseDurationMs(a.interval) ?? base.dwellMs) : base.dwellMs;
  const threshold = a.threshold ?? 5;
  const maxDurationMs =
    maxDurationOverrideMs ??
    (a.maxDuration !== undefined ? parseDurationMs(a.maxDuration) : null) ??
    defaultMaxDurationMs(stepMs, ladder.length, threshold);
  const {
    policy,
    successMin,
    latencySloMs: p99Max,
  } = sequentialPolicyOf(a, stepMs, maxDurationMs, primaryThresholdsMs(primary));
  const problems = validateSequentialPolicy(policy);
  if (problems.length > 0) throw usage(`the Canary's analysis is not usable: ${problems.join('; ')}`);
  return {
    ladder,
    stepMs,
    maxDurationMs,
    policy,
    flagger: { threshold, successRateMin: successMin ?? 0, p99MaxMs: p99Max ?? null },
  };
}

/**
 * Reads the one Canary in `file` (resources without a namespace get `namespace`, default `default`). Invalid ones end
 * the command with their diagnostics (exit 64); warnings (unknown fields, WEIR0002) are printed to stderr.
 */
export async function readCanary(file: string, namespace?: string): Promise<Canary> {
  let isFile = false;
  try {
    isFile = (await stat(file)).isFile();
  } catch {
    throw usage(`${file}: no such file (give the Canary's YAML file with -f)`);
  }
  if (!isFile)
    throw usage(`${file}: a directory; give the Canary's YAML file with -f (its .weir/ state lives beside it)`);
  const loaded = await loadPaths([file]);
  const typed = toResources(loaded.documents, namespace ? { defaultNamespace: namespace } : {});
  const diags: Diagnostic[] = [...loaded.diagnostics, ...typed.diagnostics];
  const canaries = typed.resources.filter((r): r is Canary => r.kind === 'Canary');
  for (const c of canaries) diags.push(...validateResource(c));
  const errors = diags.filter((d) => d.level === 'error');
  if (errors.length > 0) {
    for (const d of errors) process.stderr.write(`${formatDiagnosticLine(d)}\n`);
    throw usage(`${file}: the Canary is invalid (run weir validate ${file})`);
  }
  for (const d of diags) if (d.level === 'warning') process.stderr.write(`${formatDiagnosticLine(d)}\n`);
  if (canaries.length !== 1) {
    const kinds = loaded.documents
      .map((d) => d.value as { apiVersion?: unknown; kind?: unknown } | null)
      .filter((v) => v !== null && typeof v === 'object')
      .map((v) => `${String(v!.apiVersion)}/${String(v!.kind)}`);
    const hint =
      canaries.length === 0 && kinds.length > 0
        ? ` (found ${kinds.join(', ')}; weir reads kind: Canary with apiVersion: weir.dev/v1alpha1 — a Flagger Canary moves over by changing apiVersion and targetRef to the VirtualService)`
        : '';
    throw usage(`${file}: expected exactly one Canary (weir.dev/v1alpha1), found ${canaries.length}${hint}`);
  }
  return canaries[0]!;
}

const pct = (k: number, n: number): string => `${((100 * k) / n).toFixed(1)} %`;
const minutes = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 60_000).toFixed(1)} min` : '–');

/** The q-quantile (nearest rank) of ascending values; NaN when empty. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Runs the command; returns the exit code. */
export async function runRolloutSimulate(o: RolloutSimulateOptions): Promise<number> {
  const rps = parsePositive(o.rps, '--rps', false);
  // The simulator draws every simulated second; beyond this a run takes minutes and says nothing new (§4 stops at 100).
  if (rps > 100_000) throw usage(`--rps: at most 100000 (the design's table stops at 100), got ${o.rps}`);
  const [p1, p2] = parsePair(o.errors, '--errors', parseFraction);
  const [l1, l2] = o.latencyMs
    ? parsePair(o.latencyMs, '--latency-ms', (s, w) => parsePositive(s, w, false))
    : [100, 100];
  const seed =
    o.seed === undefined || o.seed === '0' ? Number(o.seed ?? DEFAULT_SEED) : parsePositive(o.seed, '--seed', true);
  const maxOverride = o.maxDuration !== undefined ? parseDuration(o.maxDuration, '--max-duration') : undefined;
  const canary = await readCanary(o.filename);
  const primary: VersionModel = { errorRate: p1, latencyMedianMs: l1, latencySigma: LATENCY_SIGMA };
  const canaryModel: VersionModel = { errorRate: p2, latencyMedianMs: l2, latencySigma: LATENCY_SIGMA };
  const plan = planFromCanary(canary.spec.analysis ?? {}, primary, maxOverride);
  // Runs that never decide last the whole horizon, so scale the default down for long horizons (bounded runtime).
  const runs =
    o.runs !== undefined
      ? parsePositive(o.runs, '--runs', true)
      : Math.max(20, Math.min(DEFAULT_RUNS, Math.floor((DEFAULT_RUNS * 30 * 60_000) / plan.maxDurationMs)));

  const scenario: Scenario = { key: 'cli', description: 'command line', primary, canary: canaryModel };
  const cell = simulateCell({
    scenario,
    rps,
    runs,
    seed,
    ladder: plan.ladder,
    stepMs: plan.stepMs,
    maxDurationMs: plan.maxDurationMs,
    policy: plan.policy,
    flagger: plan.flagger,
  });

  const theta = p1 > 0 ? p2 / p1 : p2 > 0 ? Number.POSITIVE_INFINITY : 1;
  const healthy = theta <= plan.policy.tolerance && l2 <= l1;
  const out: string[] = [];
  const ladder = plan.ladder.map((w) => `${Math.round(w * 100)}`).join(' → ');
  out.push(
    `Canary ${canary.namespace}/${canary.name}: steps ${ladder} %, interval ${fmtDuration(plan.stepMs)}, ` +
      `maxDuration ${fmtDuration(plan.maxDurationMs)}, α ${plan.policy.alphaRollback}, tolerance ${plan.policy.tolerance}`,
  );
  out.push(
    `Traffic: ${rps} rps; errors primary ${(p1 * 100).toFixed(2)} %, canary ${(p2 * 100).toFixed(2)} %; ` +
      `latency p50 primary ${l1} ms, canary ${l2} ms; ${runs} runs, seed ${seed}`,
  );
  const rateLabel = healthy ? 'false rollback' : 'missed regression';
  if (healthy) {
    out.push(
      `The canary is healthy (errors ${fmtRatio(theta)} the primary's, within tolerance ${plan.policy.tolerance}×): a rollback is a false rollback.`,
    );
  } else {
    const grey = theta < plan.policy.margin && l2 <= l1;
    out.push(
      `The canary is worse (errors ${fmtRatio(theta)} the primary's${l2 > l1 ? `, latency ${fmtRatio(l2 / l1)}` : ''}): a promotion is a missed regression.` +
        (grey
          ? ` It lies between the tolerance ${plan.policy.tolerance}× and the not-worse margin ${plan.policy.margin}×, where neither guarantee applies.`
          : ''),
    );
  }
  const seq = cell.sequential!;
  const decided = seq.rollbacks + seq.promotions;
  if (decided < PREFLIGHT_DECIDED_SHARE * seq.runs) {
    out.push(
      `warning: at ${rps} rps only ${pct(decided, seq.runs)} of runs decide within ${fmtDuration(plan.maxDurationMs)}; ` +
        `expect INCONCLUSIVE (onInconclusive: ${plan.policy.onInconclusive}). ` +
        'Lengthen maxDuration, add load, or accept SLO-only judgement.',
    );
  }
  out.push('');
  out.push(
    `| rule | rollback | promote | inconclusive | ${rateLabel} | median to decision | p90 to decision | canary requests (median) |`,
  );
  out.push('|---|---|---|---|---|---|---|---|');
  const row = (name: string, s: RuleSummary): string =>
    `| ${name} | ${pct(s.rollbacks, s.runs)} | ${pct(s.promotions, s.runs)} | ${pct(s.inconclusive, s.runs)} | ` +
    `${pct(healthy ? s.rollbacks : s.promotions, s.runs)} | ${minutes(s.medianDecisionMs)} | ` +
    `${minutes(quantile(s.decisionTimesMs, 0.9))} | ${Math.round(s.medianCanaryRequests)} |`;
  out.push(row('weir (sequential)', seq));
  out.push(row('Flagger (fixed threshold)', cell.flagger!));
  out.push('');
  out.push(
    'Times are over decided runs; inconclusive runs end at maxDuration. Flagger: canary-only checks per interval, ' +
      `rollback after ${plan.flagger.threshold} failed checks.`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.OK;
}

/** `30m`, `1h`, `90s`: the largest whole unit. */
function fmtDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return formatDurationMs(ms);
}

function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '∞×';
}
