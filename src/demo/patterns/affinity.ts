/**
 * Pattern 3A, session affinity (`examples/04-session-affinity`, namespace `affinity`): a 50/50 split with a
 * DestinationRule `consistentHash` on `session-id`. With Istio's (Envoy's) behaviour the subset is drawn at random
 * on every request and the hash only picks a pod inside it, so a session alternates between v1 and v2 — what
 * weir's WEIR0010 warns about. Then, demo-only, a temporary copy with `weir.dev/sticky-split: "true"` is
 * hot-reloaded into the running proxy: each session now stays on one version while the overall split stays 50/50.
 */

import { STICKY_SPLIT_ANNOTATION } from '../../routing/compile.ts';
import { copyWithAnnotation } from '../environment.ts';
import { failureCell, mark, runPhase as runLanes, subsetCell } from '../kit.ts';
import { formatTable, wrapText } from '../live-view.ts';
import { binomialBand, formatBand, formatPercent, isWithinBand } from '../stats.ts';
import { ClassTally } from '../tally.ts';
import type { Check, DemoContext, PatternSpec } from '../types.ts';
import { serviceHost } from '../types.ts';

/** Requests each session sends per phase, on average (a session switches with probability 1 − 2·0.5⁴ ≈ 88 % without stickiness; more sessions make the session-level 50/50 tighter). */
const REQUESTS_PER_SESSION = 4;
/** Sessions with fewer requests than this are not judged for switching. */
const MIN_REQUESTS_JUDGED = 4;

/** What one phase saw, per session. */
class SessionTally {
  readonly all: ClassTally;
  readonly sessions = new Map<string, { v1: number; v2: number; trail: string }>();
  constructor(label: string) {
    this.all = new ClassTally(label);
  }
  add(session: string, version: string | null): void {
    let s = this.sessions.get(session);
    if (!s) {
      s = { v1: 0, v2: 0, trail: '' };
      this.sessions.set(session, s);
    }
    if (version === 'v1') s.v1++;
    if (version === 'v2') s.v2++;
    if (s.trail.length < 24 && version) s.trail += version === 'v1' ? '1' : '2';
  }
  /** Sessions judged (≥ MIN requests) and how many of them saw both versions. */
  switching(): { judged: number; switched: number } {
    let judged = 0;
    let switched = 0;
    for (const s of this.sessions.values()) {
      if (s.v1 + s.v2 < MIN_REQUESTS_JUDGED) continue;
      judged++;
      if (s.v1 > 0 && s.v2 > 0) switched++;
    }
    return { judged, switched };
  }
  /** Sessions that only ever saw v2. */
  onlyV2(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.v2 > 0 && s.v1 === 0) n++;
    return n;
  }
}

function sessionId(i: number): string {
  return `session-${String(i + 1).padStart(3, '0')}`;
}

async function runPhase(
  ctx: DemoContext,
  tally: SessionTally,
  sessions: number,
  durationMs: number,
  render: () => string[],
): Promise<void> {
  const host = serviceHost('affinity');
  await runLanes(
    ctx,
    [
      {
        tally: tally.all,
        dispatcher: ctx.env.clients.local,
        share: 1,
        headers: (seq) => ({ host, 'session-id': sessionId(seq % sessions) }),
        onOutcome: (_seq, o, headers) => tally.add(headers['session-id']!, o.version),
      },
    ],
    durationMs,
    {
      render,
      progress: () => {
        const sw = tally.switching();
        return `${tally.all.label}: ${tally.all.requests} → v2 ${formatPercent(tally.all.version('v2'), tally.all.requests)}, sessions that switched ${sw.switched}/${sw.judged}`;
      },
    },
  );
}

