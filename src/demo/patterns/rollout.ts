/**
 * Rollout (`examples/08-rollout`, namespace `rollout`; issue 8): `weir rollout` runs the Canary by itself against the
 * demo's proxy — header-only, 20 % mirrored, then 10 → 25 → 50 → 100 % of users (sticky) — judged by the sequential
 * statistics on the proxy's own per-route counts. Two runs on a temporary copy of the examples, each under load:
 * 1. a healthy v2 (1 % errors, as v1): promoted; the VirtualService ends at 100 % v2;
 * 2. a v2 with 3× the errors (3 % vs 1 %): rolled back at once; the VirtualService is back at 100 % v1.
 * Each takes about a minute at the demo's 200 req/s; the rewritten VirtualService is hot-reloaded after every step.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { webhookGate } from '../../cli/commands/rollout-run.ts';
import { loadPaths } from '../../config/load.ts';
import { type Canary, toResources } from '../../config/resources.ts';
import {
  RolloutController,
  specHashOf,
  type TickView,
  type TrafficRouter,
  type TrafficState,
} from '../../rollout/controller.ts';
import { planRollout } from '../../rollout/plan.ts';
import { AdminProvider } from '../../rollout/providers/admin.ts';
import { FileTrafficRouter } from '../../rollout/router/file-router.ts';
import { type RolloutPhase, rolloutPaths } from '../../rollout/status.ts';
import { statusLines } from '../../rollout/view.ts';
import { copyToTemp } from '../environment.ts';
import { sendRequest } from '../http-client.ts';
import { formatTable } from '../live-view.ts';
import { runLoad } from '../load.ts';
import { ClassTally } from '../tally.ts';
import type { Check, DemoContext, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

const NAMESPACE = 'rollout';
const HOST = serviceHost(NAMESPACE);
const FOLDER = '08-rollout';
/** Error rates of the two runs. */
const PRIMARY_ERRORS = 0.01;
const BAD_CANARY_ERRORS = 0.03;
/** Share of requests from testers (`x-canary-user: true`), and the user population for the sticky split. */
const TESTER_SHARE = 0.05;
const USERS = 2000;

interface RunResult {
  phase: RolloutPhase;
  reason: string;
  elapsedMs: number;
  vs: string;
  tally: ClassTally;
  steps: string[];
}

/** Runs the Canary once with v2 at `canaryErrors`; returns how it ended. */
async function runOnce(ctx: DemoContext, label: string, canaryErrors: number, seed: number): Promise<RunResult> {
  const { v1, v2 } = ctx.env.backends;
  await v1.configure({ errorRate: PRIMARY_ERRORS, errorStatus: 503, seed });
  await v2.configure({ errorRate: canaryErrors, errorStatus: 503, seed: seed + 1 });
  const dir = await copyToTemp(ctx.env.configDir, 'weir-demo-rollout-');
  ctx.env.own(dir);
  await ctx.env.applyConfig(dir);
  const canaryFile = join(dir, FOLDER, 'canary.yaml');
  const loaded = await loadPaths([canaryFile]);
  const canary = toResources(loaded.documents).resources.find((r): r is Canary => r.kind === 'Canary');
  if (!canary) throw new Error(`${canaryFile}: no Canary`);
  const plan = planRollout(canary);
  const file = await FileTrafficRouter.locate(
    [join(dir, FOLDER)],
    {
      namespace: plan.virtualService.namespace,
      name: plan.virtualService.name,
      host: plan.host,
      primarySubset: plan.primarySubset,
      canarySubset: plan.canarySubset,
    },
    { mirror: plan.steps.some((s) => s.kind === 'mirror'), routes: plan.routes },
  );
  const steps: string[] = [];
  // The demo's proxy does not watch files: swap each rewritten VirtualService in, as a file watch would.
  const router: TrafficRouter = {
    description: `file ${file.file}`,
    managedRoutes: file.managedRoutes,
    read: () => file.read(),
    async apply(state: TrafficState) {
      const r = await file.apply(state);
      if (r.changed) {
        await ctx.env.applyConfig(dir);
        steps.push(
          state.canaryWeight > 0
            ? `${state.canaryWeight} %`
            : state.mirrorPercent !== null
              ? `mirror ${state.mirrorPercent} %`
              : state.match
                ? 'header-only'
                : '0 %',
        );
      }
      return r;
    },
  };
  const tally = new ClassTally(label);
  let view: TickView | null = null;
  const controller = new RolloutController(
    {
      plan,
      canaryFile,
      paths: rolloutPaths(canaryFile, plan.namespace, plan.name),
      provider: new AdminProvider([ctx.env.adminUrl ?? '']),
      router,
      webhooks: webhookGate(plan, specHashOf(canary.spec)),
      specHash: specHashOf(canary.spec),
      onTick: (v) => {
        view = v;
      },
    },
    null,
  );
  const stop = new AbortController();
  const onAbort = (): void => controller.stop();
  ctx.signal.addEventListener('abort', onAbort);
  const t0 = performance.now();
  const render = (): string[] => {
    const lines = view ? statusLines(view, Date.now()) : ['starting…'];
    return [
      ...lines.map((l) => `  ${l}`),
      '',
      ...formatTable(
        ['client', 'requests', 'v1', 'v2', 'non-2xx'],
        [
          [
            tally.label,
            String(tally.requests),
            String(tally.version('v1')),
            String(tally.version('v2')),
            String(tally.failed),
          ],
        ],
        ['left', 'right', 'right', 'right', 'right'],
      ).map((l) => `  ${l}`),
    ];
  };
  const live = ctx.view.start(render, () => (view ? statusLines(view, Date.now())[0]! : 'starting'));
  let rnd = seed * 7919;
  const next = (): number => {
    rnd = (rnd * 1103515245 + 12345) % 2147483648;
    return rnd / 2147483648;
  };
  try {
    const load = runLoad(
      {
        durationMs: plan.policy.maxDurationMs + 30_000,
        rps: ctx.load.rps,
        concurrency: ctx.load.concurrency,
        signal: AbortSignal.any([stop.signal, ctx.signal]),
      },
      async () => {
        const headers: Record<string, string> = { host: HOST, 'x-user-id': `user-${Math.floor(next() * USERS)}` };
        if (next() < TESTER_SHARE) headers['x-canary-user'] = 'true';
        tally.add(await sendRequest(ctx.env.clients.local, ctx.env.proxyUrl, headers));
      },
    );
    const phase = await controller.run();
    stop.abort();
    await load;
    return {
      phase,
      reason: controller.current.lastTransition.reason,
      elapsedMs: performance.now() - t0,
      vs: await readFile(join(dir, FOLDER, 'virtual-service.yaml'), 'utf8'),
      tally,
      steps,
    };
  } finally {
    stop.abort();
    ctx.signal.removeEventListener('abort', onAbort);
    live.stop(render());
  }
}

