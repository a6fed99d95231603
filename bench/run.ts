/**
 * `npm run bench`: weir side by side with direct, nginx, HAProxy and a Node baseline, in one run
 * (docs/performance.md; design in shared/design/performance.md Part B).
 *
 * Layout: every proxy alone on CPU 1; h2load/wrk and the two nginx backends (v1, v2: 1 KiB, 1 worker each) on
 * CPU 0. One worker per peer. Per round every target once, order reversed every other round; per target a fresh
 * process: header-rule check, warm-up, latency at a fixed 1,000 req/s (h2load, 16 staggered connections,
 * percentiles from its per-request log), then saturation (wrk), with CPU time from /proc/PID/stat, RSS/peak
 * from /proc/PID/status and the v1/v2 split from the backends' counters. A run with errors, a missed rate, a wrong
 * split or > 2 % steal is rejected (reported, not averaged). Figures are medians over kept rounds; ratios are
 * medians of per-round ratios; direct-b vs direct is the noise floor.
 *
 *   npm run bench [-- --quick] [--rounds N] [--latency-seconds S] [--sat-seconds S] [--sat-conns C] [--warm-rate-seconds S]
 *                 [--only weir,nginx,...] [--weir-node LABEL=PATH ...]   (weir on other Node binaries: target weir@LABEL)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWeir } from './lib/bundle.ts';
import { h2loadFixedRate, type LatencyResult, type SaturationResult, wrkSaturation } from './lib/load.ts';
import {
  backendCount,
  type Ctx,
  HOST,
  type Running,
  startBackend,
  TARGETS,
  type Target,
  weirOnNode,
} from './lib/peers.ts';
import { CLK_TCK, cpuSeconds, cpuStat, ensureTools, freePort, memory } from './lib/sys.ts';

const ROOT = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const QUICK = args.includes('--quick');
const ROUNDS = opt('rounds', QUICK ? 2 : 5);
const LAT_S = opt('latency-seconds', QUICK ? 3 : 15);
const SAT_S = opt('sat-seconds', QUICK ? 2 : 8);
const WARM_S = QUICK ? 1 : 2;
/**
 * Warm-up at the fixed rate before the latency window, seconds (performance.md B6: ≥ 5 s at the target rate). V8's
 * optimising compiler runs on a helper thread that shares the proxy's core: after 1 s of wrk and 1 s at 1,000 req/s
 * weir's next 3 s still held 44 TurboFan jobs, 131 ms of compiler time; after 6 s at 1,000 req/s, 6 jobs and 18 ms
 * (bench/lab, --trace-opt). A 1-s warm-up made the p99 a measure of the JIT's warm-up, not of the proxy.
 */
const WARM_RATE_S = opt('warm-rate-seconds', 5);
const SAT_CONNS = opt('sat-conns', 16);
const RATE = 1000;
const CLIENTS = 16;
const PROXY_CPU = 1;
const LOAD_CPU = 0;
/** A run whose proxy core was busy with something else than the proxy for more than this share is rejected. */
const MAX_FOREIGN = opt('max-foreign', 0.25);
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set(args[onlyArg + 1]!.split(',')) : null;
/** `--weir-node LABEL=PATH` (repeatable): weir run by another Node.js binary, as target `weir@LABEL`. */
const WEIR_NODES: Target[] = args.flatMap((a, i) => {
  if (a !== '--weir-node') return [];
  const [label, path] = (args[i + 1] ?? '').split('=');
  if (!label || !path) throw new Error('--weir-node LABEL=PATH');
  return [weirOnNode(label, path)];
});

