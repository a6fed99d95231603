/**
 * `weir rollout run` end to end on loopback (issue 8): a real `weir serve` (watching its config folder) in front of
 * real v1/v2 backends with seeded error rates, a bounded load loop, and the real CLI as a child process that reads
 * the proxy's admin counts and rewrites the VirtualService file.
 * - a healthy canary is promoted and the file routes 100 % to v2 (comments kept);
 * - a canary with 3× the primary's errors is rolled back, within the time `weir rollout simulate` gives for the same
 *   Canary and traffic (its 99th percentile plus slack);
 * - without traffic the run HOLDs (never fails) and ends INCONCLUSIVE (exit 4), paused at the first step;
 * - a controller killed mid-rollout (SIGKILL) and started again resumes at the same step and finishes;
 * - with `--prometheus`, the same run reads the counts through a real Prometheus scraping the proxy's admin port.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProxyMetrics } from '../../src/telemetry/metrics.ts';
import { PROMETHEUS_BIN, reportMissingPrometheus, startPrometheus } from '../helpers/prometheus.ts';
import { closeClients, send } from '../helpers/proxy.ts';
import {
  type Cleanups,
  HOST,
  load as loadLoops,
  NS,
  type RolloutSetup,
  rollout as rolloutIn,
  setupRollout,
  statusIn,
} from '../helpers/rollout-e2e.ts';

reportMissingPrometheus('test/e2e/rollout-run.test.ts (the --prometheus case)');

const cleanups: Cleanups = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await closeClients();
});

type Setup = RolloutSetup;

function setup(
  v1ErrorRate: number,
  v2ErrorRate: number,
  analysis: string,
  serve: Parameters<typeof setupRollout>[1]['serve'] = {},
): Promise<Setup> {
  return setupRollout(cleanups, { v1: { errorRate: v1ErrorRate }, v2: { errorRate: v2ErrorRate }, analysis, serve });
}

/** Sends requests from `workers` loops, ~`perWorkerRps` each, until stopped (bounded by `maxMs`). */
function load(url: string, workers: number, perWorkerRps: number, maxMs: number) {
  return loadLoops(url, { workers, perWorkerRps, maxMs });
}

function rollout(args: string[]) {
  return rolloutIn(cleanups, args);
}

function statusOf(s: Setup): Promise<Record<string, unknown> | null> {
  return statusIn(s.weir.dir);
}

const FAST = `interval: 2s
stepWeights: [20, 50]
metrics:
- {name: request-success-rate, thresholdRange: {min: 99}}
- {name: request-duration, thresholdRange: {max: 500}}`;

