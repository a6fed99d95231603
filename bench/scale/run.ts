/**
 * `npm run bench:scale`: weir's cost as the configuration grows. For meshes of 100 / 1,000 / 5,000 / 10,000 services
 * (`mesh.ts`), with weir run as a child process from a bundle (same esbuild options as bin/weir.js): `weir validate`
 * of the whole mesh; `weir serve` start → admin /ready and RSS; one endpoint removed/added and one weight changed →
 * in effect, seen from outside, with the longest stall of the serving thread meanwhile; RSS after a series of
 * reloads; the added p99 of a steady stream through the proxy with and without endpoint churn. Prints Markdown
 * tables (and how each figure grows with size) and writes JSON to bench/results/. See bench/scale/README.md.
 *
 * Usage: npm run bench:scale [-- --sizes 100,1000 --node /path/to/node --node-flags '--max-old-space-size=256'
 *                                --quick --one-file --budget SECONDS --no-pin --seed N]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWeir } from '../lib/bundle.ts';
import { weirShebangFlags } from '../lib/peers.ts';
import { stopPid, which } from '../lib/sys.ts';
import { agent } from './http.ts';
import { POLL_GAP_MS, PROBE_INTERVAL_MS, TAIL_MS } from './measure.ts';
import type { BackendPorts } from './mesh.ts';
import { fmtMs, growth, growthTable, loadTable, sizeTable } from './report.ts';
import { Budget, measureSize, type Settings, type SizeRow } from './size.ts';
import type { WeirRuntime } from './weir.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Parsed command line (`--name value` or `--name=value`). @throws Error on a bad option. */
function options(argv: string[]) {
  const withValue = new Set(['sizes', 'node', 'node-flags', 'budget', 'seed']);
  const switches = new Set(['quick', 'one-file', 'no-pin']);
  const values = new Map<string, string>();
  const on = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const name = m[1]!;
    if (switches.has(name) && m[2] === undefined) on.add(name);
    else if (withValue.has(name)) {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      values.set(name, v);
    } else throw new Error(`unknown option ${a}`);
  }
  const value = (name: string): string | undefined => values.get(name);
  const argvHas = (name: string): boolean => on.has(name);
  const sizes = (value('sizes') ?? '100,1000,5000,10000').split(',').map((s) => Number(s.replace(/_/g, '')));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error('--sizes: integers ≥ 2, comma-separated');
  const quick = argvHas('quick');
  const budgetS = Number(value('budget') ?? 540);
  if (!(budgetS > 0)) throw new Error('--budget: seconds > 0');
  return {
    sizes: [...sizes].sort((a, b) => a - b),
    node: value('node') ?? process.execPath,
    // By default the flags of bin/weir.js's shebang line (what `weir` runs with); --node-flags replaces them.
    nodeFlags:
      value('node-flags') !== undefined
        ? (value('node-flags') ?? '').split(/\s+/).filter((f) => f !== '')
        : weirShebangFlags(ROOT),
    quick,
    pin: !argvHas('no-pin'),
    budgetMs: budgetS * 1000,
    settings: {
      layout: argvHas('one-file') ? 'one-file' : 'per-service',
      validateTimeoutMs: 180_000,
      readyTimeoutMs: 180_000,
      changeTimeoutMs: 90_000,
      reloads: 100,
      reloadBudgetMs: quick ? 15_000 : 60_000,
      loadSeconds: quick ? 3 : 8,
      loadWarmupSeconds: 1,
      proxyWarmupSeconds: quick ? 2 : 3,
      rate: 1000,
      churnPerSecond: 10,
      seed: Number(value('seed') ?? 13),
    } satisfies Settings,
  };
}

