/**
 * The printed report of `npm run bench:scale`: one table row per size (the issue's target columns), the load table,
 * and how each figure grows with size (log-log slope between consecutive sizes and over all, as "× per 10×
 * services": 10 means linear, 100 quadratic).
 */
import type { ChangeResult } from './measure.ts';
import type { SizeRow } from './size.ts';

/** ms → "850 ms" / "4.3 s"; null → "–". */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

const mb = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${Math.round(v)} MB`);

function change(c: ChangeResult | null): string {
  if (c === null) return 'skipped';
  const stall = `stall ${fmtMs(c.probeMaxDelayMs)} / ${c.eventLoopDelayMaxMs === null ? '–' : `≤ ${fmtMs(c.eventLoopDelayMaxMs)}`}`;
  if (c.timedOut) return `**> ${fmtMs(c.timeoutMs)}** (${stall})`;
  return `${fmtMs(c.inEffectMs)} (${stall})`;
}

/** The main table (Markdown). */
export function sizeTable(rows: SizeRow[]): string {
  const out = [
    '| services (resources, YAML) | `weir validate` | `weir serve` start → /ready | RSS after start | endpoint removed → in effect | endpoint added → in effect | weight 95/5 → 90/10 → in effect | RSS after 1 reload / after N reloads (N) | reload in effect, median of N |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const v = r.validate;
    const validate =
      v === null
        ? 'skipped'
        : v.timedOut
          ? `**> ${fmtMs(v.wallMs)}**`
          : `${fmtMs(v.wallMs)}${v.exitCode === 0 && v.resources === r.resources ? '' : ` (exit ${v.exitCode ?? v.signal}, ${v.resources ?? '?'} resources, ${v.diagnostics ?? '?'} diagnostics)`}`;
    const ready = r.readyMs !== null ? fmtMs(r.readyMs) : r.serveFailure ? `**${r.serveFailure}**` : 'skipped';
    const n = r.reloads;
    out.push(
      `| ${r.services.toLocaleString('en-US')} (${r.resources.toLocaleString('en-US')}, ${r.yamlMb.toFixed(2)} MB) | ${validate} | ${ready} | ${mb(r.rssAfterStartMb)} | ${change(r.endpointRemoved)} | ${change(r.endpointAdded)} | ${change(r.weight)} | ${mb(r.rssAfter1ReloadMb)} / ${mb(n?.rssAfterMb)} (${n ? `${n.done}${n.stoppedBy === 'done' ? '' : `, ${n.stoppedBy}`}` : '–'}) | ${fmtMs(n?.medianMs)} |`,
    );
  }
  return out.join('\n');
}

/** The load table (Markdown). */
export function loadTable(rows: SizeRow[], rate: number, churn: number): string {
  const out = [
    `| services | direct p50 / p99 | through weir p50 / p99 | with ${churn} endpoint changes/s p50 / p99 | added p99: no churn → churn (ratio) | reloads applied: no churn / churn (writes) | event-loop delay max: no churn / churn | weir CPU: no churn / churn | errors: no churn / churn |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const l = r.load;
    if (!l?.direct || !l.proxy || !l.churn) {
      out.push(`| ${r.services.toLocaleString('en-US')} | – | – | – | – | – | – | – | – |`);
      continue;
    }
    const [d, p, c] = [l.direct, l.proxy.result, l.churn.result];
    const a0 = p.p99 - d.p99;
    const a1 = c.p99 - d.p99;
    const ld = (v: number | null): string => (v === null ? '–' : `≤ ${fmtMs(v)}`);
    const pct = (v: number): string => `${Math.round(100 * v)} %`;
    out.push(
      `| ${r.services.toLocaleString('en-US')} | ${fmtMs(d.p50)} / ${fmtMs(d.p99)} | ${fmtMs(p.p50)} / ${fmtMs(p.p99)} | ${fmtMs(c.p50)} / ${fmtMs(c.p99)} | ${fmtMs(a0)} → ${fmtMs(a1)} (${(a1 / a0).toFixed(1)}×) | ${l.proxy.reloads ?? '?'} / ${l.churn.reloads ?? '?'} (${l.churnWrites}) | ${ld(l.proxy.eventLoopDelayMaxMs)} / ${ld(l.churn.eventLoopDelayMaxMs)} | ${pct(l.proxy.weirCpuShare)} / ${pct(l.churn.weirCpuShare)} | ${p.errors} / ${c.errors} |`,
    );
  }
  out.push(
    '',
    `Load: ${rate} req/s open loop (per-request latency from its scheduled start); added = through weir − direct.`,
  );
  return out.join('\n');
}

