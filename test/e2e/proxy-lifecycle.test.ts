/**
 * End to end: hot reload under continuous load (no failed request, pools of unchanged clusters kept, a bad change
 * rejected while the last good config keeps serving) and graceful drain on SIGTERM of a real `weir serve` process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import {
  closeClients,
  type Reply,
  send,
  serviceEntryYaml,
  startWeir,
  subsetsYaml,
  type Weir,
} from '../helpers/proxy.ts';
import { listening, serveProcess, stopProcess } from '../helpers/serve-process.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

const split = (w1: number, w2: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout-service-vs
  namespace: ${NS}
spec:
  hosts:
  - ${HOST}
  http:
  - route:
    - destination:
        host: ${HOST}
        subset: v1
      weight: ${w1}
    - destination:
        host: ${HOST}
        subset: v2
      weight: ${w2}
`;

let backends: BackendSet<'v1' | 'v2'>;
beforeAll(async () => {
  backends = await startBackends({ v1: {}, v2: {} });
});
afterAll(async () => {
  await backends.closeAll();
  await closeClients();
});

/** Polls `check` every 20 ms until it holds; fails after `timeoutMs` (generous: a loaded 2-core machine). */
async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function mesh(): string {
  return serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ]);
}

describe('hot reload', () => {
  let weir: Weir;
  /** weir's own log lines (reloads, rejections). */
  const lines: string[] = [];
  beforeAll(async () => {
    weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': split(100, 0) },
      { watch: true, log: (l) => lines.push(l) },
    );
  });
  afterAll(() => weir.close());

  it('shifts traffic under continuous load with zero failed requests', async () => {
    const replies: Reply[] = [];
    const errors: unknown[] = [];
    let stop = false;
    const deadline = Date.now() + 20_000;
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop && Date.now() < deadline) {
        try {
          replies.push(await send(weir.url, { host: HOST }));
        } catch (e) {
          errors.push(e);
        }
      }
    });
    // Walk the canary 0 → 100 in steps, each a real file change picked up by the watcher; each step serves at least
    // 50 requests under load before the next.
    const served = async (n: number): Promise<void> => {
      const target = replies.length + n;
      await until(() => replies.length >= target || errors.length > 0, `${n} more replies`);
    };
    for (const w2 of [10, 50, 100]) {
      await served(50);
      const before = weir.handle.proxy.configVersion;
      await weir.write('vs.yaml', split(100 - w2, w2));
      await until(() => weir.handle.proxy.configVersion > before, `the reload to ${w2} % v2`);
    }
    await served(50);
    stop = true;
    await Promise.all(workers);
    expect(errors).toEqual([]);
    expect(replies.length).toBeGreaterThan(100);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    // After the last step everything goes to v2.
    const last = await send(weir.url, { host: HOST });
    expect(last.json().version).toBe('v2');
  });

  it('ignores files the loader does not read (logs, hidden editor files) in a watched directory', async () => {
    // The watcher is live: a change it sees is applied.
    const initial = weir.handle.proxy.configVersion;
    await weir.write('vs.yaml', split(10, 90));
    await until(() => weir.handle.proxy.configVersion > initial, 'the watcher to apply a change');
    const before = weir.handle.proxy.configVersion;
    const from = lines.length;
    await weir.write('access.log', 'x'.repeat(1000));
    await weir.write('.vs.yaml.swp', 'junk');
    // A file the loader reads, written after them: the watcher reports changes in order, so once its reload is done,
    // a change seen in the other two would have been reported too.
    await weir.write('vs.yaml', split(0, 100));
    await until(() => weir.handle.proxy.configVersion > before, 'the reload for vs.yaml');
    const reported = lines.slice(from).filter((l) => l.endsWith('changed, reloading'));
    expect(reported).toEqual([`weir: ${join(weir.dir, 'vs.yaml')} changed, reloading`]);
    expect(weir.handle.proxy.configVersion).toBe(before + 1);
  });

  it('keeps the runtimes (pools) of unchanged clusters across a reload, and closes those of clusters that are gone', async () => {
    const v1 = `outbound|80|v1|${HOST}`;
    const v2 = `outbound|80|v2|${HOST}`;
    await weir.write('vs.yaml', split(90, 10));
    expect(await weir.handle.reload()).toBe(true);
    await send(weir.url, { host: HOST });
    const before = new Map(weir.handle.proxy.clusterRuntimes().map((c) => [c.name, c]));
    expect([...before.keys()].sort()).toEqual([v1, v2]);
    await weir.write('vs.yaml', split(50, 50));
    expect(await weir.handle.reload()).toBe(true);
    const after = weir.handle.proxy.clusterRuntimes();
    expect(after.map((c) => c.name).sort()).toEqual([v1, v2]);
    for (const c of after) expect(c).toBe(before.get(c.name));
    // v2 no longer routed to but still defined: as Envoy's clusters (CDS), its runtime stays.
    await weir.write('vs.yaml', split(100, 0));
    expect(await weir.handle.reload()).toBe(true);
    expect(
      weir.handle.proxy
        .clusterRuntimes()
        .map((c) => c.name)
        .sort(),
    ).toEqual([v1, v2]);
    // The subset v2 removed from the DestinationRule: the cluster is gone, and so is its runtime (and pools); v1's stays.
    const v2Pools = before.get(v2)!;
    await weir.write('dr.yaml', subsetsYaml(NS).replace(/ {2}- name: v2\n {4}labels:\n {6}version: v2\n/, ''));
    expect(await weir.handle.reload()).toBe(true);
    const last = weir.handle.proxy.clusterRuntimes();
    expect(last.map((c) => c.name)).toEqual([v1]);
    expect(last[0]).toBe(before.get(v1));
    expect(weir.handle.proxy.clusterRuntimes()).not.toContain(v2Pools);
    await weir.write('dr.yaml', subsetsYaml(NS));
    expect(await weir.handle.reload()).toBe(true);
  });

  it('applies a change written right after start (startServe returns once the watcher is ready)', async () => {
    const fresh = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': split(100, 0) },
      { watch: true },
    );
    try {
      await fresh.write('vs.yaml', split(0, 100));
      await until(() => fresh.handle.proxy.configVersion === 2, 'the change written right after start');
      expect((await send(fresh.url, { host: HOST })).json().version).toBe('v2');
    } finally {
      await fresh.close();
    }
  });

  it('rejects a bad change and keeps serving the last good config', async () => {
    await weir.write('vs.yaml', split(0, 100));
    expect(await weir.handle.reload()).toBe(true);
    await weir.write('vs.yaml', `${split(100, 0)}    timeout: "five seconds"\n`);
    expect(await weir.handle.reload()).toBe(false);
    await weir.write('broken.yaml', 'kind: [unclosed\n');
    expect(await weir.handle.reload()).toBe(false);
    const r = await send(weir.url, { host: HOST });
    expect(r.status).toBe(200);
    expect(r.json().version).toBe('v2');
  });
});

