/**
 * End to end: the graceful drain of `weir serve` (Envoy's graceful listener drain, Istio's
 * terminationDrainDuration): SIGTERM under keep-alive load with real clients (undici and node:http agents), the
 * admin /ready turning DRAINING, requests arriving during the drain, the drain limit cutting a request (access log
 * and metrics with DC), SIGHUP, a bad initial configuration, and recovery after a bad file is fixed.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyMetrics, type ProxyMetrics } from '../../src/telemetry/metrics.ts';
import { type BackendSet, startBackends } from '../helpers/backends.ts';
import { closeClients, send, serviceEntryYaml, startWeir, subsetsYaml } from '../helpers/proxy.ts';
import { listening, type ServeProcess, serveProcess, stopProcess, waitForOutput } from '../helpers/serve-process.ts';
import { parseExposition, select } from '../unit/telemetry/fixtures.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;

let backends: BackendSet<'v1' | 'v2'>;
const dirs: string[] = [];
const processes: ServeProcess[] = [];
beforeAll(async () => {
  backends = await startBackends({ v1: { allowControlHeaders: true }, v2: { allowControlHeaders: true } });
});
afterAll(async () => {
  for (const p of processes) await stopProcess(p);
  await backends.closeAll();
  await closeClients();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function mesh(): string {
  return serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ]);
}

const toSubset = (subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  http:
  - route:
    - destination: {host: ${HOST}, subset: ${subset}}
`;

async function configDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-drain-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function spawnServe(dir: string, args: string[] = []): Promise<ServeProcess> {
  const p = await serveProcess(dir, args);
  processes.push(p);
  await listening(p);
  return p;
}

/** Polls `check` every 20 ms until it holds; fails after `timeoutMs` (generous: a loaded 2-core machine). */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function ready(adminUrl: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${adminUrl}/ready`);
  return { status: r.status, body: await r.text() };
}

interface Outcome {
  client: 'undici' | 'node';
  status: number;
  connectionClose: boolean;
}

/** One GET through a node:http keep-alive agent. */
function nodeGet(url: string, agent: HttpAgent): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/`, { agent, headers: { host: HOST } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ client: 'node', status: res.statusCode ?? 0, connectionClose: res.headers.connection === 'close' }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('SIGTERM under keep-alive load', () => {
  it('keeps answering every request (connection: close once draining), /ready turns 503 DRAINING, exits 0 before the limit', async () => {
    backends.v1.configure({ latencyMs: 2 });
    backends.v2.configure({ latencyMs: 2 });
    const dir = await configDir({ 'mesh.yaml': mesh() });
    const p = await spawnServe(dir, ['--drain-timeout', '30s', '--log-format', 'json']);
    expect(await ready(p.adminUrl)).toEqual({ status: 200, body: 'LIVE\n' });

    const undiciAgent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    const nodeAgent = new HttpAgent({ keepAlive: true });
    const outcomes: Outcome[] = [];
    const errors: string[] = [];
    let stop = false;
    const undiciWorker = async (): Promise<void> => {
      while (!stop) {
        try {
          const r = await request(`${p.url}/`, { headers: { host: HOST }, dispatcher: undiciAgent });
          await r.body.dump();
          outcomes.push({ client: 'undici', status: r.statusCode, connectionClose: r.headers.connection === 'close' });
        } catch (e) {
          errors.push(`undici: ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`);
        }
      }
    };
    const nodeWorker = async (): Promise<void> => {
      while (!stop) {
        try {
          outcomes.push(await nodeGet(p.url, nodeAgent));
        } catch (e) {
          errors.push(`node: ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`);
        }
      }
    };
    const workers = [...Array.from({ length: 6 }, undiciWorker), ...Array.from({ length: 6 }, nodeWorker)];
    try {
      // Keep-alive connections are established and reused before the signal.
      await until(() => outcomes.length >= 300 || errors.length > 0, '300 replies before SIGTERM');
      expect(outcomes.every((o) => !o.connectionClose)).toBe(true);
      const sigtermAt = performance.now();
      p.child.kill('SIGTERM');
      await waitForOutput(p, (s) => s.includes('SIGTERM received, draining'));
      // A load balancer probing /ready now takes the proxy out, while it goes on serving.
      expect(await ready(p.adminUrl)).toEqual({ status: 503, body: 'DRAINING\n' });
      // The clients keep sending (the load balancer has not noticed yet): every request is answered, with
      // connection: close; clients reconnect, and the listener still accepts.
      const drained = (client: Outcome['client']): number =>
        outcomes.filter((o) => o.client === client && o.connectionClose).length;
      await until(
        () => (drained('undici') >= 150 && drained('node') >= 150) || errors.length > 0,
        '150 replies per client kind during the drain',
      );
      stop = true;
      await Promise.all(workers);
      // The clients go away (their pools may hold idle connections the drain leaves open).
      nodeAgent.destroy();
      await undiciAgent.close();
      const code = await p.exited;
      const drainMs = performance.now() - sigtermAt;

      expect(errors).toEqual([]);
      expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
      expect(code).toBe(0);
      // The drain ended because no connection was left (then 1 s quiet), well before the 30 s limit.
      expect(drainMs).toBeLessThan(20_000);
      // Every request is in the access log, none cut (no DC).
      const log = p
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { response_code: number; response_flags: string });
      expect(log).toHaveLength(outcomes.length);
      expect(log.filter((e) => e.response_code !== 200 || e.response_flags !== '-')).toEqual([]);
    } finally {
      stop = true;
      await Promise.all(workers);
      nodeAgent.destroy();
      if (!undiciAgent.closed) await undiciAgent.close();
      backends.v1.configure({ latencyMs: 0 });
      backends.v2.configure({ latencyMs: 0 });
    }
  }, 90_000);
});

