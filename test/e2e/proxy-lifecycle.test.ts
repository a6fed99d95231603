/**
 * End to end: hot reload under continuous load (no failed request, pools of unchanged clusters kept, a bad change
 * rejected while the last good config keeps serving) and graceful drain on SIGTERM of a real `weir serve` process.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendSet, freePort, startBackends } from '../helpers/backends.ts';
import {
  closeClients,
  type Reply,
  send,
  serviceEntryYaml,
  startWeir,
  subsetsYaml,
  type Weir,
} from '../helpers/proxy.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;
const ROOT = join(import.meta.dirname, '..', '..');

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

/**
 * Resolves once a `weir serve` child process says it listens (rejects on an early exit or after 20 s); returns a
 * getter for everything it has written on stderr so far.
 */
function listening(child: ReturnType<typeof spawn>): Promise<() => string> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`weir serve did not start: ${stderr}`)), 20_000);
    const onData = (): void => {
      if (stderr.includes('proxy listening')) {
        clearTimeout(t);
        child.stderr!.off('data', onData);
        resolve(() => stderr);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
  });
}

/** Spawns `weir serve -f dir` through bin/weir.js on free loopback ports (log off); stderr is piped. */
async function serveProcess(dir: string): Promise<{ child: ReturnType<typeof spawn>; port: number }> {
  const port = await freePort();
  const admin = await freePort();
  const args = ['serve', '-f', dir, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`];
  const child = spawn(process.execPath, ['bin/weir.js', ...args, '--log-format', 'off'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return { child, port };
}

function mesh(): string {
  return serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ]);
}

describe('hot reload', () => {
  let weir: Weir;
  beforeAll(async () => {
    weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': split(100, 0) },
      { watch: true },
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
    // Walk the canary 0 → 100 in steps, each a real file change picked up by the watcher.
    for (const w2 of [10, 50, 100]) {
      await new Promise((r) => setTimeout(r, 300));
      const before = weir.handle.proxy.configVersion;
      await weir.write('vs.yaml', split(100 - w2, w2));
      const until = Date.now() + 5000;
      while (weir.handle.proxy.configVersion === before && Date.now() < until)
        await new Promise((r) => setTimeout(r, 20));
      expect(weir.handle.proxy.configVersion).toBeGreaterThan(before);
    }
    await new Promise((r) => setTimeout(r, 300));
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
    const before = weir.handle.proxy.configVersion;
    await weir.write('access.log', 'x'.repeat(1000));
    await weir.write('.vs.yaml.swp', 'junk');
    await new Promise((r) => setTimeout(r, 800));
    expect(weir.handle.proxy.configVersion).toBe(before);
  });

  it('keeps the pools of unchanged clusters across a reload', async () => {
    await send(weir.url, { host: HOST });
    const before = new Map(weir.handle.proxy.clusterRuntimes().map((c) => [c.name, c]));
    await weir.write('vs.yaml', split(50, 50));
    expect(await weir.handle.reload()).toBe(true);
    const after = weir.handle.proxy.clusterRuntimes();
    expect(after.length).toBeGreaterThan(0);
    for (const c of after) if (before.has(c.name)) expect(before.get(c.name)).toBe(c);
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
    const { child, port } = await serveProcess(dir);
    try {
      await listening(child);
      const url = `http://127.0.0.1:${port}`;
      const inflight = Array.from({ length: 10 }, () => send(url, { host: HOST }));
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const killedAt = performance.now();
      child.kill('SIGTERM');
      const replies = await Promise.all(inflight);
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(await exited).toBe(0);
      // It exits once the in-flight requests are done, not at the end of the 10 s drain limit (a leftover drain
      // timer once kept the process alive that long).
      expect(performance.now() - killedAt).toBeLessThan(6000);
      await expect(send(url, { host: HOST })).rejects.toThrow();
    } finally {
      backends.v1.configure({ latencyMs: 0 });
      backends.v2.configure({ latencyMs: 0 });
      child.kill('SIGKILL');
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
    const { child, port } = await serveProcess(dir);
    try {
      const stderr = await listening(child);
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => send(`http://127.0.0.1:${port}`, { host: HOST })),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      // Every request was copied to v2 (mirrors are fire-and-forget: wait for them, bounded).
      for (let i = 0; i < 50 && backends.v2.stats().totalRequests - before < 20; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(backends.v2.stats().totalRequests - before).toBe(20);
      expect(stderr()).not.toMatch(/internal error/);
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
