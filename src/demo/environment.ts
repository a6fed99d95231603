/**
 * Sets up what the demo runs against and owns it: checkout-service v1 and v2 backends (18081/18082, or ephemeral
 * ports when those are taken, with the proxy then reading a temporary copy of `examples/` whose endpoint ports are
 * substituted), the proxy (`startServe`, in-process) with its admin port, the proxy tap and the HTTP clients.
 * `close()` stops all of it and removes the temporary folders.
 */

import { readFileSync } from 'node:fs';
import { chmod, cp, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { type Backend, startBackend } from '../backend/backend.ts';
import { type ServeHandle, startServe } from '../cli/commands/serve.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { loadSnapshot } from '../config/snapshot.ts';
import { createDemoClients, type DemoClients, probeLocalAddress, QA_TOOLS_ADDRESS } from './http-client.ts';
import { ProxyTap } from './proxy-tap.ts';

/** The ports `examples/` gives checkout-service v1 and v2. */
export const EXAMPLE_PORTS = { v1: 18081, v2: 18082 } as const;
/** Preferred proxy listener and admin addresses (those of `weir serve`). */
export const DEFAULT_LISTEN = '127.0.0.1:15001';
export const DEFAULT_ADMIN = '127.0.0.1:15000';

/**
 * The `examples/` folder shipped with weir: under the nearest ancestor of this module holding weir's
 * `package.json`, so it is found both from the sources (`src/demo/`) and from the bundle (`dist/`).
 */
export function defaultExamplesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'weir') return join(dir, 'examples');
    } catch {
      // no package.json here: keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) return fileURLToPath(new URL('../../examples', import.meta.url));
    dir = parent;
  }
}

/** True when `host:port` can be bound right now (racy by nature; the caller still handles EADDRINUSE). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function startOne(version: 'v1' | 'v2', port: number): Promise<Backend> {
  const opts = { host: '127.0.0.1', name: 'checkout-service', version, recentLimit: 2000 };
  try {
    return await startBackend({ ...opts, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (err as NodeJS.ErrnoException).code !== 'EACCES')
      throw err;
    return startBackend({ ...opts, port: 0 });
  }
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(p)));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/**
 * Copies the folder `from` into a new temporary folder named `<tmpdir>/<prefix>XXXXXX` and returns it. The copy is
 * writable by its owner throughout, whatever the source's modes: `fs.cp` keeps them, and the `examples/` of an
 * installed weir may be read-only (a global install in a read-only prefix), while the demo rewrites its copies.
 * On failure the folder is removed and the error rethrown.
 */
export async function copyToTemp(from: string, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await cp(from, dir, { recursive: true });
    await addOwnerWrite(dir);
    return dir;
  } catch (err) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/** Adds the owner's write bit to `path` and, for a folder, to everything under it (symbolic links untouched). */
async function addOwnerWrite(path: string): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  if ((st.mode & 0o200) === 0) await chmod(path, (st.mode & 0o7777) | 0o200);
  if (st.isDirectory()) for (const name of await readdir(path)) await addOwnerWrite(join(path, name));
}

/**
 * Copies `examplesDir` to a new temporary folder, replacing the endpoint ports 18081/18082 (a YAML value on its
 * own, as in `http: 18081`) by `ports`. Returns the folder.
 */
