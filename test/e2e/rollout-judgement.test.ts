/**
 * `weir rollout run` end to end (issue 12), the real CLI as a child process against a real `weir serve` and real
 * backends on loopback:
 * - no metrics source answering: exit 64, nothing changed, no status left behind;
 * - the break-it run: v1 at 5 ms, v2 at 40 ms, no errors, ≈ 80 req/s with 5 % header traffic, `interval: 3s`,
 *   steps 20/50, the run started before the primary had served anything — rolled back by the relative latency test
 *   (τ waited for the primary's real distribution; the decision log says which τ and why);
 * - only the relative latency test can fire (v1 ≈ 1 ms, v2 ≈ 20 ms, p99 SLO 500 ms far away): rolled back with
 *   `latency-relative` alone; the beta testers' own route to v2 is neither taken away nor rolled back, and a warning
 *   names it;
 * - `--prometheus`: a canary with 10× the errors rolled back through a real Prometheus scraping the proxy.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProxyMetrics } from '../../src/telemetry/metrics.ts';
import { freePort } from '../helpers/backends.ts';
import { PROMETHEUS_BIN, reportMissingPrometheus, startPrometheus } from '../helpers/prometheus.ts';
import { closeClients, send, serviceEntryYaml, subsetsYaml } from '../helpers/proxy.ts';
import {
  type Cleanups,
  canaryYaml,
  decisionLogIn,
  HOST,
  load,
  NS,
  rollout,
  setupRollout,
  statusIn,
  until,
  VS,
} from '../helpers/rollout-e2e.ts';

reportMissingPrometheus('test/e2e/rollout-judgement.test.ts (the --prometheus rollback)');

const cleanups: Cleanups = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await closeClients();
});

/** Whether 10 requests without a header are all served by `version`. */
async function onlyVersion(url: string, version: string): Promise<boolean> {
  const replies = await Promise.all(Array.from({ length: 10 }, () => send(url, { host: HOST })));
  return replies.every((r) => r.headers['x-backend-version'] === version);
}

const METRICS = `metrics:
- {name: request-success-rate, thresholdRange: {min: 99}}
- {name: request-duration, thresholdRange: {max: 500}}`;

