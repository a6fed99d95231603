/**
 * The targets of the side-by-side benchmark and their configurations: the nginx backends (v1, v2), direct, weir
 * (composite, passthrough, access log on, metrics off), nginx, HAProxy and the Node baseline, each with the
 * article's composite rule (`x-canary-user: true` → v2, else 95/5 v1/v2) and a passthrough variant (v1 only).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, processTree, spawnPinned, stopPid, waitReady } from './sys.ts';

export const HOST = 'checkout-service.bench.svc.cluster.local';

export interface Ctx {
  root: string;
  dir: string;
  /** The bundled weir entry (bench/peers/weir-entry.ts). */
  weirBundle: string;
  v1: number;
  v2: number;
  proxyCpu: number;
  loadCpu: number;
  /** Extra node flags for the weir targets (bench/profile.ts: --cpu-prof). */
  weirNodeFlags?: string[];
}

export interface Running {
  url: string;
  /** The proxy's processes (all of them are charged CPU and memory); empty for direct. */
  pids: number[];
  command: string;
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  peer: 'direct' | 'weir' | 'nginx' | 'haproxy' | 'node';
  /** Has the composite rule (95/5 + header); otherwise one upstream (v1), no rule. */
  routing: boolean;
  what: string;
  start(ctx: Ctx, tag: string): Promise<Running>;
}

const BODY = 'x'.repeat(1024);

/** One nginx backend instance answering 1 KiB with `x-upstream: <name>`; stub_status counts its requests. */
export async function startBackend(ctx: Ctx, name: string, port: number): Promise<Running> {
  const d = join(ctx.dir, `backend-${name}`);
  mkdirSync(d, { recursive: true });
  const conf = join(d, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /__status { stub_status; }
    location / { default_type text/plain; add_header x-upstream ${name}; return 200 "${BODY}"; }
  }
}
`,
  );
  const argv = ['-p', d, '-c', conf, '-g', 'daemon off;'];
  const child = spawnPinned(ctx.loadCpu, 'nginx', argv, { out: join(d, 'out.log'), err: join(d, 'err.log'), cwd: d });
  const url = `http://127.0.0.1:${port}/`;
  await waitReady(url, null, `backend nginx ${name}`);
  return {
    url,
    pids: processTree(child.pid!),
    command: `taskset -c ${ctx.loadCpu} nginx ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`,
    stop: () => stopPid(child.pid!),
  };
}

/** Requests served so far by a backend (stub_status "requests", which counts the status request itself). */
export async function backendCount(port: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}/__status`);
  const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(await r.text());
  if (!m) throw new Error('backend stub_status unreadable');
  return Number(m[3]);
}

async function launch(
  ctx: Ctx,
  tag: string,
  cmd: string,
  argv: string[],
  port: number,
  host: string | null,
  o: { stdout?: string; display?: string } = {},
): Promise<Running> {
  const err = join(ctx.dir, `${tag}.err`);
  const child = spawnPinned(ctx.proxyCpu, cmd, argv, {
    out: o.stdout ?? join(ctx.dir, `${tag}.out`),
    err,
    cwd: ctx.root,
  });
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitReady(url, host, tag);
  } catch (e) {
    await stopPid(child.pid!);
    let log = '';
    try {
      log = readFileSync(err, 'utf8').slice(-2000);
    } catch {}
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  const shown = o.display ?? `${cmd} ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`;
  return {
    url,
    pids: processTree(child.pid!),
    command: `taskset -c ${ctx.proxyCpu} ${shown}`,
    stop: () => stopPid(child.pid!),
  };
}

/** weir's configuration: the article's composite example with the backends' ports, or a single-upstream entry. */
function weirConfig(ctx: Ctx, routing: boolean): string {
  const d = join(ctx.dir, routing ? 'weir-composite' : 'weir-passthrough');
  mkdirSync(d, { recursive: true });
  if (routing) {
    const ex = (f: string): string =>
      readFileSync(join(ctx.root, 'examples', '01-composite-routing', f), 'utf8').replaceAll('composite', 'bench');
    writeFileSync(
      join(d, 'service.yaml'),
      ex('service.yaml').replace('18081', String(ctx.v1)).replace('18082', String(ctx.v2)),
    );
    writeFileSync(join(d, 'destination-rule.yaml'), ex('destination-rule.yaml'));
    writeFileSync(join(d, 'virtual-service.yaml'), ex('virtual-service.yaml'));
  } else {
    writeFileSync(
      join(d, 'service.yaml'),
      `# Passthrough: one upstream (v1), no VirtualService, no DestinationRule.
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: checkout-service, namespace: bench}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${ctx.v1}}, labels: {app: checkout-service, version: v1}}
`,
    );
  }
  return d;
}

/**
 * The Node.js flags of `bin/weir.js`'s shebang line (`#!/usr/bin/env -S node <flags>`): the bench runs the bundle with
 * `node`, which would bypass them, so they are given explicitly to every weir target.
 */
