/**
 * A mesh of 1,000 services under load: `weir serve` (a child process, as users run it) keeps answering while
 * VirtualService weights change and endpoints come and go. Before the incremental snapshot, each change rebuilt
 * everything on the serving thread (≈ 3–4 s of blocked event loop at this size); now no request fails, none waits
 * behind a reload, and every change is applied.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import { listening, type ServeProcess, serveProcess } from '../helpers/serve-process.ts';

const SERVICES = 1000;
const HOST0 = 'svc-0.ns0.svc.cluster.local';

/** Service i: a ServiceEntry (endpoints), a DestinationRule (v1/v2), a VirtualService (header route + split). */
function service(
  i: number,
  opts: { endpoints: { address: string; port: number; version: string }[]; weights: [number, number] },
): string {
  const ns = `ns${i % 20}`;
  const host = `svc-${i}.${ns}.svc.cluster.local`;
  const eps = opts.endpoints
    .map(
      (e) =>
        `  - address: ${e.address}\n    ports: {http: ${e.port}}\n    labels: {app: svc-${i}, version: ${e.version}}`,
    )
    .join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${i}, namespace: ${ns}}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
${eps}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}, namespace: ${ns}}
spec:
  host: ${host}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${i}, namespace: ${ns}}
spec:
  hosts: [${host}]
  http:
  - name: canary
    match: [{headers: {x-canary-user: {exact: "true"}}}]
    route: [{destination: {host: ${host}, subset: v2}}]
  - name: split
    timeout: 5s
    route:
    - {destination: {host: ${host}, subset: v1}, weight: ${opts.weights[0]}}
    - {destination: {host: ${host}, subset: v2}, weight: ${opts.weights[1]}}
`;
}

/** Unreachable endpoints on loopback for the services no request goes to. */
const idle = (i: number, n: number) =>
  Array.from({ length: n }, (_, k) => ({
    address: `127.3.${(i >> 8) & 255}.${i & 255}`,
    port: 9000 + k,
    version: k % 2 === 0 ? 'v1' : 'v2',
  }));

let dir: string;
let backends: BackendSet<'v1' | 'v1b' | 'v2'>;
let weir: ServeProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weir-scale-'));
  backends = await startBackends({ v1: { version: 'v1' }, v1b: { version: 'v1' }, v2: { version: 'v2' } });
  writeFileSync(join(dir, 'svc-0.yaml'), service(0, { endpoints: svc0Endpoints(false), weights: [100, 0] }));
  for (let i = 1; i < SERVICES; i++)
    writeFileSync(join(dir, `svc-${i}.yaml`), service(i, { endpoints: idle(i, 4), weights: [95, 5] }));
  weir = await serveProcess(dir);
  await listening(weir);
}, 120_000);

afterAll(async () => {
  weir?.child.kill('SIGTERM');
  await weir?.exited;
  await backends?.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

function svc0Endpoints(withSecondV1: boolean) {
  const at = (b: { port: number }, version: string) => ({ address: '127.0.0.1', port: b.port, version });
  return [at(backends.v1, 'v1'), ...(withSecondV1 ? [at(backends.v1b, 'v1')] : []), at(backends.v2, 'v2')];
}

async function metric(name: string): Promise<number> {
  const r = await request(`${weir.adminUrl}/stats/prometheus`);
  const text = await r.body.text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe(`weir serve with ${SERVICES} services under load`, () => {
  it('applies weight changes and endpoint churn without a failed request or a stall', async () => {
    const agent = new Agent({ connections: 8, keepAliveTimeout: 30_000 });
    const latencies: number[] = [];
    const failures: string[] = [];
    const versions = new Map<string, number>();
    let stop = false;
    // Steady load: 8 clients back to back on service 0 (bounded by `stop` and the test's duration).
    const client = async (): Promise<void> => {
      while (!stop) {
        const t0 = performance.now();
        try {
          const r = await request(`${weir.url}/`, { headers: { host: HOST0 }, dispatcher: agent });
          const body = (await r.body.json()) as { version?: string };
          if (r.statusCode !== 200) failures.push(`status ${r.statusCode}`);
          else versions.set(body.version ?? '?', (versions.get(body.version ?? '?') ?? 0) + 1);
        } catch (err) {
          failures.push(String((err as Error).message));
        }
        latencies.push(performance.now() - t0);
      }
    };
    const reloadsBefore = (weir.stderr().match(/configuration reloaded/g) ?? []).length;
    const clients = Array.from({ length: 8 }, client);
    // Changes, one every 250 ms for 10 s: service 0's weights and endpoints (a second v1 pod comes and goes), and
    // endpoints of other services.
    const changes = 40;
    for (let k = 0; k < changes; k++) {
      await new Promise((r) => setTimeout(r, 250));
      if (k % 2 === 0) {
        const w = k % 4 === 0 ? 90 : 100;
        writeFileSync(
          join(dir, 'svc-0.yaml'),
          service(0, { endpoints: svc0Endpoints(k % 8 === 0), weights: [w, 100 - w] }),
        );
      } else {
        const i = 1 + ((k * 37) % (SERVICES - 1));
        writeFileSync(join(dir, `svc-${i}.yaml`), service(i, { endpoints: idle(i, 2 + (k % 3)), weights: [95, 5] }));
      }
    }
    // The last change: all of service 0 to v2; wait until it is in effect.
    writeFileSync(join(dir, 'svc-0.yaml'), service(0, { endpoints: svc0Endpoints(false), weights: [0, 100] }));
    const deadline = Date.now() + 30_000;
    let lastVersion = '';
    while (Date.now() < deadline) {
      const r = await request(`${weir.url}/`, { headers: { host: HOST0 }, dispatcher: agent });
      lastVersion = ((await r.body.json()) as { version: string }).version;
      if (lastVersion === 'v2') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    stop = true;
    await Promise.all(clients);
    await agent.close();

    expect(failures, failures.slice(0, 5).join('; ')).toEqual([]);
    expect(lastVersion).toBe('v2');
    expect(latencies.length).toBeGreaterThan(200);
    // Every batch of changes was applied (the watcher coalesces changes that arrive within 100 ms).
    const reloads = (weir.stderr().match(/configuration reloaded/g) ?? []).length - reloadsBefore;
    expect(reloads).toBeGreaterThanOrEqual(10);
    expect(weir.stderr()).not.toMatch(/reload (rejected|failed)/);
    // No request waited behind a reload: a full rebuild of this mesh blocked the event loop for seconds; built in
    // slices, the longest stall stays far below that (the bound leaves room for a loaded CI machine).
    const slowest = Math.max(...latencies);
    expect(slowest, `slowest request ${slowest.toFixed(0)} ms`).toBeLessThan(1000);
    const maxDelay = await metric('weir_event_loop_delay_max_seconds');
    expect(maxDelay).toBeLessThan(0.5);
    // Both v1 endpoints and v2 took traffic along the way.
    expect(versions.get('v1')).toBeGreaterThan(0);
    expect(versions.get('v2')).toBeGreaterThan(0);
  }, 120_000);
});
