/**
 * Test helpers for end-to-end proxy tests: YAML for a service on real backend ports, a running `weir serve`
 * (in-process, config in a temp dir so reloads are real file changes), and an HTTP client that can set Host and
 * bind a source address.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { type ServeHandle, type ServeOptions, startServe } from '../../src/cli/commands/serve.ts';

/** A ServiceEntry for `checkout-service.<ns>.svc.cluster.local` with one endpoint per given backend. */
export function serviceEntryYaml(
  ns: string,
  endpoints: { port: number; labels: Record<string, string>; address?: string; locality?: string }[],
  host = `checkout-service.${ns}.svc.cluster.local`,
): string {
  const eps = endpoints
    .map(
      (e) => `  - address: ${e.address ?? '127.0.0.1'}
${e.locality ? `    locality: ${e.locality}\n` : ''}    ports:
      http: ${e.port}
    labels:
${Object.entries(e.labels)
  .map(([k, v]) => `      ${k}: ${v}`)
  .join('\n')}`,
    )
    .join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: checkout-service
  namespace: ${ns}
spec:
  hosts:
  - ${host}
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: 80
    name: http
    protocol: HTTP
  endpoints:
${eps}
`;
}

/** A DestinationRule with subsets v1 and v2 (by `version` label) and an optional top-level traffic policy (YAML). */
export function subsetsYaml(ns: string, trafficPolicy = '', name = 'checkout-service-dr'): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  host: checkout-service.${ns}.svc.cluster.local
${trafficPolicy ? `  trafficPolicy:\n${trafficPolicy.replace(/^/gm, '    ')}\n` : ''}  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;
}

/** A running weir with its config directory. */
export interface Weir {
  handle: ServeHandle;
  url: string;
  dir: string;
  /** Access-log lines written so far (reading it flushes the batched writer). */
  readonly log: string[];
  /** Writes (or replaces) a config file in the directory. */
  write(name: string, text: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `weir serve` on 127.0.0.1:0 over a temp dir holding `files`. No file watching unless `watch: true`. Closing
 * does not drain unless `drainTimeoutMs` is given: the shared clients keep idle keep-alive connections, which a
 * drain leaves open until its limit.
 */
export async function startWeir(files: Record<string, string>, opts: Partial<ServeOptions> = {}): Promise<Weir> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-e2e-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const log: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const handle = await startServe({
    paths: [dir],
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    namespace: 'default',
    workload: null,
    labels: null,
    gateway: null,
    logFormat: 'json',
    shadowSuffix: true,
    watch: false,
    accessLogStream: sink,
    log: () => {},
    drainTimeoutMs: 0,
    ...opts,
  });
  return {
    handle,
    url: handle.url,
    dir,
    // Reading the log flushes the batched access-log writer first.
    get log() {
      handle.proxy.flushAccessLog();
      return log;
    },
    write: (name, text) => writeFile(join(dir, name), text),
    close: async () => {
      await handle.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const agents = new Map<string, Agent>();
function agentFor(localAddress: string | undefined): Agent {
  const key = localAddress ?? '';
  let a = agents.get(key);
  if (!a) {
    // The source address is an Agent option (connect.localAddress is not passed on by undici 7).
    a = localAddress ? new Agent({ keepAliveTimeout: 10_000, localAddress }) : new Agent({ keepAliveTimeout: 10_000 });
    agents.set(key, a);
  }
  return a;
}

/** Closes the shared client agents (call in afterAll). */
export async function closeClients(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((a) => a.close()));
}

/** One HTTP exchange's result. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** Sends a request through the proxy. */
export async function send(
  base: string,
  opts: {
    host: string;
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    localAddress?: string;
  },
): Promise<Reply> {
  const r = await request(`${base}${opts.path ?? '/'}`, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: { host: opts.host, ...(opts.headers ?? {}) },
    body: opts.body ?? null,
    dispatcher: agentFor(opts.localAddress),
  });
  const body = await r.body.text();
  return { status: r.statusCode, headers: r.headers, body, json: () => JSON.parse(body) };
}

/** Runs `n` requests with at most `concurrency` in flight; returns the replies in completion order. */
export async function sendMany(n: number, concurrency: number, make: (i: number) => Promise<Reply>): Promise<Reply[]> {
  const out: Reply[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out.push(await make(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}
