/**
 * The rollout controller's state machine with an injected clock (issue 8): phases in order, promotion of a healthy
 * canary, rollback of a bad one, no traffic → HOLD → INCONCLUSIVE (pause at the first step), resume from a persisted
 * status at the same step, manual promote/abort through the control file, webhook gates. Traffic is synthesised
 * (seeded) from the router's state; the end-to-end tests drive the same controller with `weir serve`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseText } from '../../../src/config/load.ts';
import { type Canary, toResources } from '../../../src/config/resources.ts';
import { RolloutController, specHashOf } from '../../../src/rollout/controller.ts';
import { planRollout, type RolloutPlan } from '../../../src/rollout/plan.ts';
import { loadStatus, rolloutPaths, saveStatus, writeControl } from '../../../src/rollout/status.ts';
import { lognormalMs, ManualClock, MemoryRouter, SimulatedProvider, TableWebhooks } from '../../helpers/rollout.ts';

function canaryFrom(analysis: string, spec = ''): Canary {
  const text = `apiVersion: weir.dev/v1alpha1
kind: Canary
metadata: {name: checkout, namespace: shop}
spec:${spec ? `\n  ${spec}` : ''}
  targetRef: {kind: VirtualService, name: checkout-vs}
  host: checkout
  primarySubset: v1
  canarySubset: v2
  analysis:
${analysis
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
  const typed = toResources(parseText({ file: 'canary.yaml', text }).documents);
  const c = typed.resources.find((r) => r.kind === 'Canary');
  if (!c) throw new Error(`no Canary: ${JSON.stringify(typed.diagnostics)}`);
  return c as Canary;
}

const LADDER = `interval: 10s
stepWeights: [10, 25, 50]
metrics:
- {name: request-success-rate, thresholdRange: {min: 99}}
- {name: request-duration, thresholdRange: {max: 500}}
maxDuration: 10m`;

async function setup(
  analysis: string,
  traffic: { rps: number; primaryErrors: number; canaryErrors: number; canaryLatencyMs?: number; seed?: number },
  webhooks = new TableWebhooks(),
  spec = '',
) {
  const canary = canaryFrom(analysis, spec);
  const plan = planRollout(canary);
  const dir = await mkdtemp(join(tmpdir(), 'weir-ctl-'));
  const file = join(dir, 'canary.yaml');
  const paths = rolloutPaths(file, plan.namespace, plan.name);
  const clock = new ManualClock();
  const router = new MemoryRouter();
  const provider = new SimulatedProvider(
    clock,
    router,
    traffic.rps,
    { errorRate: traffic.primaryErrors, latencyMs: lognormalMs(100) },
    { errorRate: traffic.canaryErrors, latencyMs: lognormalMs(traffic.canaryLatencyMs ?? 100) },
    traffic.seed ?? 7,
  );
  const make = (existing: Awaited<ReturnType<typeof loadStatus>>) =>
    new RolloutController(
      { plan, canaryFile: file, paths, provider, router, webhooks, clock, specHash: specHashOf(canary.spec) },
      existing,
    );
  return { plan, paths, clock, router, provider, webhooks, make };
}

const weights = (r: MemoryRouter) => r.history.map((s) => s.canaryWeight);

// biome-ignore lint/suspicious/noExplicitAny: decision-log lines are heterogeneous JSON; each test reads its fields
async function readLog(file: string): Promise<any[]> {
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('plan', () => {
  it('orders header-only, mirror and the weight ladder, and resolves the host', () => {
    const plan: RolloutPlan = planRollout(
      canaryFrom(`interval: 30s
iterations: 2
match: [{headers: {x-canary-user: {exact: "true"}}}]
mirror: true
mirrorWeight: 20
stepWeight: 20
maxWeight: 60`),
    );
    expect(plan.host).toBe('checkout.shop.svc.cluster.local');
    expect(plan.steps.map((s) => `${s.kind}:${s.weight}`)).toEqual([
      'header:0',
      'mirror:0',
      'weight:20',
      'weight:40',
      'weight:60',
      'weight:100',
    ]);
    expect(plan.steps[0]!.dwellMs).toBe(60_000);
    expect(plan.steps[1]).toMatchObject({ mirrorPercent: 20, dwellMs: 30_000 });
    // Flagger's default maxDuration rule: max(30 min, interval × (steps + threshold)).
    expect(plan.policy.maxDurationMs).toBe(30 * 60_000);
    expect(plan.policy.latency).toBeNull();
  });

  it('refuses a Canary with nothing to run', () => {
    expect(() => planRollout(canaryFrom('interval: 1m'))).toThrow(/nothing to run/);
  });
});

describe('controller', () => {
  it('promotes a healthy canary step by step and logs every decision', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    const phase = await c.run();
    expect(phase).toBe('Promoted');
    expect(weights(t.router)).toEqual([10, 25, 50, 100]);
    expect(t.router.state).toEqual({ canaryWeight: 100, match: null, mirrorPercent: null, sticky: false });
    const status = await loadStatus(t.paths);
    expect(status?.phase).toBe('Promoted');
    // τ from the primary's histogram (lognormal median 100 ms): three thresholds at statistics edges.
    expect(status?.thresholdsMs.length).toBe(3);
    expect(status?.latencySloMs).toBe(500);
    const log = (await readFile(t.paths.decisions, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log[0].event).toBe('start');
    // §3.4 preflight after the first interval: feasible at 200 req/s.
    const pre = log.find((l) => l.event === 'preflight');
    expect(pre.feasible, pre.message).toBe(true);
    expect(pre.message).toMatch(/^preflight: at \d+\.\d req\/s/);
    const actions = log.filter((l) => l.event === 'decision').map((l) => l.action);
    expect(actions.filter((a: string) => a === 'ADVANCE')).toHaveLength(3);
    expect(actions.at(-1)).toBe('PROMOTE');
    const last = log.filter((l) => l.event === 'decision').at(-1);
    expect(last.evidence.rollback.map((x: { test: string }) => x.test)).toEqual([
      'errors-relative',
      'errors-slo',
      'latency-relative',
      'latency-slo',
    ]);
    // Each weight step lasted at least its dwell: 3 shared steps × 10 s plus the 100 % step.
    expect(status!.lastTransition.at - status!.startedAt).toBeGreaterThanOrEqual(40_000);
  });

  it('rolls back a canary with 10× the errors before the ladder ends', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.005, canaryErrors: 0.05 });
    const phase = await t.make(null).run();
    expect(phase).toBe('RolledBack');
    expect(t.router.state).toEqual({ canaryWeight: 0, match: null, mirrorPercent: null, sticky: false });
    const status = await loadStatus(t.paths);
    expect(status?.lastDecision?.action).toBe('ROLLBACK');
    expect(status?.lastDecision?.reason).toMatch(/errors-(relative|slo)/);
  });

  it('rolls back a canary 3× slower on the latency tests', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002, canaryLatencyMs: 300 });
    expect(await t.make(null).run()).toBe('RolledBack');
    const status = await loadStatus(t.paths);
    expect(status?.lastDecision?.reason).toMatch(/latency-/);
  });

  it('rolls back a canary only the relative latency test can see (v1 ≈ 1 ms, v2 ≈ 20 ms, SLO 500 ms far away)', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0, canaryErrors: 0 });
    t.provider.primary = { errorRate: 0, latencyMs: lognormalMs(1, 0.3) };
    t.provider.canary = { errorRate: 0, latencyMs: lognormalMs(20, 0.3) };
    expect(await t.make(null).run()).toBe('RolledBack');
    const log = await readLog(t.paths.decisions);
    const rollback = log.find((l) => l.event === 'decision' && l.action === 'ROLLBACK');
    // Only the relative test fired: the canary-only p99 SLO (500 ms) sees no request anywhere near it.
    expect(rollback.triggeredBy).toEqual(['latency-relative']);
    expect(rollback.reason).toMatch(/^latency-relative: ln E = [\d.]+ ≥ ln\(K\/α_R\) = 4\.382$/);
    const slo = rollback.evidence.rollback.find((x: { test: string }) => x.test === 'latency-slo');
    expect(slo.lnE).toBeLessThan(0);
    // τ from the primary's ≈ 1 ms p50/p90/p99, raised to the 5 ms floor; the decision log says so.
    expect(log[0].thresholdsMs).toEqual([5]);
    expect(log[0].tauSource).toMatch(
      /^the primary's p50\/p90\/p99 over \d+ requests, raised to the latency floor 5 ms before the run$/,
    );
  });

  it('issue 12: a canary 8× slower than a 5 ms primary is rolled back though both sit far below the default τ', async () => {
    // The break-it run: ≈ 80 req/s, 5 % header traffic, interval 3s, steps 20/50; the primary had served only 40
    // requests when the run started. τ must wait for the primary's real distribution instead of the 100 ms default.
    const t = await setup(
      `interval: 3s
match: [{headers: {x-canary-user: {exact: "true"}}}]
stepWeights: [20, 50]
metrics:
- {name: request-success-rate, thresholdRange: {min: 99}}
- {name: request-duration, thresholdRange: {max: 500}}
maxDuration: 2m`,
      { rps: 80, primaryErrors: 0, canaryErrors: 0 },
    );
    t.provider.historyMs = 500;
    t.provider.primary = { errorRate: 0, latencyMs: lognormalMs(5, 0.2) };
    t.provider.canary = { errorRate: 0, latencyMs: lognormalMs(40, 0.2) };
    expect(await t.make(null).run()).toBe('RolledBack');
    const status = await loadStatus(t.paths);
    expect(status?.lastDecision?.reason).toMatch(/^latency-relative: /);
    const log = await readLog(t.paths.decisions);
    // Start: τ pending with the reason; then set from the primary once it has served 100 requests, saying when.
    expect(log[0].event).toBe('start');
    expect(log[0].tauPending).toBe('the primary has served 40 of the 100 requests its p50/p90/p99 are read from');
    const set = log.find((l) => l.event === 'thresholds');
    expect(set.tauSource).toMatch(
      /^the primary's p50\/p90\/p99 over 1\d\d requests(, raised to the latency floor 5 ms)?, set [\d.]+ s into the run \(the relative latency test judges the requests after this point\)$/,
    );
    for (const ms of set.thresholdsMs) expect(ms).toBeGreaterThanOrEqual(5);
    for (const ms of set.thresholdsMs) expect(ms).toBeLessThan(40);
    expect(status?.thresholdsMs).toEqual(set.thresholdsMs);
    // Until τ was set no decision could pass latency by its SLO: every earlier decision is a HOLD or an ADVANCE out
    // of the header-only phase, never the gate to 100 %.
    const before = log.filter((l) => l.event === 'decision' && l.t < set.t);
    expect(before.every((l) => l.action === 'HOLD')).toBe(true);
    expect(log.some((l) => l.action === 'PROMOTE')).toBe(false);
  });

  it('a rollback names the routes it does not manage that still reach the canary; rollbackUnmanagedRoutes sends them back too', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.005, canaryErrors: 0.05 });
    t.router.unmanaged = ['http[0] ("beta") → v2'];
    expect(await t.make(null).run()).toBe('RolledBack');
    expect(t.router.unmanaged).toEqual(['http[0] ("beta") → v2']);
    const log = await readLog(t.paths.decisions);
    expect(log.find((l) => l.event === 'unmanaged-routes')?.reachingCanary).toEqual(['http[0] ("beta") → v2']);
    const rollback = log.find((l) => l.event === 'decision' && l.action === 'ROLLBACK');
    expect(rollback.events.join('\n')).toContain(
      'warning: routes this rollout does not manage still reach v2: http[0] ("beta") → v2 (set rollbackUnmanagedRoutes: true in the Canary to send them to v1 on a rollback too)',
    );

    const u = await setup(
      LADDER,
      { rps: 200, primaryErrors: 0.005, canaryErrors: 0.05 },
      undefined,
      'rollbackUnmanagedRoutes: true',
    );
    u.router.unmanaged = ['http[0] ("beta") → v2'];
    expect(u.plan.rollbackUnmanagedRoutes).toBe(true);
    expect(await u.make(null).run()).toBe('RolledBack');
    expect(u.router.unmanaged).toEqual([]);
    expect((await readLog(u.paths.decisions)).some((l) => l.event === 'unmanaged-routes')).toBe(false);
  });

  it('holds without traffic, never fails, and pauses at maxDuration back at the first step', async () => {
    const t = await setup(LADDER.replace('maxDuration: 10m', 'maxDuration: 2m'), {
      rps: 0,
      primaryErrors: 0,
      canaryErrors: 0,
    });
    const c = t.make(null);
    const holds: string[] = [];
    const phase = await c.run();
    expect(phase).toBe('Paused');
    const log = (await readFile(t.paths.decisions, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const l of log) if (l.event === 'decision' && l.action === 'HOLD') holds.push(l.hold);
    expect(holds).toContain('min-requests');
    expect(log.filter((l) => l.action === 'ROLLBACK')).toHaveLength(0);
    expect(log.filter((l) => l.event === 'decision').at(-1).action).toBe('INCONCLUSIVE');
    // Without traffic the preflight says so up front.
    const pre = log.find((l) => l.event === 'preflight');
    expect(pre.feasible).toBe(false);
    expect(pre.message).toMatch(/expect INCONCLUSIVE/);
    expect(t.router.state.canaryWeight).toBe(10);
    const status = await loadStatus(t.paths);
    expect(status?.phase).toBe('Paused');
    // 2 min of maxDuration, within one tick.
    expect(status!.lastTransition.at - status!.startedAt).toBeGreaterThanOrEqual(120_000);
    expect(status!.lastTransition.at - status!.startedAt).toBeLessThanOrEqual(121_000);
  });

  it('resumes a killed controller at the same step with the same baseline', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const first = t.make(null);
    // Run until the second step, then stop as if killed.
    let ticks = 0;
    while (first.current.stepIndex < 1 && ticks++ < 100) {
      await first.tick();
      await t.clock.sleep(1000);
    }
    expect(first.current.stepIndex).toBe(1);
    await first.tick();
    const persisted = await loadStatus(t.paths);
    expect(persisted?.phase).toBe('Progressing');
    expect(persisted?.stepIndex).toBe(1);
    const second = t.make(persisted);
    expect(second.current.stepIndex).toBe(1);
    expect(second.current.runId).toBe(persisted!.runId);
    expect(await second.run()).toBe('Promoted');
    // The first controller applied 10 and 25; the second re-applied 25 (unchanged) and went on.
    expect(weights(t.router)).toEqual([10, 25, 50, 100]);
  });

  it('obeys promote and abort from the control file', async () => {
    const t = await setup(LADDER, { rps: 50, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    await c.tick();
    await writeControl(t.paths, { action: 'abort', at: t.clock.now(), reason: 'test' });
    await t.clock.sleep(1000);
    await c.tick();
    expect(c.current.phase).toBe('Aborted');
    expect(t.router.state.canaryWeight).toBe(0);

    const u = await setup(LADDER, { rps: 50, primaryErrors: 0.002, canaryErrors: 0.002 });
    const d = u.make(null);
    await d.tick();
    await writeControl(u.paths, { action: 'promote', at: u.clock.now() });
    await d.tick();
    expect(d.current.phase).toBe('Promoted');
    expect(u.router.state.canaryWeight).toBe(100);
  });

  it('runs header-only and mirror phases before the weights', async () => {
    const t = await setup(
      `interval: 10s
match: [{headers: {x-canary-user: {exact: "true"}}}]
mirror: true
mirrorWeight: 50
stepWeights: [20]
metrics:
- {name: request-success-rate, thresholdRange: {min: 99}}`,
      { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 },
    );
    expect(await t.make(null).run()).toBe('Promoted');
    const h = t.router.history;
    expect(h[0]).toMatchObject({ canaryWeight: 0, mirrorPercent: null });
    expect(h[0]!.match).not.toBeNull();
    expect(h[1]).toMatchObject({ canaryWeight: 0, mirrorPercent: 50 });
    expect(h[2]).toMatchObject({ canaryWeight: 20, mirrorPercent: null, sticky: true });
    expect(h.at(-1)).toEqual({ canaryWeight: 100, match: null, mirrorPercent: null, sticky: false });
  });

  it('waits for confirm-rollout and rolls back after threshold failed rollout webhooks', async () => {
    let confirmed = false;
    const hooks = new TableWebhooks({ 'confirm-rollout': () => confirmed, rollout: () => false });
    const t = await setup(
      `${LADDER}\nthreshold: 3\nwebhooks:\n- {name: gate, type: confirm-rollout, url: "http://127.0.0.1:1/"}\n- {name: load-test, type: rollout, url: "http://127.0.0.1:1/"}`,
      { rps: 100, primaryErrors: 0.002, canaryErrors: 0.002 },
      hooks,
    );
    const c = t.make(null);
    for (let i = 0; i < 15; i++) {
      await c.tick();
      await t.clock.sleep(1000);
    }
    expect(c.current.phase).toBe('Initializing');
    expect(t.router.history).toHaveLength(0);
    confirmed = true;
    const phase = await c.run();
    expect(phase).toBe('RolledBack');
    expect(c.current.lastDecision?.reason).toMatch(/rollout webhook failed 3 times/);
    // A failing rollout check holds the step: no weight beyond the first before the rollback.
    expect(weights(t.router)).toEqual([10, 0]);
  });

  it('never advances on counts it cannot see, and rolls back after threshold × interval blind', async () => {
    const t = await setup(`${LADDER}\nthreshold: 3`, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    await c.tick();
    await t.clock.sleep(1000);
    await c.tick();
    expect(c.current.weight).toBe(10);
    t.provider.failing = true;
    const reasons: string[] = [];
    for (let i = 0; i < 40 && c.current.phase === 'Progressing'; i++) {
      await t.clock.sleep(1000);
      await c.tick();
      reasons.push(c.current.lastDecision?.reason ?? '');
    }
    // Dwell and requests were met long ago, yet no advance: 3 × 10 s blind, then the fail-safe rollback.
    expect(weights(t.router)).toEqual([10, 0]);
    expect(reasons[0]).toMatch(/^metrics unavailable \(1 of 1 sources failing/);
    expect(c.current.phase).toBe('RolledBack');
    expect(c.current.lastDecision?.reason).toMatch(/metrics unavailable for 30 s/);
  });

  it('keeps judging when the VirtualService cannot be written, and applies the decision once it can', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    await c.tick();
    t.router.failures = 3;
    for (let i = 0; i < 14; i++) {
      await t.clock.sleep(1000);
      await c.tick();
    }
    // The ADVANCE due at 10 s failed three times, then went through.
    expect(c.current.phase).toBe('Progressing');
    expect(weights(t.router)).toEqual([10, 25]);
    const log = (await readFile(t.paths.decisions, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const failed = log.filter((l) => l.event === 'apply-failed');
    expect(failed.map((l) => l.action)).toEqual(['ADVANCE', 'ADVANCE', 'ADVANCE']);
  });

  it('steps down the ladder on a stepped rollback, one interval per weight', async () => {
    // Healthy until 50 %, then v2 breaks: the rollback starts at 50 % and walks 25 → 10 → 0.
    const t = await setup(`${LADDER}\nrollback: stepped`, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    let ticks = 0;
    while (c.current.weight < 50 && ticks++ < 300) {
      await c.tick();
      await t.clock.sleep(1000);
    }
    expect(c.current.weight).toBe(50);
    t.provider.canary = { errorRate: 0.5, latencyMs: lognormalMs(100) };
    const phase = await c.run();
    expect(phase).toBe('RolledBack');
    const w = weights(t.router);
    expect(w.slice(w.indexOf(50))).toEqual([50, 25, 10, 0]);
    const log = (await readFile(t.paths.decisions, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const tr = log.filter((l) => l.event === 'transition').map((l) => l.to);
    expect(tr).toEqual(['Progressing', 'RollingBack', 'RolledBack']);
  });

  it('takes margin, minRequestsPerStep and promoteOnSLO from the Canary', () => {
    const plan = planRollout(
      canaryFrom(`${LADDER}\nmargin: 1.5\ntolerance: 1\nminRequestsPerStep: 50\npromoteOnSLO: false`),
    );
    expect(plan.policy).toMatchObject({ margin: 1.5, tolerance: 1, minRequestsPerStep: 50, promoteOnSLO: false });
    expect(plan.rollback).toBe('immediate');
  });

  it('does not judge sub-millisecond latency differences: τ is raised to latencyFloor (5 ms)', async () => {
    // Loopback-like latencies: v2 20 % slower at a 0.5 ms median (connection set-up, warm-up). Without the floor the
    // relative test at τ ≈ p50 would see a "regression" (the break-it tester saw this roll back identical builds).
    const t = await setup(LADDER, { rps: 400, primaryErrors: 0.002, canaryErrors: 0.002, canaryLatencyMs: 0.6 });
    t.provider.primary = { errorRate: 0.002, latencyMs: lognormalMs(0.5) };
    expect(await t.make(null).run()).toBe('Promoted');
    const status = await loadStatus(t.paths);
    expect(status?.thresholdsMs).toEqual([5]);
    const log = (await readFile(t.paths.decisions, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log[0].tauSource).toMatch(/raised to the latency floor 5 ms/);
  });

  it('reports a hand edit of the VirtualService before its next step overwrites it, and a removed decision log', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    await c.tick();
    expect(t.router.state.canaryWeight).toBe(10);
    t.router.state = { ...t.router.state, sticky: false }; // someone removes the sticky annotation by hand
    await rm(t.paths.decisions);
    for (let i = 0; i < 12 && c.current.weight < 25; i++) {
      await t.clock.sleep(1000);
      await c.tick();
    }
    expect(c.current.weight).toBe(25);
    const log = (await readFile(t.paths.decisions, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log[0].event).toBe('log-restarted');
    const edit = log.find((l) => l.event === 'hand-edit');
    expect(edit?.found.sticky).toBe(false);
    expect(edit?.expected.sticky).toBe(true);
    expect(log.find((l) => l.event === 'decision' && l.action === 'ADVANCE')?.events.join(' ')).toMatch(
      /edited outside weir since its last write \(found canary 10 %, weir wrote canary 10 %, sticky\)/,
    );
  });

  it('stops without touching traffic when the run was ended outside it (a direct abort while it was stalled)', async () => {
    const t = await setup(LADDER, { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 });
    const c = t.make(null);
    await c.tick();
    const s = (await loadStatus(t.paths))!;
    // What `weir rollout abort` does when the controller does not answer: the file to the primary, the status ended.
    await t.router.apply({ canaryWeight: 0, match: null, mirrorPercent: null, sticky: false });
    const at = t.clock.now();
    await saveStatus(t.paths, {
      ...s,
      phase: 'Aborted',
      weight: 0,
      lastTransition: {
        at,
        from: s.phase,
        to: 'Aborted',
        stepIndex: s.stepIndex,
        reason: 'aborted by weir rollout abort',
      },
    });
    const before = t.router.history.length;
    expect(await c.run()).toBe('Aborted');
    expect(t.router.history.length).toBe(before);
    expect(t.router.state.canaryWeight).toBe(0);
    expect((await loadStatus(t.paths))?.phase).toBe('Aborted');
  });

  it('keeps judging every tick while a rollout webhook hangs', async () => {
    const hooks = new TableWebhooks({ rollout: () => true });
    hooks.hang.add('rollout');
    const t = await setup(
      `${LADDER}\nthreshold: 3\nwebhooks: [{name: load-test, type: rollout, url: "http://127.0.0.1:1/"}]`,
      { rps: 200, primaryErrors: 0.002, canaryErrors: 0.002 },
      hooks,
    );
    const c = t.make(null);
    for (let i = 0; i < 30; i++) {
      await c.tick();
      await t.clock.sleep(1000);
    }
    // The step waits for the hung check (no advance)…
    expect(c.current.lastDecision?.reason).toBe('waiting for the rollout webhook of this interval');
    expect(weights(t.router)).toEqual([10]);
    // …but judgement goes on every tick: a canary that turns bad is rolled back.
    t.provider.canary = { errorRate: 0.5, latencyMs: lognormalMs(100) };
    expect(await c.run()).toBe('RolledBack');
    expect(hooks.calls.filter((x) => x.type === 'rollout')).toHaveLength(1);
  });
});
