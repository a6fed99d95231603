/**
 * Quick proxy benchmark (loopback only, bounded): weir with the article's 95/5 composite route, pinned alone on
 * CPU 1, against the same backend reached directly. Per round (order alternating):
 *  - added latency at a fixed 1,000 req/s, 16 connections, 1 KiB responses (h2load, per-request log):
 *    p50/p90/p99/p99.9 of weir minus direct, measured in the same round;
 *  - saturation throughput (wrk -c16, loader and backends on CPU 0) and weir's CPU time per request
 *    (from /proc/PID/stat).
 * Medians over rounds; the v2 share is checked from backend counters (a wrong split invalidates the run).
 *
 * Usage: npm run bench:proxy [-- --rounds N --seconds S --quick]
 * Needs: wrk, h2load (Debian: wrk, nghttp2-client) — installed by the script when missing (apt-get).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const flag = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const quick = args.includes('--quick');
const ROUNDS = flag('rounds', quick ? 2 : 5);
const LAT_SECONDS = flag('seconds', quick ? 5 : 20);
const SAT_SECONDS = quick ? 5 : 10;
const HOST = 'checkout-service.bench.svc.cluster.local';

function ensureTools(): void {
  const missing = ['wrk', 'h2load'].filter((t) => {
    try {
      execFileSync('which', [t], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  process.stderr.write(`installing ${missing.join(', ')} with apt-get…\n`);
  execFileSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq wrk nghttp2-client'], { stdio: 'inherit' });
}

function startProcess(
  cpu: number,
  cmd: string,
  argv: string[],
  readyText: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; output: string }> {
  const child = spawn('taskset', ['-c', String(cpu), cmd, ...argv], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} ${argv.join(' ')} did not start: ${output}`)), 30_000);
    const on = (d: Buffer): void => {
      output += d.toString();
      if (output.includes(readyText)) {
        clearTimeout(timer);
        resolve({ child, output });
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${output}`)));
  });
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

function rssMb(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function count(port: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}/__count`);
  return Number(await r.text());
}

/** Fixed-rate latency with h2load (16 clients × 62.5 req/s = 1,000 req/s); returns µs percentiles. */
function latency(
  url: string,
  host: string | null,
  seconds: number,
  dir: string,
): { p50: number; p90: number; p99: number; p999: number; n: number; errors: number; durations: number[] } {
  const log = join(dir, 'logs', `h2load-${Date.now()}.log`);
  // 16 clients started 1 ms apart (staggered, as fortio does), each at 62.5 req/s: 1,000 req/s in total.
  const argv = ['--h1', '-c16', '-r1', '--rate-period=1ms', '--rps=62.5', `-n${seconds * 1000}`, `--log-file=${log}`];
  if (host) argv.push('-H', `:authority: ${host}`); // h2load's HTTP/1 Host comes from :authority
  argv.push(url);
  const out = execFileSync('taskset', ['-c', '0', 'h2load', ...argv], { encoding: 'utf8' });
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  if (process.env.BENCH_DEBUG) process.stderr.write(`${out}\n${lines[0]}\n`);
  const durations = lines
    .map((l) => Number(l.split('\t')[2]))
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  const errors =
    lines.filter((l) => !l.split('\t')[1]?.startsWith('2')).length + Number(/(\d+) failed/.exec(out)?.[1] ?? 0);
  const q = (p: number): number =>
    durations[Math.min(durations.length - 1, Math.floor(p * durations.length))] ?? Number.NaN;
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), n: durations.length, errors, durations };
}

