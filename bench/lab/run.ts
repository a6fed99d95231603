/**
 * A quick paired experiment (not a gate): weir and the Node baseline (and direct) at a fixed 1,000 req/s and at
 * saturation, alternated over rounds, with optional extra node flags for weir and the GC/event-loop observer
 * (bench/lab/observe.mjs). Prints per-round figures and the weir/node ratios; with --observe, correlates the slow
 * requests of the h2load log with the GC pauses weir recorded.
 *
 *   node --import tsx bench/lab/run.ts [--rounds 2] [--seconds 10] [--sat 4] [--targets direct,weir,node]
 *        [--flags '--max-semi-space-size=2'] [--observe] [--bundle path]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { bundleWeir } from '../lib/bundle.ts';
import { h2loadFixedRate, wrkSaturation } from '../lib/load.ts';
import { type Ctx, HOST, type Running, startBackend, TARGETS } from '../lib/peers.ts';
import { cpuSeconds, ensureTools, freePort, memory } from '../lib/sys.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const opt = (n: string, d: string): string => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const ROUNDS = Number(opt('rounds', '2'));
const SECONDS = Number(opt('seconds', '10'));
const SAT = Number(opt('sat', '4'));
// --variants 'base=;semi2=--max-semi-space-size=2': weir runs with different node flags, each a target of its own.
const VARIANTS = new Map(
  opt('variants', '')
    .split(';')
    .filter(Boolean)
    .map(
      (v) =>
        [
          v.slice(0, v.indexOf('=')),
          v
            .slice(v.indexOf('=') + 1)
            .split(' ')
            .filter(Boolean),
        ] as const,
    ),
);
const NAMES = [...opt('targets', 'direct,weir,node').split(',').filter(Boolean), ...VARIANTS.keys()];
const FLAGS = opt('flags', '').split(' ').filter(Boolean);
const OBSERVE = args.includes('--observe');
const BUNDLE = opt('bundle', '');
const WINDOWS = Number(opt('windows', '1'));
/** Warm-up: seconds of wrk, then seconds at 1,000 req/s (bench/run.ts --quick: 1 and 1). */
const WARM_WRK = Number(opt('warm-wrk', '2'));
const WARM_1K = Number(opt('warm-1k', '2'));