describe('graceful shutdown', () => {
  it('drains in-flight requests on SIGTERM and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-drain-'));
    await writeFile(join(dir, 'mesh.yaml'), mesh());
    // No VirtualService: Istio's default route to every endpoint of the service.
    backends.v1.configure({ latencyMs: 800 });
    backends.v2.configure({ latencyMs: 800 });
    const p = await serveProcess(dir, ['--drain-timeout', '10s']);
    try {
      await listening(p);
      const inflight = Array.from({ length: 10 }, () => send(p.url, { host: HOST }));
      const busy = (): number => backends.v1.stats().inFlight + backends.v2.stats().inFlight;
      await until(() => busy() === 10, 'the 10 requests at the backends');
      const killedAt = performance.now();
      p.child.kill('SIGTERM');
      const replies = await Promise.all(inflight);
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      // Answered during the drain: told to close their connections.
      expect(replies.map((r) => r.headers.connection)).toEqual(Array(10).fill('close'));
      expect(await p.exited).toBe(0);
      // It exits once no connection is left (plus 1 s), not at the end of the 10 s drain limit (a leftover drain
      // timer once kept the process alive that long).
      expect(performance.now() - killedAt).toBeLessThan(8000);
      await expect(send(p.url, { host: HOST })).rejects.toThrow();
    } finally {
      backends.v1.configure({ latencyMs: 0 });
      backends.v2.configure({ latencyMs: 0 });
      await stopProcess(p);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('weir serve as a process', () => {
  it('mirrors through the CLI build (no undici root import in the process): no 500, every copy sent', async () => {
    // In-process tests load undici's package root through their own clients, which installs Dispatcher.prototype
    // .request; the CLI process does not. Mirrors once called pool.request and failed with a 500 there.
    const dir = await mkdtemp(join(tmpdir(), 'weir-mirror-cli-'));
    await writeFile(join(dir, 'mesh.yaml'), mesh());
    await writeFile(join(dir, 'dr.yaml'), subsetsYaml(NS));
    await writeFile(
      join(dir, 'vs.yaml'),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  http:
  - route:
    - destination: {host: ${HOST}, subset: v1}
    mirror: {host: ${HOST}, subset: v2}
    mirrorPercentage: {value: 100}
`,
    );
    const before = backends.v2.stats().totalRequests;
    const p = await serveProcess(dir);
    try {
      await listening(p);
      const replies = await Promise.all(Array.from({ length: 20 }, () => send(p.url, { host: HOST })));
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      // Every request was copied to v2 (mirrors are fire-and-forget: wait for them, bounded).
      await until(() => backends.v2.stats().totalRequests - before >= 20, '20 mirrored copies at v2');
      expect(backends.v2.stats().totalRequests - before).toBe(20);
      expect(p.stderr()).not.toMatch(/internal error/);
    } finally {
      await stopProcess(p);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
