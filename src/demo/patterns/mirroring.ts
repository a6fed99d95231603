/**
 * Pattern 2, traffic mirroring (`examples/03-mirroring`, namespace `mirroring`): every response comes from v1;
 * about 10 % of requests are copied to v2 with `-shadow` appended to the Host, and v2's answers are discarded.
 * Evidence from both ends: what the clients saw, and what v2's backend received (its per-Host counts).
 */
import { allOnCheck, progressOf, runPhase, settleProxy } from '../kit.ts';
import { formatTable } from '../live-view.ts';
import { binomialBand, formatBand, formatPercent, isWithinBand } from '../stats.ts';
import { ClassTally } from '../tally.ts';
import type { Check, DemoContext, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

/** `mirrorPercentage.value` in the example, as a fraction. */
const MIRROR_SHARE = 0.1;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until v2 has no request in flight and its count stops growing (mirrors are fire-and-forget), ≤ 2 s. */
async function settleMirrors(ctx: DemoContext): Promise<void> {
  await settleProxy(ctx);
  const end = performance.now() + 2000;
  let last = -1;
  while (performance.now() < end) {
    const s = ctx.env.backends.v2.stats();
    if (s.inFlight === 0 && s.totalRequests === last) return;
    last = s.totalRequests;
    await sleep(50);
  }
}

/** The mirroring pattern. */
export const mirroringPattern: PatternSpec = {
  name: 'mirroring',
  title: 'Traffic mirroring',
  folder: '03-mirroring',
  summary: 'v1 100 %; mirror 10 % to v2 (Host + -shadow, response discarded)',
  async run(ctx) {
    const host = serviceHost('mirroring');
    const shadowHost = `${host}-shadow`;
    const { v1, v2 } = ctx.env.backends;
    const clients = new ClassTally('clients');
    const render = (): string[] => {
      const s1 = v1.stats();
      const s2 = v2.stats();
      const n = clients.requests;
      const got = s2.totalRequests;
      const shadow = s2.byHost[shadowHost] ?? 0;
      const band = n > 0 ? formatBand(binomialBand(n, MIRROR_SHARE)) : '–';
      const mirrorOk = isWithinBand(got, n, MIRROR_SHARE) && shadow === got;
      const rows = [
        [
          n === 0 ? '…' : clients.version('v1') === n && clients.failed === 0 ? '✓' : '✗',
          'clients got answers from',
          String(n),
          `v1 ${clients.version('v1')} · v2 ${clients.version('v2')}${clients.failed ? ` · errors ${clients.failed}` : ''}`,
          'v1 only',
        ],
        [
          n === 0 ? '…' : (s1.byHost[host] ?? 0) === n ? '✓' : '✗',
          'v1 backend received',
          String(s1.totalRequests),
          `original Host ×${s1.byHost[host] ?? 0}`,
          'every request',
        ],
        [
          n === 0 ? '…' : mirrorOk ? '✓' : '✗',
          'v2 backend received',
          String(got),
          `${formatPercent(got, n)} of requests, -shadow Host ×${shadow}`,
          `10 % (5σ ${band}), -shadow`,
        ],
      ];
      return [
        ...formatTable(['', '', 'requests', 'observed', 'expected'], rows, [
          'left',
          'left',
          'right',
          'left',
          'left',
        ]).map((l) => `  ${l}`),
        '',
        ctx.view.dim(`  mirror Host: ${shadowHost}`),
      ];
    };
    await runPhase(
      ctx,
      [{ tally: clients, dispatcher: ctx.env.clients.local, share: 1, headers: () => ({ host }) }],
      ctx.load.durationMs,
      {
        render,
        progress: () => `${progressOf(clients)} | v2 backend received ${v2.stats().totalRequests} (mirrors)`,
        settle: () => settleMirrors(ctx),
      },
    );
    const s1 = v1.stats();
    const s2 = v2.stats();
    const n = clients.requests;
    const got = s2.totalRequests;
    const shadow = s2.byHost[shadowHost] ?? 0;
    const sent = ctx.env.tap.mirrorsTo(host).get('sent') ?? 0;
    const checks: Check[] = [
      allOnCheck('clients only ever see v1', clients, 'v1'),
      {
        label: 'v2 receives ≈ 10 % as mirrors',
        ok: isWithinBand(got, n, MIRROR_SHARE),
        observed: `${got} = ${formatPercent(got, n)} of ${n} (5σ band ${formatBand(binomialBand(n, MIRROR_SHARE))}); proxy reports ${sent} mirror(s) sent`,
      },
      {
        label: `mirrored requests carry Host ${shadowHost}`,
        ok: got > 0 && shadow === got,
        observed: `${shadow}/${got} with the -shadow Host${got > shadow ? `; others: ${JSON.stringify(s2.byHost)}` : ''}`,
      },
      {
        label: 'v1 serves every request with the original Host',
        ok: n > 0 && (s1.byHost[host] ?? 0) === n,
        observed: `${s1.byHost[host] ?? 0}/${n}`,
      },
    ];
    return { checks };
  },
};