const q = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'weir-lab-'));
  const bundle = BUNDLE || (args.includes('--lab-entry') ? labBundle() : await bundleWeir(ROOT));
  const running: Running[] = [];
  const rows: Record<string, number | string>[] = [];
  try {
    const ctx: Ctx = {
      root: ROOT,
      dir,
      weirBundle: bundle,
      v1: await freePort(),
      v2: await freePort(),
      proxyCpu: 1,
      loadCpu: 0,
    };
    running.push(await startBackend(ctx, 'v1', ctx.v1), await startBackend(ctx, 'v2', ctx.v2));
    for (let r = 1; r <= ROUNDS; r++) {
      const order = r % 2 ? NAMES : [...NAMES].reverse();
      for (const name of order) {
        const t = TARGETS.find((x) => x.name === (VARIANTS.has(name) ? 'weir' : name))!;
        const obsFile = join(dir, `obs-${name}-${r}.json`);
        const flags =
          t.peer === 'weir'
            ? [
                ...FLAGS,
                ...(VARIANTS.get(name) ?? []),
                ...(OBSERVE ? ['--import', join(ROOT, 'bench/lab/observe.mjs')] : []),
              ]
            : [];
        process.env.WEIR_LAB_OUT = obsFile;
        // The Node baseline gets the observer through NODE_OPTIONS (its launcher takes no node flags).
        if (OBSERVE && t.peer === 'node') process.env.NODE_OPTIONS = `--import ${join(ROOT, 'bench/lab/observe.mjs')}`;
        // --linebuf: V8's trace output (C stdio) line-buffered, so it interleaves correctly with the observer's marks.
        if (args.includes('--linebuf') && t.peer === 'weir')
          Object.assign(process.env, { LD_PRELOAD: '/usr/libexec/coreutils/libstdbuf.so', _STDBUF_O: 'L' });
        const run = await t.start({ ...ctx, weirNodeFlags: flags }, `${name}-${r}`);
        delete process.env.NODE_OPTIONS;
        delete process.env.LD_PRELOAD;
        delete process.env._STDBUF_O;
        running.push(run);
        const idle = memory(run.pids).rssMb;
        wrkSaturation({ url: run.url, host: HOST, conns: 16, seconds: WARM_WRK, cpu: 0 });
        const log = join(dir, `h2-${name}-${r}.log`);
        h2loadFixedRate({
          url: run.url,
          host: HOST,
          rate: 1000,
          clients: 16,
          requests: 1000 * WARM_1K,
          cpu: 0,
          logFile: log,
        });
        if (OBSERVE && t.peer !== 'direct') process.kill(run.pids[0]!, 'SIGUSR2');
        const th0 = threads(run.pids[0]);
        const c0 = cpuSeconds(run.pids);
        const keep = join(dir, `keep-${name}-${r}.log`);
        // Keep the log: h2loadFixedRate deletes it, so run with a copy hook.
        // --windows N: N-1 extra 1k windows first on the same process (warm-up effects), each printed.
        for (let w = 1; w < WINDOWS; w++) {
          const x = h2loadFixedRateKeep(run.url, SECONDS * 1000, log, keep.replace('.log', `-w${w}.log`));
          if (OBSERVE && t.peer !== 'direct') process.kill(run.pids[0]!, 'SIGUSR2');
          console.log(
            JSON.stringify({
              target: name,
              window: w,
              p50: x.p50,
              p90: x.p90,
              p99: x.p99,
              p999: x.p999,
              ...split(keep.replace('.log', `-w${w}.log`)),
            }),
          );
        }
        const lat = h2loadFixedRateKeep(run.url, SECONDS * 1000, log, keep);
        const c1 = cpuSeconds(run.pids);
        const th1 = threads(run.pids[0]);
        const rss1k = memory(run.pids).rssMb;
        const s0 = cpuSeconds(run.pids);
        const sat = SAT > 0 ? wrkSaturation({ url: run.url, host: HOST, conns: 16, seconds: SAT, cpu: 0 }) : null;
        const s1 = cpuSeconds(run.pids);
        const peak = memory(run.pids).peakMb;
        await run.stop();
        running.pop();
        const row: Record<string, number | string> = {
          round: r,
          target: name,
          p50: lat.p50,
          p90: lat.p90,
          p99: lat.p99,
          p999: lat.p999,
          max: lat.max,
          cpu1k: run.pids.length ? Math.round(((c1 - c0) * 1e6) / lat.requests) : Number.NaN,
          sat: sat ? Math.round(sat.rps) : 0,
          cpuSat: sat && run.pids.length ? Math.round(((s1 - s0) * 1e6) / sat.requests) : Number.NaN,
          idleMb: Math.round(idle),
          rss1kMb: Math.round(rss1k),
          peakMb: Math.round(peak),
        };
        Object.assign(row, split(keep));
        if (OBSERVE && t.peer !== 'direct') Object.assign(row, correlate(obsFile, keep, lat.p99), memOf(obsFile));
        if (args.includes('--threads')) {
          const d: Record<string, number> = {};
          for (const [k, v] of th1) d[k] = (d[k] ?? 0) + v - (th0.get(k) ?? 0);
          row.threads = Object.entries(d)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => `${k}:${v}`)
            .join(' ');
        }
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  } finally {
    for (const r of running.reverse()) await r.stop();
    if (args.includes('--keep')) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  // Summary: medians per target, and per-round ratios weir/node and added latency.
  const by = (n: string) => rows.filter((x) => x.target === n);
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const n of NAMES) {
    const xs = by(n);
    const keys = ['p50', 'p90', 'p99', 'p999', 'cpu1k', 'sat', 'cpuSat', 'idleMb', 'peakMb'];
    console.log(n.padEnd(16), keys.map((k) => `${k}=${med(xs.map((x) => Number(x[k])))}`).join(' '));
  }
  if (NAMES.includes('direct')) {
    for (const n of NAMES.filter((x) => x !== 'direct')) {
      const added = (k: string) =>
        med(by(n).map((x) => Number(x[k]) - Number(by('direct').find((d) => d.round === x.round)![k])));
      console.log(`added ${n}: p50 ${added('p50')} p90 ${added('p90')} p99 ${added('p99')}`);
    }
  }
}

