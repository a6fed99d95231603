/**
 * Routing-engine micro-benchmark (`npm run bench:routing`): decisions per second and per-decision latency
 * (p50/p99 of hrtime-measured batches, divided by the batch size) of `decide()` against the naive interpreter in
 * `naive.ts`, on (a) the article's composite configuration with mixed requests and (b) a generated table of
 * 1,000 hosts × 20 routes mixing header, prefix and regex matches. Rounds alternate engine/naive (ABBA) so drift
 * on a noisy machine hits both; medians over rounds are printed as a Markdown table. Bounded to ~40 s.
 * Request facts are built before timing (the proxy builds them from the socket).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotFromTexts } from '../../src/config/snapshot.ts';
import { compileRouteTable, type RouteTable } from '../../src/routing/compile.ts';
import { decide } from '../../src/routing/decide.ts';
import { createFacts } from '../../src/routing/facts.ts';
import type { RequestFacts } from '../../src/routing/types.ts';
import { createSeededRng } from '../../src/util/random.ts';
import { type NaiveRequest, naiveDecide, type RawVirtualService } from './naive.ts';

const BATCH = 64;
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 400);
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 1500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** A deterministic RNG (mulberry32, shared with the backend and benchmarks). */
const rng32 = createSeededRng;

interface Workload {
  name: string;
  table: RouteTable;
  raw: RawVirtualService[];
  facts: RequestFacts[];
  naive: NaiveRequest[];
}

interface Measure {
  perSecond: number;
  p50Ns: number;
  p99Ns: number;
}

let sink = 0;

/** Runs `one(i)` in batches for `ms`; returns throughput and per-decision batch latency percentiles. */
function measure(one: (i: number) => number, n: number, ms: number): Measure {
  const samples: number[] = [];
  let done = 0;
  let i = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < BATCH; b++) {
      sink += one(i);
      i = i + 1 === n ? 0 : i + 1;
    }
    now = process.hrtime.bigint();
    samples.push(Number(now - t0) / BATCH);
    done += BATCH;
  }
  const elapsedNs = Number(now - start);
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
  return { perSecond: (done / elapsedNs) * 1e9, p50Ns: q(0.5), p99Ns: q(0.99) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function rawOf(texts: string[]): { table: RouteTable; raw: RawVirtualService[] } {
  const snap = snapshotFromTexts(texts.map((text, i) => ({ file: `b${i}.yaml`, text })));
  const errors = snap.diagnostics.filter((d) => d.level === 'error');
  if (errors.length > 0) throw new Error(`bench config has errors: ${errors[0]!.message}`);
  return {
    table: compileRouteTable(snap, { gateway: null, namespace: 'prod' }),
    raw: snap.virtualServices.map((v) => ({ namespace: v.namespace, spec: v.spec })),
  };
}

function articleWorkload(): Workload {
  const dir = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'seed');
  const files = ['00-mesh.yaml', '01-destination-rule-subsets.yaml', '02-composite-routing.yaml'];
  const { table, raw } = rawOf(files.map((f) => readFileSync(join(dir, f), 'utf8')));
  const r = rng32(1);
  const host = 'checkout-service.prod.svc.cluster.local';
  const naive: NaiveRequest[] = [];
  for (let i = 0; i < 1024; i++) {
    const x = r();
    const headers: Record<string, string> =
      x < 0.3
        ? { 'x-canary-user': 'true', 'user-agent': 'curl/8' }
        : x < 0.4
          ? { 'x-canary-user': 'false' }
          : { 'user-agent': 'Mozilla/5.0', accept: '*/*' };
    naive.push({ authority: x < 0.5 ? host : `${host}:80`, path: `/cart/${i % 17}?item=${i}`, headers });
  }
  return { name: "article's composite (00+01+02)", table, raw, naive, facts: naive.map(toFacts) };
}

