/**
 * Where weir's time goes under saturation: weir (composite rule, metrics on, log off) alone on CPU 1 under
 * `node --cpu-prof`, the nginx backends and wrk on CPU 0 (same layout as bench/run.ts), then a summary of the
 * profile: self time by function and by origin (weir, undici, prom-client, Node core, GC).
 *
 *   node --import tsx bench/profile.ts [seconds=15] [target=weir|weir-pass|weir-nometrics]
 * Writes the .cpuprofile (open it in Chrome DevTools or speedscope) and bench/results/profile-<date>.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWeir } from './lib/bundle.ts';
import { wrkSaturation } from './lib/load.ts';
import { type Ctx, HOST, type Running, startBackend, TARGETS } from './lib/peers.ts';
import { cpuSeconds, ensureTools, freePort, memory } from './lib/sys.ts';

const ROOT = join(import.meta.dirname, '..');
const SECONDS = Number(process.argv[2] ?? 15);
const TARGET = process.argv[3] ?? 'weir';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function origin(url: string, fn: string): string {
  if (fn.startsWith('(')) return fn; // (garbage collector), (program), (idle)
  if (url.includes('weir-bench')) return 'weir';
  if (url.includes('node_modules/undici')) return 'undici';
  if (url.includes('node_modules/prom-client')) return 'prom-client';
  if (url.includes('node_modules/')) return url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1');
  if (url.startsWith('node:') || url === '') return 'node core (JS) / native';
  return url;
}

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'weir-prof-'));
  const profDir = join(dir, 'prof');
  const weirBundle = await bundleWeir(ROOT);
  const running: Running[] = [];
  try {
    const ctx: Ctx = {
      root: ROOT,
      dir,
      weirBundle,
      v1: await freePort(),
      v2: await freePort(),
      proxyCpu: 1,
      loadCpu: 0,
      weirNodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
    };
    running.push(await startBackend(ctx, 'v1', ctx.v1), await startBackend(ctx, 'v2', ctx.v2));
    const target = TARGETS.find((t) => t.name === TARGET)!;
    const run = await target.start(ctx, 'prof');
    running.push(run);
    wrkSaturation({ url: run.url, host: HOST, conns: 16, seconds: 3, cpu: 0 }); // warm-up
    const c0 = cpuSeconds(run.pids);
    const sat = wrkSaturation({ url: run.url, host: HOST, conns: 16, seconds: SECONDS, cpu: 0 });
    const cpu = cpuSeconds(run.pids) - c0;
    const mem = memory(run.pids);
    await run.stop();
    running.pop();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
    const prof = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as {
      nodes: Node[];
      samples: number[];
      timeDeltas: number[];
    };
    const self = new Map<number, number>();
    prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    const byFn = new Map<string, number>();
    const byOrigin = new Map<string, number>();
    for (const n of prof.nodes) {
      const t = self.get(n.id) ?? 0;
      const o = origin(n.callFrame.url, n.callFrame.functionName);
      const key = `${n.callFrame.functionName || '(anonymous)'} [${o}]`;
      byFn.set(key, (byFn.get(key) ?? 0) + t);
      byOrigin.set(o, (byOrigin.get(o) ?? 0) + t);
    }
    const top = (m: Map<string, number>, n: number) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([k, v]) => ({ name: k, pct: Math.round((1000 * v) / total) / 10 }));
    const out = {
      date: new Date().toISOString(),
      target: TARGET,
      seconds: SECONDS,
      rps: Math.round(sat.rps),
      cpuUsPerRequest: Math.round((cpu * 1e6) / sat.requests),
      rssMb: Math.round(mem.rssMb),
      peakRssMb: Math.round(mem.peakMb),
      note: 'self time shares of the whole profile (includes the 3 s warm-up and start-up); --cpu-prof itself costs some throughput',
      byOrigin: top(byOrigin, 12),
      topFunctions: top(byFn, 40),
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const res = join(ROOT, 'bench', 'results', `profile-${TARGET}-${out.date.slice(0, 16).replace(':', '')}.json`);
    writeFileSync(res, `${JSON.stringify(out, null, 2)}\n`);
    const keep = join(ROOT, `${TARGET}-${out.date.slice(0, 10)}.cpuprofile`);
    writeFileSync(keep, readFileSync(join(profDir, file)));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\nprofile: ${keep} (git-ignored)\nsummary: ${res}\n`);
  } finally {
    for (const r of running.reverse()) await r.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(weirBundle, { force: true });
  }
}

await main();