/** Bundles bench/lab/entry.ts (serve only) with bin/weir.js's esbuild options. */
function labBundle(): string {
  const outfile = join(ROOT, 'node_modules', '.cache', 'weir-bench', `weir-lab-${process.pid}.mjs`);
  buildSync({
    entryPoints: [join(ROOT, 'bench', 'lab', 'entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** process.memoryUsage() and the heap spaces at exit (after the saturation phase), MB. */
function memOf(obsFile: string): Record<string, string> {
  try {
    const o = JSON.parse(readFileSync(obsFile, 'utf8'));
    const mb = (x: number) => (x / 1048576).toFixed(1);
    return {
      exitMem: `heapTotal ${mb(o.mem.heapTotal)} heapUsed ${mb(o.mem.heapUsed)} external ${mb(o.mem.external)} rss ${mb(o.mem.rss)}`,
      peak: `rss ${mb(o.peak.rss)} heapTotal ${mb(o.peak.heapTotal)} heapUsed ${mb(o.peak.heapUsed)} external ${mb(o.peak.external)} arrayBuffers ${mb(o.peak.arrayBuffers)}; ${o.peak.spaces}`,
      spaces: o.spaces
        .filter((x: { size: number }) => x.size > 0)
        .map((x: { name: string; size: number; used: number }) => `${x.name} ${mb(x.size)}/${mb(x.used)}`)
        .join(', '),
    };
  } catch {
    return {};
  }
}

/** p99 of the requests started in the first 2 s of a window vs the rest (a start-of-run transient). */
function split(logFile: string): Record<string, number> {
  const rows = readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t').map(Number));
  const t0 = rows[0]![0]!;
  const first = rows
    .filter((r) => r[0]! - t0 < 2e6)
    .map((r) => r[2]!)
    .sort((a, b) => a - b);
  const rest = rows
    .filter((r) => r[0]! - t0 >= 2e6)
    .map((r) => r[2]!)
    .sort((a, b) => a - b);
  return { p99first2s: q(first, 0.99), p99rest: q(rest, 0.99), p90first2s: q(first, 0.9), p90rest: q(rest, 0.9) };
}

/** CPU ticks per thread (name:tid) of a process. */
function threads(pid: number | undefined): Map<string, number> {
  const m = new Map<string, number>();
  if (!pid) return m;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const key = tid === String(pid) ? 'main' : name;
      m.set(key, (m.get(key) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {}
  }
  return m;
}

function h2loadFixedRateKeep(url: string, n: number, log: string, keep: string) {
  // Same as h2loadFixedRate but the per-request log is kept for correlation.
  const res = h2loadFixedRate({
    url,
    host: HOST,
    rate: 1000,
    clients: 16,
    requests: n,
    cpu: 0,
    logFile: log,
    keepTo: keep,
  } as never);
  return res;
}

/** Slow requests (≥ p99) vs GC pauses: how many overlap a pause, and the pause totals in the window. */
function correlate(obsFile: string, logFile: string, p99: number): Record<string, number | string> {
  let obs: {
    gcs: { t: number; ms: number; kind: string }[];
    marks: number[];
    eld: Record<string, number>;
    mem: Record<string, number>;
  };
  try {
    obs = JSON.parse(readFileSync(obsFile, 'utf8'));
  } catch {
    return { obs: 'missing' };
  }
  const lines = readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t').map(Number));
  const t0 = lines[0]![0]! / 1000;
  const t1 = lines.at(-1)![0]! / 1000 + 50;
  const inWin = obs.gcs.filter((g) => g.t >= t0 && g.t <= t1);
  const slow = lines.filter((l) => l[2]! >= p99);
  let overlapped = 0;
  for (const l of slow) {
    const s = l[0]! / 1000;
    const e = s + l[2]! / 1000;
    if (inWin.some((g) => g.t < e && g.t + g.ms > s - 0.2)) overlapped++;
  }
  const sum = (k: string) => inWin.filter((g) => g.kind === k).reduce((a, g) => a + g.ms, 0);
  return {
    gcN: inWin.length,
    gcMinorN: inWin.filter((g) => g.kind === 'minor').length,
    gcMinorMs: Math.round(sum('minor')),
    gcMajorN: inWin.filter((g) => g.kind === 'major').length,
    gcMajorMs: Math.round(sum('major')),
    gcMaxMs: Math.round(Math.max(0, ...inWin.map((g) => g.ms)) * 100) / 100,
    gcMeanMs: Math.round((inWin.reduce((a, g) => a + g.ms, 0) / Math.max(1, inWin.length)) * 100) / 100,
    slowN: slow.length,
    slowOnGc: overlapped,
    eldP99: obs.eld.p99!,
    eldMax: obs.eld.max!,
  };
}

await main();
