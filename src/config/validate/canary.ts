/**
 * The semantic rules of weir's `Canary` resource (`config/weir/canary.ts`), reported as `WEIR0020` errors at the
 * offending field: the target, host and subsets; durations; the weight ladder (Flagger's `stepWeight` xor
 * `stepWeights`, `maxWeight`); metrics (built-in names or a custom query, `thresholdRange`); webhooks (Flagger's types,
 * absolute http(s) URLs, retries ≥ 0); weir's sequential parameters (α, tolerance θ₀ ≥ 1 below the margin θ_m,
 * minRequestsPerStep ≥ 0); and `routes` (non-empty, unique, not weir's own match route). That the VirtualService, its
 * host, routes and the subsets exist is checked across resources by `config/analyze/canary.ts` (IST0101).
 */
import { CODES } from '../diagnostics.ts';
import type { Canary } from '../resources.ts';
import { BUILTIN_METRICS, type CanaryAnalysis, WEBHOOK_TYPES } from '../weir/canary.ts';
import { CANARY_MATCH_ROUTE } from '../weir/canary-routes.ts';
import { durationError, durationNanos, type Path, q, validateFQDN, validateSubsetName } from './common.ts';
import type { Report } from './report.ts';
import { checkMatchRequests } from './virtual-service.ts';

const CODE = { code: CODES.WEIR0020.code } as const;

/** The default not-worse margin θ_m (`DEFAULT_SEQUENTIAL_POLICY`); the tolerance θ₀ must stay below the margin (§1.6). */
const NOT_WORSE_MARGIN = 2;

/** Validates one Canary; reports every problem as a `WEIR0020` error. */
export function validateCanary(canary: Canary, report: Report): void {
  const r: Report = (path, message, opts) => report(path, message, { ...CODE, ...opts });
  const spec = canary.spec;

  // The name and namespace also name the rollout's files (`.weir/<namespace>.<name>.*`).
  for (const [field, value] of [
    ['name', canary.name],
    ['namespace', canary.namespace],
  ] as const) {
    const err = dns1123SubdomainError(value);
    if (err) r(['metadata', field], err);
  }

  // What is rolled out.
  if (spec.targetRef !== undefined && spec.virtualService !== undefined) {
    r(['spec', 'virtualService'], 'set only one of targetRef and virtualService', { key: true });
  } else if (spec.targetRef === undefined && spec.virtualService === undefined) {
    r(['spec'], 'targetRef (or virtualService) is required: the VirtualService to roll out');
  }
  const ref = spec.targetRef ?? spec.virtualService;
  const refPath: Path = ['spec', spec.targetRef !== undefined ? 'targetRef' : 'virtualService'];
  if (ref !== undefined) {
    if (!ref.name) r(refPath, 'the VirtualService name is required');
    const kind = spec.targetRef?.kind;
    if (kind !== undefined && kind !== 'VirtualService') {
      r([...refPath, 'kind'], `targetRef kind must be VirtualService (got ${q(kind)})`);
    }
  }
  if (spec.host === undefined) r(['spec'], 'host is required: the VirtualService host whose route is rolled out');
  else {
    const err = validateFQDN(spec.host);
    if (err) r(['spec', 'host'], err);
  }
  for (const f of ['primarySubset', 'canarySubset'] as const) {
    const v = spec[f];
    if (v === undefined) r(['spec'], `${f} is required`);
    else {
      const err = validateSubsetName(v);
      if (err) r(['spec', f], err);
    }
  }
  if (spec.primarySubset !== undefined && spec.primarySubset === spec.canarySubset) {
    r(['spec', 'canarySubset'], `canarySubset must differ from primarySubset (both ${q(spec.primarySubset)})`);
  }
  // Argo Rollouts' `routes`: names of the VirtualService's HTTP routes (checked against it by the analyzer).
  const routeNames = new Set<string>();
  (spec.routes ?? []).forEach((name, i) => {
    if (name === '') r(['spec', 'routes', i], 'a route name must not be empty (unnamed routes cannot be listed)');
    else if (name === CANARY_MATCH_ROUTE) {
      r(['spec', 'routes', i], `${q(name)} is the route weir inserts for the header-only phase; name your own routes`);
    } else if (routeNames.has(name)) r(['spec', 'routes', i], `duplicate route name ${q(name)}`);
    routeNames.add(name);
  });

  if (spec.analysis === undefined) {
    r(['spec'], 'analysis is required: the steps and metrics that judge the canary');
    return;
  }
  checkAnalysis(r, ['spec', 'analysis'], spec.analysis);
}