export function weirShebangFlags(root: string): string[] {
  const first = readFileSync(join(root, 'bin', 'weir.js'), 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return m
    ? m[1]!
        .trim()
        .split(/\s+/)
        .filter((f) => f !== '')
    : [];
}

/**
 * weir serve (composite rule, metrics on, log off) run by another Node.js binary: `--weir-node LABEL=PATH` adds the
 * target `weir@LABEL`, so Node versions are compared side by side in one run.
 */
export function weirOnNode(label: string, nodeBin: string): Target {
  return weirTarget(`weir@${label}`, true, 'on', `weir serve as "weir", on ${nodeBin}`, [], nodeBin);
}

function weirTarget(
  name: string,
  routing: boolean,
  mode: 'on' | 'log' | 'metrics-off',
  what: string,
  nodeFlags: readonly string[] = [],
  nodeBin: string = process.execPath,
): Target {
  return {
    name,
    peer: 'weir',
    routing,
    what,
    async start(ctx, tag) {
      const cfg = weirConfig(ctx, routing);
      const port = await freePort();
      const admin = await freePort();
      const listen = `127.0.0.1:${port}`;
      const adminAt = `127.0.0.1:${admin}`;
      if (mode === 'metrics-off') {
        return launch(
          ctx,
          tag,
          process.execPath,
          [
            ...weirShebangFlags(ctx.root),
            ...(ctx.weirNodeFlags ?? []),
            ...nodeFlags,
            ctx.weirBundle,
            'metrics-off',
            cfg,
            listen,
            adminAt,
          ],
          port,
          HOST,
          {
            display: `node <bundle of bench/peers/weir-entry.ts> metrics-off ${cfg} ${listen} ${adminAt}`,
          },
        );
      }
      const fmt = mode === 'log' ? 'text' : 'off';
      const argv = ['serve', '-f', cfg, '--listen', listen, '--admin', adminAt, '--log-format', fmt];
      return launch(
        ctx,
        tag,
        nodeBin,
        [...weirShebangFlags(ctx.root), ...(ctx.weirNodeFlags ?? []), ...nodeFlags, ctx.weirBundle, ...argv],
        port,
        HOST,
        {
          stdout: mode === 'log' ? '/dev/null' : undefined,
          display: `${nodeBin === process.execPath ? 'node' : nodeBin} ${nodeFlags.map((f) => `${f} `).join('')}bin/weir.js ${argv.join(' ')}${mode === 'log' ? ' >/dev/null' : ''}`,
        },
      );
    },
  };
}

function nginxTarget(routing: boolean): Target {
  return {
    name: routing ? 'nginx' : 'nginx-pass',
    peer: 'nginx',
    routing,
    what: routing ? 'nginx 1 worker: map + split_clients on $request_id' : 'nginx 1 worker: proxy_pass to v1',
    async start(ctx, tag) {
      const d = join(ctx.dir, tag);
      mkdirSync(d, { recursive: true });
      const port = await freePort();
      const up = (n: string, p: number): string =>
        `  upstream ${n} { server 127.0.0.1:${p}; keepalive 64; keepalive_requests 100000000; keepalive_timeout 300s; }\n`;
      const rules = routing
        ? `${up('v1', ctx.v1)}${up('v2', ctx.v2)}  split_clients "\${request_id}" $split { 5% v2; * v1; }
  map $http_x_canary_user $route { true v2; default $split; }
`
        : up('v1', ctx.v1);
      const conf = join(d, 'nginx.conf');
      writeFileSync(
        conf,
        `worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
${rules}  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://${routing ? '$route' : 'v1'};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
      );
      return launch(ctx, tag, 'nginx', ['-p', d, '-c', conf, '-g', 'daemon off;'], port, HOST);
    },
  };
}

function haproxyTarget(routing: boolean): Target {
  return {
    name: routing ? 'haproxy' : 'haproxy-pass',
    peer: 'haproxy',
    routing,
    what: routing
      ? 'HAProxy nbthread 1: ACL on the header + weighted roundrobin 95/5'
      : 'HAProxy nbthread 1: one server (v1)',
    async start(ctx, tag) {
      const port = await freePort();
      const conf = join(ctx.dir, `${tag}.cfg`);
      const backends = routing
        ? `frontend fe
  bind 127.0.0.1:${port}
  use_backend be_v2 if { req.hdr(x-canary-user) -m str true }
  default_backend be_split
backend be_split
  balance roundrobin
  server v1 127.0.0.1:${ctx.v1} weight 95
  server v2 127.0.0.1:${ctx.v2} weight 5
backend be_v2
  server v2 127.0.0.1:${ctx.v2}
`
        : `frontend fe
  bind 127.0.0.1:${port}
  default_backend be_v1
backend be_v1
  server v1 127.0.0.1:${ctx.v1}
`;
      writeFileSync(
        conf,
        `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always
${backends}`,
      );
      return launch(ctx, tag, 'haproxy', ['-f', conf, '-db'], port, HOST);
    },
  };
}

function nodeTarget(routing: boolean): Target {
  return {
    name: routing ? 'node' : 'node-pass',
    peer: 'node',
    routing,
    what: routing
      ? 'Node baseline (bench/peers/node-split.mjs: naive.mjs + the rule)'
      : 'Node baseline (bench/proxy/naive.mjs: http + keep-alive Agent + pipe)',
    async start(ctx, tag) {
      if (routing) {
        const port = await freePort();
        return launch(
          ctx,
          tag,
          process.execPath,
          ['bench/peers/node-split.mjs', String(port), String(ctx.v1), String(ctx.v2)],
          port,
          HOST,
          {
            display: `node bench/peers/node-split.mjs ${port} ${ctx.v1} ${ctx.v2}`,
          },
        );
      }
      // naive.mjs listens on an ephemeral port and prints "ready <port>".
      const out = join(ctx.dir, `${tag}.out`);
      const child = spawnPinned(ctx.proxyCpu, process.execPath, ['bench/proxy/naive.mjs', String(ctx.v1)], {
        out,
        err: join(ctx.dir, `${tag}.err`),
        cwd: ctx.root,
      });
      let port = 0;
      for (let i = 0; i < 400 && !port; i++) {
        await new Promise((r) => setTimeout(r, 25));
        try {
          port = Number(/ready (\d+)/.exec(readFileSync(out, 'utf8'))?.[1] ?? 0);
        } catch {}
      }
      if (!port) {
        await stopPid(child.pid!);
        throw new Error('bench/proxy/naive.mjs did not start');
      }
      const url = `http://127.0.0.1:${port}/`;
      await waitReady(url, HOST, tag);
      return {
        url,
        pids: [child.pid!],
        command: `taskset -c ${ctx.proxyCpu} node bench/proxy/naive.mjs ${ctx.v1}`,
        stop: () => stopPid(child.pid!),
      };
    },
  };
}

function directTarget(name: string): Target {
  return {
    name,
    peer: 'direct',
    routing: false,
    what: name === 'direct' ? 'no proxy: the loader talks to the v1 backend' : 'direct again (noise floor)',
    async start(ctx) {
      return { url: `http://127.0.0.1:${ctx.v1}/`, pids: [], command: '(none: the v1 backend)', stop: async () => {} };
    },
  };
}

export const TARGETS: Target[] = [
  directTarget('direct'),
  weirTarget('weir', true, 'on', 'weir serve: composite rule, Istio metrics on, access log off'),
  nginxTarget(true),
  haproxyTarget(true),
  nodeTarget(true),
  weirTarget('weir-pass', false, 'on', 'weir serve: one upstream, no rule (metrics on, log off)'),
  nginxTarget(false),
  haproxyTarget(false),
  nodeTarget(false),
  weirTarget('weir-log', true, 'log', 'weir serve: composite, access log on (--log-format text >/dev/null)'),
  weirTarget('weir-nometrics', true, 'metrics-off', 'weir startServe without Prometheus metrics (composite, log off)'),
  // The young generation capped at 2 MB per semi-space (V8's default grows to 16): less RSS, more scavenges. Measured
  // side by side so its CPU and latency cost is known before weir sets it by default.
  weirTarget('weir-semi2', true, 'on', 'weir serve as "weir", node --max-semi-space-size=2', [
    '--max-semi-space-size=2',
  ]),
  directTarget('direct-b'),
];
