/**
 * `weir serve` and the input it is given: unknown fields refuse a file as `kubectl apply` would (at start, and at
 * reload while the last good configuration keeps serving), `--validate=warn` serves without the field, and an empty
 * folder starts with a clear warning and is picked up once a file appears.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackendSet, freePort, startBackends } from '../helpers/backends.ts';
import { closeClients, send, serviceEntryYaml, startWeir, subsetsYaml } from '../helpers/proxy.ts';

const NS = 'prod';
const HOST = `checkout-service.${NS}.svc.cluster.local`;
const ROOT = join(import.meta.dirname, '..', '..');

/** Requests with `x-canary-user: true` go to v2, the rest to v1; `key` is the match key (a typo when not `match`). */
const headerRoute = (key = 'match') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: checkout-service-vs, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  http:
  - ${key}:
    - headers: {x-canary-user: {exact: "true"}}
    route:
    - destination: {host: ${HOST}, subset: v2}
  - route:
    - destination: {host: ${HOST}, subset: v1}
`;

let backends: BackendSet<'v1' | 'v2'>;
beforeAll(async () => {
  backends = await startBackends({ v1: {}, v2: {} });
});
afterAll(async () => {
  await backends.closeAll();
  await closeClients();
});

const mesh = () =>
  serviceEntryYaml(NS, [
    { port: backends.v1.port, labels: { app: 'checkout-service', version: 'v1' } },
    { port: backends.v2.port, labels: { app: 'checkout-service', version: 'v2' } },
  ]);
const versionOf = async (url: string) => (await send(url, { host: HOST })).json().version as string;

describe('unknown fields under weir serve', () => {
  it('strict (default): a reload that adds one is rejected, and the last good configuration keeps serving', async () => {
    const logs: string[] = [];
    const weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': headerRoute() },
      { log: (l) => logs.push(l) },
    );
    try {
      expect(await versionOf(weir.url)).toBe('v1');
      await weir.write('vs.yaml', headerRoute('matches'));
      expect(await weir.handle.reload()).toBe(false);
      expect(logs.join('\n')).toContain(
        `vs.yaml:7:5 error WEIR0002 VirtualService prod/checkout-service-vs spec.http[0].matches: strict decoding error: unknown field "spec.http[0].matches" (did you mean "match"?)`,
      );
      // Still the header route: plain requests on v1, not every request on the canary.
      expect(await versionOf(weir.url)).toBe('v1');
    } finally {
      await weir.close();
    }
  });

  it('warn: the reload is applied without the field, with a warning (what a lenient cluster would serve)', async () => {
    const logs: string[] = [];
    const weir = await startWeir(
      { 'mesh.yaml': mesh(), 'dr.yaml': subsetsYaml(NS), 'vs.yaml': headerRoute() },
      { log: (l) => logs.push(l), fieldValidation: 'warn' },
    );
    try {
      await weir.write('vs.yaml', headerRoute('matches'));
      expect(await weir.handle.reload()).toBe(true);
      expect(logs.join('\n')).toMatch(/warning WEIR0002 .* spec\.http\[0\]\.matches: unknown field/);
      // The first route lost its match: every request now goes to v2.
      expect(await versionOf(weir.url)).toBe('v2');
    } finally {
      await weir.close();
    }
  });
});

/** `weir serve -f dir …args` as a process on free loopback ports; resolves its exit code or kills it on `stop()`. */
async function serve(dir: string, ...args: string[]) {
  const port = await freePort();
  const admin = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['bin/weir.js', 'serve', '-f', dir, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, ...args],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.filter((x) => stderr.includes(x.text))) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    exited,
    /** Resolves once stderr contains `text`; rejects after 20 s or when the process exits first. */
    waitFor: (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        const t = setTimeout(() => reject(new Error(`no "${text}" in: ${stderr}`)), 20_000);
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
        void exited.then((code) => reject(new Error(`exited with ${code} before "${text}": ${stderr}`)));
      }),
    stop: () => child.kill('SIGKILL'),
  };
}

describe('weir serve as a process', () => {
  it('refuses to start on a file with an unknown field (exit 79); --validate=warn starts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-strict-'));
    try {
      await writeFile(join(dir, 'mesh.yaml'), mesh());
      await writeFile(join(dir, 'dr.yaml'), subsetsYaml(NS));
      await writeFile(join(dir, 'vs.yaml'), headerRoute('matches'));
      const strict = await serve(dir, '--log-format', 'off');
      try {
        // It must exit by itself; should it start serving instead, this fails (and the process is killed below).
        const code = await Promise.race([strict.exited, strict.waitFor('proxy listening').then(() => 'started')]);
        expect(code).toBe(79);
        expect(strict.stderr()).toContain('spec.http[0].matches: strict decoding error: unknown field');
        expect(strict.stderr()).toContain('not starting');
      } finally {
        strict.stop();
      }
      const warn = await serve(dir, '--log-format', 'off', '--validate=warn');
      try {
        await warn.waitFor('proxy listening');
        expect(warn.stderr()).toMatch(/warning WEIR0002 .*\(did you mean "match"\?\); the field is ignored/);
      } finally {
        warn.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('starts on an empty folder with a clear warning, then serves what is written there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-empty-'));
    const p = await serve(dir, '--log-format', 'off');
    try {
      await p.waitFor('proxy listening');
      expect(p.stderr()).toContain(`- warning WEIR0006 -: no resources: no *.yaml, *.yml or *.json file in ${dir}`);
      expect(p.stderr()).toContain(
        `weir: starting with no configuration: every request gets 404 NR until resources appear in ${dir} (watched)`,
      );
      await writeFile(join(dir, 'mesh.yaml'), mesh());
      // Written right after start: weir serve says it listens only once the watcher's initial scan is done (a file
      // written during that scan used to be taken for an initial one and never loaded).
      await p.waitFor('configuration reloaded');
      expect((await send(p.url, { host: HOST })).status).toBe(200);
      // Nothing configured for another host: 404 NR, as on the empty start.
      expect((await send(p.url, { host: 'other.test' })).status).toBe(404);
    } finally {
      p.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