interface RoundRecord {
  target: string;
  round: number;
  position: number;
  kept: boolean;
  reasons: string[];
  idleRssMb?: number;
  rssMb?: number;
  peakRssMb?: number;
  latency?: LatencyResult;
  saturation?: SaturationResult;
  cpuUsPerReq1k?: number;
  cpuUsPerReqSat?: number;
  /** Share of one core used by the proxy during the saturation run (validity: ≥ 0.9 means proxy-bound). */
  proxyCoreSat?: number;
  loaderCoreSat?: number;
  /** Busy share of the proxy's core not charged to the proxy (other processes, interrupts) during saturation and latency. */
  foreignSat?: number;
  foreignLatency?: number;
  v2ShareLatency?: number;
  v2ShareSat?: number;
  headerRuleV2?: string;
  stealPct?: number;
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const range = (xs: number[]): [number, number] => {
  const s = xs.filter(Number.isFinite);
  return s.length ? [Math.min(...s), Math.max(...s)] : [Number.NaN, Number.NaN];
};
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;

function version(cmd: string, argv: string[]): string {
  try {
    const out = execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]!.trim();
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string };
    return `${err.stderr ?? ''}${err.stdout ?? ''}`.split('\n')[0]!.trim();
  }
}

function nginxVersion(): string {
  try {
    return execFileSync('sh', ['-c', 'nginx -v 2>&1'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function counts(ctx: Ctx): Promise<[number, number]> {
  return [await backendCount(ctx.v1), await backendCount(ctx.v2)];
}

/** The split check: passthrough/direct must send nothing to v2; the rule 5 % ± 4σ (σ of a binomial). */
function splitOk(t: Target, v2: number, total: number): boolean {
  if (!t.routing) return v2 === 0;
  const sigma = Math.sqrt(total * 0.05 * 0.95);
  return Math.abs(v2 - 0.05 * total) <= Math.max(4 * sigma, 3);
}

/** Share of the proxy core's time that was busy but not charged to the proxy's processes (jiffies = 1/CLK_TCK). */
function foreign(st0: ReturnType<typeof cpuStat>, st1: ReturnType<typeof cpuStat>, proxySeconds: number): number {
  const total = st1.total[PROXY_CPU]! - st0.total[PROXY_CPU]!;
  const busy = st1.busy[PROXY_CPU]! - st0.busy[PROXY_CPU]!;
  return Math.max(0, busy - proxySeconds * CLK_TCK) / Math.max(1, total);
}

async function measure(ctx: Ctx, t: Target, round: number, position: number, run: Running): Promise<RoundRecord> {
  const rec: RoundRecord = { target: t.name, round, position, kept: true, reasons: [] };
  const pids = run.pids;
  const host = HOST;
  const log = join(ctx.dir, `h2load-${t.name}-${round}.log`);
  rec.idleRssMb = memory(pids).rssMb;
  // Header rule: 200 requests with x-canary-user: true must all reach v2 (routing targets only).
  if (t.routing) {
    const c0 = await counts(ctx);
    const out = execFileSync(
      'taskset',
      [
        '-c',
        String(LOAD_CPU),
        'h2load',
        '--h1',
        '-c4',
        '-n200',
        '-H',
        `:authority: ${host}`,
        '-H',
        'x-canary-user: true',
        run.url,
      ],
      { encoding: 'utf8' },
    );
    const c1 = await counts(ctx);
    const v1 = c1[0] - c0[0] - 1;
    const v2 = c1[1] - c0[1] - 1;
    rec.headerRuleV2 = `${v2}/200`;
    if (v2 !== 200 || v1 !== 0 || !/200 succeeded/.test(out))
      rec.reasons.push(`header rule: v1 ${v1}, v2 ${v2} of 200`);
  }
  // Warm-up: JIT, pools, caches.
  wrkSaturation({ url: run.url, host, conns: SAT_CONNS, seconds: WARM_S, cpu: LOAD_CPU });
  h2loadFixedRate({
    url: run.url,
    host,
    rate: RATE,
    clients: CLIENTS,
    requests: RATE * WARM_RATE_S,
    cpu: LOAD_CPU,
    logFile: log,
  });

  // Latency at a fixed rate.
  let c0 = await counts(ctx);
  let cpu0 = cpuSeconds(pids);
  let st0 = cpuStat();
  const lat = h2loadFixedRate({
    url: run.url,
    host,
    rate: RATE,
    clients: CLIENTS,
    requests: RATE * LAT_S,
    cpu: LOAD_CPU,
    logFile: log,
  });
  let cpu1 = cpuSeconds(pids);
  let st1 = cpuStat();
  let c1 = await counts(ctx);
  rec.latency = lat;
  rec.rssMb = memory(pids).rssMb;
  rec.cpuUsPerReq1k = pids.length ? ((cpu1 - cpu0) * 1e6) / Math.max(1, lat.requests) : Number.NaN;
  rec.foreignLatency = foreign(st0, st1, cpu1 - cpu0);
  let stealJ = st1.steal - st0.steal;
  let allJ = st1.total.reduce((a, b) => a + b, 0) - st0.total.reduce((a, b) => a + b, 0);
  {
    const v1 = c1[0] - c0[0] - 1;
    const v2 = c1[1] - c0[1] - 1;
    rec.v2ShareLatency = v2 / Math.max(1, v1 + v2);
    if (lat.errors > 0) rec.reasons.push(`latency: ${lat.errors} errors`);
    if (lat.achievedRps < 0.995 * RATE) rec.reasons.push(`latency: rate ${r1(lat.achievedRps)} < 99.5 % of ${RATE}`);
    if (v1 + v2 !== lat.requests) rec.reasons.push(`latency: backends saw ${v1 + v2} requests for ${lat.requests}`);
    if (!splitOk(t, v2, v1 + v2)) rec.reasons.push(`latency: v2 share ${r2((100 * v2) / (v1 + v2))} %`);
  }

  // Saturation.
  c0 = await counts(ctx);
  cpu0 = cpuSeconds(pids);
  st0 = cpuStat();
  const sat = wrkSaturation({ url: run.url, host, conns: SAT_CONNS, seconds: SAT_S, cpu: LOAD_CPU });
  cpu1 = cpuSeconds(pids);
  st1 = cpuStat();
  c1 = await counts(ctx);
  rec.saturation = sat;
  rec.peakRssMb = memory(pids).peakMb;
  rec.cpuUsPerReqSat = pids.length ? ((cpu1 - cpu0) * 1e6) / Math.max(1, sat.requests) : Number.NaN;
  const busy = (cpu: number): number =>
    (st1.busy[cpu]! - st0.busy[cpu]!) / Math.max(1, st1.total[cpu]! - st0.total[cpu]!);
  rec.proxyCoreSat = busy(PROXY_CPU);
  rec.foreignSat = foreign(st0, st1, cpu1 - cpu0);
  rec.loaderCoreSat = busy(LOAD_CPU);
  stealJ += st1.steal - st0.steal;
  allJ += st1.total.reduce((a, b) => a + b, 0) - st0.total.reduce((a, b) => a + b, 0);
  rec.stealPct = (100 * stealJ) / Math.max(1, allJ);
  {
    const v1 = c1[0] - c0[0] - 1;
    const v2 = c1[1] - c0[1] - 1;
    rec.v2ShareSat = v2 / Math.max(1, v1 + v2);
    if (sat.errors > 0) rec.reasons.push(`saturation: ${sat.errors} errors`);
    if (v1 + v2 < sat.requests || v1 + v2 > sat.requests + SAT_CONNS)
      rec.reasons.push(`saturation: backends saw ${v1 + v2} requests for ${sat.requests}`);
    if (!splitOk(t, v2, v1 + v2)) rec.reasons.push(`saturation: v2 share ${r2((100 * v2) / (v1 + v2))} %`);
  }
  if (rec.stealPct > 2) rec.reasons.push(`steal ${r1(rec.stealPct)} % > 2 %`);
  if (pids.length > 0 && (rec.foreignSat > MAX_FOREIGN || rec.foreignLatency > MAX_FOREIGN))
    rec.reasons.push(
      `other load on CPU ${PROXY_CPU}: ${Math.round(100 * rec.foreignLatency)} % (latency), ${Math.round(100 * rec.foreignSat)} % (saturation) > ${100 * MAX_FOREIGN} %`,
    );
  rec.kept = rec.reasons.length === 0;
  return rec;
}

interface Summary {
  target: string;
  what: string;
  command: string;
  kept: number;
  run: number;
  rps: number;
  cpuUsPerReqSat: number;
  cpuUsPerReq1k: number;
  idleRssMb: number;
  rssMb: number;
  peakRssMb: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  addedP50: number;
  addedP90: number;
  addedP99: number;
  v2SharePct: number;
  proxyCoreSat: number;
  loaderCoreSat: number;
  foreignSat: number;
  /** Medians of per-round ratios target / weir. */
  vsWeir: {
    rps: number;
    cpu1k: number;
    cpuSat: number;
    addedP50: number;
    addedP90: number;
    addedP99: number;
    peakRss: number;
  };
}

function summarize(
  records: RoundRecord[],
  commands: Record<string, string>,
): {
  targets: Summary[];
  gates: Record<string, { value: number; range: [number, number]; limit: string; met: boolean }>;
  noise: Record<string, { median: number; range: [number, number] }>;
} {
  const kept = (name: string, round: number): RoundRecord | undefined =>
    records.find((r) => r.target === name && r.round === round && r.kept);
  const rounds = [...new Set(records.map((r) => r.round))];
  const added = (r: RoundRecord, q: 'p50' | 'p90' | 'p99'): number => {
    const d = kept('direct', r.round);
    return d ? r.latency![q] - d.latency![q] : Number.NaN;
  };
  const perRound = (name: string, f: (t: RoundRecord, w: RoundRecord) => number): number[] =>
    rounds.flatMap((n) => {
      const t = kept(name, n);
      const w = kept('weir', n);
      return t && w ? [f(t, w)] : [];
    });
  const targets: Summary[] = [];
  for (const t of [...TARGETS, ...WEIR_NODES].filter((x) => records.some((r) => r.target === x.name))) {
    const ks = records.filter((r) => r.target === t.name && r.kept);
    const m = (f: (r: RoundRecord) => number): number => median(ks.map(f));
    targets.push({
      target: t.name,
      what: t.what,
      command: commands[t.name] ?? '',
      kept: ks.length,
      run: records.filter((r) => r.target === t.name).length,
      rps: m((r) => r.saturation!.rps),
      cpuUsPerReqSat: m((r) => r.cpuUsPerReqSat!),
      cpuUsPerReq1k: m((r) => r.cpuUsPerReq1k!),
      idleRssMb: m((r) => r.idleRssMb!),
      rssMb: m((r) => r.rssMb!),
      peakRssMb: m((r) => r.peakRssMb!),
      p50: m((r) => r.latency!.p50),
      p90: m((r) => r.latency!.p90),
      p99: m((r) => r.latency!.p99),
      p999: m((r) => r.latency!.p999),
      addedP50: m((r) => added(r, 'p50')),
      addedP90: m((r) => added(r, 'p90')),
      addedP99: m((r) => added(r, 'p99')),
      v2SharePct: m((r) => 100 * r.v2ShareLatency!),
      proxyCoreSat: m((r) => r.proxyCoreSat!),
      loaderCoreSat: m((r) => r.loaderCoreSat!),
      foreignSat: m((r) => r.foreignSat!),
      vsWeir: {
        rps: median(perRound(t.name, (a, w) => a.saturation!.rps / w.saturation!.rps)),
        cpu1k: median(perRound(t.name, (a, w) => a.cpuUsPerReq1k! / w.cpuUsPerReq1k!)),
        cpuSat: median(perRound(t.name, (a, w) => a.cpuUsPerReqSat! / w.cpuUsPerReqSat!)),
        addedP50: median(perRound(t.name, (a, w) => added(a, 'p50') / added(w, 'p50'))),
        addedP90: median(perRound(t.name, (a, w) => added(a, 'p90') / added(w, 'p90'))),
        addedP99: median(perRound(t.name, (a, w) => added(a, 'p99') / added(w, 'p99'))),
        peakRss: median(perRound(t.name, (a, w) => a.peakRssMb! / w.peakRssMb!)),
      },
    });
  }
  // Issue 7's gates, as medians of per-round ratios weir / peer.
  const weirOver = (peer: string, f: (w: RoundRecord, p: RoundRecord) => number): number[] =>
    rounds.flatMap((n) => {
      const w = kept('weir', n);
      const p = kept(peer, n);
      return w && p ? [f(w, p)] : [];
    });
  const gate = (xs: number[], limit: string, ok: (v: number) => boolean) => {
    const value = median(xs);
    return {
      value: r2(value),
      range: range(xs).map(r2) as [number, number],
      limit,
      met: Number.isFinite(value) && ok(value),
    };
  };
  const bestNode = rounds.flatMap((n) => {
    const w = kept('weir', n);
    const nodes = ['node', 'node-pass'].map((x) => kept(x, n)).filter((x): x is RoundRecord => !!x);
    return w && nodes.length ? [w.saturation!.rps / Math.max(...nodes.map((x) => x.saturation!.rps))] : [];
  });
  const weirRounds = records.filter((r) => r.target === 'weir' && r.kept);
  const gates = {
    'CPU/request at 1,000 req/s, weir / nginx': gate(
      weirOver('nginx', (w, p) => w.cpuUsPerReq1k! / p.cpuUsPerReq1k!),
      '≤ 1.4',
      (v) => v <= 1.4,
    ),
    'added p50, weir / nginx': gate(
      weirOver('nginx', (w, p) => added(w, 'p50') / added(p, 'p50')),
      '≤ 1.3',
      (v) => v <= 1.3,
    ),
    'added p90, weir / nginx': gate(
      weirOver('nginx', (w, p) => added(w, 'p90') / added(p, 'p90')),
      '≤ 1.3',
      (v) => v <= 1.3,
    ),
    'added p99, weir / nginx': gate(
      weirOver('nginx', (w, p) => added(w, 'p99') / added(p, 'p99')),
      '≤ 1.3',
      (v) => v <= 1.3,
    ),
    'saturation, weir / best Node baseline': gate(bestNode, '≥ 1.3', (v) => v >= 1.3),
    'saturation, weir / nginx (reported)': gate(
      weirOver('nginx', (w, p) => w.saturation!.rps / p.saturation!.rps),
      '–',
      () => true,
    ),
    'peak RSS of weir, MB': gate(
      weirRounds.map((r) => r.peakRssMb!),
      '≤ 60',
      (v) => v <= 60,
    ),
  };
  const noisePairs = (f: (b: RoundRecord, a: RoundRecord) => number): number[] =>
    rounds.flatMap((n) => {
      const a = kept('direct', n);
      const b = kept('direct-b', n);
      return a && b ? [f(b, a)] : [];
    });
  const noise = Object.fromEntries(
    (
      [
        ['p50', (b: RoundRecord, a: RoundRecord) => b.latency!.p50 / a.latency!.p50],
        ['p90', (b: RoundRecord, a: RoundRecord) => b.latency!.p90 / a.latency!.p90],
        ['p99', (b: RoundRecord, a: RoundRecord) => b.latency!.p99 / a.latency!.p99],
        ['rps', (b: RoundRecord, a: RoundRecord) => b.saturation!.rps / a.saturation!.rps],
      ] as const
    ).map(([k, f]) => {
      const xs = noisePairs(f);
      return [k, { median: r2(median(xs)), range: range(xs).map(r2) as [number, number] }];
    }),
  );
  return { targets, gates, noise };
}

function markdown(s: ReturnType<typeof summarize>, meta: Record<string, unknown>, rejected: RoundRecord[]): string {
  const f0 = (x: number): string => (Number.isFinite(x) ? String(Math.round(x)) : '–');
  const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const lines = [
    '',
    `### Side by side (${meta.mode}: ${meta.rounds} rounds; medians over kept rounds; ×weir = median of per-round ratios target/weir)`,
    '',
    '| target | kept | sat. req/s | ×weir | CPU µs/req @sat | CPU µs/req @1k | ×weir | p50 / p90 / p99 / p99.9 µs @1k | added p50 / p90 / p99 µs | ×weir (added p50/p90/p99) | RSS idle / 1k / peak MB | v2 % | CPU1 busy / other @sat |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const t of s.targets) {
    const direct = t.target.startsWith('direct');
    lines.push(
      `| ${t.target} | ${t.kept}/${t.run} | ${f0(t.rps)} | ${f2(t.vsWeir.rps)} | ${f0(t.cpuUsPerReqSat)} | ${f0(t.cpuUsPerReq1k)} | ${f2(t.vsWeir.cpu1k)} | ${f0(t.p50)} / ${f0(t.p90)} / ${f0(t.p99)} / ${f0(t.p999)} | ${direct ? '–' : `${f0(t.addedP50)} / ${f0(t.addedP90)} / ${f0(t.addedP99)}`} | ${direct ? '–' : `${f2(t.vsWeir.addedP50)} / ${f2(t.vsWeir.addedP90)} / ${f2(t.vsWeir.addedP99)}`} | ${direct ? '–' : `${f0(t.idleRssMb)} / ${f0(t.rssMb)} / ${f0(t.peakRssMb)}`} | ${f2(t.v2SharePct)} | ${Math.round(100 * t.proxyCoreSat)} / ${Math.round(100 * t.foreignSat)} % |`,
    );
  }
  lines.push(
    '',
    '### Issue 7 targets (medians of per-round ratios, min–max in brackets)',
    '',
    '| gate | value | limit | met |',
    '|---|---|---|---|',
  );
  for (const [k, g] of Object.entries(s.gates))
    lines.push(
      `| ${k} | ${f2(g.value)} [${f2(g.range[0])}–${f2(g.range[1])}] | ${g.limit} | ${g.limit === '–' ? '–' : g.met ? 'yes' : '**no**'} |`,
    );
  lines.push(
    '',
    `Noise floor (direct-b / direct, per round): p50 ${f2(s.noise.p50!.median)} [${f2(s.noise.p50!.range[0])}–${f2(s.noise.p50!.range[1])}], p90 ${f2(s.noise.p90!.median)} [${f2(s.noise.p90!.range[0])}–${f2(s.noise.p90!.range[1])}], p99 ${f2(s.noise.p99!.median)} [${f2(s.noise.p99!.range[0])}–${f2(s.noise.p99!.range[1])}], saturation ${f2(s.noise.rps!.median)} [${f2(s.noise.rps!.range[0])}–${f2(s.noise.rps!.range[1])}]`,
    '',
    `Rejected runs: ${rejected.length === 0 ? 'none' : rejected.map((r) => `${r.target} round ${r.round} (${r.reasons.join('; ')})`).join(', ')}`,
    '',
    `Versions: ${Object.entries(meta.versions as Record<string, string>)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
    `Machine: ${meta.machine}`,
    `Layout: ${meta.layout}`,
    '',
    'Commands:',
    ...(meta.commands as string[]).map((c) => `    ${c}`),
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  ensureTools();
  const t0 = Date.now();
  const targets = [...TARGETS, ...WEIR_NODES].filter(
    (t) => !ONLY || ONLY.has(t.name) || t.name === 'direct' || t.name === 'weir' || t.name.startsWith('weir@'),
  );
  const perTarget = WARM_S + WARM_RATE_S + LAT_S + SAT_S + 1.5;
  process.stderr.write(
    `bench: ${ROUNDS} rounds × ${targets.length} targets × ≈${perTarget} s ≈ ${Math.round((ROUNDS * targets.length * perTarget) / 60)} min\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-'));
  const weirBundle = await bundleWeir(ROOT);
  const stoppers: Running[] = [];
  const records: RoundRecord[] = [];
  const commands: Record<string, string> = {};
  try {
    const ctx: Ctx = {
      root: ROOT,
      dir,
      weirBundle,
      v1: await freePort(),
      v2: await freePort(),
      proxyCpu: PROXY_CPU,
      loadCpu: LOAD_CPU,
    };
    const b1 = await startBackend(ctx, 'v1', ctx.v1);
    stoppers.push(b1);
    const b2 = await startBackend(ctx, 'v2', ctx.v2);
    stoppers.push(b2);
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const [position, t] of order.entries()) {
        const tag = `${t.name}-r${round}`;
        let run: Running;
        try {
          run = await t.start(ctx, tag);
        } catch (e) {
          records.push({
            target: t.name,
            round,
            position,
            kept: false,
            reasons: [`did not start: ${(e as Error).message.split('\n')[0]}`],
          });
          continue;
        }
        stoppers.push(run);
        commands[t.name] = run.command;
        let rec: RoundRecord;
        try {
          rec = await measure(ctx, t, round, position, run);
        } catch (e) {
          rec = {
            target: t.name,
            round,
            position,
            kept: false,
            reasons: [`failed: ${(e as Error).message.split('\n')[0]}`],
          };
        }
        await run.stop();
        stoppers.splice(stoppers.indexOf(run), 1);
        records.push(rec);
        const l = rec.latency;
        process.stderr.write(
          `round ${round} ${t.name.padEnd(15)} ${rec.kept ? 'kept    ' : 'REJECTED'} sat ${Math.round(rec.saturation?.rps ?? 0)} req/s, cpu ${r1(rec.cpuUsPerReq1k ?? Number.NaN)} µs/req@1k ${r1(rec.cpuUsPerReqSat ?? Number.NaN)} @sat, p50/p90/p99 ${l?.p50}/${l?.p90}/${l?.p99} µs, peak ${r1(rec.peakRssMb ?? 0)} MB, other load on CPU1 ${Math.round(100 * (rec.foreignLatency ?? 0))}/${Math.round(100 * (rec.foreignSat ?? 0))} %, v2 ${r2(100 * (rec.v2ShareLatency ?? 0))} %${rec.reasons.length ? ` — ${rec.reasons.join('; ')}` : ''}\n`,
        );
      }
    }
    const sample = records.find((r) => r.latency && r.saturation && r.target === 'weir');
    const meta = {
      mode: QUICK ? '--quick' : 'full',
      rounds: ROUNDS,
      versions: {
        weir: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version} @ ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()}${execFileSync('git', ['status', '--porcelain', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() ? ' (src modified)' : ''}`,
        node: process.version,
        nginx: nginxVersion(),
        haproxy: version('haproxy', ['-v']),
        h2load: version('h2load', ['--version']),
        wrk: version('wrk', ['-v']),
      },
      machine: `${cpus()[0]?.model ?? '?'} × ${cpus().length}, Linux ${release()}`,
      layout: `each proxy alone on CPU ${PROXY_CPU} (taskset, one worker/thread/process); h2load, wrk and both nginx backends (1 worker each, 1 KiB responses) on CPU ${LOAD_CPU}; loopback only`,
      settings: {
        latencySeconds: LAT_S,
        saturationSeconds: SAT_S,
        warmupSeconds: WARM_S,
        warmupAtRateSeconds: WARM_RATE_S,
        rate: RATE,
        clients: CLIENTS,
        saturationConnections: SAT_CONNS,
      },
      commands: [
        `backends: ${b1.command}  (and the same for v2; nginx.conf: return 200 <1024 bytes>, add_header x-upstream, stub_status)`,
        ...targets.filter((t) => commands[t.name]).map((t) => `${t.name}: ${commands[t.name]}`),
        `latency: ${sample?.latency?.command ?? ''}`,
        `saturation: ${sample?.saturation?.command ?? ''}`,
      ],
    };
    const summary = summarize(records, commands);
    const rejected = records.filter((r) => !r.kept);
    const date = new Date().toISOString();
    const out = { date, durationSeconds: Math.round((Date.now() - t0) / 1000), ...meta, ...summary, rounds: records };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const file = join(ROOT, 'bench', 'results', `${date.slice(0, 16).replace(':', '')}${QUICK ? '-quick' : ''}.json`);
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(markdown(summary, meta, rejected));
    process.stdout.write(`\nresults: ${file} (${Math.round((Date.now() - t0) / 1000)} s)\n`);
  } finally {
    for (const s of stoppers.reverse()) await s.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(weirBundle, { force: true });
  }
}

await main();
