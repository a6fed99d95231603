/**
 * Pattern 1, edge case (`examples/02-source-labels`, namespace `source-labels`): the route to v2 matches
 * `sourceLabels: {app: qa-tools}`. The proxy identifies a client by its address in the registry (the qa-tools
 * WorkloadEntry is 127.0.0.5, `examples/clients.yaml`), never by a header, so only real qa-tools traffic gets v2.
 */
import { QA_TOOLS_ADDRESS } from '../http-client.ts';
import { allOnCheck, progressOf, runPhase, SUBSET_ALIGN, SUBSET_HEAD, subsetRow } from '../kit.ts';
import { formatTable } from '../live-view.ts';
import { ClassTally } from '../tally.ts';
import type { Check, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

/** The source-labels pattern. */
export const sourceLabelsPattern: PatternSpec = {
  name: 'source-labels',
  title: 'Source labels',
  folder: '02-source-labels',
  summary: 'http[0] sourceLabels app: qa-tools → v2; http[1] → v1',
  async run(ctx) {
    const qa = ctx.env.clients.qa;
    if (qa === null) {
      return {
        checks: [],
        skipped: `this host cannot send from ${QA_TOOLS_ADDRESS} (${ctx.env.qaUnavailable}); on macOS: sudo ifconfig lo0 alias ${QA_TOOLS_ADDRESS} up`,
      };
    }
    const host = serviceHost('source-labels');
    const fromQa = new ClassTally(`from ${QA_TOOLS_ADDRESS} (qa-tools)`);
    const fromLocal = new ClassTally('from 127.0.0.1');
    const sourcesOf = (index: number): string => {
      const r = ctx.env.tap.route(host, index);
      return [...r.bySource.entries()].map(([s, n]) => `${s}×${n}`).join(' ') || '–';
    };
    const render = (): string[] => [
      ...formatTable(SUBSET_HEAD, [subsetRow(fromQa, 1), subsetRow(fromLocal, 0)], SUBSET_ALIGN).map((l) => `  ${l}`),
      '',
      ctx.view.dim(`  proxy saw sources: route[0] ${sourcesOf(0)} · route[1] ${sourcesOf(1)}`),
    ];
    await runPhase(
      ctx,
      [
        { tally: fromQa, dispatcher: qa, share: 0.5, headers: () => ({ host }) },
        { tally: fromLocal, dispatcher: ctx.env.clients.local, share: 0.5, headers: () => ({ host }) },
      ],
      ctx.load.durationMs,
      { render, progress: () => `${progressOf(fromQa)} | ${progressOf(fromLocal)}` },
    );
    const r0 = ctx.env.tap.route(host, 0);
    const identified = r0.bySource.get('qa/qa-tools') ?? 0;
    const identity: Check = {
      label: 'proxy identified 127.0.0.5 as workload qa/qa-tools',
      ok: fromQa.requests > 0 && identified === fromQa.requests,
      observed: `${identified}/${fromQa.requests} on route[0] from qa/qa-tools`,
    };
    return {
      checks: [
        allOnCheck(`from ${QA_TOOLS_ADDRESS} (qa-tools) → v2 100 %`, fromQa, 'v2'),
        allOnCheck('from 127.0.0.1 → v1 100 %', fromLocal, 'v1'),
        identity,
      ],
    };
  },
};