describe('weir rollout run', () => {
  it('promotes a healthy canary: the VirtualService ends at 100 % v2 with its comments', async () => {
    const s = await setup(0, 0, `${FAST}\nmaxDuration: 2m`);
    const l = load(s.weir.url, 8, 40, 150_000);
    const run = rollout(['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    const code = await run.exit;
    await l.stop();
    expect(code, run.output()).toBe(0);
    expect(run.output()).toMatch(/Promoted/);
    const vs = await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8');
    expect(vs).toContain('# The checkout route; weir rollout rewrites the weights below.');
    expect(vs).toContain('# all traffic to v1 until the rollout starts');
    expect(vs).toMatch(/subset: v2/);
    expect(vs).not.toMatch(/subset: v1/);
    // The proxy serves the promoted file: every request goes to v2.
    const replies = await Promise.all(Array.from({ length: 20 }, () => send(s.weir.url, { host: HOST })));
    expect(replies.every((r) => r.headers['x-backend-version'] === 'v2')).toBe(true);
    const status = await statusOf(s);
    expect(status?.phase).toBe('Promoted');
    const log = (await readFile(join(s.weir.dir, '.weir', `${NS}.checkout.decisions.jsonl`), 'utf8'))
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x));
    expect(log.filter((x) => x.action === 'ADVANCE').length).toBe(2);
  }, 180_000);

  it('rolls back a canary with 3× the errors within the simulated time', async () => {
    const analysis = `${FAST.replace('min: 99', 'min: 80')}\nmaxDuration: 3m`;
    const s = await setup(0.03, 0.09, analysis);
    const rps = 8 * 40;
    const l = load(s.weir.url, 8, 40, 200_000);
    const started = Date.now();
    const run = rollout(['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    const code = await run.exit;
    const tookMs = Date.now() - started;
    const sent = l.sent;
    await l.stop();
    expect(code, run.output()).toBe(3);
    expect(run.output()).toMatch(/RolledBack: .*errors-relative/);
    const vs = await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8');
    expect(vs).not.toMatch(/subset: v2/);
    // The design's expected time for this Canary and traffic: simulate it (seeded) at the rate actually achieved.
    const achieved = Math.max(20, Math.round(sent / (tookMs / 1000)));
    const sim = rollout([
      'simulate',
      '-f',
      s.canaryFile,
      '--rps',
      String(Math.min(achieved, rps)),
      '--errors',
      '0.03,0.09',
      '--latency-ms',
      '1,1',
      '--runs',
      '200',
    ]);
    expect(await sim.exit, sim.output()).toBe(0);
    const p90 = /\| weir \(sequential\) \|[^|]*\|[^|]*\|[^|]*\|[^|]*\|[^|]*\| ([\d.]+) min \|/.exec(sim.output());
    expect(p90, sim.output()).not.toBeNull();
    // Wide margin for a loaded CI machine: the simulated p90 plus 1 min (startup, reloads, scrape latency).
    expect(tookMs).toBeLessThan(Number(p90![1]) * 60_000 + 60_000);
  }, 240_000);

  it('holds without traffic and ends INCONCLUSIVE (exit 4), paused at the first step', async () => {
    const s = await setup(0, 0, `${FAST}\nmaxDuration: 6s`);
    const run = rollout(['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    const code = await run.exit;
    expect(code, run.output()).toBe(4);
    expect(run.output()).toMatch(/HOLD: 0 of 10 canary requests/);
    expect(run.output()).toMatch(/Paused: maxDuration/);
    const status = await statusOf(s);
    expect(status?.phase).toBe('Paused');
    const vs = await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8');
    expect(vs).toMatch(/weight: 20/);
    // A second run does not silently restart a paused rollout.
    const again = rollout(['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    expect(await again.exit).toBe(4);
    expect(again.output()).toMatch(/paused/);
  }, 120_000);

  it('resumes at the same step after the controller is killed', async () => {
    const s = await setup(
      0,
      0,
      `interval: 3s
stepWeights: [10, 20, 40]
metrics:
- {name: request-success-rate, thresholdRange: {min: 99}}
maxDuration: 3m`,
    );
    const l = load(s.weir.url, 8, 40, 200_000);
    const first = rollout(['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    let status: Record<string, unknown> | null = null;
    for (let i = 0; i < 300; i++) {
      status = await statusOf(s);
      if (status && (status.stepIndex as number) >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status?.stepIndex, first.output()).toBe(1);
    first.child.kill('SIGKILL');
    await first.exit;
    const second = rollout(['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    const code = await second.exit;
    await l.stop();
    expect(code, second.output()).toBe(0);
    expect(second.output()).toMatch(/resuming step 2\/4 weight 20 %/);
    const final = await statusOf(s);
    expect(final?.runId).toBe(status?.runId);
    expect(final?.phase).toBe('Promoted');
  }, 240_000);

  it.skipIf(!PROMETHEUS_BIN)(
    'reads the counts through a real Prometheus (--prometheus) and promotes a healthy canary',
    async () => {
      // As `weir serve` does: Istio metrics with the weir_route_* families on /stats/prometheus.
      const s = await setup(0, 0, `${FAST}\nmaxDuration: 2m`, { metrics: createProxyMetrics });
      const admin = new URL(s.adminUrl);
      const prom = await startPrometheus([
        { job: 'weir', targets: [`${admin.hostname}:${admin.port}`], metricsPath: '/stats/prometheus' },
      ]);
      cleanups.push(() => prom.close());
      const l = load(s.weir.url, 8, 40, 150_000);
      const run = rollout(['run', '-f', s.canaryFile, '--prometheus', prom.url, '--plain']);
      const code = await run.exit;
      await l.stop();
      expect(code, run.output()).toBe(0);
      expect(run.output()).toMatch(/metrics from .*prometheus|Prometheus/i);
      const vs = await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8');
      expect(vs).toMatch(/subset: v2/);
      expect(vs).not.toMatch(/subset: v1/);
      const status = (await statusOf(s)) ?? {};
      expect(status.phase).toBe('Promoted');
      expect((status.provider as { kind: string }).kind).toBe('prometheus');
      // Thresholds from a Prometheus reading are Envoy bucket edges.
      const thresholds = status.thresholdsMs as number[];
      expect(thresholds.length).toBeGreaterThan(0);
      for (const t of thresholds) expect([0.5, 1, 5, 10, 25, 50, 100, 250, 500]).toContain(t);
    },
    180_000,
  );

  it('refuses a second controller (--restart or another Canary on the same VirtualService), survives a closed pipe, exits 130 on SIGINT, and guards promote/abort/run after the end', async () => {
    const s = await setup(0, 0, `${FAST}\nmaxDuration: 2m`);
    const admin = new URL(s.adminUrl).host; // host:port, as `weir serve --admin` takes it
    const never = rollout(['status', '-f', s.canaryFile]);
    expect(await never.exit).toBe(0);
    expect(never.output()).toMatch(/no rollout of shop\/checkout yet/);

    const a = rollout(['run', '-f', s.canaryFile, '--admin', admin, '--plain']);
    // Close the controller's stdout as `| head -1` would: it must keep running.
    await new Promise<void>((resolve) => a.child.stdout!.once('data', () => resolve()));
    a.child.stdout!.destroy();
    let status: Record<string, unknown> | null = null;
    for (let i = 0; i < 100 && status?.phase !== 'Progressing'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await statusOf(s);
    }
    expect(status?.phase).toBe('Progressing');

    const b = rollout(['run', '-f', s.canaryFile, '--admin', admin, '--plain', '--restart']);
    expect(await b.exit).toBe(64);
    expect(b.output()).toMatch(/another controller \(pid \d+\) runs this rollout/);
    const other = join(s.weir.dir, 'canary-b.yaml');
    await writeFile(other, (await readFile(s.canaryFile, 'utf8')).replace('name: checkout\n', 'name: checkout-b\n'));
    const c = rollout(['run', '-f', other, '--admin', admin, '--plain']);
    expect(await c.exit).toBe(64);
    expect(c.output()).toMatch(/vs\.yaml is being rolled out by another controller .* Canary shop\/checkout/);

    await new Promise((r) => setTimeout(r, 1500));
    expect(a.child.exitCode).toBeNull(); // still alive after writing into the closed pipe
    a.child.kill('SIGINT');
    expect(await a.exit).toBe(130);

    const abort = rollout(['abort', '-f', s.canaryFile, '--reason', 'e2e']);
    expect(await abort.exit, abort.output()).toBe(0);
    expect(abort.output()).toMatch(/Aborted: aborted by weir rollout abort: e2e/);
    const promote = rollout(['promote', '-f', s.canaryFile]);
    expect(await promote.exit).toBe(64);
    expect(promote.output()).toMatch(/already ended \(Aborted.*--force/);
    const forced = rollout(['promote', '-f', s.canaryFile, '--force']);
    expect(await forced.exit, forced.output()).toBe(0);
    const again = rollout(['run', '-f', s.canaryFile, '--admin', admin, '--plain']);
    expect(await again.exit).toBe(64);
    expect(again.output()).toMatch(/the last run promoted v2/);
    expect(await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8')).not.toMatch(/subset: v1/);
  }, 120_000);

  it('refuses to start (exit 64, nothing changed) when a metrics source never answers', async () => {
    const s = await setup(0, 0, `${FAST}\nmaxDuration: 1m`);
    const before = await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8');
    const admin = new URL(s.adminUrl).host;
    const r = rollout(['run', '-f', s.canaryFile, '--admin', admin, '--admin', '127.0.0.1:1', '--plain']);
    expect(await r.exit, r.output()).toBe(64);
    expect(r.output()).toMatch(/metrics source not answering at start .*nothing was changed/);
    expect(await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8')).toBe(before);
  }, 60_000);
});