/** The session-affinity pattern. */
export const affinityPattern: PatternSpec = {
  name: 'affinity',
  title: 'Session affinity',
  folder: '04-session-affinity',
  summary: 'v1 50 % / v2 50 %; DestinationRule consistentHash on header session-id',
  async run(ctx) {
    const phaseMs = Math.max(1000, ctx.load.durationMs / 2);
    const sessions = Math.min(200, Math.max(4, Math.round((ctx.load.rps * phaseMs) / 1000 / REQUESTS_PER_SESSION)));
    const warnings = ctx.diagnostics.filter((d) => d.code === 'WEIR0010' && d.resource?.namespace === 'affinity');
    for (const w of warnings) {
      ctx.view.print(`  ⚠ ${w.code} ${w.resource?.kind} ${w.resource?.namespace}/${w.resource?.name} ${w.field}:`);
      ctx.view.print(...wrapText(w.message.split('. ')[0]!.concat('.'), 100, '      ').map((l) => ctx.view.dim(l)));
    }
    ctx.view.print(
      `  ${sessions} sessions (session-id header), each sending about ${REQUESTS_PER_SESSION} requests per phase`,
      '',
    );
    const istio = new SessionTally('Istio default');
    const sticky = new SessionTally('weir sticky split');
    const row = (t: SessionTally, expectSwitch: boolean): string[] => {
      const sw = t.switching();
      const n = t.all.requests;
      // Requests are independent draws only without stickiness; with it, the unit of the split is the session.
      const split = expectSwitch
        ? isWithinBand(t.all.version('v2'), n, 0.5)
        : isWithinBand(t.onlyV2(), t.sessions.size, 0.5);
      const sessionOk = expectSwitch
        ? sw.judged > 0 && sw.switched * 2 >= sw.judged
        : sw.switched === 0 && sw.judged > 0;
      return [
        mark(split && sessionOk && t.all.failed === 0, n),
        t.all.label,
        String(n),
        subsetCell(t.all, 'v1'),
        subsetCell(t.all, 'v2'),
        failureCell(t.all),
        `${sw.switched}/${sw.judged}`,
        expectSwitch ? 'most' : 'none',
      ];
    };
    const trails = (t: SessionTally): string[] => {
      const out: string[] = [];
      for (let i = 0; i < Math.min(3, sessions); i++) {
        const id = sessionId(i);
        const trail = t.sessions.get(id)?.trail ?? '';
        const seq =
          trail === ''
            ? '–'
            : trail
                .split('')
                .map((c) => `v${c}`)
                .join(' ');
        out.push(ctx.view.dim(`  ${id}: ${seq}${trail.length >= 24 ? ' …' : ''}`));
      }
      return out;
    };
    const render = (t: SessionTally, expectSwitch: boolean) => (): string[] => [
      ...formatTable(
        ['', 'phase', 'requests', 'v1', 'v2', 'errors', 'sessions switching', 'expected'],
        [row(t, expectSwitch)],
        ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
      ).map((l) => `  ${l}`),
      '',
      ...trails(t),
    ];

    await runPhase(ctx, istio, sessions, phaseMs, render(istio, true));

    const dir = await copyWithAnnotation(ctx.env.configDir, 'affinity', STICKY_SPLIT_ANNOTATION, 'true');
    ctx.env.own(dir);
    const snap = await ctx.env.applyConfig(dir);
    const stillWarned = snap.diagnostics.some((d) => d.code === 'WEIR0010' && d.resource?.namespace === 'affinity');
    ctx.view.print(
      '',
      `  ↻ hot-reloaded a copy with ${STICKY_SPLIT_ANNOTATION}: "true" on the VirtualService (config v${ctx.env.serve.proxy.configVersion})`,
      '',
    );
    try {
      await runPhase(ctx, sticky, sessions, phaseMs, render(sticky, false));
    } finally {
      const restored = await ctx.env.serve.reload();
      ctx.view.print(
        '',
        `  ↻ ${restored ? 'reloaded' : 'could NOT reload'} the original examples (config v${ctx.env.serve.proxy.configVersion})`,
      );
    }

    const a = istio.switching();
    const b = sticky.switching();
    const v2Sessions = sticky.onlyV2();
    const judgedSessions = sticky.sessions.size;
    const checks: Check[] = [
      {
        label: 'validation warns WEIR0010 on the 50/50 split',
        ok: warnings.length > 0,
        observed: `${warnings.length} WEIR0010 warning(s) for namespace affinity`,
      },
      {
        label: 'Istio default: sessions alternate between v1 and v2',
        ok: a.judged > 0 && a.switched * 2 >= a.judged && istio.all.failed === 0,
        observed: `${a.switched}/${a.judged} sessions saw both versions`,
      },
      {
        label: 'Istio default: requests split ≈ 50/50',
        ok: isWithinBand(istio.all.version('v2'), istio.all.requests, 0.5) && istio.all.failed === 0,
        observed: `v2 ${formatPercent(istio.all.version('v2'), istio.all.requests)} of ${istio.all.requests} (5σ band ${formatBand(binomialBand(istio.all.requests, 0.5))})`,
      },
      {
        label: 'sticky split: the annotation silences WEIR0010',
        ok: !stillWarned,
        observed: stillWarned ? 'WEIR0010 still reported' : 'no WEIR0010 for namespace affinity',
      },
      {
        label: 'sticky split: every session stays on one version',
        ok: b.judged > 0 && b.switched === 0 && sticky.all.failed === 0,
        observed: `${b.switched}/${b.judged} sessions switched${sticky.all.failed ? `, ${failureCell(sticky.all)}` : ''}`,
      },
      {
        label: 'sticky split: sessions still split ≈ 50/50',
        ok: isWithinBand(v2Sessions, judgedSessions, 0.5),
        observed: `${v2Sessions}/${judgedSessions} sessions on v2 = ${formatPercent(v2Sessions, judgedSessions)} (5σ band ${formatBand(binomialBand(judgedSessions, 0.5))}); requests on v2 ${formatPercent(sticky.all.version('v2'), sticky.all.requests)}`,
      },
    ];
    return { checks };
  },
};