describe('a request arriving during the drain', () => {
  it('is answered with connection: close, on an idle keep-alive connection and on a new connection', async () => {
    const weir = await startWeir({ 'mesh.yaml': mesh() }, { drainTimeoutMs: 30_000 });
    const keepAlive = new Client(weir.url, { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    const fresh = new Agent();
    try {
      const get = async (dispatcher: Client | Agent) => {
        const r = await request(`${weir.url}/`, { headers: { host: HOST }, dispatcher });
        await r.body.dump();
        return { status: r.statusCode, connection: r.headers.connection };
      };
      // Before the drain: keep-alive.
      expect(await get(keepAlive)).toEqual({ status: 200, connection: 'keep-alive' });
      expect(await ready(weir.handle.adminUrl!)).toEqual({ status: 200, body: 'LIVE\n' });
      const t0 = performance.now();
      const closing = weir.handle.close();
      expect(weir.handle.proxy.serverState()).toBe('DRAINING');
      expect(await ready(weir.handle.adminUrl!)).toEqual({ status: 503, body: 'DRAINING\n' });
      // The idle keep-alive connection is left open by the drain: its next request is served, and told to close.
      expect(await get(keepAlive)).toEqual({ status: 200, connection: 'close' });
      // A client that has not noticed the drain opens a new connection: still accepted, served once.
      expect(await get(fresh)).toEqual({ status: 200, connection: 'close' });
      await closing;
      // It ended when no connection was left (plus the 1 s quiet time), not at the 30 s limit.
      expect(performance.now() - t0).toBeLessThan(20_000);
      await expect(get(fresh)).rejects.toThrow();
    } finally {
      await keepAlive.close();
      await fresh.close();
      await weir.close();
    }
  }, 60_000);
});

describe('a pipelined request after a connection: close response', () => {
  it('is not answered or logged: one response, then the connection closes', async () => {
    const weir = await startWeir({ 'mesh.yaml': mesh() }, { drainTimeoutMs: 30_000 });
    try {
      const closing = weir.handle.close();
      const { port } = weir.handle.proxy.address();
      const socket = connect(port, '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const req = `GET / HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`;
      socket.write(req + req);
      await ended;
      await closing;
      const text = Buffer.concat(received).toString('latin1');
      expect(text.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
      expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(text.toLowerCase()).toContain('connection: close\r\n');
      expect(weir.log.map((l) => JSON.parse(l).response_code)).toEqual([200]);
    } finally {
      await weir.close();
    }
  });
});

describe('the drain limit', () => {
  it('cuts a request still in flight at --drain-timeout: access log DC, exit 0 at the limit; SIGHUP meanwhile is ignored', async () => {
    const dir = await configDir({ 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': toSubset('v1') });
    const p = await spawnServe(dir, ['--drain-timeout', '3s', '--log-format', 'json']);
    const before = backends.v1.stats().totalRequests;
    const slow = send(p.url, { host: HOST, headers: { 'x-backend-delay-ms': '30000' } }).then(
      (r) => ({ ok: true as const, status: r.status }),
      (e: Error) => ({ ok: false as const, message: e.message }),
    );
    await until(() => backends.v1.stats().totalRequests === before + 1, 'the slow request at the backend');
    const t0 = performance.now();
    p.child.kill('SIGTERM');
    await waitForOutput(p, (s) => s.includes('SIGTERM received, draining'));
    // SIGHUP's default action would end the process; while draining it is ignored.
    p.child.kill('SIGHUP');
    await waitForOutput(p, (s) => s.includes('SIGHUP ignored while draining'));
    const code = await p.exited;
    const elapsed = performance.now() - t0;
    expect(code).toBe(0);
    // Cut at the 3 s limit (not after the 30 s the backend would take).
    expect(elapsed).toBeGreaterThanOrEqual(2990);
    expect(elapsed).toBeLessThan(12_000);
    expect((await slow).ok).toBe(false);
    const lines = p
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      response_code: 0,
      response_flags: 'DC',
      response_code_details: 'downstream_local_disconnect(drain_timeout)',
      upstream_cluster: `outbound|80|v1|${HOST}`,
    });
    // The upstream request was cancelled with it.
    await until(() => backends.v1.stats().inFlight === 0, 'the backend request cancelled');
  }, 60_000);

  it('counts the cut request in istio_requests_total with response_flags DC', async () => {
    let metrics: ProxyMetrics | null = null;
    const weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': toSubset('v2') },
      {
        drainTimeoutMs: 300,
        metrics: (hooks) => {
          metrics = createProxyMetrics(hooks);
          return metrics;
        },
      },
    );
    const before = backends.v2.stats().totalRequests;
    const slow = send(weir.url, { host: HOST, headers: { 'x-backend-delay-ms': '30000' } }).catch((e: Error) => e);
    await until(() => backends.v2.stats().totalRequests === before + 1, 'the slow request at the backend');
    await weir.close();
    expect(await slow).toBeInstanceOf(Error);
    const samples = parseExposition(await metrics!.render());
    const cut = select(samples, 'istio_requests_total', { response_flags: 'DC' });
    expect(cut.map((s) => [s.labels.response_code, s.labels.destination_version, s.value])).toEqual([['0', 'v2', 1]]);
    expect(weir.log.map((l) => JSON.parse(l).response_flags)).toEqual(['DC']);
  });
});

describe('weir serve lifecycle as a process', () => {
  // These end with --drain-timeout 0: the shared test client keeps an idle connection the drain would wait for.
  it('SIGHUP reloads the configuration', async () => {
    const dir = await configDir({ 'mesh.yaml': mesh() });
    const p = await spawnServe(dir, ['--drain-timeout', '0s']);
    const version = async () =>
      ((await (await fetch(`${p.adminUrl}/config_dump`)).json()) as { configVersion: number }).configVersion;
    expect(await version()).toBe(1);
    p.child.kill('SIGHUP');
    await waitForOutput(p, (s) => s.includes('configuration reloaded (version 2'));
    expect(await version()).toBe(2);
    expect((await send(p.url, { host: HOST })).status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it.each([
    ['a schema error', 'vs.yaml', `${toSubset('v1')}    timeout: "five seconds"\n`, /vs\.yaml:\d+:\d+ error .*timeout/],
    ['unparsable YAML', 'broken.yaml', 'kind: [unclosed\n', /broken\.yaml:\d+:\d+ error/],
  ])(
    'refuses to start on a bad initial configuration (%s): exit 79, the error with its position',
    async (_, file, text, line) => {
      const dir = await configDir({ 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), [file]: text });
      const p = await serveProcess(dir);
      processes.push(p);
      expect(await p.exited).toBe(79);
      expect(p.stderr()).toMatch(line);
      expect(p.stderr()).toMatch(/weir: configuration has 1 error\(s\); not starting/);
      expect(p.stderr()).not.toContain('proxy listening');
      await expect(send(p.url, { host: HOST })).rejects.toThrow();
    },
  );

  it('--drain-timeout takes a duration: a bad value is a usage error (exit 64); --help states the unit and default', async () => {
    const dir = await configDir({ 'mesh.yaml': mesh() });
    const bad = await serveProcess(dir, ['--drain-timeout', 'five']);
    processes.push(bad);
    expect(await bad.exited).toBe(64);
    expect(bad.stderr()).toContain('weir: --drain-timeout: expected a duration such as 5s or 500ms, got "five"');
    const help = await serveProcess(dir, ['--help']);
    processes.push(help);
    expect(await help.exited).toBe(0);
    const text = help.stdout().replace(/\s+/g, ' ');
    expect(text).toMatch(/--drain-timeout <duration> [^-]*\(e\.g\. 5s, 500ms[^-]*\(default: "5s"\)/);
  });

  it('keeps serving through a bad file and applies the fixed one', async () => {
    const dir = await configDir({ 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': toSubset('v1') });
    const p = await spawnServe(dir, ['--drain-timeout', '0s']);
    expect((await send(p.url, { host: HOST })).json().version).toBe('v1');
    // A broken edit: rejected, the last good configuration keeps serving.
    await writeFile(join(dir, 'vs.yaml'), `${toSubset('v2')}    timeout: "five seconds"\n`);
    await waitForOutput(p, (s) => /reload rejected[\s\S]*vs\.yaml:\d+:\d+ error/.test(s));
    expect((await send(p.url, { host: HOST })).json().version).toBe('v1');
    // The fix is applied.
    await writeFile(join(dir, 'vs.yaml'), toSubset('v2'));
    await waitForOutput(p, (s) => s.includes('configuration reloaded (version 2'));
    expect((await send(p.url, { host: HOST })).json().version).toBe('v2');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});
