/** Process and /proc helpers for the side-by-side benchmark: spawn pinned, find a peer's processes, CPU and RSS. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A free loopback TCP port (bound to 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Spawns `taskset -c <cpu> cmd …` (taskset execs, so the pid is the command's); stdout and stderr to files. */
export function spawnPinned(
  cpu: number,
  cmd: string,
  argv: string[],
  o: { out: string; err: string; cwd: string },
): ChildProcess {
  const child = spawn('taskset', ['-c', String(cpu), cmd, ...argv], {
    cwd: o.cwd,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', openSync(o.out, 'a'), openSync(o.err, 'a')],
  });
  child.on('error', () => {});
  return child;
}

/** The pid and all its descendants (nginx master + worker), from /proc/PID/task/TID/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    try {
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {}
  }
  return out;
}

/** utime + stime of every thread of the processes, in seconds (/proc/PID/stat fields 14 and 15). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks / CLK_TCK;
}

/** VmRSS and VmHWM summed over the processes, MB. */
export function memory(pids: number[]): { rssMb: number; peakMb: number } {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    try {
      const s = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
      hwm += Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
    } catch {}
  }
  return { rssMb: rss / 1024, peakMb: hwm / 1024 };
}

/** Per-CPU busy and steal jiffies from /proc/stat. */
export function cpuStat(): { busy: number[]; total: number[]; steal: number } {
  const busy: number[] = [];
  const total: number[] = [];
  let steal = 0;
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    const idle = v[3]! + v[4]!;
    const sum = v.slice(0, 8).reduce((a, b) => a + b, 0);
    busy[Number(m[1])] = sum - idle;
    total[Number(m[1])] = sum;
    steal += v[7]!;
  }
  return { busy, total, steal };
}

/** GET url with a Host header; resolves the status code (0 on a connection error). */
export function get(url: string, host: string | null, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: host ? { host } : {}, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

/** Polls until GET url answers 200, or throws after timeoutMs. */
export async function waitReady(url: string, host: string | null, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await get(url, host)).status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not answer 200 on ${url} within ${timeoutMs} ms`);
}

/** SIGTERM exactly this pid, wait for it to go, SIGKILL after timeoutMs. */
export async function stopPid(pid: number, timeoutMs = 5000): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  const until = Date.now() + timeoutMs;
  while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  if (alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

export function which(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the Debian packages of missing tools with apt-get. Packages such as nginx and haproxy would start
 * their system service on install; a policy-rc.d that forbids it is put in place for the install when the
 * machine has none, and removed afterwards. We never use those services: every peer is our own instance.
 */
export function ensureTools(): void {
  const need: Record<string, string> = { wrk: 'wrk', h2load: 'nghttp2-client', nginx: 'nginx', haproxy: 'haproxy' };
  const missing = Object.keys(need).filter((t) => !which(t) && !existsSync(`/usr/sbin/${t}`));
  if (missing.length === 0) return;
  const pkgs = missing.map((t) => need[t]!);
  process.stderr.write(`bench: installing ${pkgs.join(' ')} with apt-get (no services started)…\n`);
  const policy = '/usr/sbin/policy-rc.d';
  const ours = !existsSync(policy);
  if (ours) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    execFileSync(
      'sh',
      ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs.join(' ')}`],
      {
        stdio: 'inherit',
      },
    );
  } finally {
    if (ours) execFileSync('rm', ['-f', policy]);
  }
}
