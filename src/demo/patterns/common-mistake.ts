/**
 * Pattern 3B, the article's "common mistake" (`examples/05-common-mistake`, namespace `common-mistake`): a second
 * match-less route meant to give v2 a stricter policy sits after a catch-all route, so it can never be reached.
 * `weir validate` reports IST0130 (as `istioctl analyze` does); the traffic then shows every request, including the
 * 5 % that reach v2, taken by route[0] under its lenient policy, and route[1] never used.
 */
import { relative } from 'node:path';
import { formatDiagnosticLine } from '../../cli/output.ts';
import { mark, runPhase, subsetCell } from '../kit.ts';
import { formatTable, wrapText } from '../live-view.ts';
import { binomialBand, formatBand, formatPercent, isWithinBand } from '../stats.ts';
import { ClassTally } from '../tally.ts';
import type { Check, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

/** The common-mistake pattern. */
export const commonMistakePattern: PatternSpec = {
  name: 'common-mistake',
  title: 'The common mistake',
  folder: '05-common-mistake',
  summary: 'http[0] 95/5 split, lenient; http[1] v2 with a strict policy, after it',
  async run(ctx) {
    const host = serviceHost('common-mistake');
    const found = ctx.diagnostics.filter((d) => d.code === 'IST0130' && d.resource?.namespace === 'common-mistake');
    ctx.view.print(`  $ weir validate ${relative(process.cwd(), ctx.examplesDir) || '.'}`);
    for (const d of found) {
      const shown = d.position
        ? { ...d, position: { ...d.position, file: relative(process.cwd(), d.position.file) } }
        : d;
      ctx.view.print(
        ...wrapText(`⚠ ${formatDiagnosticLine(shown)}`, 110, '  ').map((l, i) => (i === 0 ? l : `  ${l}`)),
      );
    }
    if (found.length === 0) ctx.view.print('  ✗ no IST0130 reported for namespace common-mistake');
    ctx.view.print('');

    const clients = new ClassTally('all requests');
    const routeRow = (index: number, policy: string): string[] => {
      const r = ctx.env.tap.route(host, index);
      const v1 = r.bySubset.get('v1') ?? 0;
      const v2 = r.bySubset.get('v2') ?? 0;
      const ok = index === 0 ? r.requests === clients.requests : r.requests === 0;
      return [
        mark(ok, clients.requests),
        `http[${index}]`,
        policy,
        String(r.requests),
        `${v1}  ${formatPercent(v1, r.requests).padStart(7)}`,
        `${v2}  ${formatPercent(v2, r.requests).padStart(7)}`,
        index === 0 ? 'every request' : 'never (IST0130)',
      ];
    };
    const render = (): string[] => [
      ...formatTable(
        ['', 'route', 'as written', 'requests (proxy)', 'v1', 'v2', 'expected'],
        [routeRow(0, 'v1 95 % / v2 5 %, timeout 30s, 3 retries'), routeRow(1, 'v2 100 %, timeout 5s, 1 retry')],
        ['left', 'left', 'left', 'right', 'right', 'right', 'left'],
      ).map((l) => `  ${l}`),
      '',
      ctx.view.dim(
        `  clients: ${clients.requests} requests, v1 ${subsetCell(clients, 'v1').replace(/\s+/g, ' ')}, v2 ${subsetCell(clients, 'v2').replace(/\s+/g, ' ')} (expected v2 5 %, 5σ band ${clients.requests ? formatBand(binomialBand(clients.requests, 0.05)) : '–'})`,
      ),
    ];
    await runPhase(
      ctx,
      [{ tally: clients, dispatcher: ctx.env.clients.local, share: 1, headers: () => ({ host }) }],
      ctx.load.durationMs,
      {
        render,
        progress: () => {
          const r0 = ctx.env.tap.route(host, 0).requests;
          const r1 = ctx.env.tap.route(host, 1).requests;
          return `${clients.requests} requests: http[0] ${r0}, http[1] ${r1}; v2 ${formatPercent(clients.version('v2'), clients.requests)}`;
        },
      },
    );
    const r0 = ctx.env.tap.route(host, 0);
    const r1 = ctx.env.tap.route(host, 1);
    const checks: Check[] = [
      {
        label: 'weir validate reports IST0130 for the second route',
        ok: found.some((d) => d.field.startsWith('spec.http[1]')),
        observed: found.map((d) => `${d.code} ${d.field}`).join(', ') || 'nothing reported',
      },
      {
        label: 'the strict second route is never used',
        ok: clients.requests > 0 && r1.requests === 0 && r0.requests === clients.requests,
        observed: `http[1] took ${r1.requests}, http[0] took ${r0.requests} of ${clients.requests}`,
      },
      {
        label: 'v2 still gets ≈ 5 %, under route[0]’s policy',
        ok: isWithinBand(clients.version('v2'), clients.requests, 0.05) && clients.failed === 0,
        observed: `v2 ${formatPercent(clients.version('v2'), clients.requests)} of ${clients.requests} (5σ band ${formatBand(binomialBand(clients.requests, 0.05))}), all via http[0]`,
      },
    ];
    return { checks };
  },
};