const subsetsIn = (vs: string): string[] => [...vs.matchAll(/subset: (v\d)/g)].map((m) => m[1]!);

/** The rollout pattern. */
export const rolloutPattern: PatternSpec = {
  name: 'rollout',
  title: 'Automated rollout',
  folder: FOLDER,
  summary: 'weir rollout: header-only → mirror 20 % → 10/25/50/100 % sticky; promote or roll back by sequential tests',
  async run(ctx) {
    if (!ctx.env.adminUrl) return { checks: [], skipped: 'the proxy has no admin port to read counts from' };
    const checks: Check[] = [];
    try {
      ctx.view.print(`  run 1: v2 as healthy as v1 (${PRIMARY_ERRORS * 100} % errors each)`);
      const good = await runOnce(ctx, 'healthy v2', PRIMARY_ERRORS, 101);
      ctx.view.print(
        `  → ${good.phase} after ${(good.elapsedMs / 1000).toFixed(0)} s via ${good.steps.join(' → ')}`,
        '',
      );
      checks.push(
        {
          label: 'healthy v2 is promoted',
          ok: good.phase === 'Promoted',
          observed: `${good.phase} in ${(good.elapsedMs / 1000).toFixed(0)} s: ${good.reason}`,
        },
        {
          label: 'the VirtualService ends at 100 % v2',
          ok: subsetsIn(good.vs).every((s) => s === 'v2') && subsetsIn(good.vs).length > 0,
          observed: `subsets in the file: ${subsetsIn(good.vs).join(', ')}`,
        },
      );
      ctx.view.print(`  run 2: v2 with 3× the errors (${BAD_CANARY_ERRORS * 100} % vs ${PRIMARY_ERRORS * 100} %)`);
      const bad = await runOnce(ctx, '3× errors v2', BAD_CANARY_ERRORS, 202);
      ctx.view.print(`  → ${bad.phase} after ${(bad.elapsedMs / 1000).toFixed(0)} s via ${bad.steps.join(' → ')}`);
      checks.push(
        {
          label: 'v2 with 3× the errors is rolled back',
          ok: bad.phase === 'RolledBack',
          observed: `${bad.phase} in ${(bad.elapsedMs / 1000).toFixed(0)} s: ${bad.reason}`,
        },
        {
          label: 'the VirtualService is back at 100 % v1',
          ok: subsetsIn(bad.vs).every((s) => s === 'v1') && subsetsIn(bad.vs).length > 0,
          observed: `subsets in the file: ${subsetsIn(bad.vs).join(', ')}`,
        },
      );
    } finally {
      await ctx.env.backends.v1.configure({ errorRate: 0 });
      await ctx.env.backends.v2.configure({ errorRate: 0 });
      await ctx.env.serve.reload();
    }
    return { checks };
  },
};