describe('weir rollout run: judgement and routes (issue 12)', () => {
  it('exits 64 when no metrics source answers, changes nothing and leaves no status behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-rollout-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'mesh.yaml'), serviceEntryYaml(NS, [{ port: 1, labels: { version: 'v1' } }]));
    await writeFile(join(dir, 'dr.yaml'), subsetsYaml(NS));
    await writeFile(join(dir, 'vs.yaml'), VS);
    await writeFile(join(dir, 'canary.yaml'), canaryYaml(`interval: 2s\nstepWeights: [20, 50]\n${METRICS}`));
    const nobody = await freePort();
    const r = rollout(cleanups, ['run', '-f', join(dir, 'canary.yaml'), '--admin', `127.0.0.1:${nobody}`, '--plain']);
    expect(await r.exit, r.output()).toBe(64);
    expect(r.output()).toMatch(
      new RegExp(
        `weir: metrics source not answering at start \\(weir admin http://127\\.0\\.0\\.1:${nobody}\\): no weir admin endpoint answered: .*; nothing was changed`,
      ),
    );
    expect(await readFile(join(dir, 'vs.yaml'), 'utf8')).toBe(VS);
    // No `Initializing` status of a run that never started (and no empty .weir/ folder).
    expect((await readdir(dir)).sort()).toEqual(['canary.yaml', 'dr.yaml', 'mesh.yaml', 'vs.yaml']);
    const status = rollout(cleanups, ['status', '-f', join(dir, 'canary.yaml')]);
    expect(await status.exit).toBe(0);
    expect(status.output()).toMatch(/no rollout of shop\/checkout yet/);
  }, 60_000);

  it('rolls back a canary 8× slower than a 5 ms primary (τ from the primary, not the 100 ms default)', async () => {
    const s = await setupRollout(cleanups, {
      v1: { latencyMs: 5 },
      v2: { latencyMs: 40 },
      analysis: `interval: 3s
match: [{headers: {x-canary-user: {exact: "true"}}}]
stepWeights: [20, 50]
${METRICS}
maxDuration: 2m`,
    });
    // The run starts before any traffic (the primary has served nothing): τ cannot be read yet.
    const run = rollout(cleanups, ['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    expect(await until(async () => (await statusIn(s.weir.dir))?.phase === 'Progressing', 60_000)).toBe(true);
    // ≈ 80 req/s, every 20th request of each loop with the header (5 %).
    const l = load(s.weir.url, {
      workers: 4,
      perWorkerRps: 20,
      maxMs: 150_000,
      header: { 'x-canary-user': 'true' },
      headerEvery: 20,
    });
    const code = await run.exit;
    await l.stop();
    expect(code, run.output()).toBe(3);
    expect(run.output()).toMatch(/RolledBack: latency-relative: ln E = [\d.]+ ≥ ln\(K\/α_R\) = 4\.382\n/);
    const log = await decisionLogIn(s.weir.dir);
    expect(log[0].tauPending).toMatch(
      /^the primary has served \d+ of the 100 requests its p50\/p90\/p99 are read from$/,
    );
    const set = log.find((x) => x.event === 'thresholds');
    expect(set?.tauSource, run.output()).toMatch(
      /^the primary's p50\/p90\/p99 over \d+ requests.*, set [\d.]+ s into the run/,
    );
    // τ follows the primary: its p50 sits near v1's 5 ms (far below v2's 40 ms and the 100 ms default), whatever the
    // tail of a loaded machine does to p90/p99.
    expect(set.thresholdsMs[0]).toBeLessThan(40);
    expect(run.output()).toContain(
      `latency thresholds τ = ${set.thresholdsMs.map((t: number) => Number(t.toPrecision(3))).join(', ')} ms`,
    );
    const rollback = log.find((x) => x.event === 'decision' && x.action === 'ROLLBACK');
    expect(rollback.triggeredBy).toEqual(['latency-relative']);
    expect(log.some((x) => x.action === 'PROMOTE')).toBe(false);
    expect(await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8')).not.toMatch(/subset: v2/);
  }, 180_000);

  it('rolls back on the relative latency test alone, and leaves the beta testers’ own route to v2 in place', async () => {
    const vs = VS.replace(
      '  http:\n',
      `  http:
  - name: beta      # the beta testers always get v2
    match:
    - headers:
        x-beta:
          exact: "1"
    route:
    - destination:
        host: ${HOST}
        subset: v2
`,
    );
    const s = await setupRollout(cleanups, {
      v1: {},
      v2: { latencyMs: 20 },
      vs,
      analysis: `interval: 2s\nstepWeights: [20, 50]\n${METRICS}\nmaxDuration: 2m`,
    });
    const l = load(s.weir.url, { workers: 8, perWorkerRps: 40, maxMs: 150_000 });
    const run = rollout(cleanups, ['run', '-f', s.canaryFile, '--admin', s.adminUrl, '--plain']);
    const code = await run.exit;
    await l.stop();
    expect(code, run.output()).toBe(3);
    const log = await decisionLogIn(s.weir.dir);
    const rollback = log.find((x) => x.event === 'decision' && x.action === 'ROLLBACK');
    // The canary-only p99 SLO (500 ms) never came near: only the relative test could see 1 ms against 20 ms.
    expect(rollback.triggeredBy, run.output()).toEqual(['latency-relative']);
    expect(rollback.reason).toMatch(/^latency-relative: ln E = [\d.]+ ≥ ln\(K\/α_R\) = 4\.382$/);
    expect(rollback.evidence.rollback.find((x: { test: string }) => x.test === 'latency-slo').lnE).toBeLessThan(0);
    expect(run.output()).toContain('routes rolled out: "primary" (those that send');
    expect(run.output()).toContain(
      'warning: routes this rollout does not manage still reach v2: http[0] ("beta") → v2 (set rollbackUnmanagedRoutes: true',
    );
    expect(log.find((x) => x.event === 'unmanaged-routes')?.reachingCanary).toEqual(['http[0] ("beta") → v2']);
    // The beta route is the user's, byte for byte; the rolled-out route is back on v1 alone.
    const after = await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8');
    expect(after).toContain(vs.slice(vs.indexOf('  - name: beta'), vs.indexOf('  - name: primary')));
    expect(after.slice(after.indexOf('  - name: primary'))).not.toMatch(/subset: v2/);
    // weir serve has reloaded the file (within seconds): the beta testers still reach v2, everyone else v1.
    expect(await until(() => onlyVersion(s.weir.url, 'v1'), 20_000)).toBe(true);
    const beta = await send(s.weir.url, { host: HOST, headers: { 'x-beta': '1' } });
    expect(beta.headers['x-backend-version']).toBe('v2');
  }, 180_000);

  it.skipIf(!PROMETHEUS_BIN)(
    'rolls back a canary with 10× the errors through a real Prometheus (--prometheus)',
    async () => {
      const s = await setupRollout(cleanups, {
        v1: { errorRate: 0.02 },
        v2: { errorRate: 0.2 },
        // A 50 % success SLO: only the relative test against the primary can see 2 % against 20 %.
        analysis: `interval: 2s\nstepWeights: [20, 50]\nmetrics:\n- {name: request-success-rate, thresholdRange: {min: 50}}\nmaxDuration: 2m`,
        serve: { metrics: createProxyMetrics },
      });
      const admin = new URL(s.adminUrl);
      const prom = await startPrometheus([
        { job: 'weir', targets: [`${admin.hostname}:${admin.port}`], metricsPath: '/stats/prometheus' },
      ]);
      cleanups.push(() => prom.close());
      const l = load(s.weir.url, { workers: 8, perWorkerRps: 40, maxMs: 150_000 });
      const run = rollout(cleanups, ['run', '-f', s.canaryFile, '--prometheus', prom.url, '--plain']);
      const code = await run.exit;
      await l.stop();
      expect(code, run.output()).toBe(3);
      expect(run.output()).toMatch(/metrics from prometheus http:\/\/127\.0\.0\.1:\d+/);
      expect(run.output()).toMatch(/RolledBack: errors-relative: ln E = [\d.]+ ≥ ln\(K\/α_R\) = 3\.689\n/);
      const status = (await statusIn(s.weir.dir)) ?? {};
      expect(status.phase).toBe('RolledBack');
      expect((status.provider as { kind: string }).kind).toBe('prometheus');
      expect(await readFile(join(s.weir.dir, 'vs.yaml'), 'utf8')).not.toMatch(/subset: v2/);
      expect(await until(() => onlyVersion(s.weir.url, 'v1'), 20_000)).toBe(true);
    },
    180_000,
  );
});
