/**
 * Helpers for the end-to-end tests of `weir rollout run` (issue 8, 12): a real `weir serve` watching its config
 * folder in front of real v1/v2 backends, bounded load loops (a share of them with a header), the real CLI as a child
 * process, and readers for the files it writes (status, decision log, the VirtualService).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendOptions } from '../../src/backend/backend.ts';
import { type BackendSet, startBackends } from './backends.ts';
import { seededRng } from './config.ts';
import { send, serviceEntryYaml, startWeir, subsetsYaml, type Weir } from './proxy.ts';

export const NS = 'shop';
export const HOST = `checkout-service.${NS}.svc.cluster.local`;
const ROOT = join(import.meta.dirname, '..', '..');
const WEIR = join(ROOT, 'bin', 'weir.js');

/** The checkout VirtualService: one route, all to v1 (weir rollout rewrites its weights). */
export const VS = `# The checkout route; weir rollout rewrites the weights below.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - name: primary   # all traffic to v1 until the rollout starts
    route:
    - destination:
        host: ${HOST}
        subset: v1
`;

/** The Canary `shop/checkout` on `checkout-vs`, v1 → v2, with `analysis` (YAML body) and extra `spec` lines. */
export function canaryYaml(analysis: string, spec = ''): string {
  return `apiVersion: weir.dev/v1alpha1
kind: Canary
metadata:
  name: checkout
  namespace: ${NS}
spec:
  targetRef: {kind: VirtualService, name: checkout-vs}
  host: checkout-service
  primarySubset: v1
  canarySubset: v2
${spec ? `${spec.replace(/^/gm, '  ')}\n` : ''}  analysis:
${analysis.replace(/^/gm, '    ')}
`;
}

/** A running rollout setup. */
export interface RolloutSetup {
  weir: Weir;
  backends: BackendSet<'v1' | 'v2'>;
  canaryFile: string;
  adminUrl: string;
}

/** Things to close after the test file (pushed in order, closed in reverse). */
export type Cleanups = (() => Promise<void>)[];

/**
 * Backends v1 and v2 (errors as 503, seeded), `weir serve` watching a folder with the ServiceEntry, the subsets, `vs`
 * and the Canary, all on loopback.
 */
export async function setupRollout(
  cleanups: Cleanups,
  o: {
    v1?: BackendOptions;
    v2?: BackendOptions;
    analysis: string;
    spec?: string;
    vs?: string;
    serve?: Parameters<typeof startWeir>[1];
  },
): Promise<RolloutSetup> {
  const backends = await startBackends({
    v1: { errorStatus: 503, seed: 11, ...o.v1 },
    v2: { errorStatus: 503, seed: 12, ...o.v2 },
  });
  cleanups.push(() => backends.closeAll());
  const weir = await startWeir(
    {
      'mesh.yaml': serviceEntryYaml(NS, [
        { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
        { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
      ]),
      'dr.yaml': subsetsYaml(NS),
      'vs.yaml': o.vs ?? VS,
      'canary.yaml': canaryYaml(o.analysis, o.spec),
    },
    { watch: true, rng: seededRng(3), namespace: NS, ...o.serve },
  );
  cleanups.push(() => weir.close());
  return { weir, backends, canaryFile: join(weir.dir, 'canary.yaml'), adminUrl: weir.handle.adminUrl! };
}

/**
 * Sends requests from `workers` loops, ~`perWorkerRps` each, until stopped (bounded by `maxMs`). Every
 * `1/headerEvery`-th request of a loop carries `header` (deterministic, no randomness).
 */
export function load(
  url: string,
  o: { workers: number; perWorkerRps: number; maxMs: number; header?: Record<string, string>; headerEvery?: number },
) {
  let stop = false;
  let sent = 0;
  const until = Date.now() + o.maxMs;
  const loops = Array.from({ length: o.workers }, async (_, worker) => {
    for (let i = worker; !stop && Date.now() < until; i++) {
      const t = Date.now();
      const withHeader = o.header !== undefined && o.headerEvery !== undefined && i % o.headerEvery === 0;
      await send(url, { host: HOST, path: '/checkout', ...(withHeader ? { headers: o.header } : {}) }).catch(
        () => undefined,
      );
      sent++;
      const wait = 1000 / o.perWorkerRps - (Date.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  });
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** A `weir rollout …` child process. */
export interface Run {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

/** Runs `weir rollout ARGS` (stdout and stderr collected); killed at cleanup if still running. */
export function rollout(cleanups: Cleanups, args: string[]): Run {
  const child = spawn(process.execPath, [WEIR, 'rollout', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return { child, output: () => out, exit };
}

/** The persisted status of `shop/checkout` in `dir`, or null. */
export async function statusIn(dir: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(join(dir, '.weir', `${NS}.checkout.status.json`), 'utf8'));
  } catch {
    return null;
  }
}

/** The decision log of `shop/checkout` in `dir`, one object per line. */
// biome-ignore lint/suspicious/noExplicitAny: decision-log lines are heterogeneous JSON; each test reads its fields
export async function decisionLogIn(dir: string): Promise<any[]> {
  return (await readFile(join(dir, '.weir', `${NS}.checkout.decisions.jsonl`), 'utf8'))
    .trim()
    .split('\n')
    .map((x) => JSON.parse(x));
}

/** Polls `check` every 100 ms until it returns true (at most `maxMs`); returns its last answer. */
export async function until(check: () => Promise<boolean>, maxMs: number): Promise<boolean> {
  const end = Date.now() + maxMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