/** One figure per size (null when not measured or timed out). */
export interface Figure {
  name: string;
  of: (r: SizeRow) => number | null;
}

const ok = (c: ChangeResult | null): number | null => (c && !c.timedOut ? c.inEffectMs : null);
const maxOf = (...xs: (number | null)[]): number | null =>
  xs.some((x) => x === null) ? null : Math.max(...(xs as number[]));

/** The figures whose growth is reported. */
export const FIGURES: readonly Figure[] = [
  { name: '`weir validate`', of: (r) => (r.validate && !r.validate.timedOut ? r.validate.wallMs : null) },
  { name: 'start → /ready', of: (r) => r.readyMs },
  { name: 'RSS after start', of: (r) => r.rssAfterStartMb },
  { name: 'endpoint change → in effect (max of −/+)', of: (r) => maxOf(ok(r.endpointRemoved), ok(r.endpointAdded)) },
  { name: 'weight change → in effect', of: (r) => ok(r.weight) },
  {
    name: 'longest stall seen by the probe (max over the 3 changes)',
    of: (r) =>
      r.endpointRemoved && r.endpointAdded && r.weight
        ? Math.max(r.endpointRemoved.probeMaxDelayMs, r.endpointAdded.probeMaxDelayMs, r.weight.probeMaxDelayMs)
        : null,
  },
  { name: 'RSS after N reloads', of: (r) => r.reloads?.rssAfterMb ?? null },
  { name: 'reload in effect (median of N)', of: (r) => r.reloads?.medianMs ?? null },
  {
    name: 'added p99 with churn',
    // Left out when weir applied fewer than one reload per ten writes (then it measures no applying at all).
    of: (r) =>
      r.load?.churn && r.load.direct && (r.load.churn.reloads ?? 0) >= r.load.churnWrites / 10
        ? r.load.churn.result.p99 - r.load.direct.p99
        : null,
  },
];

/** Least-squares slope of ln(value) on ln(services) over the points given (≥ 2), or null. */
export function logLogSlope(points: readonly [number, number][]): number | null {
  const pts = points.filter(([x, y]) => x > 0 && y > 0);
  if (pts.length < 2) return null;
  const xs = pts.map(([x]) => Math.log(x));
  const ys = pts.map(([, y]) => Math.log(y));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

/** Growth of each figure: pairwise "× per 10× services" between consecutive sizes and the overall slope. */
export function growth(rows: SizeRow[]): {
  figure: string;
  pairs: { from: number; to: number; per10x: number | null }[];
  slope: number | null;
  per10x: number | null;
}[] {
  return FIGURES.map((f) => {
    const pts = rows.map((r) => [r.services, f.of(r)] as const).filter((p): p is [number, number] => p[1] !== null);
    const pairs = rows.slice(1).map((r, i) => {
      const a = f.of(rows[i]!);
      const b = f.of(r);
      const s =
        a !== null && b !== null
          ? logLogSlope([
              [rows[i]!.services, a],
              [r.services, b],
            ])
          : null;
      return { from: rows[i]!.services, to: r.services, per10x: s === null ? null : 10 ** s };
    });
    const slope = logLogSlope(pts);
    return { figure: f.name, pairs, slope, per10x: slope === null ? null : 10 ** slope };
  });
}

/** The growth table (Markdown). */
export function growthTable(rows: SizeRow[]): string {
  const g = growth(rows);
  if (rows.length < 2) return '(one size: no growth figures)';
  const head = rows
    .slice(1)
    .map((r, i) => `${rows[i]!.services.toLocaleString('en-US')} → ${r.services.toLocaleString('en-US')}`);
  const out = [
    `| figure | ${head.join(' | ')} | log-log slope (all sizes) | × per 10× services |`,
    `|---|${head.map(() => '---|').join('')}---|---|`,
  ];
  const x = (v: number | null): string => (v === null ? '–' : `${v.toFixed(1)}×`);
  for (const f of g) {
    out.push(
      `| ${f.figure} | ${f.pairs.map((p) => x(p.per10x)).join(' | ')} | ${f.slope === null ? '–' : f.slope.toFixed(2)} | ${x(f.per10x)} |`,
    );
  }
  out.push(
    '',
    'Pairwise columns: growth per 10× services between the two sizes (10^slope). Slope 1 = linear. Timed-out values, and the churn figure when weir applied < 1 reload per 10 writes, are left out; N of "RSS after N reloads" differs by size.',
  );
  return out.join('\n');
}