function generatedWorkload(hosts = 1000, routes = 20): Workload {
  const texts: string[] = [];
  const hostNames = Array.from({ length: hosts }, (_, h) => `svc-${h}.gen.svc.cluster.local`);
  texts.push(
    JSON.stringify({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'gen', namespace: 'gen' },
      spec: {
        hosts: hostNames,
        location: 'MESH_INTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        endpoints: [{ address: '10.1.0.1' }, { address: '10.1.0.2' }],
      },
    }),
  );
  for (let h = 0; h < hosts; h++) {
    const host = hostNames[h]!;
    const http = [];
    for (let i = 0; i < routes - 1; i++) {
      const kind = i % 3;
      const match =
        kind === 0
          ? { headers: { 'x-route': { exact: `r${i}` } } }
          : kind === 1
            ? { uri: { prefix: `/p${i}/` } }
            : { uri: { regex: `/r${i}/[0-9]+` } };
      http.push({ name: `r${i}`, match: [match], route: [{ destination: { host } }] });
    }
    http.push({ name: 'rest', route: [{ destination: { host } }] });
    texts.push(
      JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: `vs-${h}`, namespace: 'gen' },
        spec: { hosts: [host], http },
      }),
    );
  }
  const { table, raw } = rawOf(texts);
  const r = rng32(2);
  const naive: NaiveRequest[] = [];
  for (let i = 0; i < 4096; i++) {
    const host = hostNames[Math.floor(r() * hosts)]!;
    const target = Math.floor(r() * routes);
    const kind = target % 3;
    const req: NaiveRequest =
      target === routes - 1
        ? { authority: host, path: '/other', headers: {} }
        : kind === 0
          ? { authority: host, path: '/x', headers: { 'X-Route': `r${target}` } }
          : kind === 1
            ? { authority: host, path: `/p${target}/item?q=1`, headers: {} }
            : { authority: host, path: `/r${target}/${i}`, headers: {} };
    naive.push(req);
  }
  return { name: `generated ${hosts} hosts × ${routes} routes`, table, raw, naive, facts: naive.map(toFacts) };
}

function toFacts(n: NaiveRequest): RequestFacts {
  return createFacts({ authority: n.authority, path: n.path, headers: n.headers, port: 80 });
}

/** Checks that the engine and the naive interpreter agree on every request (same rng draws). */
function crossCheck(w: Workload): void {
  for (let i = 0; i < w.facts.length; i++) {
    const d = decide(w.table, w.facts[i]!, { rng: () => 0.5 });
    const a = d.action === 'route' ? `${d.cluster.host}|${d.cluster.subset ?? ''}` : '404';
    const b = naiveDecide(w.raw, w.naive[i]!, () => 0.5);
    if (a !== b) throw new Error(`${w.name}: engine ${a} ≠ naive ${b} for ${JSON.stringify(w.naive[i])}`);
  }
}

function main(): void {
  const started = Date.now();
  const workloads = [articleWorkload(), generatedWorkload()];
  const rows: string[] = [];
  for (const w of workloads) {
    crossCheck(w);
    const r = rng32(3);
    const engine = (i: number) => {
      const d = decide(w.table, w.facts[i]!, { rng: r });
      return d.action === 'route' ? d.destinationIndex + 1 : 0;
    };
    const naive = (i: number) => naiveDecide(w.raw, w.naive[i]!, r).length;
    measure(engine, w.facts.length, WARMUP_MS);
    measure(naive, w.naive.length, WARMUP_MS);
    const e: Measure[] = [];
    const n: Measure[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // ABBA order per round.
      if (round % 2 === 0) {
        e.push(measure(engine, w.facts.length, RUN_MS));
        n.push(measure(naive, w.naive.length, RUN_MS));
      } else {
        n.push(measure(naive, w.naive.length, RUN_MS));
        e.push(measure(engine, w.facts.length, RUN_MS));
      }
    }
    const fmt = (m: Measure[], k: keyof Measure) => median(m.map((x) => x[k]));
    const ratio = median(e.map((x, i) => x.perSecond / n[i]!.perSecond));
    const fmtRate = (x: number) => Math.round(x).toLocaleString('en-US');
    rows.push(
      `| ${w.name} | weir decide() | ${fmtRate(fmt(e, 'perSecond'))} | ${fmt(e, 'p50Ns').toFixed(0)} | ${fmt(e, 'p99Ns').toFixed(0)} | ${ratio.toFixed(1)}× |`,
    );
    rows.push(
      `| ${w.name} | naive interpreter | ${fmtRate(fmt(n, 'perSecond'))} | ${fmt(n, 'p50Ns').toFixed(0)} | ${fmt(n, 'p99Ns').toFixed(0)} | 1.0× |`,
    );
  }
  process.stdout.write(
    [
      `Routing engine benchmark — node ${process.version}, ${ROUNDS} rounds × ${RUN_MS} ms (ABBA), batches of ${BATCH}, medians over rounds`,
      '',
      '| workload | implementation | decisions/s | p50 ns/decision | p99 ns/decision | speed-up (median of per-round ratios) |',
      '|---|---|---:|---:|---:|---:|',
      ...rows,
      '',
      `(${((Date.now() - started) / 1000).toFixed(1)} s; sink ${sink % 10})`,
      '',
    ].join('\n'),
  );
}

main();