export async function copyWithPorts(examplesDir: string, ports: { v1: number; v2: number }): Promise<string> {
  const dir = await copyToTemp(examplesDir, 'weir-demo-');
  let replaced = 0;
  for (const f of await yamlFiles(dir)) {
    const text = await readFile(f, 'utf8');
    const next = text.replace(
      /^(\s*[\w.-]+:\s*)(18081|18082)(\s*(?:#.*)?)$/gm,
      (_m, pre: string, port: string, post: string) => {
        replaced++;
        return `${pre}${port === '18081' ? ports.v1 : ports.v2}${post}`;
      },
    );
    if (next !== text) await writeFile(f, next);
  }
  if (replaced === 0) throw new Error(`no endpoint port 18081/18082 found to substitute in ${examplesDir}`);
  return dir;
}

/**
 * Copies `configDir` to a new temporary folder and sets `metadata.annotations[name] = value` on the
 * VirtualServices of `namespace` (comments and layout kept). Returns the folder.
 */
export async function copyWithAnnotation(
  configDir: string,
  namespace: string,
  name: string,
  value: string,
): Promise<string> {
  const dir = await copyToTemp(configDir, 'weir-demo-sticky-');
  let changed = 0;
  for (const f of await yamlFiles(dir)) {
    const docs = parseAllDocuments(await readFile(f, 'utf8'));
    if (!Array.isArray(docs)) continue;
    let touched = false;
    for (const doc of docs) {
      if (doc.get('kind') !== 'VirtualService' || doc.getIn(['metadata', 'namespace']) !== namespace) continue;
      doc.setIn(['metadata', 'annotations', name], value);
      touched = true;
      changed++;
    }
    if (touched) await writeFile(f, docs.map((d) => d.toString()).join(''));
  }
  if (changed === 0) throw new Error(`no VirtualService in namespace ${namespace} under ${configDir}`);
  return dir;
}

/** One ServiceEntry endpoint as {@link copyWithEndpoints} writes it. */
export interface EndpointSpec {
  address: string;
  port: number;
  labels: Record<string, string>;
}

/**
 * Copies `configDir` to a new temporary folder and, in the ServiceEntries of `namespace`, replaces the endpoints
 * labelled `version: <version>` by `endpoints` (the other endpoints and the rest of the file are kept). Returns the
 * folder.
 */
export async function copyWithEndpoints(
  configDir: string,
  namespace: string,
  version: string,
  endpoints: readonly EndpointSpec[],
): Promise<string> {
  const dir = await copyToTemp(configDir, 'weir-demo-endpoints-');
  let changed = 0;
  for (const f of await yamlFiles(dir)) {
    const docs = parseAllDocuments(await readFile(f, 'utf8'));
    if (!Array.isArray(docs)) continue;
    let touched = false;
    for (const doc of docs) {
      if (doc.get('kind') !== 'ServiceEntry' || doc.getIn(['metadata', 'namespace']) !== namespace) continue;
      const current = (doc.getIn(['spec', 'endpoints']) as { toJSON(): unknown } | undefined)?.toJSON();
      const kept = (Array.isArray(current) ? current : []).filter(
        (e: { labels?: Record<string, string> }) => e.labels?.version !== version,
      );
      const added = endpoints.map((e) => ({ address: e.address, ports: { http: e.port }, labels: e.labels }));
      doc.setIn(['spec', 'endpoints'], doc.createNode([...added, ...kept]));
      touched = true;
      changed++;
    }
    if (touched) await writeFile(f, docs.map((d) => d.toString()).join(''));
  }
  if (changed === 0) throw new Error(`no ServiceEntry in namespace ${namespace} under ${configDir}`);
  return dir;
}

/** Options of {@link startEnvironment}. */
export interface EnvironmentOptions {
  examplesDir: string;
  /** Fixed listener / admin addresses; null = the defaults if free, else an ephemeral port. */
  listen: string | null;
  admin: string | null;
  /** Watch the configuration for edits (used with `--keep`). */
  watch: boolean;
}

/** What the demo runs against. */
export interface DemoEnvironment {
  serve: ServeHandle;
  proxyUrl: string;
  adminUrl: string | null;
  backends: { v1: Backend; v2: Backend };
  clients: DemoClients;
  tap: ProxyTap;
  /** The folder the proxy reads: `examplesDir`, or a temporary copy with substituted ports. */
  configDir: string;
  /** True when the backends could not get 18081/18082. */
  portsSubstituted: boolean;
  /** Why 127.0.0.5 cannot be used here (e.g. `EADDRNOTAVAIL`), or null when it can. */
  qaUnavailable: string | null;
  /** Access log lines go to stdout while true (off during the run, on with `--keep`). */
  accessLogToStdout: boolean;
  /** Proxy log lines (reloads) seen so far. */
  proxyLog: string[];
  /** Loads `dir` and swaps it into the running proxy; returns the snapshot, or throws on configuration errors. */
  applyConfig(dir: string): Promise<ConfigSnapshot>;
  /** Registers a temporary folder to delete on close. */
  own(dir: string): void;
  close(): Promise<void>;
}

async function resolveAddress(given: string | null, preferred: string): Promise<string> {
  if (given !== null) return given;
  const [host, port] = [
    preferred.slice(0, preferred.lastIndexOf(':')),
    Number(preferred.slice(preferred.lastIndexOf(':') + 1)),
  ];
  return (await isPortFree(host, port)) ? preferred : `${host}:0`;
}

/** Starts backends, proxy and clients. On failure everything already started is closed before rethrowing. */
export async function startEnvironment(opts: EnvironmentOptions): Promise<DemoEnvironment> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const tempDirs: string[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
    for (const d of tempDirs.splice(0)) await rm(d, { recursive: true, force: true }).catch(() => {});
  };
  try {
    const [v1, v2] = await Promise.all([startOne('v1', EXAMPLE_PORTS.v1), startOne('v2', EXAMPLE_PORTS.v2)]);
    cleanups.push(
      () => v1.close(),
      () => v2.close(),
    );
    const portsSubstituted = v1.port !== EXAMPLE_PORTS.v1 || v2.port !== EXAMPLE_PORTS.v2;
    let configDir = opts.examplesDir;
    if (portsSubstituted) {
      configDir = await copyWithPorts(opts.examplesDir, { v1: v1.port, v2: v2.port });
      tempDirs.push(configDir);
    }
    const tap = new ProxyTap();
    const proxyLog: string[] = [];
    const env = { accessLogToStdout: false };
    const accessLogStream = new Writable({
      write(chunk, _enc, cb) {
        if (env.accessLogToStdout) process.stdout.write(chunk);
        cb();
      },
    });
    const serve = await startServe({
      paths: [configDir],
      listen: await resolveAddress(opts.listen, DEFAULT_LISTEN),
      admin: await resolveAddress(opts.admin, DEFAULT_ADMIN),
      namespace: 'default',
      workload: null,
      labels: null,
      gateway: null,
      logFormat: 'text',
      accessLogStream,
      shadowSuffix: true,
      watch: opts.watch,
      log: (line) => {
        proxyLog.push(line);
        if (env.accessLogToStdout) process.stderr.write(`${line}\n`);
      },
      metrics: tap.metrics,
    });
    cleanups.push(() => serve.close());
    const addr = serve.proxy.address();
    const qaUnavailable = await probeLocalAddress(QA_TOOLS_ADDRESS, { host: addr.address, port: addr.port });
    const clients = createDemoClients(qaUnavailable === null);
    cleanups.push(() => clients.close());
    const result: DemoEnvironment = {
      serve,
      proxyUrl: serve.url,
      adminUrl: serve.adminUrl,
      backends: { v1, v2 },
      clients,
      tap,
      configDir,
      portsSubstituted,
      qaUnavailable,
      get accessLogToStdout() {
        return env.accessLogToStdout;
      },
      set accessLogToStdout(v: boolean) {
        env.accessLogToStdout = v;
      },
      proxyLog,
      applyConfig: async (dir) => {
        const snap = await loadSnapshot([dir], { defaultNamespace: 'default' });
        const errors = snap.diagnostics.filter((d) => d.level === 'error');
        if (errors.length > 0)
          throw new Error(`${dir}: ${errors.length} configuration error(s): ${errors[0]!.message}`);
        serve.proxy.setSnapshot(snap);
        return snap;
      },
      own: (dir) => {
        tempDirs.push(dir);
      },
      close: closeAll,
    };
    return result;
  } catch (err) {
    await closeAll();
    throw err;
  }
}
