/**
 * Pattern 1, composite routing (`examples/01-composite-routing`, namespace `composite`): requests with
 * `x-canary-user: true` match the first route and all go to v2; the rest fall through to the 95/5 split.
 */
import { allOnCheck, progressOf, runPhase, SUBSET_ALIGN, SUBSET_HEAD, shareCheck, subsetRow } from '../kit.ts';
import { formatTable } from '../live-view.ts';
import { ClassTally } from '../tally.ts';
import { type PatternSpec, serviceHost } from '../types.ts';

/** One request in five carries the header; the others show the split. */
const CANARY_SHARE = 0.2;

/** The composite-routing pattern. */
export const compositePattern: PatternSpec = {
  name: 'composite',
  title: 'Composite routing',
  folder: '01-composite-routing',
  summary: 'http[0] x-canary-user: true → v2; http[1] → v1 95 % / v2 5 %',
  async run(ctx) {
    const host = serviceHost('composite');
    const canary = new ClassTally('x-canary-user: true');
    const rest = new ClassTally('no header');
    const render = (): string[] =>
      formatTable(SUBSET_HEAD, [subsetRow(canary, 1), subsetRow(rest, 0.05)], SUBSET_ALIGN).map((l) => `  ${l}`);
    await runPhase(
      ctx,
      [
        {
          tally: canary,
          dispatcher: ctx.env.clients.local,
          share: CANARY_SHARE,
          headers: () => ({ host, 'x-canary-user': 'true' }),
        },
        { tally: rest, dispatcher: ctx.env.clients.local, share: 1 - CANARY_SHARE, headers: () => ({ host }) },
      ],
      ctx.load.durationMs,
      { render, progress: () => `${progressOf(canary)} | ${progressOf(rest)}` },
    );
    return {
      checks: [
        allOnCheck('x-canary-user: true → v2 100 %', canary, 'v2'),
        shareCheck('no header → v2 ≈ 5 %', rest, 'v2', 0.05),
      ],
    };
  },
};