/** Starts bench/scale/backend.mjs with 5 ports (on CPU 0 when pinning); resolves its ports. */
function startBackend(pin: boolean): Promise<{ child: ChildProcess; ports: BackendPorts }> {
  const script = join(ROOT, 'bench', 'scale', 'backend.mjs');
  const [cmd, argv] = pin ? ['taskset', ['-c', '0', process.execPath, script, '5']] : [process.execPath, [script, '5']];
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('backend did not start within 10 s')), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready ((?:\d+ ?){5})$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        const p = m[1]!.trim().split(' ').map(Number);
        resolve({ child, ports: { service: [p[0]!, p[1]!, p[2]!, p[3]!], extra: p[4]! } });
      }
    });
    child.once('exit', (code) => reject(new Error(`backend exited with ${code}`)));
  });
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const started = new Date();
  const budget = new Budget(o.budgetMs);
  const pin = o.pin && which('taskset') && cpus().length >= 2;
  // The harness (probes, load worker, file writes) on CPU 0, weir alone on CPU 1.
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const childNode = execFileSync(o.node, ['--version'], { encoding: 'utf8' }).trim();
  const loadBefore = loadavg();
  const tmp = mkdtempSync(join(tmpdir(), 'weir-scale-'));
  const bundle = await bundleWeir(ROOT);
  const rt: WeirRuntime = {
    node: o.node,
    nodeFlags: o.nodeFlags,
    bundle,
    cpu: pin ? 1 : null,
    cwd: ROOT,
    logFile: join(tmp, 'weir.log'),
  };
  const log = (line: string): void => {
    process.stderr.write(`[${fmtMs(o.budgetMs - budget.left())}] ${line}\n`);
  };
  log(
    `bench:scale sizes ${o.sizes.join(', ')}; weir on ${childNode} (${[o.node, ...o.nodeFlags].join(' ')})${pin ? ', pinned to CPU 1' : ''}; budget ${o.budgetMs / 1000} s`,
  );
  const rows: SizeRow[] = [];
  let backend: Awaited<ReturnType<typeof startBackend>> | null = null;
  try {
    backend = await startBackend(pin);
    for (const n of o.sizes) {
      const row = await measureSize(
        n,
        o.settings,
        { ...rt, logFile: join(tmp, `weir-${n}.log`) },
        backend.ports,
        tmp,
        budget,
        log,
      );
      rows.push(row);
      log(`${n} services done${row.notes.length ? `: ${row.notes.join('; ')}` : ''}`);
    }
  } finally {
    agent.destroy();
    if (backend) await stopPid(backend.child.pid!, 5000);
    rmSync(tmp, { recursive: true, force: true });
    rmSync(bundle, { force: true });
  }
  const finished = new Date();
  const env = {
    weir: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', 'src']) ? ' (src modified)' : ''}`,
    childNode,
    harnessNode: process.version,
    machine: `${cpus()[0]?.model ?? '?'} × ${cpus().length}, Linux ${release()}`,
    pinned: pin,
    loadavgBefore: loadBefore.map((x) => Number(x.toFixed(2))),
    loadavgAfter: loadavg().map((x) => Number(x.toFixed(2))),
  };
  const s = o.settings;
  const text = [
    `## bench:scale ${started.toISOString()} (${Math.round((finished.getTime() - started.getTime()) / 1000)} s)`,
    '',
    `weir ${env.weir} on node ${childNode}${o.nodeFlags.length ? ` ${o.nodeFlags.join(' ')}` : ''}; ${env.machine}; ${pin ? 'weir pinned to CPU 1, harness/backend/load on CPU 0' : 'not pinned'}; load average before ${env.loadavgBefore.join(' ')}, after ${env.loadavgAfter.join(' ')}; layout ${s.layout}.`,
    '',
    sizeTable(rows),
    '',
    `In effect: from the file's rename to the first outside poll that saw the change (polls back to back, ${POLL_GAP_MS} ms apart; each cell's uncertainty is in the JSON as resolutionMs). Stall: longest delay of a stall-probe request (one every ${PROBE_INTERVAL_MS} ms to a direct-response route, from the write to ${TAIL_MS} ms after the effect) / largest \`weir_event_loop_delay_seconds\` bucket that grew (– when the metric is absent). Reload series: alternate 95/5 and 90/10, each waited for; at most ${s.reloads} or ${s.reloadBudgetMs / 1000} s.`,
    '',
    loadTable(rows, s.rate, s.churnPerSecond),
    '',
    growthTable(rows),
    '',
    ...rows.flatMap((r) => [
      ...r.notes.map((n) => `- ${r.services} services: ${n}`),
      ...(r.weirLogTail?.length
        ? [`- ${r.services} services, weir's last lines:`, ...r.weirLogTail.map((l) => `    ${l}`)]
        : []),
    ]),
  ].join('\n');
  const results = join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const file = join(
    results,
    `${started.toISOString().slice(0, 16).replace(':', '')}-scale${o.quick ? '-quick' : ''}.json`,
  );
  const json = {
    kind: 'bench:scale',
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    options: { sizes: o.sizes, node: o.node, nodeFlags: o.nodeFlags, quick: o.quick, pin, budgetMs: o.budgetMs, ...s },
    method: { pollGapMs: POLL_GAP_MS, probeIntervalMs: PROBE_INTERVAL_MS, tailMs: TAIL_MS },
    env,
    rows,
    growth: growth(rows),
  };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`${text}\n\nresults: ${file}\n`);
}

await main();
