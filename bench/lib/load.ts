/** The two load generators: h2load at a fixed rate (per-request log → exact percentiles) and wrk (saturation). */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';

export interface LatencyResult {
  requests: number;
  errors: number;
  /** Requests per second from the first to the last scheduled start in the log. */
  achievedRps: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  command: string;
}

export interface SaturationResult {
  requests: number;
  rps: number;
  errors: number;
  command: string;
}

const quantile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;

/**
 * Fixed rate: `clients` connections started 1 ms apart (staggered, like fortio's uniform schedule), each at
 * rate/clients req/s, `requests` in total, loader pinned on `cpu`. h2load's HTTP/1 Host comes from :authority.
 */
export function h2loadFixedRate(o: {
  url: string;
  host: string | null;
  rate: number;
  clients: number;
  requests: number;
  cpu: number;
  logFile: string;
  headers?: string[];
  /** Keep a copy of the per-request log here (bench/lab). */
  keepTo?: string;
}): LatencyResult {
  const argv = [
    '--h1',
    `-c${o.clients}`,
    '-r1',
    '--rate-period=1ms',
    `--rps=${o.rate / o.clients}`,
    `-n${o.requests}`,
    `--log-file=${o.logFile}`,
  ];
  if (o.host) argv.push('-H', `:authority: ${o.host}`);
  for (const h of o.headers ?? []) argv.push('-H', h);
  argv.push(o.url);
  const out = execFileSync('taskset', ['-c', String(o.cpu), 'h2load', ...argv], { encoding: 'utf8' });
  const lines = readFileSync(o.logFile, 'utf8').trim().split('\n');
  if (o.keepTo) copyFileSync(o.logFile, o.keepTo);
  rmSync(o.logFile, { force: true });
  const starts: number[] = [];
  const durations: number[] = [];
  let bad = 0;
  for (const l of lines) {
    const [start, status, dur] = l.split('\t');
    if (!status?.startsWith('2')) bad++;
    starts.push(Number(start));
    durations.push(Number(dur));
  }
  durations.sort((a, b) => a - b);
  const span = (Math.max(...starts) - Math.min(...starts)) / 1e6;
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0);
  const done = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  return {
    requests: durations.length,
    errors: bad + failed + Math.max(0, o.requests - done - failed),
    achievedRps: span > 0 ? (starts.length - 1) / span : 0,
    p50: quantile(durations, 0.5),
    p90: quantile(durations, 0.9),
    p99: quantile(durations, 0.99),
    p999: quantile(durations, 0.999),
    max: durations.at(-1) ?? Number.NaN,
    command: `taskset -c ${o.cpu} h2load ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`,
  };
}

/** Closed-loop saturation with wrk (one thread, `conns` keep-alive connections), loader pinned on `cpu`. */
export function wrkSaturation(o: {
  url: string;
  host: string | null;
  conns: number;
  seconds: number;
  cpu: number;
}): SaturationResult {
  const argv = ['-t1', `-c${o.conns}`, `-d${o.seconds}s`];
  if (o.host) argv.push('-H', `Host: ${o.host}`);
  argv.push(o.url);
  const out = execFileSync('taskset', ['-c', String(o.cpu), 'wrk', ...argv], { encoding: 'utf8' });
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
    (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return {
    requests,
    rps,
    errors,
    command: `taskset -c ${o.cpu} wrk ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`,
  };
}