function saturation(url: string, host: string, seconds: number): { rps: number; requests: number; errors: number } {
  const out = execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c16', `-d${seconds}s`, '-H', `Host: ${host}`, url], {
    encoding: 'utf8',
  });
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
    Number(/Socket errors: connect (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, requests, errors };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-'));
  // h2load logs go to their own folder: the config folder is watched by weir (a write there would reload it).
  mkdirSync(join(dir, 'logs'));
  const procs: ChildProcess[] = [];
  try {
    const v1 = await startProcess(0, process.execPath, ['bench/proxy/backend.mjs', '0', 'v1'], 'ready');
    const v2 = await startProcess(0, process.execPath, ['bench/proxy/backend.mjs', '0', 'v2'], 'ready');
    procs.push(v1.child, v2.child);
    const p1 = Number(/ready (\d+)/.exec(v1.output)![1]);
    const p2 = Number(/ready (\d+)/.exec(v2.output)![1]);
    const ex = (f: string) =>
      readFileSync(join(ROOT, 'examples', '01-composite-routing', f), 'utf8').replaceAll('composite', 'bench');
    writeFileSync(
      join(dir, 'service.yaml'),
      ex('service.yaml').replace('18081', String(p1)).replace('18082', String(p2)),
    );
    writeFileSync(join(dir, 'destination-rule.yaml'), ex('destination-rule.yaml'));
    writeFileSync(join(dir, 'virtual-service.yaml'), ex('virtual-service.yaml'));
    const weir = await startProcess(
      1,
      process.execPath,
      ['bin/weir.js', 'serve', '-f', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-format', 'off'],
      'proxy listening',
    );
    procs.push(weir.child);
    const weirPort = Number(/proxy listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(weir.output)![1]);
    const weirUrl = `http://127.0.0.1:${weirPort}/`;
    const directUrl = `http://127.0.0.1:${p1}/`;
    const naive = await startProcess(1, process.execPath, ['bench/proxy/naive.mjs', String(p1)], 'ready');
    procs.push(naive.child);
    const naiveUrl = `http://127.0.0.1:${/ready (\d+)/.exec(naive.output)![1]}/`;
    const idle = rssMb(weir.child.pid!);
    const targets: Record<string, { url: string; host: string | null }> = {
      direct: { url: directUrl, host: null },
      naive: { url: naiveUrl, host: null },
      weir: { url: weirUrl, host: HOST },
    };

    // Warm-up (JIT, pools): a short saturation run and a short fixed-rate run per target.
    saturation(weirUrl, HOST, 3);
    saturation(naiveUrl, '127.0.0.1', 2);
    for (const t of Object.values(targets)) latency(t.url, t.host, 2, dir);
    const rounds: Record<string, number>[] = [];
    const pct = (xs: number[], p: number): number => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
    };
    for (let r = 0; r < ROUNDS; r++) {
      // Short slices, target order rotated every slice, so that the machine's drift hits every target alike.
      const names = Object.keys(targets);
      const durations: Record<string, number[]> = { direct: [], naive: [], weir: [] };
      let errors = 0;
      const slices = Math.max(1, Math.round(LAT_SECONDS / 2));
      const before = [await count(p1), await count(p2)];
      let weirRequests = 0;
      for (let sl = 0; sl < slices; sl++) {
        const order = names.map((_, i) => names[(i + sl + r) % names.length]!);
        for (const t of order) {
          const res = latency(targets[t]!.url, targets[t]!.host, 2, dir);
          durations[t]!.push(...res.durations);
          errors += res.errors;
          if (t === 'weir') weirRequests += res.n;
        }
      }
      // The split must be right: of weir's requests, 5 % went to v2 (direct and naive use v1 only).
      const d2 = (await count(p2)) - before[1]!;
      const sigma = Math.sqrt(weirRequests * 0.05 * 0.95);
      if (Math.abs(d2 - 0.05 * weirRequests) > 5 * sigma)
        throw new Error(`invalid run: v2 got ${d2} of ${weirRequests} requests (expected 5 %)`);
      const sat: Record<string, { rps: number; cpu: number; errors: number }> = {};
      for (const [t, pid] of r % 2 === 0
        ? ([
            ['weir', weir.child.pid!],
            ['naive', naive.child.pid!],
          ] as const)
        : ([
            ['naive', naive.child.pid!],
            ['weir', weir.child.pid!],
          ] as const)) {
        const t0 = cpuTicks(pid);
        const res = saturation(targets[t]!.url, targets[t]!.host ?? '127.0.0.1', SAT_SECONDS);
        sat[t] = {
          rps: res.rps,
          cpu: (((cpuTicks(pid) - t0) / 100) * 1e6) / Math.max(1, res.requests),
          errors: res.errors,
        };
      }
      const mem = rssMb(weir.child.pid!);
      const p = (t: string, q: number) => pct(durations[t]!, q);
      const row = {
        round: r + 1,
        directP50: p('direct', 0.5),
        directP90: p('direct', 0.9),
        directP99: p('direct', 0.99),
        naiveP50: p('naive', 0.5),
        naiveP90: p('naive', 0.9),
        naiveP99: p('naive', 0.99),
        weirP50: p('weir', 0.5),
        weirP90: p('weir', 0.9),
        weirP99: p('weir', 0.99),
        weirP999: p('weir', 0.999),
        addedP50: p('weir', 0.5) - p('direct', 0.5),
        addedP90: p('weir', 0.9) - p('direct', 0.9),
        addedP99: p('weir', 0.99) - p('direct', 0.99),
        naiveAddedP50: p('naive', 0.5) - p('direct', 0.5),
        naiveAddedP90: p('naive', 0.9) - p('direct', 0.9),
        naiveAddedP99: p('naive', 0.99) - p('direct', 0.99),
        latencyErrors: errors,
        saturationRps: sat.weir!.rps,
        naiveSaturationRps: sat.naive!.rps,
        saturationErrors: sat.weir!.errors + sat.naive!.errors,
        cpuUsPerRequest: sat.weir!.cpu,
        naiveCpuUsPerRequest: sat.naive!.cpu,
        rpsRatioToNaive: sat.weir!.rps / sat.naive!.rps,
        rssMb: mem.rss,
        peakRssMb: mem.hwm,
      };
      rounds.push(row);
      process.stderr.write(`round ${r + 1}: ${JSON.stringify(row)}\n`);
    }
    const valid = rounds.filter((r) => r.latencyErrors === 0 && r.saturationErrors === 0);
    const m = (k: string): number => median(valid.map((r) => r[k]!));
    const summary = {
      date: new Date().toISOString(),
      node: process.version,
      layout: 'weir alone on CPU 1; h2load/wrk and both backends on CPU 0',
      rounds: { run: rounds.length, kept: valid.length },
      idleRssMb: idle.rss,
      medians: Object.fromEntries(
        [
          'directP50',
          'directP90',
          'directP99',
          'weirP50',
          'weirP90',
          'weirP99',
          'weirP999',
          'naiveP50',
          'naiveP90',
          'naiveP99',
          'naiveAddedP50',
          'naiveAddedP90',
          'naiveAddedP99',
          'naiveSaturationRps',
          'naiveCpuUsPerRequest',
          'rpsRatioToNaive',
          'addedP50',
          'addedP90',
          'addedP99',
          'saturationRps',
          'cpuUsPerRequest',
          'rssMb',
          'peakRssMb',
        ].map((k) => [k, Math.round(m(k) * 100) / 100]),
      ),
      rounds_detail: rounds,
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const file = join(ROOT, 'bench', 'results', `${summary.date.slice(0, 10)}-proxy${quick ? '-quick' : ''}.json`);
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
    const md = summary.medians;
    process.stdout.write(
      [
        '',
        `| metric (median of ${valid.length} rounds) | value |`,
        '|---|---|',
        `| saturation on one core (wrk -c16): weir / naive Node proxy | ${md.saturationRps} / ${md.naiveSaturationRps} req/s (ratio ${md.rpsRatioToNaive}) |`,
        `| CPU per request at saturation: weir / naive | ${md.cpuUsPerRequest} / ${md.naiveCpuUsPerRequest} µs |`,
        `| latency at 1,000 req/s, direct p50 / p90 / p99 | ${md.directP50} / ${md.directP90} / ${md.directP99} µs |`,
        `| latency at 1,000 req/s, weir p50 / p90 / p99 / p99.9 | ${md.weirP50} / ${md.weirP90} / ${md.weirP99} / ${md.weirP999} µs |`,
        `| added by weir p50 / p90 / p99 | ${md.addedP50} / ${md.addedP90} / ${md.addedP99} µs |`,
        `| added by the naive Node proxy p50 / p90 / p99 | ${md.naiveAddedP50} / ${md.naiveAddedP90} / ${md.naiveAddedP99} µs |`,
        `| weir RSS idle / under load / peak | ${Math.round(idle.rss)} / ${md.rssMb} / ${md.peakRssMb} MB |`,
        '',
        `results: ${file}`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