/** Kubernetes object names are DNS-1123 subdomains (lower-case alphanumerics, `-` and `.`, ≤ 253). */
function dns1123SubdomainError(name: string): string | null {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)
    ? null
    : `${q(name)} is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`;
}

function checkDuration(r: Report, path: Path, text: string | undefined): void {
  if (text === undefined) return;
  const err = durationError(text);
  if (err) r(path, err);
}

function checkAnalysis(r: Report, at: Path, a: CanaryAnalysis): void {
  checkDuration(r, [...at, 'interval'], a.interval);
  checkDuration(r, [...at, 'maxDuration'], a.maxDuration);
  checkDuration(r, [...at, 'latencyFloor'], a.latencyFloor);
  // weir writes the match into a VirtualService route: it must pass the same webhook rules.
  if (a.match !== undefined) checkMatchRequests(r, at, { match: a.match });
  const interval = a.interval !== undefined ? durationNanos(a.interval) : 60e9;
  const max = a.maxDuration !== undefined ? durationNanos(a.maxDuration) : null;
  if (interval !== null && max !== null && max > 0 && max < interval) {
    r(
      [...at, 'maxDuration'],
      `maxDuration ${a.maxDuration} is shorter than one interval (${a.interval ?? '1m'}): every run would end INCONCLUSIVE`,
      {
        level: 'warning',
      },
    );
  }
  if (a.mirrorWeight !== undefined && a.mirror !== true) {
    r([...at, 'mirrorWeight'], 'mirrorWeight has no effect without mirror: true', { level: 'warning' });
  }
  if (a.stepWeight !== undefined && a.maxWeight !== undefined && a.stepWeight > a.maxWeight) {
    r([...at, 'stepWeight'], `stepWeight ${a.stepWeight} is greater than maxWeight ${a.maxWeight}`);
  }

  if (a.threshold !== undefined && a.threshold < 1) r([...at, 'threshold'], 'threshold must be at least 1');
  if (a.iterations !== undefined && a.iterations < 1) r([...at, 'iterations'], 'iterations must be at least 1');

  // The weight ladder.
  if (a.stepWeight !== undefined && a.stepWeights !== undefined) {
    r([...at, 'stepWeights'], 'set only one of stepWeight and stepWeights', { key: true });
  } else if (a.stepWeight === undefined && a.stepWeights === undefined && a.iterations === undefined) {
    r(at, 'one of stepWeight, stepWeights (weighted steps) or iterations (header-only A/B testing) is required', {
      key: true,
    });
  }
  if (a.stepWeight !== undefined && (a.stepWeight < 1 || a.stepWeight > 100)) {
    r([...at, 'stepWeight'], `stepWeight ${a.stepWeight} is not in range 1..100`);
  }
  if (a.maxWeight !== undefined && (a.maxWeight < 1 || a.maxWeight > 100)) {
    r([...at, 'maxWeight'], `maxWeight ${a.maxWeight} is not in range 1..100`);
  }
  if (a.stepWeights !== undefined) {
    if (a.stepWeights.length === 0) r([...at, 'stepWeights'], 'stepWeights must not be empty');
    a.stepWeights.forEach((w, i) => {
      const p = [...at, 'stepWeights', i];
      if (w < 0 || w > 100) r(p, `step weight ${w} is not in range 0..100`);
      else if (i > 0 && !(w > a.stepWeights![i - 1]!)) {
        r(p, `stepWeights must increase (${w} follows ${a.stepWeights![i - 1]})`);
      }
    });
  }
  if (a.mirrorWeight !== undefined && (a.mirrorWeight < 0 || a.mirrorWeight > 100)) {
    r([...at, 'mirrorWeight'], `mirrorWeight ${a.mirrorWeight} is not in range 0..100`);
  }

  // weir's sequential parameters.
  if (a.alpha !== undefined && !(a.alpha > 0 && a.alpha < 0.5)) {
    r([...at, 'alpha'], `alpha ${a.alpha} must be in (0, 0.5)`);
  }
  const margin = a.margin ?? NOT_WORSE_MARGIN;
  if (a.margin !== undefined && !(a.margin > 1)) {
    r([...at, 'margin'], `margin ${a.margin} must be greater than 1`);
  }
  if (a.tolerance !== undefined && !(a.tolerance >= 1 && a.tolerance < margin)) {
    r([...at, 'tolerance'], `tolerance ${a.tolerance} must be at least 1 and below the not-worse margin ${margin}`);
  }
  if (a.minRequestsPerStep !== undefined && a.minRequestsPerStep < 0) {
    r([...at, 'minRequestsPerStep'], `minRequestsPerStep ${a.minRequestsPerStep} must be 0 or more`);
  }

  // Metrics.
  const seen = new Set<string>();
  (a.metrics ?? []).forEach((m, i) => {
    const p: Path = [...at, 'metrics', i];
    checkDuration(r, [...p, 'interval'], m.interval);
    const name = m.name ?? '';
    if (name === '') r(p, 'metric name is required');
    else if (seen.has(name)) r([...p, 'name'], `duplicate metric ${q(name)}`);
    seen.add(name);
    const builtin = (BUILTIN_METRICS as readonly string[]).includes(name);
    if (name !== '' && !builtin && m.query === undefined && m.templateRef === undefined) {
      r(
        [...p, 'name'],
        `unknown metric ${q(name)}: use ${BUILTIN_METRICS.join(' or ')}, or give a custom metric a query or templateRef`,
      );
    }
    const range = m.thresholdRange;
    if (range?.min !== undefined && range.max !== undefined && range.min > range.max) {
      r([...p, 'thresholdRange'], `thresholdRange min ${range.min} is greater than max ${range.max}`);
    }
    if (name === 'request-success-rate' && range?.min !== undefined && !(range.min > 0 && range.min < 100)) {
      r([...p, 'thresholdRange', 'min'], `request-success-rate min ${range.min} must be a percentage in (0, 100)`);
    }
    if (name === 'request-duration' && range?.max !== undefined && !(range.max > 0)) {
      r([...p, 'thresholdRange', 'max'], `request-duration max ${range.max} must be a latency in ms above 0`);
    }
  });

  // Webhooks.
  const hookNames = new Set<string>();
  (a.webhooks ?? []).forEach((h, i) => {
    const p: Path = [...at, 'webhooks', i];
    if (!h.name) r(p, 'webhook name is required');
    else if (hookNames.has(h.name)) r([...p, 'name'], `duplicate webhook name ${q(h.name)}`);
    if (h.name) hookNames.add(h.name);
    if (h.type !== undefined && !(WEBHOOK_TYPES as readonly string[]).includes(h.type)) {
      r([...p, 'type'], `unknown webhook type ${q(h.type)}; expected one of ${WEBHOOK_TYPES.join(', ')}`);
    }
    if (h.url === undefined) r(p, 'webhook url is required');
    else {
      const err = urlError(h.url);
      if (err) r([...p, 'url'], err);
    }
    checkDuration(r, [...p, 'timeout'], h.timeout);
    if (h.retries !== undefined && h.retries < 0)
      r([...p, 'retries'], `webhook retries ${h.retries} must be 0 or more`);
  });
}

function urlError(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `webhook url ${q(url)} is not an absolute URL`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `webhook url ${q(url)} must be http or https`;
  return null;
}
